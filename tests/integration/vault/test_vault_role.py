"""The vault role: crash-safe rotation of an environment's vault password.

The interruption is real: ansible-playbook is SIGKILLed (its whole process group) while
the test hook holds it at a given point; the next run must finish the rotation without
losing anything, and until then the old and new passwords together open every blob.
"""

import os
import stat
import subprocess

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib, VaultSecret
from vault_helpers import ANSIBLE_VAULT, password_file, run_until_paused

from harness import ansible_env, assert_no_secret, new_secret


def role_playbook(tmp_path, tree, pass_file, given_password=False):
    role_vars = {'vault_password_file': pass_file, 'vault_id': 'staging', 'vault_paths': [tree.root]}
    if given_password:
        role_vars['vault_new_password'] = '{{ new_vault_password }}'
    path = str(tmp_path / 'rotate-vault.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump([{'name': 'rotate', 'hosts': 'all', 'gather_facts': False, 'tasks': [
            {'name': 'rotate the vault', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.vault'}, 'vars': role_vars}]}],
            handle)
    return path


def read(path):
    with open(path) as handle:
        return handle.read().strip()


def cli_opens(tree, tmp_path, password_path):
    """Whether the stock CLI opens the tree's first vault file with this password alone."""
    proc = subprocess.run([ANSIBLE_VAULT, 'view', '--vault-id', 'staging@' + password_path, tree.path('host_vars/web1.yml')],
                          env=ansible_env({'PAGER': 'cat'}), capture_output=True, check=False)
    return proc.returncode == 0


ROLE = 'turnkey.secrets.vault : '


def opened_by(tree, password):
    lib = VaultLib([('staging', VaultSecret(password.encode()))])
    opened = []
    for name, envelope in tree.blobs().items():
        try:
            lib.decrypt(envelope)
            opened.append(name)
        except AnsibleError:
            pass
    return opened


def test_rotation_then_idempotent(tmp_path, mixed_tree, playbook):
    old, new = new_secret(), new_secret()
    tree = mixed_tree(old)
    pass_file = password_file(str(tmp_path / 'vault_pass'), old)
    pb = role_playbook(tmp_path, tree, pass_file, given_password=True)
    first = playbook(playbook=pb, secret_vars={'new_vault_password': new}, leak_check=tree.secrets + [old])
    second = playbook(playbook=pb, secret_vars={'new_vault_password': new}, leak_check=tree.secrets + [old])
    assert first.changed_tasks() == [ROLE + 'Rotate the vault password and rekey every blob of staging']
    assert second.changed_tasks() == []
    report = first.task(ROLE + 'Report the vault rotation')['result']['msg']
    assert 'password rotated' in report and 'rekeyed 2 encrypted file(s) and 7 inline value(s)' in report
    assert 'password already current' in second.task(ROLE + 'Report the vault rotation')['result']['msg']
    assert read(pass_file) == new and read(pass_file + '.old') == old and not os.path.exists(pass_file + '.new')
    assert stat.S_IMODE(os.stat(pass_file).st_mode) == 0o600
    assert tree.decrypt_with_cli(tmp_path, 'staging@' + pass_file) == tree.values
    assert not cli_opens(tree, tmp_path, pass_file + '.old')


@pytest.mark.parametrize('point', ['new_password', 'file:3', 'swap'])
def test_rotation_killed_then_rerun_converges(tmp_path, mixed_tree, playbook, point):
    old = new_secret()
    tree = mixed_tree(old)
    pass_file = password_file(str(tmp_path / 'vault_pass'), old)
    pb = role_playbook(tmp_path, tree, pass_file)
    output = run_until_paused(tmp_path, pb, point)

    new = read(pass_file + '.new')
    assert_no_secret(output, tree.secrets + [old, new], 'the killed run')
    assert read(pass_file) == old
    # Both passwords together open everything, the way `--vault-id` lists work.
    both = tree.decrypt_with_cli(tmp_path, 'staging@' + pass_file, 'staging@' + pass_file + '.new')
    assert both == tree.values
    if point == 'file:3':
        # Killed between files: the first three files (6 blobs) are rekeyed, the rest not yet.
        assert (len(opened_by(tree, new)), len(opened_by(tree, old))) == (6, 3)

    rerun = playbook(playbook=pb, leak_check=tree.secrets + [old, new])
    report = rerun.task(ROLE + 'Report the vault rotation')['result']['msg']
    assert 'password rotated (finished an interrupted run)' in report
    assert read(pass_file) == new and read(pass_file + '.old') == old and not os.path.exists(pass_file + '.new')
    assert tree.decrypt_with_cli(tmp_path, 'staging@' + pass_file) == tree.values
    assert not cli_opens(tree, tmp_path, pass_file + '.old')
