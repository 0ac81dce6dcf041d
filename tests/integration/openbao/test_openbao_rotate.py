"""rotate.yml / deploy.yml on the demo environment switched to a real 3-node OpenBao cluster."""

import importlib.util
import os
import subprocess
import sys
import time

from bao_cluster import MOUNT, switch_to_openbao
from harness import ROOT, ansible_env, new_secret, run_playbook

_spec = importlib.util.spec_from_file_location('rotate_env', os.path.join(os.path.dirname(__file__), '..', 'rotate',
                                                                          'conftest.py'))
rotate_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rotate_env)

NAMES = ('dashboard_password', 'secret_key', 'field_encryption_key')


def _env(tmp_path, podman, cluster, info, name='demo'):
    env = rotate_env.Env(tmp_path / name)
    prefix = podman.prefix + 'bao_'
    env.write_vars('test.yml', {'turnkey_podman_secrets': [
        {'name': prefix + 'secret_key', 'var': 'vault_secret_key'},
        {'name': prefix + 'field_encryption_key', 'var': 'vault_field_encryption_key'}]})
    env.podman_prefix = prefix
    switch_to_openbao(env, cluster, info['prefix'])
    return env


def _play(env, tmp_path, playbook, info, *args, token=None, expect_rc=0, check=False, leak=(), extra_env=None):
    run_env = {'BAO_TOKEN': token or info['token']}
    run_env.update(extra_env or {})
    return run_playbook(tmp_path, playbook=playbook, inventory=env.inventory, args=list(args), check=check,
                        expect_rc=expect_rc, env=run_env, leak_check=list(leak) + [info['token'], info['secret_id']])


def _store(cluster, info):
    out = {}
    for name in NAMES:
        got = cluster.kv('%s/%s' % (info['prefix'], name))
        out[name] = got
    return out


def _values(store):
    values = []
    for got in store.values():
        for value in (got or {}).get('data', {}).values():
            values.extend(value if isinstance(value, list) else [value])
    return [v for v in values if isinstance(v, str) and len(v) >= 4]


def test_deploy_rotate_force_check(bao_cluster, bao_env, tmp_path, podman):
    env = _env(tmp_path, podman, bao_cluster, bao_env)
    first = _play(env, tmp_path, 'turnkey.secrets.deploy', bao_env)
    assert first.changed
    deployed = _store(bao_cluster, bao_env)
    for name in NAMES:
        assert deployed[name]['data']['value'], name
        assert deployed[name]['metadata']['custom_metadata']['rotated_at'].startswith('20')
    assert not os.path.exists(env.vault_file) and not os.path.exists(env.rotation_file)
    for value in _values(deployed):
        assert value not in first.output

    # Nothing due: nothing changes, no new version.
    again = _play(env, tmp_path, 'turnkey.secrets.rotate', bao_env, leak=_values(deployed))
    assert again.changed_tasks() == [], again.changed_tasks()
    assert 'To rotate now: nothing' in again.task('Report the plan')['result']['msg']
    assert _store(bao_cluster, bao_env) == deployed

    # Check mode with force: nothing changes.
    _play(env, tmp_path, 'turnkey.secrets.rotate', bao_env, '-e', 'rotate_force=true', check=True,
          leak=_values(deployed))
    assert _store(bao_cluster, bao_env) == deployed

    # Forced: every value new, one new KV version each, the previous one readable.
    forced = _play(env, tmp_path, 'turnkey.secrets.rotate', bao_env, '-e', 'rotate_force=true', leak=_values(deployed))
    assert forced.changed
    after = _store(bao_cluster, bao_env)
    for name in NAMES:
        old, new = deployed[name], after[name]
        assert new['data']['value'] != old['data']['value'], name
        assert new['metadata']['version'] == old['metadata']['version'] + 1, name
        previous = bao_cluster.kv('%s/%s' % (bao_env['prefix'], name), version=old['metadata']['version'])
        assert previous['data']['value'] == old['data']['value']
    assert after['secret_key']['data']['fallbacks'][0] == deployed['secret_key']['data']['value']
    assert after['field_encryption_key']['data']['previous'][0] == deployed['field_encryption_key']['data']['value']
    # Consumers hold the new values.
    env_file = open(os.path.join(env.state, 'app.env')).read()
    assert after['field_encryption_key']['data']['value'] in env_file
    assert after['secret_key']['data']['value'] in env_file
    assert podman('secret', 'inspect', env.podman_prefix + 'secret_key').returncode == 0
    journal = bao_cluster.kv('%s/_turnkey/journal' % bao_env['prefix'])
    assert journal['data'] == {'journal': {}}
    for value in _values(after) + _values(deployed):
        assert value not in forced.output
    report = forced.task('Report the rotation')['result']['msg']
    assert not [line for line in report if line.startswith('Commit: ')]


