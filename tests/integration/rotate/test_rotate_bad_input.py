"""Bad catalogue or consumer input: a clear message before the lock, and nothing changed."""

import hashlib
import os
import secrets

from harness import run_playbook

PUBLIC = 'https://oapi.dingtalk.com/robot/send?access_token='


def _state(env, podman):
    paths = [env.vault_file, env.rotation_file, os.path.join(env.state, 'htpasswd'), os.path.join(env.state, 'app.env')]
    out = {p: hashlib.sha256(open(p, 'rb').read()).hexdigest() for p in paths}
    for name in ('secret_key', 'field_encryption_key'):
        out[name] = podman('secret', 'inspect', env.podman_prefix + name).stdout
    out['files'] = sorted(os.listdir(env.inventory))
    return out


def _cases(env):
    htpasswd = os.path.join(env.state, 'htpasswd')
    env_file = os.path.join(env.state, 'app.env')
    good_env = {'path': env_file, 'mode': '0600', 'values': {'SECRET_KEY': 'vault_secret_key'}}
    return [
        # (what, secrets to add to the catalogue, extra vars, words the message must hold)
        ('htpasswd without path', {'dashboard_password': {'kind': 'htpasswd', 'user': 'admin'}}, {},
         ['turnkey_secrets.dashboard_password', 'path']),
        ('keep: two', {'secret_key': {'kind': 'django_secret_key', 'keep': 'two'}}, {},
         ['turnkey_secrets.secret_key', 'keep']),
        ('misspelt key', {'dashboard_password': {'kind': 'htpasswd', 'path': htpasswd, 'verify_ulr': 'http://x/'}}, {},
         ['unknown key verify_ulr', 'did you mean verify_url']),
        ('misspelt connection key', {'db': {'kind': 'postgres', 'role': 'app', 'ssl_mod': 'require'}}, {},
         ['unknown key ssl_mod', 'did you mean ssl_mode']),
        ('unknown kind', {'token': {'kind': 'generik'}}, {}, ['kind is', 'did you mean generic']),
        ('bad generator', {'token': {'kind': 'generic', 'generate': 'random:12'}}, {}, ['turnkey_secrets.token.generate']),
        ('bad htpasswd mode', {'dashboard_password': {'kind': 'htpasswd', 'path': htpasswd, 'mode': 'rw-r-----'}}, {},
         ['mode must be an octal']),
        ('unquoted htpasswd mode', {'dashboard_password': {'kind': 'htpasswd', 'path': htpasswd, 'mode': 600}}, {},
         ['mode must be a quoted octal string']),
        ('consumer names an undefined variable', {}, {'turnkey_env_files': [
            dict(good_env, values={'SECRET_KEY': 'vault_secret_kee'})]}, ['vault_secret_kee is not defined', 'did you mean vault_secret_key']),
        ('bad env-file key', {}, {'turnkey_env_files': [dict(good_env, values={'SECRET-KEY': 'vault_secret_key'})]},
         ['not a valid environment variable name']),
        ('bad env-file mode', {}, {'turnkey_env_files': [dict(good_env, mode='0999')]}, ['mode must be an octal']),
        ('relative env-file path', {}, {'turnkey_env_files': [dict(good_env, path='app.env')]}, ['path must be an absolute path']),
        ('invalid podman name', {}, {'turnkey_podman_secrets': [{'name': 'bad name!', 'var': 'vault_secret_key'}]},
         ['not a valid podman secret name']),
        ('malformed new DingTalk secret', {'dingtalk': {'kind': 'dingtalk'}},
         {'dingtalk_new': {'dingtalk': {'url': PUBLIC + secrets.token_hex(16), 'secret': 'SEC' + secrets.token_hex(8)}}},
         ['turnkey_secrets.dingtalk', 'SEC']),
        ('admin login left empty (vault.yml.example copied)',
         {'db': {'kind': 'postgres', 'role': 'app', 'login_password': '{{ vault_db_admin_password }}'}},
         {'vault_db_admin_password': ''}, ['turnkey_secrets.db.login_password is empty', 'ansible-vault edit']),
        ('a kind whose hosts the inventory lacks', {'db': {'kind': 'postgres', 'role': 'app'}}, {},
         ['group db, which has none']),
    ]


def test_bad_input_is_refused_before_anything_changes(demo_env, tmp_path, podman):
    run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=demo_env.inventory,
                 args=demo_env.vault_args + ['-e', 'rotate_force=true'])
    before = _state(demo_env, podman)
    for what, secrets_, extra, words in _cases(demo_env):
        demo_env.add_secrets('zz-bad.yml', secrets_, **extra)
        result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=demo_env.inventory,
                              args=demo_env.vault_args + ['-e', 'rotate_force=true'], expect_rc=2,
                              leak_check=demo_env.secret_values())
        msg = result.task('Plan and validate the rotation of demo')['result']['msg']
        for word in words:
            assert word in msg, '%s: %r not in %r' % (what, word, msg)
        assert 'Nothing was changed' in msg, what
        assert 'Traceback' not in result.output, what
        assert _state(demo_env, podman) == before, what
    os.unlink(os.path.join(demo_env.inventory, 'group_vars', 'all', 'zz-bad.yml'))
