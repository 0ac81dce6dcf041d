"""turnkey.secrets.vault_rekey through ansible-playbook -vvvv, checked with the stock ansible-vault CLI.

The ``playbook`` fixture fails a test if any plaintext value or password of the tree shows
in the output or in a task result, on the success and on the failure paths.
"""

import os

from vault_helpers import MixedTree, encrypt, outside_blobs, password_file, write

from harness import new_secret

MODULE = 'turnkey.secrets.vault_rekey'


def rekey(name, check=False, **args):
    task = {'name': name, MODULE: args, 'register': name.replace(' ', '_')}
    if check:
        task['check_mode'] = True
    return task


def test_mixed_tree_check_apply_again_relabel(tmp_path, mixed_tree, playbook):
    old, new = new_secret(), new_secret()
    tree = mixed_tree(old)
    old_file = password_file(str(tmp_path / 'pass_old'), old)
    # The new password comes from a vault-id client script, as `--vault-id staging@script-client` would.
    client = str(tmp_path / 'pass-client.sh')
    write(client, '#!/bin/sh\n[ "$1" = --vault-id ] && [ "$2" = staging ] && cat %s\n' % password_file(str(tmp_path / 'pass_new'), new), 0o700)
    before = tree.snapshot()
    common = {'paths': [tree.root], 'old_vault_id': 'staging', 'new_vault_id': 'staging'}
    result = playbook(secret_vars={'old_password': old}, leak_check=tree.secrets + [new], tasks=[
        rekey('check', check=True, old_vault_password_file=old_file, new_vault_password_file=client, **common),
        rekey('apply', old_vault_password='{{ old_password }}', new_vault_password_file=client, backup=True, **common),
        rekey('check again', check=True, old_vault_password='{{ old_password }}', new_vault_password_file=client, **common),
        rekey('apply again', old_vault_password_file=client, new_vault_password_file=client, **common),
    ])
    changed = {name: result.task(name)['changed'] for name in ('check', 'apply', 'check again', 'apply again')}
    assert changed == {'check': True, 'apply': True, 'check again': False, 'apply again': False}
    for name in ('check', 'apply'):
        res = result.task(name)['result']
        assert (res['files_rekeyed'], res['inline_rekeyed']) == (2, 7), res
        assert sorted(os.path.relpath(p, tree.root) for p in res['changed_files']) == sorted(
            list(MixedTree.WHOLE) + list(MixedTree.INLINE))
    assert result.task('apply again')['result']['up_to_date'] == 9
    assert len(result.task('apply')['result']['backup_files']) == 6

    # Every blob decrypts with the stock CLI and the new password only.
    assert tree.decrypt_with_cli(tmp_path, 'staging@' + str(tmp_path / 'pass_new')) == tree.values
    # Outside the blobs not a byte moved; mode and owner kept; other files untouched.
    after = tree.snapshot()
    for rel, (data, mode, uid, gid) in before.items():
        assert outside_blobs(after[rel][0]) == outside_blobs(data), rel
        assert after[rel][1:] == (mode, uid, gid), rel
        if rel not in MixedTree.WHOLE and rel not in MixedTree.INLINE:
            assert after[rel][0] == data, rel
    assert after['group_vars/windows.yml'][0].count(b'\r\n') == after['group_vars/windows.yml'][0].count(b'\n')
    assert not after['host_vars/db1'][0].endswith(b'\n')

    # Relabel only: same password, new vault-id; the backups made above are skipped.
    relabel = playbook(leak_check=tree.secrets + [new], tasks=[
        rekey('relabel', paths=[tree.root], old_vault_password_file=str(tmp_path / 'pass_new'),
              new_vault_password_file=str(tmp_path / 'pass_new'), new_vault_id='production'),
    ])
    assert relabel.task('relabel')['changed'] and relabel.task('relabel')['result']['inline_rekeyed'] == 7
    assert set(map(tuple, tree.labels().values())) == {('production',)}
    assert tree.decrypt_with_cli(tmp_path, 'production@' + str(tmp_path / 'pass_new')) == tree.values


def test_bad_inputs_fail_clearly_and_change_nothing(tmp_path, playbook):
    """Wrong password, damaged blob, truncated file, unknown vault-id label: one tree each."""
    password = new_secret()
    pass_file = password_file(str(tmp_path / 'pass'), password)
    trees = {case: MixedTree(tmp_path / case, password) for case in ('wrong', 'corrupt', 'truncated', 'label')}
    password_file(str(tmp_path / 'pass_wrong'), new_secret())

    # A damaged inline value in a file whose other value is fine: ciphertext digit changed.
    path = trees['corrupt'].path('group_vars/app.yaml')
    lines = open(path).read().split('\n')
    target = max(i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= set('0123456789abcdef'))
    digits = [format(ord(c), 'x') for c in '0123456789abcdef']
    lines[target] = lines[target][:-2] + digits[(digits.index(lines[target][-2:]) + 1) % 16]
    header_line = 1 + max(i for i in range(target) if '$ANSIBLE_VAULT' in lines[i])
    write(path, '\n'.join(lines))
    data = open(trees['truncated'].path('group_vars/all/vault.yml'), 'rb').read()
    write(trees['truncated'].path('group_vars/all/vault.yml'), data[:len(data) // 3], 0o640)
    write(trees['label'].path('host_vars/db2.yml'), encrypt(b'x: 1\n', password, 'production'))

    snapshots = {case: tree.snapshot() for case, tree in trees.items()}
    secrets = [v for tree in trees.values() for v in tree.secrets] + [password]
    new = new_secret()

    def task(case, password_path):
        return {'name': case, MODULE: {'paths': [trees[case].root], 'old_vault_password_file': password_path,
                                       'new_vault_password': '{{ new_password }}', 'old_vault_id': 'staging'},
                'ignore_errors': True}

    result = playbook(secret_vars={'new_password': new}, leak_check=secrets, tasks=[
        task('wrong', str(tmp_path / 'pass_wrong')), task('corrupt', pass_file),
        task('truncated', pass_file), task('label', pass_file)])
    messages = {case: result.task(case)['result']['msg'] for case in trees}
    assert all(result.task(case)['failed'] for case in trees)
    assert 'the old vault password is wrong: it opens none of the 9 vault blobs' in messages['wrong']
    assert '1 of 9 vault blobs cannot be decrypted' in messages['corrupt'] and 'app.yaml line %d' % header_line in messages['corrupt']
    assert 'group_vars/all/vault.yml: the vault data is damaged' in messages['truncated']
    assert "host_vars/db2.yml: labelled with vault-id 'production', not 'staging'" in messages['label']
    assert all(msg.startswith('nothing was changed: ') for msg in messages.values())
    for case, tree in trees.items():
        assert tree.snapshot() == snapshots[case], case
