"""The app_keys role through ansible-playbook -vvvv, checked by a real Django + MultiFernet app.

The app probe reads the env file through a shell (``set -a; . app.env``), configures
Django with ``SECRET_KEY``/``SECRET_KEY_FALLBACKS`` and a MultiFernet with
``FIELD_ENCRYPTION_KEYS``, as the app does.
"""

import os
import stat

import pytest
from cryptography.fernet import Fernet
from keygen import django_key, fernet_key

from harness import new_secret

WRITE = 'turnkey.secrets.app_keys : Write the keys to the environment file'
TOKENS = 'turnkey.secrets.app_keys : Re-encrypt the Fernet tokens kept in files under the primary key'


def rotate_and_deploy(**role_vars):
    """A rotation as rotate.yml drives it: compute the rotated set, then deploy it."""
    role_vars.setdefault('app_keys_env_file', '{{ env_path }}')
    role_vars.setdefault('app_keys_fernet_token_files', ['{{ tokens_path }}'])
    return [
        {'name': 'rotate', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.app_keys', 'tasks_from': 'rotate'},
         'vars': {k: v for k, v in role_vars.items() if not k.startswith('app_keys_env') and 'token' not in k}},
        {'name': 'deploy', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.app_keys'},
         'vars': dict(role_vars, app_keys_secret_key='{{ app_keys_rotated.secret_key }}',
                      app_keys_secret_key_fallbacks='{{ app_keys_rotated.secret_key_fallbacks }}',
                      app_keys_fernet_keys='{{ app_keys_rotated.fernet_keys }}')},
    ]


def test_rotation_keeps_old_signatures_and_tokens_valid_until_trimmed(tmp_path, playbook, app):
    env, tokens = tmp_path / 'app.env', tmp_path / 'oauth.tokens'
    sk = [django_key() for dummy in range(4)]
    fk = [fernet_key() for dummy in range(4)]
    keys = {'sk%d' % i: k for i, k in enumerate(sk)}
    keys.update({'fk%d' % i: k for i, k in enumerate(fk)})
    paths = {'env_path': str(env), 'tokens_path': str(tokens)}
    plaintext = new_secret()

    def run(tasks, check=False):
        return playbook(tasks=tasks, secret_vars=keys, extra_vars=paths, check=check, leak_check=[plaintext])

    # Initial deployment: one key of each kind.
    tokens.write_text('')
    run([{'name': 'deploy', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.app_keys'},
          'vars': {'app_keys_secret_key': '{{ sk0 }}', 'app_keys_fernet_keys': ['{{ fk0 }}'],
                   'app_keys_env_file': '{{ env_path }}'}}])
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    signed = app(env, sign=plaintext)['signed']
    token = app(env, encrypt=plaintext)['token']
    tokens.write_text(token + '\n')

    # Rotation 1: check, apply, check again, apply again.
    first = rotate_and_deploy(app_keys_new_secret_key='{{ sk1 }}', app_keys_secret_key='{{ sk0 }}',
                              app_keys_new_fernet_key='{{ fk1 }}', app_keys_fernet_keys=['{{ fk0 }}'])
    before = env.read_bytes(), tokens.read_bytes()
    checked = run(first, check=True)
    assert checked.task(WRITE)['changed'] and checked.task(TOKENS)['changed']
    assert (env.read_bytes(), tokens.read_bytes()) == before
    applied = run(first)
    assert applied.task(WRITE)['changed'] and applied.task(TOKENS)['changed']
    assert applied.task(WRITE)['result'].get('censored'), 'secure logging must hide the result'
    assert not run(first, check=True).changed
    assert not run(first).changed

    # What the old keys made still works; new tokens and signatures use the new keys.
    assert app(env, unsign=signed)['value'] == plaintext
    assert app(env, decrypt=token)['text'] == plaintext
    assert Fernet(fk[1]).decrypt(tokens.read_text().strip().encode()).decode() == plaintext
    assert app(env, decrypt=Fernet(fk[1]).encrypt(b'new').decode())['text'] == 'new'

    # Rotations 2 and 3 with the default bounds (2 fallbacks, 3 Fernet keys).
    run(rotate_and_deploy(app_keys_new_secret_key='{{ sk2 }}', app_keys_secret_key='{{ sk1 }}',
                          app_keys_secret_key_fallbacks=['{{ sk0 }}'],
                          app_keys_new_fernet_key='{{ fk2 }}', app_keys_fernet_keys=['{{ fk1 }}', '{{ fk0 }}']))
    assert app(env, unsign=signed)['value'] == plaintext
    run(rotate_and_deploy(app_keys_new_secret_key='{{ sk3 }}', app_keys_secret_key='{{ sk2 }}',
                          app_keys_secret_key_fallbacks=['{{ sk1 }}', '{{ sk0 }}'],
                          app_keys_new_fernet_key='{{ fk3 }}', app_keys_fernet_keys=['{{ fk2 }}', '{{ fk1 }}', '{{ fk0 }}']))
    # sk0 fell out of the bound: what it signed no longer verifies; fk0 was dropped too,
    # but the token file was re-encrypted on each rotation and still decrypts.
    assert app(env, unsign=signed)['value'] is None
    assert app(env, decrypt=token)['text'] is None
    assert app(env, decrypt=tokens.read_text().strip())['text'] == plaintext
    from ansible_collections.turnkey.secrets.plugins.module_utils._env_file import values_of
    deployed = values_of(env.read_text())
    assert deployed['SECRET_KEY'] == sk[3] and deployed['SECRET_KEY_FALLBACKS'] == '%s,%s' % (sk[2], sk[1])
    assert deployed['FIELD_ENCRYPTION_KEY'] == fk[3] and deployed['FIELD_ENCRYPTION_KEYS'] == ','.join(fk[3:0:-1])


