"""Review repro: store_migrate.yml run again after the store rotated (a stale vault.yml
still in a checkout) must not put the old values back into the store."""

import json
import os

import pytest

from bao_cluster import BAO, Cluster
from test_openbao_rotate import _play, _store, rotate_env


@pytest.fixture(scope='module')
def bao_cluster(tmp_path_factory):
    if not os.path.exists(BAO):
        pytest.fail('bao is not installed')
    cluster = Cluster(str(tmp_path_factory.mktemp('openbao1')), nodes=1).start()
    yield cluster
    cluster.stop()


@pytest.mark.xfail(strict=True, reason='review finding: store_migrate overwrites values rotated in the store since')
def test_migrate_again_after_a_rotation_keeps_the_store(bao_cluster, bao_env, tmp_path):
    env = rotate_env.Env(tmp_path / 'migrated')
    vault = env.vault()
    env.rotation()
    env.write_vars('store.yml', {'turnkey_store': {'backend': 'openbao', 'urls': bao_cluster.urls,
                                                   'prefix': bao_env['prefix']}})
    secret_values = env.secret_values()
    _play(env, tmp_path, 'turnkey.secrets.store_migrate', bao_env, *env.vault_args, leak=secret_values)
    # What a rotation from the store does: a new version of the value.
    rotated = os.urandom(24).hex()
    path = '%s/secret_key' % bao_env['prefix']
    data = dict(bao_cluster.kv(path)['data'], value=rotated)
    bao_cluster.bao('kv', 'put', '-mount=secret', path, '-', data=json.dumps(data).encode())
    again = _play(env, tmp_path, 'turnkey.secrets.store_migrate', bao_env, *env.vault_args,
                  leak=secret_values + [rotated])
    kept = _store(bao_cluster, bao_env)['secret_key']['data']['value'] == rotated
    assert kept, 'the store went back to the vault file value: %s' % again.task('Report what was copied')['result']['msg']
    assert vault  # the stale source
