"""Audit rules: what is found, what is not, and that no finding repeats a secret.

Secret-looking values are built at run time; none is a literal in this file.
"""

import datetime
import json
import os
import secrets
import subprocess

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

NOW = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)


def sec():
    return 'SEC' + secrets.token_hex(32)


def password():
    return 'Pw' + secrets.token_urlsafe(12)


def rules(line, **kwargs):
    return [(m.rule, m.excerpt) for m in _audit.match_line(line, **kwargs)]


def assert_clean(obj, values):
    text = json.dumps(obj)
    for value in values:
        assert value not in text
        assert value[3:12] not in text


# --------------------------------------------------------------------------- lines

def test_sharp_rules_and_redacted_excerpts():
    s, token, pw = sec(), secrets.token_hex(32), password()
    key_header = '-----BEGIN ' + 'OPENSSH PRIVATE KEY-----'
    assert rules('DINGTALK_SECRET = "%s"' % s) == [('dingtalk-secret', 'SEC\u2026')]
    assert rules('url: https://oapi.dingtalk.com/robot/send?access_token=%s' % token) == [
        ('access-token-url', 'access_token=\u2026')]
    assert rules(key_header) == [('private-key', key_header)]
    assert rules('REDIS_URL=redis://:%s@127.0.0.1:6379/0' % pw) == [('url-credentials', '\u2026://\u2026:\u2026@')]
    found = _audit.match_line('x = "%s" # and %s' % (s, pw))
    assert all(pw not in (m.excerpt + m.message) and s[3:] not in m.excerpt for m in found)
    # 63 hex digits, or glued to more hex, is not a DingTalk secret.
    assert rules('SEC' + secrets.token_hex(32)[:63]) == []
    assert rules('XSEC' + secrets.token_hex(32)) == []


@pytest.mark.parametrize('template, excerpt', [
    ('password = "%s"', 'password = "\u2026"'),
    ("db_password: '%s'", 'db_password = "\u2026"'),
    ('"api_key": "%s",', 'api_key = "\u2026"'),
    ('DB_PASSWORD=%s', 'DB_PASSWORD=\u2026'),
    ('export REDIS_TOKEN=%s  # rotated', 'REDIS_TOKEN=\u2026'),
    ('connect(password=%r)', 'password = "\u2026"'),
])
def test_password_assignments_found(template, excerpt):
    value = password()
    found = rules(template % value)
    assert found == [('password-assignment', excerpt)]


def test_plain_yaml_assignment_only_in_yaml_files():
    line = 'smtp_password: %s' % password()
    assert rules(line, yaml_file=True) == [('password-assignment', 'smtp_password: \u2026')]
    assert rules(line) == []


@pytest.mark.parametrize('line', [
    'password: "{{ vault_db_password }}"',
    'DB_PASSWORD=${DB_PASSWORD}',
    'DB_PASSWORD=$(cat /run/secrets/db)',
    'password = os.environ["DB_PASSWORD"]',
    'password = os.getenv("DB_PASSWORD")',
    "secret=dict(type='str', no_log=True)",
    "token_type = 'bearer'",
    'htpasswd_hash_scheme: bcrypt',
    'podman_secrets_secure_logging: true',
    'password_file: "/etc/app/db.pass"',
    'password = "changeme"',
    'password = "********"',
    'password = "<your password>"',
    'secret_var: "vault_dingtalk_secret"',
    'PASSWORD_ENV = "DB_PASSWORD"',
    'password = "abc"',
    "if key == 'source':",
    'redis://:password@localhost',
    'TOKEN_RE = re.compile(r"x")',
    'severity = {"secret-file-committed": "critical"}',
])
def test_not_reported(line):
    assert rules(line, yaml_file=True) == []


def test_secretish_names():
    for name in ('db_password', 'DB_PASSWORD', 'ansible_ssh_pass', 'ansible_become_password', 'api_key', 'secret_key',
                 'vault_dingtalk_secret', 'oauth_client_secret', 'SENTRY_TOKEN', 'field_encryption_key', 'keys'):
        assert _audit.secretish(name), name
    for name in ('ansible_ssh_private_key_file', 'password_file', 'db_user', 'keyboard', 'monkey', 'secret_name',
                 'token_url_var', 'turnkey_vault_id', 'max_age_days', 'redis_password_persist'):
        assert not _audit.secretish(name), name


# --------------------------------------------------------------------------- findings