def test_second_rotation_fails_fast_naming_the_holder(bao_cluster, bao_env, tmp_path, podman):
    one = _env(tmp_path, podman, bao_cluster, bao_env, 'one')
    two = _env(tmp_path, podman, bao_cluster, bao_env, 'two')
    _play(one, tmp_path, 'turnkey.secrets.deploy', bao_env)
    marker = str(tmp_path / 'paused')
    env = ansible_env({'BAO_TOKEN': bao_env['token'], '_TURNKEY_ROTATION_TEST_PAUSE': 'create',
                       '_TURNKEY_ROTATION_TEST_MARKER': marker})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', one.inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true']
    log = open(str(tmp_path / 'first.log'), 'wb')
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(marker), open(log.name).read()[-3000:]
        started = time.monotonic()
        second = _play(two, tmp_path, 'turnkey.secrets.rotate', bao_env, '-e', 'rotate_force=true', expect_rc=2)
        assert time.monotonic() - started < 30
        assert 'rotation in progress for environment demo: locked by pid %d on ' % proc.pid in second.output
        assert '_turnkey/lock' in second.output
    finally:
        open(marker + '.go', 'w').close()
        proc.wait(120)
        log.close()
    assert proc.returncode == 0, open(log.name).read()[-3000:]


def test_approle_of_staging_cannot_touch_production(bao_cluster, bao_env, tmp_path, podman):
    production = bao_cluster.environment('turnkey/p' + bao_env['prefix'][-8:])
    production_prefix = 'turnkey/p' + bao_env['prefix'][-8:]
    env = _env(tmp_path, podman, bao_cluster, bao_env)
    role_file = tmp_path / 'secret_id'
    fd = os.open(str(role_file), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, bao_env['secret_id'].encode())
    os.close(fd)
    switch_to_openbao(env, bao_cluster, production_prefix, auth_method='approle', role_id=bao_env['role_id'],
                      secret_id_file=str(role_file))
    failed = _play(env, tmp_path, 'turnkey.secrets.deploy', bao_env, expect_rc=2, token='unused',
                   leak=[production['token'], production['secret_id']])
    assert 'permission denied on secret/metadata/%s' % production_prefix in failed.output
    assert 'lacks the list capability' in failed.output
    assert bao_cluster.bao('kv', 'list', '-mount=secret', production_prefix, check=False).strip() == ''


def test_migrate_the_demo_vault_then_rotate_from_the_store(bao_cluster, bao_env, tmp_path):
    env = rotate_env.Env(tmp_path / 'migrated')
    vault = env.vault()
    dates = env.rotation()
    env.write_vars('store.yml', {'turnkey_store': {'backend': 'openbao', 'urls': bao_cluster.urls,
                                                   'prefix': bao_env['prefix']}})
    secret_values = env.secret_values()
    first = _play(env, tmp_path, 'turnkey.secrets.store_migrate', bao_env, *env.vault_args, leak=secret_values)
    assert first.changed
    report = first.task('Report what was copied')['result']['msg']
    assert report.startswith('Copied: %s.' % ', '.join(sorted(vault))), report
    stored = _store(bao_cluster, bao_env)
    assert stored['secret_key']['data']['value'] == vault['vault_secret_key']
    assert stored['dashboard_password']['metadata']['custom_metadata']['rotated_at'] == dates['dashboard_password']['rotated_at']
    again = _play(env, tmp_path, 'turnkey.secrets.store_migrate', bao_env, *env.vault_args, leak=secret_values)
    assert again.changed_tasks() == [], again.changed_tasks()
    assert 'Copied: nothing' in again.task('Report what was copied')['result']['msg']
    assert _store(bao_cluster, bao_env) == stored

    # Rotated in the store since: a migration from the stale vault file would hand the services
    # an old credential.  It is refused, naming the key, and copies nothing.
    rotated = new_secret(40)
    bao_cluster.bao('kv', 'patch', '-mount=' + MOUNT, '%s/secret_key' % bao_env['prefix'], 'value=-', data=rotated.encode())
    stale = _play(env, tmp_path, 'turnkey.secrets.store_migrate', bao_env, *env.vault_args, expect_rc=2,
                  leak=secret_values + [rotated])
    assert 'the store already holds other values for vault_secret_key' in stale.output
    assert _store(bao_cluster, bao_env)['secret_key']['data']['value'] == rotated


def test_vars_plugin_gives_the_store_values(bao_cluster, bao_env, tmp_path):
    import hashlib
    env = rotate_env.Env(tmp_path / 'vars')
    switch_to_openbao(env, bao_cluster, bao_env['prefix'])
    _play(env, tmp_path, 'turnkey.secrets.deploy', bao_env)
    stored = _store(bao_cluster, bao_env)
    digest = hashlib.sha256(stored['secret_key']['data']['value'].encode()).hexdigest()
    check = [{'name': 'vars', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'From the store', 'ansible.builtin.assert': {
            'that': ["vault_secret_key | hash('sha256') == '%s'" % digest,
                     'vault_field_encryption_key | length > 0'], 'quiet': True}}]}]
    run_playbook(tmp_path, playbook=check, inventory=env.inventory, env={
        'BAO_TOKEN': bao_env['token'], 'ANSIBLE_VARS_ENABLED': 'host_group_vars,turnkey.secrets.store'},
        leak_check=_values(stored) + [bao_env['token']])