def test_names_json_lists_group_mode_and_bounds(tmp_path, playbook):
    env = tmp_path / 'app.env'
    env.write_text('DJANGO_SETTINGS_MODULE=trading.settings\n')
    keys = {'sk': django_key(), 'old': [django_key() for dummy in range(3)], 'fk': [fernet_key() for dummy in range(3)]}
    result = playbook(secret_vars=keys, extra_vars={'env_path': str(env)}, tasks=[
        {'name': 'deploy', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.app_keys'},
         'vars': {'app_keys_secret_key': '{{ sk }}', 'app_keys_secret_key_fallbacks': '{{ [sk] + old }}',
                  'app_keys_max_fallbacks': 1, 'app_keys_fernet_keys': '{{ fk }}', 'app_keys_max_fernet_keys': 2,
                  'app_keys_env_file': '{{ env_path }}', 'app_keys_env_group': 'root', 'app_keys_env_mode': '0640',
                  'app_keys_list_format': 'json',
                  'app_keys_env_names': {'SECRET_KEY': 'DJANGO_SECRET_KEY', 'SECRET_KEY_FALLBACKS': 'DJANGO_SECRET_KEY_FALLBACKS',
                                         'FIELD_ENCRYPTION_KEY': '', 'FIELD_ENCRYPTION_KEYS': 'FERNET_KEYS'}}}])
    assert result.task(WRITE)['changed']
    from ansible_collections.turnkey.secrets.plugins.module_utils._env_file import values_of
    import json
    deployed = values_of(env.read_text())
    # The current key is never its own fallback; lists are trimmed to their bounds.
    assert deployed == {'DJANGO_SETTINGS_MODULE': 'trading.settings', 'DJANGO_SECRET_KEY': keys['sk'],
                        'DJANGO_SECRET_KEY_FALLBACKS': json.dumps(keys['old'][:1], separators=(',', ':')),
                        'FERNET_KEYS': json.dumps(keys['fk'][:2], separators=(',', ':'))}
    assert stat.S_IMODE(env.stat().st_mode) == 0o640 and env.stat().st_gid == 0


@pytest.mark.parametrize('bad_vars, message', [
    ({'app_keys_fernet_keys': ['{{ short }}']}, 'Fernet.generate_key()'),
    ({'app_keys_secret_key': '{{ sk }}', 'app_keys_env_file': ''}, 'a destination'),
])
def test_bad_key_sets_fail_clearly_without_leaking(tmp_path, playbook, bad_vars, message):
    env = tmp_path / 'app.env'
    env.write_text('SECRET_KEY=unchanged\n')
    role_vars = {'app_keys_secret_key': '{{ sk }}', 'app_keys_env_file': str(env)}
    role_vars.update(bad_vars)
    result = playbook(secret_vars={'sk': django_key(), 'short': fernet_key()[:40]}, expect_rc=2, tasks=[
        {'name': 'deploy', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.app_keys'}, 'vars': role_vars}])
    failed = result.task('turnkey.secrets.app_keys : Check the key set')
    assert failed['failed'] and message in failed['result']['msg']
    assert env.read_text() == 'SECRET_KEY=unchanged\n'


def test_podman_secrets(tmp_path, playbook, podman):
    if not os.path.isdir(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'podman_secrets')):
        pytest.skip('the podman_secrets role is not in this checkout')
    keys = {'sk': django_key(), 'old': django_key(), 'fk': [fernet_key(), fernet_key()]}
    names = {k: podman.prefix + k.lower() for k in ('SECRET_KEY', 'SECRET_KEY_FALLBACKS', 'FIELD_ENCRYPTION_KEYS')}
    task = {'name': 'deploy', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.app_keys'},
            'vars': {'app_keys_secret_key': '{{ sk }}', 'app_keys_secret_key_fallbacks': ['{{ old }}'],
                     'app_keys_fernet_keys': '{{ fk }}', 'app_keys_podman_secrets': True,
                     'app_keys_podman_secret_names': names, 'app_keys_podman_secret_labels': {'app': 'trading'}}}
    assert playbook(tasks=[task], secret_vars=keys).changed
    container = podman.run_container(
        podman.prefix + 'app', '--secret', '%s,type=env,target=SECRET_KEY' % names['SECRET_KEY'],
        *['--secret=%s' % names[k] for k in ('SECRET_KEY_FALLBACKS', 'FIELD_ENCRYPTION_KEYS')])
    assert podman.exec_(container, 'printenv', 'SECRET_KEY').strip() == keys['sk']
    assert podman.exec_(container, 'cat', '/run/secrets/' + names['SECRET_KEY_FALLBACKS']) == keys['old']
    assert podman.exec_(container, 'cat', '/run/secrets/' + names['FIELD_ENCRYPTION_KEYS']) == ','.join(keys['fk'])
    assert not playbook(tasks=[task], secret_vars=keys).changed