def test_allow_list_marks_but_keeps_findings():
    audit = _audit.Audit(allow=[{'path': 'inventory/demo/.vault_pass_demo', 'rule': 'vault-password-*', 'reason': 'demo'},
                                {'host': 'web*', 'rule': 'secret-file-missing'}], host='web1')
    audit.add('vault-password-in-tree', 'inventory/demo/.vault_pass_demo', 'm')
    audit.add('vault-password-in-tree', 'inventory/prod/.vault_pass', 'm')
    audit.add('secret-file-missing', '/srv/.env', 'gone')
    audit.add('secret-file-missing', '/srv/.env', 'gone')  # same finding twice is reported once
    res = audit.result()
    assert [(f['path'], f['allowed']) for f in res['findings']] == [
        ('inventory/demo/.vault_pass_demo', True), ('inventory/prod/.vault_pass', False), ('/srv/.env', True)]
    assert res['summary'] == {'critical': 1, 'high': 0, 'medium': 0, 'low': 0, 'info': 0, 'allowed': 2}
    assert res['findings'][0]['text'].endswith('(allowed: demo)')
    assert res['findings'][2]['text'].startswith('LOW secret-file-missing web1:/srv/.env: gone')


def test_allow_entries_are_validated():
    with pytest.raises(InputError, match='matches no audit rule'):
        _audit.Audit(allow=[{'rule': 'vault-pasword-in-tree', 'path': 'x'}])
    with pytest.raises(InputError, match='at least rule or path'):
        _audit.Audit(allow=[{'reason': 'everything'}])


# --------------------------------------------------------------------------- inventory

def vault_blob(label=None):
    header = '$ANSIBLE_VAULT;1.2;AES256;%s' % label if label else '$ANSIBLE_VAULT;1.1;AES256'
    return header + '\n' + secrets.token_hex(40) + '\n'


def inventory_findings(relpath, text, vault_id='prod', vault_named=False):
    audit = _audit.Audit()
    _audit.scan_inventory_file(audit, relpath, text, vault_id, vault_named)
    return audit


def test_inventory_clear_secrets_and_inline_vault_labels():
    pw, other = password(), password()
    inline_ok = '  ' + vault_blob('prod').replace('\n', '\n    ')
    inline_bad = '  ' + vault_blob('staging').replace('\n', '\n    ')
    text = ('---\ndb_user: app\ndb_password: "%s"\nredis_password: "{{ vault_redis_password }}"\n'
            'api_key: !vault |\n  %s\nsmtp_password: !vault |\n  %s\nusers:\n  - {name: a, password: %s}\n'
            'port: 5432\nbecome_pass: ""\n' % (pw, inline_ok, inline_bad, other))
    audit = inventory_findings('group_vars/all/main.yml', text)
    found = [(f['rule'], f['line']) for f in audit.findings]
    assert sorted(found) == [('inventory-clear-secret', 3), ('inventory-clear-secret', 14), ('vault-wrong-label', 9)]
    assert_clean(audit.result(), [pw, other])


def test_vault_files_encrypted_and_labelled():
    assert inventory_findings('group_vars/all/vault.yml', vault_blob('prod'), vault_named=True).findings == []
    wrong = inventory_findings('group_vars/all/vault.yml', vault_blob('staging'), vault_named=True).findings
    assert [f['rule'] for f in wrong] == ['vault-wrong-label'] and 'label staging' in wrong[0]['message']
    unlabelled = inventory_findings('group_vars/all/vault.yml', vault_blob(), vault_named=True).findings
    assert 'no vault-id label' in unlabelled[0]['message']
    assert inventory_findings('group_vars/all/vault.yml', vault_blob(), vault_id=None, vault_named=True).findings == []
    value = password()
    plain = inventory_findings('host_vars/web1/vault.yml', '---\nvault_db_password: "%s"\nvault_port: 1\n' % value,
                               vault_named=True)
    assert [(f['rule'], f['line']) for f in plain.findings] == [('vault-not-encrypted', 2)]
    assert_clean(plain.result(), [value])


def test_ini_inventory_and_unparsable_yaml():
    pw = password()
    ini = inventory_findings('hosts', '[web]\nweb1 ansible_host=10.0.0.1 ansible_password=%s\n' % pw)
    assert [(f['rule'], f['line'], f['excerpt']) for f in ini.findings] == [
        ('inventory-clear-secret', 2, 'ansible_password=\u2026')]
    bad = inventory_findings('group_vars/all/main.yml', 'a: [\npassword: %s\n' % pw)
    assert bad.findings == [] and len(bad.warnings) == 1
    assert pw not in bad.warnings[0] and 'not valid YAML' in bad.warnings[0]


# --------------------------------------------------------------------------- hosts and rotation

