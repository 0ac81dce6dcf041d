"""rotate.yml end to end on a copy of inventory/demo: real vault, htpasswd file, env file, podman."""

import hashlib
import os
import subprocess

from harness import ansible_env, assert_no_secret, run_playbook

PLAYBOOK = 'turnkey.secrets.rotate'


def _digest(paths):
    out = {}
    for path in paths:
        if os.path.exists(path):
            with open(path, 'rb') as handle:
                out[path] = hashlib.sha256(handle.read()).hexdigest()
    return out


def _rotate(env, tmp_path, *args, expect_rc=0, check=False, leak=()):
    return run_playbook(tmp_path, playbook=PLAYBOOK, inventory=env.inventory, check=check,
                        args=list(env.vault_args) + list(args), expect_rc=expect_rc,
                        leak_check=list(leak) + env.secret_values())


def test_check_mode_changes_nothing(demo_env, tmp_path):
    files = [demo_env.vault_file, demo_env.rotation_file]
    before = _digest(files)
    result = _rotate(demo_env, tmp_path, '-e', 'rotate_force=true', check=True)
    assert _digest(files) == before
    assert not os.path.exists(os.path.join(demo_env.inventory, '.rotate.lock'))
    plan = result.task('Report the plan')['result']['msg']
    assert 'dashboard_password' in plan and 'secret_key' in plan


def test_rotate_all_then_nothing_due(demo_env, tmp_path, podman):
    old = demo_env.vault()
    result = _rotate(demo_env, tmp_path, '-e', 'rotate_force=true', leak=list(old.values()))
    new = demo_env.vault()
    for key in ('vault_dashboard_password', 'vault_secret_key', 'vault_field_encryption_key'):
        assert new[key] != old[key], key
    assert new['vault_secret_key_fallbacks'][0] == old['vault_secret_key']
    assert new['vault_field_encryption_key_previous'][0] == old['vault_field_encryption_key']
    assert len(new['vault_secret_key_fallbacks']) <= 2
    assert not [k for k in new if k.endswith('_pending')]
    # Consumers have the new values.
    env_file = open(os.path.join(demo_env.state, 'app.env')).read()
    assert new['vault_field_encryption_key'] in env_file and old['vault_field_encryption_key'] in env_file
    assert podman('secret', 'inspect', demo_env.podman_prefix + 'secret_key').returncode == 0
    rotation = demo_env.rotation()
    assert all(rotation[n]['rotated_at'].startswith('20') for n in ('dashboard_password', 'secret_key'))
    report = result.task('Report the rotation')['result']['msg']
    print('\n'.join(report))
    assert report[0].startswith('demo: rotated ') and 'dashboard_password' in report[0]
    assert [line for line in report if line.startswith('Consumers updated: localhost: ') and 'app.env' in line
            and 'podman secret %ssecret_key' % demo_env.podman_prefix in line]
    assert [line for line in report if line.startswith('Next due: ') and 'secret_key 20' in line]
    assert [line for line in report if line.startswith('Commit: ') and 'vault.yml' in line and 'rotation.yml' in line]
    assert all(line == line.strip() for line in report)

    again = _rotate(demo_env, tmp_path, leak=list(new.values()))
    assert again.changed_tasks() == [], again.changed_tasks()
    assert demo_env.vault() == new
    assert 'To rotate now: nothing' in again.task('Report the plan')['result']['msg']
    assert 'Next due: ' in again.task('Report the plan')['result']['msg']
    assert result.changed


def test_deploy_creates_a_fresh_environment_then_changes_nothing(demo_env, tmp_path):
    os.unlink(demo_env.vault_file)
    os.unlink(demo_env.rotation_file)
    first = run_playbook(tmp_path, playbook='turnkey.secrets.deploy', inventory=demo_env.inventory,
                         args=demo_env.vault_args)
    vault = demo_env.vault()
    assert sorted(vault) == ['vault_dashboard_password', 'vault_field_encryption_key', 'vault_secret_key']
    assert oct(os.stat(demo_env.vault_file).st_mode & 0o777) == '0o600'
    assert first.changed
    for value in vault.values():
        assert value not in first.output
    assert sorted(demo_env.rotation()) == ['dashboard_password', 'field_encryption_key', 'secret_key']
    again = run_playbook(tmp_path, playbook='turnkey.secrets.deploy', inventory=demo_env.inventory,
                         args=demo_env.vault_args, leak_check=list(vault.values()))
    assert again.changed_tasks() == []
    assert demo_env.vault() == vault


def test_deploy_fills_the_empty_values_of_a_copied_example(demo_env, tmp_path):
    """vault.yml made from vault.yml.example as it is: empty means "generate it"."""
    demo_env.set_vault({'vault_dashboard_password': '', 'vault_secret_key': '', 'vault_secret_key_fallbacks': [],
                        'vault_field_encryption_key': '', 'vault_field_encryption_key_previous': []})
    result = run_playbook(tmp_path, playbook='turnkey.secrets.deploy', inventory=demo_env.inventory,
                          args=demo_env.vault_args)
    vault = demo_env.vault()
    assert all(vault[k] for k in ('vault_dashboard_password', 'vault_secret_key', 'vault_field_encryption_key'))
    report = result.task('Report the rotation')['result']['msg']
    assert 'Generated, as they were missing or empty in the vault: dashboard_password, field_encryption_key, ' \
           'secret_key.' in report
    for value in vault.values():
        assert not value or value not in result.output


