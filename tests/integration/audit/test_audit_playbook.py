"""playbooks/audit.yml end to end: real git repositories, real vault files, real SSH hosts."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import yaml

from harness import ROOT, assert_no_secret, free_port

AUDIT = os.path.join(ROOT, 'playbooks', 'audit.yml')
SCAN = 'turnkey.secrets.audit : Scan the project tree, its git history and the inventory'
WRITE = 'turnkey.secrets.audit : Write the report (no secret values in it)'


def load_report(path, secret_values=()):
    with open(path) as handle:
        text = handle.read()
    assert_no_secret(text, secret_values, 'JSON report')
    return json.loads(text)


def index(report):
    return {(f['rule'], f['path']): f for f in report['findings']}


def test_seeded_tree_reports_committed_env_sec_secret_and_readable_vault_password(seeded_tree, playbook, tmp_path):
    report_path = str(tmp_path / 'out' / 'report.json')
    # secure logging off: the module's own findings are printed at -vvvv and must still hold no secret.
    result = playbook(playbook=AUDIT, inventory=seeded_tree.inventory, expect_rc=2,
                      extra_vars={'audit_report_path': report_path, 'audit_secure_logging': False},
                      args=['--vault-id', 'test@' + seeded_tree.vault_pass_file],
                      leak_check=seeded_tree.secret_values())
    assert 'audit failed:' in result.output
    report = load_report(report_path, seeded_tree.secret_values())
    found = index(report)
    assert not report['passed']
    assert report['tree'] == os.path.realpath(seeded_tree.root)

    # The three the issue names.
    assert found[('secret-file-committed', '.env')]['severity'] == 'critical'
    sec = found[('dingtalk-secret', 'app/settings.py')]
    assert (sec['severity'], sec['line'], sec['excerpt']) == ('critical', 4, 'SEC\u2026')
    mode = found[('vault-password-mode', 'inventory/test/.vault_pass_test')]
    assert mode['severity'] == 'critical' and '0644' in mode['message']
    assert found[('vault-password-in-tree', 'inventory/test/.vault_pass_test')]['severity'] == 'high'

    # And everything else the seeded tree gets wrong.
    history = found[('access-token-url', 'old_alerts.py')]
    first_commit = subprocess.run(['git', '-C', seeded_tree.root, 'rev-list', '--max-parents=0', 'HEAD'],
                                  capture_output=True, text=True, check=True).stdout.strip()
    assert history['commit'] == first_commit and history['excerpt'] == 'access_token=\u2026'
    assert found[('password-assignment', '.env')]['excerpt'] == 'DB_PASSWORD=\u2026'
    clear = found[('inventory-clear-secret', 'inventory/test/group_vars/all/main.yml')]
    assert clear['line'] == 4 and 'db_password' in clear['message']
    assert found[('vault-not-encrypted', 'inventory/test/host_vars/localhost/vault.yml')]['severity'] == 'critical'
    label = found[('vault-wrong-label', 'inventory/test/group_vars/all/vault.yml')]
    assert 'label staging' in label['message'] and 'expected vault-id label test' in label['message']
    rotation = [f for f in report['findings'] if f['path'] == 'inventory/test/group_vars/all/rotation.yml']
    assert {f['rule'] for f in rotation} == {'secret-overdue', 'secret-never-rotated'}
    missing = [f['message'] for f in report['findings'] if f['rule'] == 'gitignore-missing']
    assert len(missing) == 6 and any('ignore .vault_pass;' in m for m in missing)
    # Nothing reported for the reference to the vault nor for os.environ.
    assert not [f for f in report['findings'] if f['path'] == 'app/settings.py' and f['rule'] != 'dingtalk-secret']
    assert report['summary']['critical'] == 6
    assert stat.S_IMODE(os.stat(report_path).st_mode) == 0o600


def test_allow_list_and_fail_threshold(seeded_tree, playbook, tmp_path):
    report_path = str(tmp_path / 'report.json')
    allow = [{'rule': r, 'reason': 'accepted for this test'} for r in (
        'secret-file-committed', 'dingtalk-secret', 'vault-password-*', 'access-token-url', 'inventory-clear-secret',
        'vault-not-encrypted')]
    common = dict(playbook=AUDIT, inventory=seeded_tree.inventory, leak_check=seeded_tree.secret_values(),
                  args=['--vault-id', 'test@' + seeded_tree.vault_pass_file])
    result = playbook(extra_vars={'audit_report_path': report_path, 'audit_allow': allow}, **common)
    report = load_report(report_path)
    assert report['passed'] and report['summary']['critical'] == 0 and report['summary']['allowed'] == 7
    assert all(f['allowed'] for f in report['findings'] if f['severity'] == 'critical')
    assert '(allowed: accepted for this test)' in result.output
    # The scan hides its raw result by default (audit_secure_logging).
    assert result.task(SCAN)['result'].get('censored')
    # Nothing changed since: the same report, nothing written.
    result = playbook(extra_vars={'audit_report_path': report_path, 'audit_allow': allow}, **common)
    assert not result.changed, result.changed_tasks()

    # The same findings fail at a stricter threshold.
    result = playbook(extra_vars={'audit_report_path': report_path, 'audit_allow': allow, 'audit_fail_on': 'high'},
                      expect_rc=2, **common)
    assert 'at or above high' in result.output

    # A typo in the allow-list is an error that says what is wrong, despite no_log on the scan.
    result = playbook(extra_vars={'audit_report_path': report_path, 'audit_allow': [{'rule': 'dingtalk-secrets'}]},
                      expect_rc=2, **common)
    assert "audit scan failed: allow[0].rule 'dingtalk-secrets' matches no audit rule" in result.output


def test_demo_inventory_passes_by_fqcn_and_check_mode_writes_nothing(playbook, tmp_path):
    # A shared directory (like /tmp) holding the report keeps its mode.
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(str(shared), 0o1777)
    report_path = str(shared / 'demo-report.json')
    log_path = str(tmp_path / 'audit.log')
    common = dict(playbook='turnkey.secrets.audit', inventory=os.path.join(ROOT, 'inventory', 'demo'),
                  args=['--vault-id', 'demo@' + os.path.join(ROOT, 'inventory', 'demo', '.vault_pass_demo')],
                  extra_vars={'audit_report_path': report_path, 'audit_log_path': log_path})
    result = playbook(check=True, **common)
    assert not os.path.exists(report_path) and result.task(WRITE)['changed']
    assert not os.path.exists(log_path)

    result = playbook(**common)
    assert result.task(WRITE)['changed']
    report = load_report(report_path)
    assert os.stat(str(shared)).st_mode & 0o7777 == 0o1777
    assert report['passed'] and report['environment'] == 'demo'
    with open(log_path) as handle:
        line, = [json.loads(text) for text in handle]
    assert line['step'] == 'audit' and line['outcome'] == 'passed' and line['environment'] == 'demo'
    demo_pass = index(report)[('vault-password-in-tree', 'inventory/demo/.vault_pass_demo')]
    assert demo_pass['allowed'] and 'demo-only' in demo_pass['allow_reason']
    assert report['scanned']['commits'] >= 1


def test_secret_files_on_ssh_hosts_and_unreachable_host(ssh_hosts, playbook, tmp_path):
    h1, h2 = ssh_hosts.hosts
    env = os.path.join(h1['root'], '.env')
    with open(env, 'w') as handle:
        handle.write('PLACEHOLDER=1\n')
    os.chmod(env, 0o600)
    htpasswd = os.path.join(h1['root'], '.htpasswd')
    with open(htpasswd, 'w') as handle:
        handle.write('admin:x\n')
    os.chmod(htpasswd, 0o644)
    for backup in ('.env.1', '.env.2'):
        with open(os.path.join(h2['root'], backup), 'w') as handle:
            handle.write('x\n')
    os.chmod(os.path.join(h2['root'], '.env.1'), 0o600)
    os.chmod(os.path.join(h2['root'], '.env.2'), 0o640)

    inventory = str(tmp_path / 'inventory' / 'hosts.yml')
    os.makedirs(os.path.dirname(inventory))
    hosts = {h['name']: dict(ssh_hosts.host_vars(h), audit_secret_files=[
        {'path': h['root'] + '/.env', 'mode': '0600', 'owner': 'root'},
        {'path': h['root'] + '/.htpasswd', 'mode': '0640', 'group': 'root'},
        {'path': h['root'] + '/.env.*', 'mode': '0600'}]) for h in (h1, h2)}
    # A host nobody listens for: the report must name it.
    hosts['h3'] = dict(ssh_hosts.host_vars({'port': free_port()}), audit_secret_files=[{'path': '/nonexistent'}])
    with open(inventory, 'w') as handle:
        yaml.safe_dump({'all': {'hosts': hosts}}, handle)
    report_path = str(tmp_path / 'report.json')
    result = playbook(playbook=AUDIT, inventory=inventory, expect_rc=None,
                      extra_vars={'audit_report_path': report_path, 'audit_tree': str(tmp_path / 'inventory'),
                                  'audit_allow': [{'host': 'h2', 'rule': 'secret-file-missing', 'reason': 'no nginx'}]})
    assert result.rc != 0 and os.path.exists(report_path), result.output[-4000:]
    report = load_report(report_path)
    assert report['unaudited_hosts'] == ['h3']
    assert 'NOT AUDITED (unreachable or failed): h3' in result.output
    found = {(f['host'], f['rule'], f['path']): f for f in report['findings'] if f['host']}
    assert set(found) == {
        ('h1', 'secret-file-mode', htpasswd),
        ('h2', 'secret-file-missing', h2['root'] + '/.env'),
        ('h2', 'secret-file-missing', h2['root'] + '/.htpasswd'),
        ('h2', 'secret-file-mode', h2['root'] + '/.env.2'),
    }
    assert found[('h1', 'secret-file-mode', htpasswd)]['severity'] == 'critical'
    assert found[('h2', 'secret-file-mode', h2['root'] + '/.env.2')]['severity'] == 'high'
    assert found[('h2', 'secret-file-missing', h2['root'] + '/.htpasswd')]['allowed']
    assert not report['passed']

    # Every targeted host down: the play goes on, and the report still names them.
    result = playbook(playbook=AUDIT, inventory=inventory, expect_rc=2,
                      extra_vars={'audit_report_path': report_path, 'audit_tree': str(tmp_path / 'inventory'),
                                  'audit_hosts': 'h3'})
    report = load_report(report_path)
    assert report['unaudited_hosts'] == ['h3'] and report['findings'] == [] and not report['passed']
    assert 'and 1 host(s) not audited' in result.output