def test_host_file_modes_owners_and_globs(tmp_path):
    env = tmp_path / '.env'
    env.write_text('x\n')
    env.chmod(0o640)
    loose = tmp_path / '.env.bak'
    loose.write_text('x\n')
    loose.chmod(0o604)
    audit = _audit.Audit(host='h1')
    checked = _audit.check_host_files(audit, [
        {'path': str(env), 'mode': '0640', 'owner': 'root', 'group': 'nogroup'},
        {'path': str(tmp_path / '.env.*'), 'mode': 0o600},
        {'path': str(tmp_path / 'missing'), 'mode': '0600'},
        {'path': str(tmp_path / 'none.*')},
    ])
    found = {(f['rule'], os.path.basename(f['path'])): f for f in audit.findings}
    assert checked == 2
    assert set(found) == {('secret-file-owner', '.env'), ('secret-file-mode', '.env.bak'),
                          ('secret-file-missing', 'missing')}
    assert found[('secret-file-mode', '.env.bak')]['severity'] == 'critical'
    assert 'chmod 0600' in found[('secret-file-mode', '.env.bak')]['message']
    assert 'group is root, expected nogroup' in found[('secret-file-owner', '.env')]['message']
    with pytest.raises(InputError, match='octal'):
        _audit.check_host_files(audit, [{'path': str(env), 'mode': 'u=rw'}])


def test_rotation_overdue_and_never_rotated():
    audit = _audit.Audit()
    _audit.check_rotation(audit, {'old': {'rotated_at': '2026-01-01T00:00:00Z', 'max_age_days': 90},
                                  'fresh': {'rotated_at': '2026-11-01T00:00:00Z', 'max_age_days': 90},
                                  'never': {'max_age_days': 180}}, 'rotation.yml', now=NOW)
    assert [(f['rule'], f['message']) for f in audit.findings] == [
        ('secret-never-rotated', 'never has no rotated_at: it was never rotated by rotate.yml'),
        ('secret-overdue', 'old is 326 days old (max 90): run rotate.yml')]


# --------------------------------------------------------------------------- trees and git

def git(tree, *args):
    subprocess.run(['git', '-C', str(tree), '-c', 'user.email=t@invalid', '-c', 'user.name=t'] + list(args),
                   check=True, capture_output=True)


def write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / 'repo'
    root.mkdir()
    git(root, 'init', '-q')
    return root


def test_history_finds_removed_secrets_once(repo):
    gone, kept, env_pw = sec(), sec(), password()
    write(repo / '.gitignore', '.env\n.env.*\n.htpasswd\n*.gpg\n.vault_pass*\n')
    write(repo / 'alerts.py', 'SECRET = "%s"\n' % gone)
    write(repo / 'keep.py', '\n\nSECRET = "%s"\n' % kept)
    write(repo / '.env.old', 'DB_PASSWORD=%s\n' % env_pw)
    git(repo, 'add', '-A', '-f')
    git(repo, 'commit', '-qm', 'one')
    git(repo, 'rm', '-q', 'alerts.py', '.env.old')
    git(repo, 'commit', '-qm', 'two')
    first = subprocess.run(['git', '-C', str(repo), 'rev-parse', 'HEAD~1'], capture_output=True, text=True,
                           check=True).stdout.strip()

    res = _audit.audit({'path': str(repo), 'git_history': True})
    found = {(f['rule'], f['path']): f for f in res['findings']}
    assert set(found) == {('dingtalk-secret', 'keep.py'), ('dingtalk-secret', 'alerts.py'),
                          ('secret-file-in-history', '.env.old'), ('password-assignment', '.env.old')}
    assert found[('dingtalk-secret', 'keep.py')]['commit'] is None and found[('dingtalk-secret', 'keep.py')]['line'] == 3
    assert found[('dingtalk-secret', 'alerts.py')]['commit'] == first
    assert found[('dingtalk-secret', 'alerts.py')]['line'] == 1
    assert res['scanned']['commits'] == 2
    assert_clean(res, [gone, kept, env_pw])

    without = _audit.audit({'path': str(repo), 'git_history': False})
    assert {(f['rule'], f['path']) for f in without['findings']} == {('dingtalk-secret', 'keep.py')}


def test_tracked_secret_files_gitignore_and_vault_password_files(repo, tmp_path):
    write(repo / '.gitignore', '.venv/\n')
    write(repo / '.env', 'STREAMLIT_PORT=8501\n')
    write(repo / 'backup.env.gpg', '\0binary')
    write(repo / 'inventory' / 'prod' / '.vault_pass_prod', 'x\n', 0o640)
    write(repo / '.venv' / 'lib' / 'x.py', 'SECRET = "%s"\n' % sec())  # ignored and excluded
    git(repo, 'add', '.gitignore', '.env', 'backup.env.gpg')
    git(repo, 'commit', '-qm', 'oops')
    outside = tmp_path / '.vault_pass_prod'
    write(outside, 'x\n', 0o644)
    res = _audit.audit({'inventory': [str(repo / 'inventory' / 'prod')], 'vault_password_files': [str(outside)]})
    assert res['root'] == os.path.realpath(str(repo))
    found = {(f['rule'], f['path'], f['severity']) for f in res['findings'] if f['rule'] != 'gitignore-missing'}
    assert found == {
        ('secret-file-committed', '.env', 'critical'),
        ('secret-file-committed', 'backup.env.gpg', 'critical'),
        ('vault-password-in-tree', 'inventory/prod/.vault_pass_prod', 'high'),
        ('vault-password-mode', 'inventory/prod/.vault_pass_prod', 'high'),
        ('vault-password-mode', os.path.realpath(str(outside)), 'critical'),
    }
    missing = sorted(f['message'].split()[4].rstrip(';') for f in res['findings'] if f['rule'] == 'gitignore-missing')
    assert missing == sorted(_audit.DEFAULT_GITIGNORE_REQUIRED)


