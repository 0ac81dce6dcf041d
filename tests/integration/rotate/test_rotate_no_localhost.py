"""An inventory that does not list localhost (the shipped skeletons): the implicit localhost
of every play has no inventory_dir, and must neither fail nor be needed.  Also: a deploy
that changes nothing leaves vault.yml byte for byte (no "Commit:"), and --check --diff
shows per consumer what a rotation would change, never a value."""

import hashlib
import os
import re
import sys

import yaml
from harness import ROOT, VaultedInventory, run_playbook


def _digest(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _env_value(path, key):
    with open(path) as handle:
        for line in handle:
            if line.startswith(key + '='):
                return line.split('=', 1)[1].strip().strip('\'"')
    return None


def _recap(output, host):
    match = re.search(r'^%s\s+: ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(host), output, re.M)
    assert match, 'no recap line for %s' % host
    return int(match.group(1)), int(match.group(2))


def test_skeleton_shaped_inventory(tmp_path):
    env = VaultedInventory(tmp_path, 'nolocal')
    env_file = str(tmp_path / 'app.env')
    with open(os.path.join(env.inventory, 'hosts.yml'), 'w') as handle:
        yaml.safe_dump({'all': {'vars': {'ansible_python_interpreter': sys.executable},
                                'children': {'app': {'hosts': {'app1': {'ansible_connection': 'local'}}}}}}, handle)
    with open(os.path.join(env.gv, 'main.yml'), 'w') as handle:
        yaml.safe_dump({'turnkey_environment': 'nolocal', 'turnkey_vault_password_file': env.password_file,
                        'turnkey_secrets': {'secret_key': {'kind': 'django_secret_key'}},
                        'turnkey_env_files': [{'path': env_file, 'values': {'SECRET_KEY': 'vault_secret_key'}}]}, handle)
    env.write_vault({'vault_secret_key': ''})
    deploy = os.path.join(ROOT, 'playbooks', 'deploy.yml')
    rotate = os.path.join(ROOT, 'playbooks', 'rotate.yml')

    first = run_playbook(tmp_path, playbook=deploy, inventory=env.inventory, args=env.vault_args)
    assert _recap(first.output, 'localhost') == (0, 0)
    value = env.vault()['vault_secret_key']
    assert value and _env_value(env_file, 'SECRET_KEY') == value

    # Nothing to do: the deploy's journal writes are undone to the very bytes.
    before = {p: _digest(p) for p in (env.vault_file, env.rotation_file, env_file)}
    again = run_playbook(tmp_path, playbook=deploy, inventory=env.inventory, args=env.vault_args, leak_check=[value])
    assert {p: _digest(p) for p in before} == before
    assert 'Commit:' not in again.output
    assert 'nolocal: deployed the current values of secret_key.' in again.output
    assert again.changed_tasks() == []

    check = run_playbook(tmp_path, playbook=rotate, inventory=env.inventory, args=env.vault_args, check=True,
                         extra_vars={'rotate_force': True}, leak_check=[value])
    # From the task's result: the callback folds long lines of its output.
    shown = check.task('Show per consumer which values the run would change (--check --diff; placeholders, never values)',
                       host='app1')['result']['msg']
    assert shown == ['%s: SECRET_KEY=<changed>' % env_file]
    assert {p: _digest(p) for p in before} == before
    assert _recap(check.output, 'localhost') == (0, 0)

    forced = run_playbook(tmp_path, playbook=rotate, inventory=env.inventory, args=env.vault_args,
                          extra_vars={'rotate_force': True}, leak_check=[value])
    assert _recap(forced.output, 'localhost') == (0, 0)
    new = env.vault()['vault_secret_key']
    assert new != value and _env_value(env_file, 'SECRET_KEY') == new
    assert 'Commit: ' in forced.output