def test_vault_password_rotation_through_rotate(demo_env, tmp_path):
    demo_env.write_vars('zz-vault.yml', {'turnkey_secrets': {
        'dashboard_password': {'kind': 'htpasswd', 'path': os.path.join(demo_env.state, 'htpasswd'), 'user': 'admin'},
        'secret_key': {'kind': 'django_secret_key'}, 'field_encryption_key': {'kind': 'fernet_key'},
        'vault_password': {'kind': 'vault'}}})
    old_password = open(demo_env.password_file).read()
    values = demo_env.vault()
    result = _rotate(demo_env, tmp_path, '--tags', 'vault', '-e', 'rotate_force=true', leak=[old_password])
    new_password = open(demo_env.password_file).read()
    assert new_password != old_password
    assert_no_secret(result.output, [new_password], 'rotate.yml output')
    assert open(demo_env.password_file + '.old').read() == old_password
    assert demo_env.vault() == values  # same values, readable with the new password only
    assert 'vault_password' in demo_env.rotation()
    again = _rotate(demo_env, tmp_path, '--tags', 'vault', leak=[old_password, new_password])
    assert again.changed_tasks() == []


def test_container_that_could_not_be_recreated_stays_outstanding_until_it_is(demo_env, tmp_path, podman):
    """The container using the SECRET_KEY podman secret cannot be recreated (its --env-file
    is gone): the run names the host as still needing the values and keeps the journal; once
    the file is back, the plain command recreates the container and finishes."""
    _rotate(demo_env, tmp_path, '--tags', 'django', '-e', 'rotate_force=true')  # the podman secret exists
    web = demo_env.podman_prefix + 'web'
    env_file = tmp_path / 'web.env'
    env_file.write_text('MODE=test\n')
    secret = demo_env.podman_prefix + 'secret_key'
    podman.run_container(web, '--secret', secret, '--env-file', str(env_file))
    try:
        env_file.unlink()
        failed = _rotate(demo_env, tmp_path, '--tags', 'django', '-e', 'rotate_force=true', expect_rc=2)
        msg = failed.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
        assert 'localhost' in msg
        assert demo_env.vault()['turnkey_rotation_journal']['waiting'] == ['localhost']
        assert podman.exec_(web, 'cat', '/run/secrets/' + secret) != demo_env.vault()['vault_secret_key']

        env_file.write_text('MODE=test\n')
        _rotate(demo_env, tmp_path)
        vault = demo_env.vault()
        assert 'turnkey_rotation_journal' not in vault
        assert podman.exec_(web, 'cat', '/run/secrets/' + secret) == vault['vault_secret_key']
        assert _rotate(demo_env, tmp_path).changed_tasks() == []
    finally:
        podman('rm', '-f', web, check=False)


def test_diff_shows_each_consumer_value_as_changed_or_unchanged(demo_env, tmp_path):
    _rotate(demo_env, tmp_path, '--tags', 'django', '-e', 'rotate_force=true')  # the consumers exist
    old = demo_env.vault()
    result = _rotate(demo_env, tmp_path, '--tags', 'django', '-e', 'rotate_force=true', '--diff', leak=list(old.values()))
    shown = result.task('Show per consumer which values changed (with --diff; placeholders, never values)')['result']['msg']
    env_line = [line for line in shown if line.split(':')[0].endswith('app.env')][0]
    assert 'SECRET_KEY=<changed>' in env_line and 'FIELD_ENCRYPTION_KEY=<unchanged>' in env_line
    assert 'podman secret %ssecret_key: <changed>' % demo_env.podman_prefix in shown
    assert 'podman secret %sfield_encryption_key: <unchanged>' % demo_env.podman_prefix in shown


def _demo_secret_names(env):
    out = subprocess.run(['ansible', '-i', env.inventory, 'localhost', '-m', 'ansible.builtin.debug', '-a',
                          'msg={{ turnkey_podman_secrets | map(attribute="name") | join(",") }}'] + env.vault_args,
                         capture_output=True, text=True, check=True, env=ansible_env()).stdout
    line, = [line for line in out.splitlines() if line.strip().startswith(('msg:', '"msg":'))]
    return line.split(':', 1)[1].strip().strip('",').split(',')


def test_demo_podman_secret_names_carry_the_checkout(demo_copy, tmp_path, podman):
    """Two checkouts on one machine: their demos name (and rotate) different podman secrets."""
    first, second = demo_copy('a'), demo_copy('b')
    names = _demo_secret_names(first)
    assert _demo_secret_names(first) == names  # stable for a checkout
    others = _demo_secret_names(second)
    assert len(names) == 2 and all(n.startswith('demo_') for n in names + others)
    assert not set(names) & set(others)
    try:
        _rotate(first, tmp_path / 'run', '-e', 'rotate_force=true')
        assert all(podman('secret', 'inspect', name, check=False).returncode == 0 for name in names)
        assert all(podman('secret', 'inspect', name, check=False).returncode != 0 for name in others)
    finally:
        for name in names + others:
            podman('secret', 'rm', name, check=False)