def test_plain_directory_without_git(tmp_path):
    tree = tmp_path / 'tree'
    write(tree / 'app.py', 'API_TOKEN = "%s"\n' % password())
    write(tree / 'node_modules' / 'lib.js', 'password = "%s"\n' % password())
    write(tree / 'vendor' / 'lib.py', 'password = "%s"\n' % password())
    res = _audit.audit({'path': str(tree), 'exclude': ['vendor']})
    assert [(f['rule'], f['path']) for f in res['findings']] == [('password-assignment', 'app.py')]
    assert res['scanned']['files'] == 1
    with pytest.raises(InputError, match='not a directory'):
        _audit.audit({'path': str(tree / 'nope')})


def test_sub_directory_of_a_repository_can_stay_narrow(repo):
    write(repo / 'a' / 'x.py', 'token = "%s"\n' % password())
    write(repo / 'b' / 'y.py', 'token = "%s"\n' % password())
    narrow = _audit.audit({'path': str(repo / 'a'), 'git_toplevel': False})
    assert [f['path'] for f in narrow['findings']] == ['x.py']
    wide = _audit.audit({'path': str(repo / 'a')})
    assert {f['path'] for f in wide['findings'] if f['rule'] == 'password-assignment'} == {'a/x.py', 'b/y.py'}


@pytest.mark.parametrize('line', [
    "'bad key': 'invalid key name(s) BAD-KEY'",
    "TOKENS = 'turnkey.secrets.app_keys : Re-encrypt the tokens'",
    'excerpt = \'password = "\\u2026"\'',
    'password = "\u2026"',
    'api_key = "abc...xyz"',
])
def test_prose_and_redacted_values_not_reported(line):
    assert rules(line) == []


# --------------------------------------------------------------------------- literal secrets in tasks

def test_literal_secrets_in_task_arguments_of_playbooks_and_roles(tmp_path):
    tree = tmp_path / 'tree'
    pw, login, data, short, token, key, env = (password() for _dummy in range(7))
    short = 'hunter2'
    write(tree / 'playbooks' / 'site.yml', '\n'.join([
        '- hosts: web',                                                   # 1
        '  tasks:',                                                       # 2
        '    - name: dashboard user',                                     # 3
        '      turnkey.secrets.htpasswd:',                                # 4
        '        path: /etc/nginx/htpasswd',                              # 5
        '        name: admin',                                            # 6
        '        password: %s' % short,                                   # 7
        '        update_password: on_create',                             # 8
        '    - block:',                                                   # 9
        '        - community.postgresql.postgresql_user:',                # 10
        '            name: app',                                          # 11
        '            login_password: "%s"' % login,                       # 12
        '            password: "{{ vault_app_password }}"',               # 13
        '      rescue:',                                                  # 14
        '        - turnkey.secrets.podman_secret:',                       # 15
        '            secrets:',                                           # 16
        '              - name: db',                                       # 17
        '                data: %s' % data,                                # 18
        '              - name: ok',                                       # 19
        '                data: "{{ vault_ok }}"',                         # 20
        '  handlers:',                                                    # 21
        '    - name: notify',                                             # 22
        '      ansible.builtin.uri:',                                     # 23
        '        url: https://oapi.dingtalk.com/robot/send?access_token=%s' % token,  # 24
        '        method: POST',                                           # 25
        '']))
    write(tree / 'roles' / 'app' / 'tasks' / 'main.yml', '\n'.join([
        '- name: keys',                                                   # 1
        '  turnkey.secrets.env_file:',                                    # 2
        '    path: /srv/app/.env',                                        # 3
        '    values:',                                                    # 4
        '      DEBUG: "false"',                                           # 5
        '      SECRET_KEY: %s' % key,                                     # 6
        '      OTHER: "{{ vault_other }}"',                               # 7
        '- name: free form',                                              # 8
        '  ansible.builtin.user: name=app password=%s' % env,             # 9
        '- name: from a variable',                                        # 10
        '  turnkey.secrets.htpasswd:',                                    # 11
        '    path: /x',                                                   # 12
        '    name: u',                                                    # 13
        '    password: "{{ vault_pw }}"',                                 # 14
        '  loop_control:',                                                # 15
        '    label: "{{ item.name }}"',                                   # 16
        '']))
    write(tree / 'roles' / 'app' / 'defaults' / 'main.yml', 'app_user: app\n')
    res = _audit.audit({'path': str(tree)})
    found = sorted((f['path'], f['line'], f['excerpt']) for f in res['findings'] if f['rule'] == 'literal-secret-in-task')
    assert found == [
        ('playbooks/site.yml', 7, 'password: \u2026'),
        ('playbooks/site.yml', 12, 'login_password: \u2026'),
        ('playbooks/site.yml', 18, 'data: \u2026'),
        ('playbooks/site.yml', 24, 'url: \u2026'),
        ('roles/app/tasks/main.yml', 6, 'SECRET_KEY: \u2026'),
        ('roles/app/tasks/main.yml', 9, 'password: \u2026'),
    ]
    finding = [f for f in res['findings'] if f['rule'] == 'literal-secret-in-task'][0]
    assert finding['severity'] == 'high' and 'htpasswd' in finding['message'] and 'vault variable' in finding['message']
    # The vaguer heuristic does not report the same lines a second time.
    assert not [f for f in res['findings'] if f['rule'] == 'password-assignment'
                and (f['path'], f['line']) in {(p, n) for p, n, _e in found}]
    assert_clean(res, [pw, login, data, token, key, env])
    assert short not in json.dumps(res)


