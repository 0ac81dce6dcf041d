"""Fixtures starting real services on loopback; see harness.py."""

import functools
import os
import shutil

import pytest

from harness import Nginx, Podman, Postgres, Redis, run_playbook


def _require(binary):
    if not shutil.which(binary) and not os.path.exists(binary):
        pytest.fail('%s is not installed: run scripts/setup.sh test' % binary)


@pytest.fixture(scope='session')
def podman(tmp_path_factory):
    _require('podman')
    pm = Podman(str(tmp_path_factory.mktemp('podman')))
    pm.ensure_image()
    yield pm
    pm.cleanup()


@pytest.fixture
def nginx_factory(tmp_path):
    """``nginx_factory(htpasswd_path)`` -> a started Nginx guarding a file with that htpasswd."""
    _require('nginx')
    started = []

    def start(htpasswd_path):
        server = Nginx(str(tmp_path / ('nginx%d' % len(started))), str(htpasswd_path)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope='session')
def postgres():
    _require('/usr/lib/postgresql/15/bin/initdb')
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path):
    _require('redis-server')
    server = Redis(str(tmp_path / 'redis')).start()
    yield server
    server.stop()


@pytest.fixture
def playbook(tmp_path):
    """``playbook(tasks=[...], secret_vars={...}, check=False, expect_rc=0, ...)`` -> PlaybookResult."""
    return functools.partial(run_playbook, tmp_path)
