"""Issue 13: a collection built from an ops checkout ships no environment.

The test copies this checkout (tracked and untracked-not-ignored files, as sanity.sh
does), plants what a working ops checkout holds after a few runs (a staging environment
with an encrypted vault, rotation data, state, a lock, an audit report, backups and
pending copies, virtualenvs, vault password files), builds with ansible-galaxy and lists
the tarball: none of it is shipped, and no planted value appears in any shipped file.
"""

import base64
import io
import json
import os
import shutil
import subprocess
import tarfile

from harness import ROOT, ansible_env, assert_no_secret, new_secret

DEMO_FILES = ['inventory/demo/hosts.yml', 'inventory/demo/group_vars/all/vault.yml',
              'inventory/demo/group_vars/all/main.yml', 'inventory/demo/.vault_pass_demo']


def _copy_checkout(dest):
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT,
                           check=True, capture_output=True).stdout
    subprocess.run(['rsync', '-a', '--from0', '--files-from=-', './', dest + '/'], cwd=ROOT,
                   input=files, check=True)


def _write(base, rel, text, mode=0o600):
    path = os.path.join(base, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def _plant(checkout, tmp_path):
    """Files of a working ops checkout; returns (planted paths, secret values)."""
    password, db_password, webhook = new_secret(), new_secret(), new_secret()
    # An ops user's environment, copied from the shipped skeleton and filled in.
    shutil.copytree(os.path.join(checkout, 'skeletons', 'staging'), os.path.join(checkout, 'inventory', 'staging'))
    staging = 'inventory/staging/group_vars/all/'
    plain = _write(str(tmp_path), 'plain.yml', 'vault_db_password: %s\nvault_dingtalk_webhook_url: %s\n'
                   % (db_password, webhook))
    pass_file = _write(checkout, '.vault_pass_staging', password + '\n')
    vault = os.path.join(checkout, staging, 'vault.yml')
    subprocess.run(['ansible-vault', 'encrypt', '--vault-id', 'staging@' + pass_file, '--encrypt-vault-id',
                    'staging', '--output', vault, plain], check=True, capture_output=True, env=ansible_env())
    os.unlink(plain)
    report = json.dumps({'findings': [{'rule': 'plaintext', 'path': 'group_vars/all/main.yml',
                                       'excerpt': db_password}]})
    planted = [
        '.vault_pass_staging',
        staging + 'vault.yml',
        _rel(checkout, _write(checkout, staging + 'vault.yml.old', db_password)),
        _rel(checkout, _write(checkout, staging + 'vault.yml.new', db_password)),
        _rel(checkout, _write(checkout, staging + 'rotation.yml', 'secrets: {db_password: {rotated_at: x}}\n')),
        _rel(checkout, _write(checkout, 'inventory/staging/hosts.yml', 'all: {hosts: {db1: {}}}\n')),
        _rel(checkout, _write(checkout, 'inventory/staging/.rotate.lock', '{"pid": 1}\n')),
        _rel(checkout, _write(checkout, 'inventory/staging/..rotate.lock.k2j3.tmp', '{"pid": 1}\n')),
        _rel(checkout, _write(checkout, 'inventory/staging/.state/audit-report.json', report)),
        _rel(checkout, _write(checkout, 'inventory/staging/.state/journal.json', db_password)),
        _rel(checkout, _write(checkout, 'inventory/demo/.state/audit.log', '{"secret": "db_password"}\n')),
        _rel(checkout, _write(checkout, 'inventory/demo/audit.log.1', '{"secret": "db_password"}\n')),
        _rel(checkout, _write(checkout, 'playbooks/audit.log', '{"secret": "db_password"}\n')),
        # An environment named otherwise, and one whose name starts like the demo's.
        _rel(checkout, _write(checkout, 'inventory/prod-eu/group_vars/all/vault.yml', db_password)),
        _rel(checkout, _write(checkout, 'inventory/demo-prod/group_vars/all/vault.yml', db_password)),
        _rel(checkout, _write(checkout, 'inventory/dev/hosts.yml', db_password)),
        _rel(checkout, _write(checkout, 'inventory/hosts.ini', db_password)),
        # What runs of the demo and of ansible leave inside shipped directories.
        _rel(checkout, _write(checkout, 'inventory/demo/.rotate.lock', '{"pid": 1}\n')),
        _rel(checkout, _write(checkout, 'inventory/demo/.state/audit-report.json', report)),
        _rel(checkout, _write(checkout, 'inventory/demo/group_vars/all/vault.yml.old', db_password)),
        _rel(checkout, _write(checkout, 'roles/htpasswd/files/.vault.yml.x1y2.tmp', db_password)),
        _rel(checkout, _write(checkout, 'docs/audit-report.sarif', report)),
        _rel(checkout, _write(checkout, 'playbooks/audit-report.json', report)),
        _rel(checkout, _write(checkout, '.state/demo/app.env', 'SECRET_KEY=%s\n' % db_password)),
        _rel(checkout, _write(checkout, '.env', 'DB_PASSWORD=%s\n' % db_password)),
        _rel(checkout, _write(checkout, '.venv-3.12/pyvenv.cfg', 'home = /usr\n')),
        _rel(checkout, _write(checkout, 'venv/pyvenv.cfg', 'home = /usr\n')),
        _rel(checkout, _write(checkout, 'playbooks/.venv/pyvenv.cfg', 'home = /usr\n')),
    ]
    return planted, [password, db_password, webhook]


def _rel(base, path):
    return os.path.relpath(path, base)


def test_build_from_ops_checkout_ships_no_environment(tmp_path):
    checkout = str(tmp_path / 'checkout')
    _copy_checkout(checkout)
    planted, secrets = _plant(checkout, tmp_path)
    out = tmp_path / 'dist'
    subprocess.run(['ansible-galaxy', 'collection', 'build', '--output-path', str(out), checkout],
                   check=True, capture_output=True, env=ansible_env())
    tarball, = out.iterdir()
    with tarfile.open(str(tarball)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        shipped = sorted(members)
        leaked = [p for p in planted if p in members]
        assert not leaked, 'the build ships files of an environment: %s' % leaked
        for name in shipped:
            top = name.split('/')[0]
            assert not top.startswith(('.venv', '.state', '.vault_pass', '.env')), name
            assert not name.startswith('inventory/') or name == 'inventory' or name.startswith('inventory/demo'), name
        for name, member in members.items():
            if member.isfile():
                data = tar.extractfile(member).read()
                text = data.decode('utf-8', 'replace') + base64.b64encode(data).decode()
                assert_no_secret(text, secrets, where='shipped file %s' % name)
    # What a Galaxy user needs is there: the licence, the changelog, the demo environment.
    for wanted in ['LICENSE', 'README.md', 'CHANGELOG.rst', 'changelogs/changelog.yaml',
                   'skeletons/staging/group_vars/all/main.yml', 'skeletons/production/hosts.yml'] + DEMO_FILES:
        assert wanted in members, '%s is missing from the build' % wanted
    assert not any(n.startswith('changelogs/fragments/') for n in shipped)
    with tarfile.open(str(tarball)) as tar:
        manifest = json.load(io.TextIOWrapper(tar.extractfile('MANIFEST.json')))
    info = manifest['collection_info']
    assert info['license'] == ['GPL-3.0-or-later']
    for key in ('repository', 'documentation', 'issues', 'homepage'):
        assert info[key].startswith('https://github.com/turnkey-secrets/turnkey.secrets'), (key, info[key])
