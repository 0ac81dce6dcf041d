"""Issue 12: a demo rotation SIGKILLed mid-run (whole process tree, workers included) leaves no
secret value in any file under local_tmp, remote_tmp or /tmp, during the run or after it."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from cryptography.fernet import Fernet

from harness import ROOT, ansible_env, new_secret
from test_killed_run_leaves_no_plaintext import descendants, forms, scan

# Task banners after which the run is killed (the full run shows about 30).
KILL_AFTER = [7, 15]


def _demo_copy(base, podman):
    inventory = os.path.join(base, 'inventory', 'demo')
    shutil.copytree(os.path.join(ROOT, 'inventory', 'demo'), inventory)
    password_file = os.path.join(inventory, '.vault_pass_demo')
    os.chmod(password_file, 0o600)
    os.makedirs(os.path.join(base, '.state', 'demo'), exist_ok=True)
    with open(os.path.join(inventory, 'group_vars', 'all', 'rotation.yml'), 'w') as handle:
        yaml.safe_dump({'turnkey_rotation': {name: {'rotated_at': '2026-01-01T00:00:00Z', 'max_age_days': 90}
                                             for name in ('dashboard_password', 'secret_key', 'field_encryption_key')}},
                       handle)
    # Fresh values: the committed demo values are in every other copy of the demo on this host.
    plain = os.path.join(base, 'vault-plain.yml')
    fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        yaml.safe_dump({'vault_dashboard_password': new_secret(), 'vault_secret_key': new_secret(40),
                        'vault_field_encryption_key': Fernet.generate_key().decode()}, handle)
    subprocess.run(['ansible-vault', 'encrypt', '--vault-id', 'demo@' + password_file, '--encrypt-vault-id', 'demo',
                    '--output', os.path.join(inventory, 'group_vars', 'all', 'vault.yml'), plain],
                   check=True, capture_output=True, env=ansible_env())
    os.unlink(plain)
    prefix = podman.prefix + 'kill_'
    with open(os.path.join(inventory, 'group_vars', 'all', 'test.yml'), 'w') as handle:
        yaml.safe_dump({'turnkey_podman_secrets': [
            {'name': prefix + 'secret_key', 'var': 'vault_secret_key'},
            {'name': prefix + 'field_encryption_key', 'var': 'vault_field_encryption_key'}]}, handle)
    return inventory, password_file


def _vault_values(inventory, password_file):
    out = subprocess.run(['ansible-vault', 'view', '--vault-id', 'demo@' + password_file,
                          os.path.join(inventory, 'group_vars', 'all', 'vault.yml')],
                         capture_output=True, check=True, env=ansible_env()).stdout
    values = []
    for value in (yaml.safe_load(out) or {}).values():
        values.extend(value if isinstance(value, list) else [value])
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


@pytest.mark.parametrize('banners', KILL_AFTER)
def test_sigkilled_rotation_leaves_no_plaintext(tmp_path, podman, banners):
    base = str(tmp_path / 'env')
    inventory, password_file = _demo_copy(base, podman)
    before = _vault_values(inventory, password_file)
    env = ansible_env()
    roots = [d for d in (env['ANSIBLE_LOCAL_TEMP'], os.path.expanduser('~/.ansible/tmp'), '/tmp') if os.path.isdir(d)]
    # The environment's own files (the env file, htpasswd, the vault) hold secrets by design.
    skip = {base}
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true', '--vault-id', 'demo@' + password_file]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen, during = 0, []
    try:
        for raw in proc.stdout:
            if raw.startswith(b'TASK ['):
                seen += 1
                if seen == banners:
                    time.sleep(0.3)
                    during = scan(roots, set().union(*(forms(v) for v in before)), skip)
                    for pid in descendants(proc.pid) | {proc.pid}:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen == banners, 'the run ended before task banner %d' % banners
    values = set(before) | set(_vault_values(inventory, password_file))
    after = scan(roots, set().union(*(forms(v) for v in values)), skip)
    assert during == [] and after == [], 'a secret value was found in %s' % sorted(set(during + after))