def test_literal_task_rule_ignores_non_task_yaml_and_broken_yaml(tmp_path):
    tree = tmp_path / 'tree'
    write(tree / 'vars.yml', 'users:\n  - name: a\n    password: "{{ x }}"\n')
    write(tree / 'broken.yml', '- name: x\n  a: [\n')
    write(tree / 'molecule.yml', 'driver:\n  name: default\n')
    res = _audit.audit({'path': str(tree)})
    assert not [f for f in res['findings'] if f['rule'] == 'literal-secret-in-task']


# --------------------------------------------------------------------------- rules added for issue 13

def token_word():
    return secrets.choice(['tiger', 'maple', 'orbit', 'lumen', 'quartz', 'cobalt', 'fjord', 'nectar'])


@pytest.mark.parametrize('make, template, kwargs, excerpt', [
    # values starting with "!" or "$" are literals unless they are a tag, a variable or a crypt hash
    (lambda: '!' + password(), 'DB_PASSWORD=%s', {}, 'DB_PASSWORD=\u2026'),
    (lambda: '!' + password(), 'password = "%s"', {}, 'password = "\u2026"'),
    (lambda: '$' + password(), "REDIS_PASSWORD='%s'", {}, 'REDIS_PASSWORD = "\u2026"'),
    (lambda: '$' + password(), 'SMTP_PASSWORD=%s', {}, 'SMTP_PASSWORD=\u2026'),
    # lower-case words joined by _ (a pass phrase), not a variable name
    (lambda: '_'.join([token_word(), token_word(), token_word(), str(secrets.randbelow(90) + 10)]),
     'admin_password: %s', {'yaml_file': True}, 'admin_password: \u2026'),
    (lambda: 'k%sx_%sq_%sz' % (secrets.randbelow(9), secrets.randbelow(9), secrets.randbelow(9)) + secrets.token_hex(3),
     'API_KEY="%s"', {}, 'API_KEY = "\u2026"'),
    # *_pw names, PINs as YAML integers
    (password, 'db_pw: "%s"', {}, 'db_pw = "\u2026"'),
    (password, 'ADMIN_PW=%s', {}, 'ADMIN_PW=\u2026'),
    (lambda: str(100000 + secrets.randbelow(899999)), 'alarm_pin: %s', {'yaml_file': True}, 'alarm_pin: \u2026'),
    (lambda: str(10000000 + secrets.randbelow(89999999)), 'backup_password: %s', {'yaml_file': True},
     'backup_password: \u2026'),
    # unquoted key = value in .cfg / .ini files
    (password, 'password = %s', {'config_file': True}, 'password = \u2026'),
    (password, 'smtp_pass: %s', {'config_file': True}, 'smtp_pass = \u2026'),
])
def test_issue13_values_found(make, template, kwargs, excerpt):
    value = make()
    found = _audit.match_line(template % value, **kwargs)
    assert [(m.rule, m.excerpt) for m in found] == [('password-assignment', excerpt)]
    assert all(value not in m.excerpt + m.message for m in found)


