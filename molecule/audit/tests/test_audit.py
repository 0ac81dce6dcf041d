"""After converge: the JSON report lists the seeded mistakes, allowed ones marked, no secret in it."""

import json
import os
import re

import pytest

TREE = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '/nonexistent'), 'audit-tree')
REPORT = os.path.join(TREE, '.state', 'report.json')


@pytest.fixture(scope='module')
def report(host):
    return json.loads(host.file(REPORT).content_string)


def test_report_is_private_and_passed(host, report):
    assert host.file(REPORT).mode == 0o600
    assert report['passed'] and report['environment'] == 'molecule'
    assert report['summary']['critical'] == 0 and report['summary']['allowed'] == 3


def test_findings(report):
    found = {(f['rule'], f['path']): f for f in report['findings']}
    assert found[('dingtalk-secret', 'app/alerts.py')]['allowed']
    assert found[('vault-password-mode', 'inventory/molecule/.vault_pass_molecule')]['severity'] == 'critical'
    host_file = found[('secret-file-mode', os.path.join(TREE, 'host', '.env'))]
    assert host_file['host'] == 'localhost' and host_file['severity'] == 'high'
    assert ('secret-overdue', 'inventory/molecule/group_vars/all/rotation.yml') in found
    assert len([f for f in report['findings'] if f['rule'] == 'gitignore-missing']) == 6


def test_no_secret_in_the_report(host):
    source = host.file(os.path.join(TREE, 'app', 'alerts.py')).content_string
    secret = re.search(r'SEC[0-9a-f]{64}', source).group(0)
    password = host.file(os.path.join(TREE, 'inventory', 'molecule', '.vault_pass_molecule')).content_string.strip()
    text = host.file(REPORT).content_string
    assert secret not in text and secret[3:20] not in text and password not in text
