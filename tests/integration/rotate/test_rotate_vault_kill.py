"""The vault password step of rotate.yml killed at each point of a 50-file rekey.

After each kill the plain command (the same ansible-playbook command line, without
rotate_force) finishes it: every blob opens with the password file alone, nothing is
lost, and a second run has nothing left to do.  Points: the new password written, after
file N, all rekeyed, vault.yml's copy written, vault.yml aside, the password file being
swapped, swapped.  TURNKEY_FULL_MATRIX=1 kills after every one of the 50 files.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import ROOT, ansible_env, new_secret, run_playbook

FILES = 50
FULL = os.environ.get('TURNKEY_FULL_MATRIX') == '1'
POINTS = ['new_password'] + ['file:%d' % n for n in (range(1, FILES + 1) if FULL else (1, 25, FILES))] + \
    ['rekeyed', 'next', 'aside', 'swap', 'swapped']


def _encrypt_tree(env, count):
    """``count`` extra encrypted vars files in the environment, each with a fresh value
    (ansible's own VaultLib, in process: 50 ansible-vault start-ups cost 45 s)."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    with open(env.password_file, 'rb') as handle:
        secret = VaultSecret(handle.read().strip())
    vault = VaultLib([('demo', secret)])
    extra = os.path.join(env.inventory, 'group_vars', 'all', 'extra')
    os.makedirs(extra)
    values = {}
    for i in range(count):
        values['extra_%d' % i] = new_secret()
        sealed = vault.encrypt(('extra_%d: %s\n' % (i, values['extra_%d' % i])).encode(), secret, vault_id='demo')
        fd = os.open(os.path.join(extra, 'v%02d.yml' % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(sealed)
    return values


def _loaded(env):
    """Every variable the inventory gives localhost, read by stock ansible-inventory with the password file."""
    import json
    out = subprocess.run(['ansible-inventory', '-i', env.inventory, '--host', 'localhost', '--vault-id',
                          'demo@' + env.password_file], capture_output=True, env=ansible_env(), check=False)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


@pytest.fixture
def vault_env(demo_env):
    demo_env.add_secrets('zz-vault.yml', {'vault_password': {'kind': 'vault'}})
    rotation = demo_env.rotation()
    rotation['vault_password'] = {'rotated_at': '2020-01-01T00:00:00Z', 'max_age_days': 365}
    import yaml
    with open(demo_env.rotation_file, 'w') as handle:
        yaml.safe_dump({'turnkey_rotation': rotation}, handle)
    demo_env.extra = _encrypt_tree(demo_env, FILES)
    return demo_env


@pytest.mark.parametrize('point', POINTS)
def test_vault_step_killed_then_plain_command_finishes(vault_env, tmp_path, point):
    env = vault_env
    old_password = open(env.password_file).read().strip()
    values = env.vault()
    marker = str(tmp_path / 'paused')
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', env.inventory,
           'turnkey.secrets.rotate', '--tags', 'vault'] + env.vault_args
    run_env = ansible_env({'_TURNKEY_VAULT_TEST_PAUSE': point, '_TURNKEY_VAULT_TEST_MARKER': marker})
    with open(str(tmp_path / 'killed.log'), 'wb') as out:
        proc = subprocess.Popen(cmd, env=run_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(marker), open(out.name).read()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)  # the main process: the paused worker is an orphan
        proc.wait(30)

    leak = [old_password] + list(env.extra.values())
    run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=env.inventory, args=env.vault_args + ['--tags', 'vault'],
                 leak_check=leak)
    # A run that found vault.yml aside only puts it back; the next one has nothing left.
    again = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=env.inventory,
                         args=env.vault_args + ['--tags', 'vault'], leak_check=leak)
    assert again.changed_tasks() == [], again.changed_tasks()
    new_password = open(env.password_file).read().strip()
    assert new_password != old_password
    assert open(env.password_file + '.old').read().strip() == old_password
    assert not os.path.exists(env.password_file + '.new')
    for leftover in ('.next', '.prev'):
        assert not os.path.exists(env.vault_file + leftover)
    # Nothing lost: the password file alone opens every blob, with the same values.
    assert env.vault() == values
    loaded = _loaded(env)
    assert all(loaded['extra_%d' % i] == env.extra['extra_%d' % i] for i in range(FILES))
    assert 'vault_password' in env.rotation()