@pytest.mark.parametrize('line, kwargs', [
    ('password: !vault |', {'yaml_file': True}),
    ('DB_PASSWORD=$DB_PASSWORD', {}),
    ('password = "$db_password"', {}),
    ('password: "$6$rounds=5000$abcdefgh$0123456789abcdef"', {'yaml_file': True}),
    ('DB_PASSWORD: vault_db_password', {'yaml_file': True}),
    ('password_encryption: scram_sha_256', {'yaml_file': True}),
    ('htpasswd_hash_scheme: apr_md5_crypt', {'yaml_file': True}),
    ('redis_password_persist: acl_save', {'yaml_file': True}),
    ('secret_key_keep: 2', {'yaml_file': True}),
    ('password_min_length: 12', {'yaml_file': True}),
    ('token_ttl: 3600', {'yaml_file': True}),
    ('db_port: 5432', {'yaml_file': True}),
    ('vault_password_file = ~/.vault_pass_staging', {'config_file': True}),
    ('private_key_file = /etc/ssl/key.pem', {'config_file': True}),
    ('password = ', {'config_file': True}),
    ('password = %(db_password)s', {'config_file': True}),
    ('password = secret', {'config_file': True}),
    ('pinned_version = 2.1.4', {'config_file': True}),
    ('password = ' + 'x' * 12, {'config_file': False}),
])
def test_issue13_not_reported(line, kwargs):
    assert [(m.rule, m.excerpt) for m in _audit.match_line(line, **kwargs)] == []


def test_inventory_integers_and_spaced_ini_vars():
    pin, pw = str(100000 + secrets.randbelow(899999)), password()
    text = '---\nalarm_pin: %s\nredis_password_keep: 2\ndb_port: 5432\n' % pin
    audit = inventory_findings('group_vars/all/main.yml', text)
    assert [(f['rule'], f['line'], f['excerpt']) for f in audit.findings] == [
        ('inventory-clear-secret', 2, 'alarm_pin: \u2026')]
    plain = inventory_findings('group_vars/all/vault.yml', '---\nvault_alarm_pin: %s\n' % pin, vault_named=True)
    assert [f['rule'] for f in plain.findings] == ['vault-not-encrypted']
    ini = inventory_findings('hosts.cfg', '[all:vars]\nansible_become_password = %s\nansible_user = deploy\n' % pw)
    assert [(f['rule'], f['line']) for f in ini.findings] == [('inventory-clear-secret', 2)]
    assert pin not in json.dumps(audit.result())
    assert_clean(ini.result(), [pw])


def test_history_finds_a_removed_vault_password_file_and_plain_htpasswd(repo):
    write(repo / '.gitignore', '.env\n.env.*\n.htpasswd\n*.gpg\n.vault_pass*\n')
    write(repo / 'vault_pass.txt', password() + '\n')
    write(repo / 'nginx' / 'htpasswd', 'admin:$apr1$abcdefgh$0123456789abcdefghijkl\n')
    git(repo, 'add', '-A')
    git(repo, 'commit', '-qm', 'one')
    git(repo, 'rm', '-q', 'vault_pass.txt')
    git(repo, 'commit', '-qm', 'two')
    first = subprocess.run(['git', '-C', str(repo), 'rev-parse', 'HEAD~1'], capture_output=True, text=True,
                           check=True).stdout.strip()
    res = _audit.audit({'path': str(repo), 'git_history': True})
    found = {(f['rule'], f['path']): f for f in res['findings']}
    assert set(found) == {('vault-password-in-history', 'vault_pass.txt'), ('secret-file-committed', 'nginx/htpasswd')}
    assert found[('vault-password-in-history', 'vault_pass.txt')]['commit'] == first
    assert found[('vault-password-in-history', 'vault_pass.txt')]['severity'] == 'critical'
    # plugins/modules/htpasswd.py and roles/htpasswd/ are not htpasswd files
    assert not _audit.is_secret_file('plugins/modules/htpasswd.py', _audit.DEFAULT_SECRET_FILES)


def test_collection_fixtures_are_not_the_projects(repo):
    """This collection's tests, molecule and demo are left out where a copy of it lies in the tree
    (the checkout itself, or vendored); the demo only while it is not the audited inventory."""
    vendored = repo / 'collections' / 'ansible_collections' / 'turnkey' / 'secrets'
    write(vendored / 'MANIFEST.json', json.dumps({'collection_info': {'namespace': 'turnkey', 'name': 'secrets'}}))
    other = repo / 'collections' / 'ansible_collections' / 'acme' / 'tools'
    write(other / 'galaxy.yml', 'namespace: acme\nname: tools\n')
    for base in (vendored, other):
        write(base / 'tests' / 'unit' / 'test_x.py', 'password = "%s"\n' % password())
        write(base / 'molecule' / 'default' / 'converge.yml', 'x: 1\n')
        write(base / 'inventory' / 'demo' / '.vault_pass_demo', 'demo\n', 0o600)
    write(repo / 'tests' / 'test_app.py', 'password = "%s"\n' % password())
    write(repo / '.gitignore', '.env\n.env.*\n.htpasswd\n*.gpg\n.vault_pass*\n!.vault_pass_demo\n')
    git(repo, 'add', '-A')
    git(repo, 'commit', '-qm', 'vendored')
    res = _audit.audit({'path': str(repo), 'git_history': True})
    paths = sorted(f['path'] for f in res['findings'])
    prefix = 'collections/ansible_collections/'
    assert paths == [prefix + 'acme/tools/inventory/demo/.vault_pass_demo', prefix + 'acme/tools/tests/unit/test_x.py',
                     'tests/test_app.py']
    assert res['not_scanned'] == [prefix + 'turnkey/secrets/' + d for d in ('tests', 'molecule', 'inventory/demo')]
    demo = _audit.audit({'path': str(repo), 'inventory': [str(vendored / 'inventory' / 'demo')]})
    assert prefix + 'turnkey/secrets/inventory/demo/.vault_pass_demo' in {f['path'] for f in demo['findings']}


