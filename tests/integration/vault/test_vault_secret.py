"""turnkey.secrets.vault_secret and the generate lookup through ansible-playbook -vvvv.

Results are read back with the stock ``ansible-vault view``; the playbook fixture fails
the test if a value shows in the output or in a recorded task result.
"""

import base64
import os
import stat
import subprocess

import yaml
from vault_helpers import ANSIBLE_VAULT, encrypt, password_file, write

from harness import ansible_env, assert_no_secret, new_secret

MODULE = 'turnkey.secrets.vault_secret'

ORIGINAL = '''---
# Production secrets: rotated by turnkey.secrets, read by the app role.
vault_db_password: {db}   # 180 days

# Django
vault_secret_key: '{key}'
vault_secret_key_fallbacks:
  - {fallback}
vault_port: 5432
'''


def view(path, vault_id):
    proc = subprocess.run([ANSIBLE_VAULT, 'view', '--vault-id', vault_id, path], env=ansible_env({'PAGER': 'cat'}),
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_set_generate_remove_check_apply_check_apply(tmp_path, playbook):
    password = new_secret()
    pass_file = password_file(str(tmp_path / 'pass'), password)
    old = {'db': new_secret(), 'key': new_secret(), 'fallback': new_secret()}
    original = ORIGINAL.format(**old)
    path = str(tmp_path / 'env' / 'group_vars' / 'all' / 'vault.yml')
    write(path, encrypt(original.encode(), password, 'production'), 0o640)
    new_db, new_key = new_secret(), new_secret()
    args = {'path': path, 'vault_password_file': pass_file, 'vault_id': 'production',
            'values': {'vault_db_password': '{{ new_db }}', 'vault_secret_key_fallbacks': ['{{ new_key }}', '{{ old_key }}']},
            'generate': {'vault_redis_password_pending': 'base64:32', 'vault_field_encryption_key_pending': 'fernet_key'},
            'remove': ['vault_port'], 'return_values': True}

    def task(name, check=False):
        out = {'name': name, MODULE: args, 'register': name.replace(' ', '_')}
        if check:
            out['check_mode'] = True
        return out

    result = playbook(secret_vars={'new_db': new_db, 'new_key': new_key, 'old_key': old['key'], 'password': password},
                      leak_check=list(old.values()), tasks=[
        task('check', check=True), task('apply'), task('check again', check=True), task('apply again'),
        # The registered values are usable by later tasks without being shown.
        {'name': 'use the returned values', 'ansible.builtin.assert': {'that': [
            "apply_again['secret_values']['vault_db_password'] == new_db",
            "apply_again['values']['vault_redis_password_pending'] | length == 44",
            "apply_again['values']['vault_redis_password_pending'] == apply['values']['vault_redis_password_pending']"]},
         'no_log': True},
    ])
    changed = {name: result.task(name)['changed'] for name in ('check', 'apply', 'check again', 'apply again')}
    assert changed == {'check': True, 'apply': True, 'check again': False, 'apply again': False}
    assert not result.task('use the returned values')['failed']
    # Values were returned without no_log on the task, yet every callback saw them censored.
    assert 'values' not in result.task('apply')['result']

    text = view(path, 'production@' + pass_file)
    data = yaml.safe_load(text)
    assert_no_secret(result.output, [data['vault_redis_password_pending'], data['vault_field_encryption_key_pending']])
    assert data['vault_db_password'] == new_db and data['vault_secret_key_fallbacks'] == [new_key, old['key']]
    assert 'vault_port' not in data and data['vault_secret_key'] == old['key']
    assert len(base64.b64decode(data['vault_redis_password_pending'])) == 32
    # Untouched lines, comments and order are as they were.
    assert text.startswith(original.split('vault_db_password')[0] + 'vault_db_password: ')
    assert text.endswith('   # 180 days\n\n# Django\nvault_secret_key: \'%s\'\nvault_secret_key_fallbacks:\n- %s\n- %s\n'
                         'vault_redis_password_pending: %s\nvault_field_encryption_key_pending: %s\n'
                         % (old['key'], new_key, old['key'], data['vault_redis_password_pending'],
                            data['vault_field_encryption_key_pending']))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with open(path) as handle:
        assert handle.readline() == '$ANSIBLE_VAULT;1.2;AES256;production\n'


def test_create_with_lookup_values_then_wrong_password(tmp_path, playbook):
    password = new_secret()
    pass_file = password_file(str(tmp_path / 'pass'), password)
    path = str(tmp_path / 'staging' / 'vault.yml')
    os.makedirs(os.path.dirname(path))
    result = playbook(secret_vars={'vault_pass': password, 'wrong_pass': new_secret()}, tasks=[
        {'name': 'create', MODULE: {
            'path': path, 'vault_password': '{{ vault_pass }}', 'vault_id': 'staging', 'create': True,
            'values': {
                'vault_dashboard_password': "{{ lookup('turnkey.secrets.generate', 'password:20', classes=['upper', 'digit']) }}",
                'vault_api_keys': "{{ query('turnkey.secrets.generate', 'hex:8', 'urlsafe:8') }}"},
            'generate': {'vault_secret_key': 'django_secret_key'}},
         'no_log': True},
        {'name': 'create again', MODULE: {'path': path, 'vault_password_file': pass_file, 'create': True,
                                          'generate': {'vault_secret_key': 'django_secret_key'}}},
        {'name': 'wrong password', MODULE: {'path': path, 'vault_password': '{{ wrong_pass }}',
                                            'values': {'vault_x': 'y'}}, 'ignore_errors': True},
        {'name': 'bad kind', MODULE: {'path': path, 'vault_password_file': pass_file,
                                      'generate': {'vault_y': 'rsa:2048'}}, 'ignore_errors': True},
    ])
    assert result.task('create')['changed'] and not result.task('create again')['changed']
    assert 'does not decrypt it' in result.task('wrong password')['result']['msg']
    assert 'generate.vault_y: unknown secret kind' in result.task('bad kind')['result']['msg']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = yaml.safe_load(view(path, 'staging@' + pass_file))
    assert len(data['vault_dashboard_password']) == 20 and data['vault_dashboard_password'].isalnum()
    assert not any(c.islower() for c in data['vault_dashboard_password'])
    assert len(data['vault_api_keys'][0]) == 16 and len(data['vault_api_keys'][1]) == 11
    assert len(data['vault_secret_key']) == 50
    assert_no_secret(result.output, [data['vault_secret_key'], data['vault_dashboard_password']] + data['vault_api_keys'])


def test_mode_of_an_existing_file_and_private_backups(tmp_path, playbook):
    """Review finding: ``mode`` was ignored on an existing file and the backup kept the
    file's mode; a mode change alone is a change that keeps the ciphertext."""
    password = new_secret()
    pass_file = password_file(str(tmp_path / 'pass'), password)
    path = str(tmp_path / 'env' / 'vault.yml')
    write(path, encrypt(ORIGINAL.format(db=new_secret(), key=new_secret(), fallback=new_secret()).encode(), password,
                        'production'), 0o644)
    args = {'path': path, 'vault_password_file': pass_file, 'values': {'vault_db_password': '{{ new_db }}'},
            'mode': 'u=rw,go=', 'backup': True}
    only_mode = {'path': path, 'vault_password_file': pass_file, 'values': {'vault_port': 5432}, 'mode': '0640'}

    def task(name, task_args, check=False):
        return dict({'name': name, MODULE: task_args}, **({'check_mode': True} if check else {}))
    result = playbook(secret_vars={'new_db': new_secret()}, tasks=[
        task('check', args, True), task('apply', args), task('apply again', args)])
    changed = {name: result.task(name)['changed'] for name in ('check', 'apply', 'apply again')}
    assert changed == {'check': True, 'apply': True, 'apply again': False}
    backup = result.task('apply')['result']['backup_file']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    envelope = open(path).read()
    result = playbook(tasks=[task('mode only', only_mode), task('mode only again', only_mode)])
    assert result.task('mode only')['changed'] and not result.task('mode only again')['changed']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640 and open(path).read() == envelope