# --------------------------------------------------------------------------- report, baseline, SARIF

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit_report  # noqa: E402


def test_fingerprints_are_stable_distinct_and_hold_no_value():
    def scan(shift, values):
        audit = _audit.Audit()
        text = '\n' * shift + ''.join('password = "%s"\n' % v for v in values)
        _audit.scan_content(audit, 'app.py', text)
        return audit.result()['findings']

    values = [password(), password()]
    first, moved, other = scan(0, values), scan(5, values), scan(0, [password(), password()])
    assert [f['fingerprint'] for f in first] == [f['fingerprint'] for f in moved] == [f['fingerprint'] for f in other]
    assert len({f['fingerprint'] for f in first}) == 2
    assert all(v not in json.dumps(first) for v in values)


def host_result(findings=None, **extra):
    return dict({'findings': findings or []} if findings is not None else {}, **extra)


def test_merge_baseline_and_unaudited_hosts(tmp_path):
    audit = _audit.Audit()
    audit.add('secret-overdue', 'rotation.yml', 'db is old', anchor='db_password')
    audit.add('private-key', 'k.pem', 'key', line=1, excerpt='-----BEGIN PRIVATE KEY-----')
    tree = audit.result()['findings']
    key_fp = [f['fingerprint'] for f in tree if f['rule'] == 'private-key'][0]
    host = _audit.Audit(host='web1')
    host.add('secret-file-mode', '/etc/nginx/.htpasswd', 'wide')
    results = {'web1': host_result(host.result()['findings']), 'db1': host_result(skipped=True),
               'gone': host_result(unreachable=True, msg='x'), 'never': {}}
    baseline = {key_fp: {'reason': 'test key, not used'}}
    findings, unaudited = _audit_report.merge(tree, results, baseline)
    assert unaudited == ['gone']
    assert [(f['rule'], f['allowed']) for f in findings] == [
        ('private-key', True), ('secret-file-mode', False), ('secret-overdue', False)]
    allowed = {f['rule']: f for f in findings if f['allowed']}
    assert set(allowed) == {'private-key'} and allowed['private-key']['allow_reason'] == 'baseline: test key, not used'
    report = _audit_report.report(findings, unaudited, 'high', 'staging', '/srv/ops', {}, [])
    assert not report['passed'] and report['failing'] == 2 and report['summary']['allowed'] == 1
    lines, allowed_lines = _audit_report.lines(report, 'r.json')
    assert lines[-2] == 'NOT AUDITED (unreachable or failed): gone'
    assert lines[-1].startswith('audit of staging: 1 critical, 1 high, 0 medium, 0 low, 1 allowed (listed with -v)')
    assert allowed_lines == [allowed['private-key']['text']]

    # Writing the baseline accepts everything not allowed by audit_allow, keeping hand-written reasons.
    findings = _audit_report.merge(tree, results, baseline, write_baseline=True)[0]
    report = _audit_report.report(findings, [], 'low', 'staging', '/srv/ops', {}, [])
    assert report['passed']
    doc = _audit_report.baseline_doc(report, baseline)
    assert sorted(e['rule'] for e in doc['findings']) == ['private-key', 'secret-file-mode', 'secret-overdue']
    assert [e['reason'] for e in doc['findings'] if e['rule'] == 'private-key'] == ['test key, not used']
    path = tmp_path / 'baseline.json'
    path.write_text(json.dumps(doc))
    assert set(_audit_report.read_baseline(str(path))) == {f['fingerprint'] for f in report['findings']}
    assert _audit_report.read_baseline(str(tmp_path / 'none.json')) == {}
    path.write_text('[1, 2]')
    with pytest.raises(InputError, match='audit_write_baseline: true'):
        _audit_report.read_baseline(str(path))


def test_sarif_log_has_every_rule_result_and_suppression():
    audit = _audit.Audit(allow=[{'rule': 'secret-overdue', 'reason': 'known'}])
    audit.add('dingtalk-secret', 'app/settings.py', 'sec', line=4, excerpt='SEC\u2026')
    audit.add('secret-overdue', 'inventory/rotation.yml', 'old', anchor='db')
    host = _audit.Audit(host='web1')
    host.add('secret-file-mode', '/etc/nginx/.htpasswd', 'wide')
    findings, unaudited = _audit_report.merge(audit.result()['findings'], {'web1': host.result(), 'x': {'failed': True}})
    log = _audit_report.sarif(_audit_report.report(findings, unaudited, 'critical', 'staging', '/srv/ops', {}, []))
    run = log['runs'][0]
    assert log['version'] == '2.1.0' and {r['id'] for r in run['tool']['driver']['rules']} == set(_audit.RULES)
    by_rule = {r['ruleId']: r for r in run['results']}
    assert by_rule['dingtalk-secret']['locations'][0]['physicalLocation'] == {
        'artifactLocation': {'uri': 'app/settings.py', 'uriBaseId': 'PROJECTROOT'}, 'region': {'startLine': 4}}
    assert by_rule['dingtalk-secret']['level'] == 'error' and by_rule['dingtalk-secret']['message']['text'].endswith('[SEC\u2026]')
    assert by_rule['secret-overdue']['suppressions'][0]['justification'] == 'known'
    assert by_rule['secret-file-mode']['locations'][0]['physicalLocation']['artifactLocation'] == {
        'uri': 'file:///etc/nginx/.htpasswd'}
    assert by_rule['secret-file-mode']['properties']['host'] == 'web1'
    assert run['invocations'][0]['toolExecutionNotifications'][0]['message']['text'] == 'host not audited: x'


def test_host_file_backups(tmp_path):
    env = tmp_path / '.env'
    env.write_text('x\n')
    env.chmod(0o640)
    ours = tmp_path / '.env.123.2026-01-02@03:04:05~'
    ours.write_text('x\n')
    ours.chmod(0o600)
    by_hand = tmp_path / '.env.bak'
    by_hand.write_text('x\n')
    by_hand.chmod(0o644)
    unrelated = tmp_path / '.env.example'
    unrelated.write_text('x\n')
    unrelated.chmod(0o644)
    audit = _audit.Audit(host='app1')
    checked = _audit.check_host_files(audit, [{'path': str(env), 'mode': '0640', 'backups': True,
                                               'source': 'turnkey_env_files[0]'}])
    assert checked == 3
    assert [(f['rule'], f['path']) for f in audit.findings] == [('secret-file-mode', str(by_hand))]
    assert 'wider than 0640 (turnkey_env_files[0])' in audit.findings[0]['message']
    narrow = _audit.Audit()
    _audit.check_host_files(narrow, [{'path': str(env), 'mode': '0400', 'backups': True}])
    # A 0600 backup of a 0400 file is what the collection writes: only the file and the hand-made copy count.
    assert sorted(f['path'] for f in narrow.findings) == sorted([str(env), str(by_hand)])


def test_plaintext_backup_beside_an_encrypted_backup_env_file(tmp_path):
    env = tmp_path / '.env'
    env.write_text('A=1\n')
    env.chmod(0o600)
    (tmp_path / '.env.bak').write_text('A=0\n')
    (tmp_path / '.env.bak').chmod(0o600)
    (tmp_path / '.env.20261202T101010.000001Z.gpg').write_bytes(b'ciphertext')
    audit = _audit.Audit(host='app1')
    _audit.check_host_files(audit, [{'path': str(env), 'backups': True, 'encrypted_backups': True,
                                     'source': 'turnkey_env_files[0]'}])
    assert [(f['rule'], f['severity'], os.path.basename(f['path'])) for f in audit.findings] == [
        ('plaintext-backup', 'high', '.env.bak')]
    plain = _audit.Audit()
    _audit.check_host_files(plain, [{'path': str(env), 'backups': True}])
    assert plain.findings == []


def test_inline_vault_file_is_not_unencrypted_but_a_clear_value_in_it_is():
    blob = '\n'.join('  ' + line for line in vault_blob('prod').strip().splitlines())
    inline = '---\nvault_a: !vault |\n%s\nvault_list:\n  - !vault |\n  %s\n' % (blob, blob.replace('\n', '\n  '))
    assert inventory_findings('group_vars/all/vault.yml', inline, vault_named=True).findings == []
    value = password()
    mixed = inventory_findings('group_vars/all/vault.yml', inline + 'vault_db_password: "%s"\n' % value, vault_named=True)
    assert [f['rule'] for f in mixed.findings] == ['vault-inline-plaintext']
    assert 'vault_db_password' in mixed.findings[0]['message']
    assert_clean(mixed.result(), [value])
