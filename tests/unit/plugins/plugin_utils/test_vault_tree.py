"""Rekeying trees of vault blobs, and the crash-safe password rotation (real files, fake nothing)."""

import os
import secrets
import stat

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.turnkey.secrets.plugins.module_utils import _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_tree


def pw():
    return secrets.token_urlsafe(16).encode()


def inline(name, envelope, indent='  '):
    return '%s: !vault |\n' % name + ''.join(indent + line + '\n' for line in envelope.rstrip().split('\n'))


class Tree(object):
    """Whole files, YAML with inline values and comments, plain YAML, a binary file, a backup."""

    def __init__(self, root, password, label='staging'):
        self.root = str(root)
        self.values = {}
        self.write('group_vars/all/vault.yml', _vault.seal(self.value('vault.yml', 'db: %s\n'), password, label))
        self.write('host_vars/web1', _vault.seal(self.value('web1', 'k: %s\n'), password, label))
        self.write('group_vars/all/main.yml',
                   '---\n# settings\nport: 8080\n'
                   + inline('api_token', _vault.seal(self.value('main.yml:api_token'), password, label), ' ' * 10)
                   + '\n# more below\nnested:\n  inner:\n'
                   + inline('    redis', _vault.seal(self.value('main.yml:redis'), password, label), ' ' * 6)
                   + 'tail: end  # keep\n')
        self.write('group_vars/web.yaml', 'list:\n  - !vault |\n'
                   + ''.join('    ' + line + '\n' for line in _vault.seal(self.value('web.yaml'), password, label).rstrip().split('\n')))
        self.write('group_vars/plain.yml', 'a: 1\nb: [2, 3]\n')
        self.write('files/blob.bin', secrets.token_bytes(512) + b'!vault\x00\xff')
        self.write('README.md', 'Use `!vault |` values.\n')
        self.write('group_vars/all/vault.yml.1234.2024-01-01@00:00:00~', _vault.seal(b'old backup', pw()))
        os.chmod(self.path('group_vars/all/vault.yml'), 0o640)

    def value(self, name, template='%s'):
        self.values[name] = (template % secrets.token_hex(8)).encode()
        return self.values[name]

    def path(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, data):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), 'wb') as handle:
            handle.write(data if isinstance(data, bytes) else data.encode())

    def snapshot(self):
        out = {}
        for root, _dirs, files in os.walk(self.root):
            for name in files:
                path = os.path.join(root, name)
                with open(path, 'rb') as handle:
                    out[os.path.relpath(path, self.root)] = (handle.read(), stat.S_IMODE(os.stat(path).st_mode))
        return out

    def plaintexts(self, password):
        """Every blob's plaintext, decrypted by ansible-core's VaultLib."""
        lib = VaultLib([('any', VaultSecret(password))])
        out = {}
        for rel in ('group_vars/all/vault.yml', 'host_vars/web1'):
            with open(self.path(rel), 'rb') as handle:
                out[{'group_vars/all/vault.yml': 'vault.yml', 'host_vars/web1': 'web1'}[rel]] = lib.decrypt(handle.read())
        main = yaml.load(open(self.path('group_vars/all/main.yml')).read(), Loader=_Loader)
        out['main.yml:api_token'] = lib.decrypt(main['api_token'])
        out['main.yml:redis'] = lib.decrypt(main['nested']['inner']['redis'])
        out['web.yaml'] = lib.decrypt(yaml.load(open(self.path('group_vars/web.yaml')).read(), Loader=_Loader)['list'][0])
        return out


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor('!vault', lambda loader, node: loader.construct_scalar(node))


def outside(data):
    return [line for line in data.decode('utf-8', 'replace').split('\n')
            if not line.strip().startswith('$ANSIBLE_VAULT') and not (line.strip() and set(line.strip()) <= set('0123456789abcdef'))]


def test_mixed_tree_rekey_check_apply_again(tmp_path):
    old, new = pw(), pw()
    tree = Tree(tmp_path, old)
    before = tree.snapshot()

    check = _vault_tree.rekey_tree([tree.root], [old], new, check_mode=True)
    assert check['changed'] and tree.snapshot() == before
    assert (check['files_rekeyed'], check['inline_rekeyed']) == (2, 3)

    result = _vault_tree.rekey_tree([tree.root], [old], new, old_vault_id='staging')
    assert result['changed'] and (result['files_rekeyed'], result['inline_rekeyed'], result['up_to_date']) == (2, 3, 0)
    assert sorted(os.path.relpath(p, tree.root) for p in result['changed_files']) == [
        'group_vars/all/main.yml', 'group_vars/all/vault.yml', 'group_vars/web.yaml', 'host_vars/web1']
    assert tree.plaintexts(new) == tree.values
    after = tree.snapshot()
    for rel, (data, mode) in before.items():
        assert after[rel][1] == mode, rel
        assert outside(after[rel][0]) == outside(data), rel
    # Untouched files are byte for byte the same, backups included.
    for rel in ('group_vars/plain.yml', 'files/blob.bin', 'README.md', 'group_vars/all/vault.yml.1234.2024-01-01@00:00:00~'):
        assert after[rel] == before[rel]

    again = _vault_tree.rekey_tree([tree.root], [new], new)
    assert not again['changed'] and again['up_to_date'] == 5 and tree.snapshot() == after


def test_relabel_and_backup(tmp_path):
    password = pw()
    tree = Tree(tmp_path, password)
    result = _vault_tree.rekey_tree([tree.path('group_vars/all/vault.yml')], [password], password,
                                    new_vault_id='production', backup=True)
    assert result['files_rekeyed'] == 1 and len(result['backup_files']) == 1
    with open(tree.path('group_vars/all/vault.yml')) as handle:
        assert handle.readline() == '$ANSIBLE_VAULT;1.2;AES256;production\n'
    assert stat.S_IMODE(os.stat(result['backup_files'][0]).st_mode) == 0o600  # backups are private whatever the file's mode
    # The backup keeps the old blob and is skipped by the next run.
    assert not _vault_tree.rekey_tree([tree.root], [password], password, new_vault_id='production',
                                      exclude=['web.yaml', 'main.yml', 'web1'])['changed']


def test_symlinked_file_is_rewritten_through_the_link(tmp_path):
    old, new = pw(), pw()
    target = tmp_path / 'real.yml'
    target.write_text(_vault.seal(b'x: 1\n', old))
    (tmp_path / 'dir').mkdir()
    os.symlink(target, tmp_path / 'dir' / 'link.yml')
    result = _vault_tree.rekey_tree([str(tmp_path / 'dir'), str(target)], [old], new)
    assert result['files_rekeyed'] == 1
    assert os.path.islink(tmp_path / 'dir' / 'link.yml')
    assert _vault.decrypt(target.read_text(), new) == b'x: 1\n'


@pytest.mark.parametrize('breakage, message', [
    ('wrong_password', 'the old vault password is wrong: it opens none of the 5'),
    ('corrupt_inline', '1 of 5 vault blobs cannot be decrypted'),
    ('truncated_file', 'damaged'),
    ('unknown_label', "labelled with vault-id 'production', not 'staging'"),
    ('bad_yaml', 'is not valid YAML'),
])
def test_errors_name_the_file_and_change_nothing(tmp_path, breakage, message):
    old, new = pw(), pw()
    tree = Tree(tmp_path, old)
    given = old
    where = 'group_vars'
    if breakage == 'wrong_password':
        given = pw()
    elif breakage == 'corrupt_inline':
        text = open(tree.path('group_vars/all/main.yml')).read()
        _text, blobs = _vault.find_blobs(text.encode(), 'x')
        blob = blobs[1]
        lines = text[blob.start:blob.end].split('\n')
        lines[-1] = lines[-1][:-2] + _other_digit(lines[-1][-2:])
        tree.write('group_vars/all/main.yml', text[:blob.start] + '\n'.join(lines) + text[blob.end:])
        where = 'group_vars/all/main.yml line %d' % (text.count('\n', 0, blob.start) + 1)
    elif breakage == 'truncated_file':
        data = open(tree.path('host_vars/web1'), 'rb').read()
        tree.write('host_vars/web1', data[:len(data) // 2 + 1])
        where = 'host_vars/web1'
    elif breakage == 'unknown_label':
        tree.write('host_vars/db1.yml', _vault.seal(b'other: env\n', old, 'production'))
        where = 'host_vars/db1.yml'
    elif breakage == 'bad_yaml':
        with open(tree.path('group_vars/web.yaml'), 'a') as handle:
            handle.write('broken: [unclosed\n')
        where = 'group_vars/web.yaml'
    before = tree.snapshot()
    with pytest.raises(InputError) as info:
        _vault_tree.rekey_tree([tree.root], [given], new, old_vault_id='staging', new_vault_id='staging')
    assert info.value.msg.startswith('nothing was changed: ')
    assert message in info.value.msg and where in info.value.msg
    assert tree.snapshot() == before


def _other_digit(pair):
    """Another hex-encoded hex digit: the blob stays well-formed, its ciphertext changes."""
    digits = [format(ord(c), 'x') for c in '0123456789abcdef']
    return digits[(digits.index(pair) + 1) % 16]


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(InputError, match='does not exist'):
        _vault_tree.rekey_tree([str(tmp_path / 'nope')], [pw()], pw())


# ------------------------------------------------------------------ passwords

def test_load_password_from_file_script_and_client_script(tmp_path):
    loader = DataLoader()
    (tmp_path / 'file').write_text('  from-file \n')
    assert _vault_tree.load_password(str(tmp_path / 'file'), None, loader, 'x') == b'from-file'
    script = tmp_path / 'pass.sh'
    script.write_text('#!/bin/sh\necho from-script\n')
    script.chmod(0o700)
    assert _vault_tree.load_password(str(script), 'staging', loader, 'x') == b'from-script'
    client = tmp_path / 'vault-client.sh'
    client.write_text('#!/bin/sh\n[ "$1" = --vault-id ] && echo "for-$2"\n')
    client.chmod(0o700)
    assert _vault_tree.load_password(str(client), 'staging', loader, 'x') == b'for-staging'
    with pytest.raises(InputError, match='old_vault_password_file: .*not found'):
        _vault_tree.load_password(str(tmp_path / 'missing'), None, loader, 'old_vault_password_file')


# ------------------------------------------------------------------ rotation

class Crash(Exception):
    pass


def crash_at(point):
    def checkpoint(name):
        if name == point:
            raise Crash(name)
    return checkpoint


def rotation_tree(tmp_path):
    old = pw()
    tree = Tree(tmp_path / 'inventory', old)
    passfile = tmp_path / 'vault_pass'
    passfile.write_bytes(old + b'\n')
    passfile.chmod(0o600)
    return tree, str(passfile), old


@pytest.mark.parametrize('point', ['new_password', 'file:1', 'file:3', 'rekeyed', 'swap'])
def test_rotation_interrupted_anywhere_converges(tmp_path, point):
    tree, passfile, old = rotation_tree(tmp_path)
    with pytest.raises(Crash):
        _vault_tree.rotate_password_file(passfile, [tree.root], old_vault_id='staging', new_vault_id='staging',
                                         checkpoint=crash_at(point))
    new = open(passfile + '.new', 'rb').read().strip()
    assert stat.S_IMODE(os.stat(passfile + '.new').st_mode) == 0o600
    # Until the rotation finishes, the old and the new password together open everything.
    lib = VaultLib([('staging', VaultSecret(old)), ('staging', VaultSecret(new))])
    for rel in ('group_vars/all/vault.yml', 'host_vars/web1'):
        lib.decrypt(open(tree.path(rel), 'rb').read())

    result = _vault_tree.rotate_password_file(passfile, [tree.root], old_vault_id='staging', new_vault_id='staging')
    assert result['changed'] and result['resumed'] and result['password_rotated']
    assert open(passfile, 'rb').read().strip() == new
    assert open(passfile + '.old', 'rb').read().strip() == old
    assert not os.path.exists(passfile + '.new')
    assert tree.plaintexts(new) == tree.values


def test_rotation_fresh_then_idempotent_with_a_given_password(tmp_path):
    tree, passfile, old = rotation_tree(tmp_path)
    new = secrets.token_urlsafe(20)
    result = _vault_tree.rotate_password_file(passfile, [tree.root], new_password=new)
    assert result['password_rotated'] and not result['resumed'] and result['previous_password_file'] == passfile + '.old'
    assert (result['files_rekeyed'], result['inline_rekeyed']) == (2, 3)
    assert stat.S_IMODE(os.stat(passfile).st_mode) == 0o600
    again = _vault_tree.rotate_password_file(passfile, [tree.root], new_password=new)
    assert not again['changed'] and not again['password_rotated'] and again['up_to_date'] == 5
    assert tree.plaintexts(new.encode()) == tree.values


def test_rotation_generates_a_password_and_check_mode_writes_nothing(tmp_path):
    tree, passfile, old = rotation_tree(tmp_path)
    before = tree.snapshot()
    check = _vault_tree.rotate_password_file(passfile, [tree.root], check_mode=True)
    assert check['changed'] and check['inline_rekeyed'] == 3
    assert tree.snapshot() == before and not os.path.exists(passfile + '.new')
    result = _vault_tree.rotate_password_file(passfile, [tree.root], kind='hex:20')
    new = open(passfile, 'rb').read().strip()
    assert len(new) == 40 and new != old and result['password_rotated']


def test_rotation_with_a_wrong_password_leaves_no_trace(tmp_path):
    tree, passfile, _old = rotation_tree(tmp_path)
    with open(passfile, 'wb') as handle:
        handle.write(pw() + b'\n')
    before = tree.snapshot()
    with pytest.raises(InputError, match='the old vault password is wrong'):
        _vault_tree.rotate_password_file(passfile, [tree.root])
    assert tree.snapshot() == before
    assert sorted(os.listdir(os.path.dirname(passfile))) == ['inventory', 'vault_pass']


def test_rotation_refuses_a_different_password_while_one_is_pending(tmp_path):
    tree, passfile, _old = rotation_tree(tmp_path)
    with pytest.raises(Crash):
        _vault_tree.rotate_password_file(passfile, [tree.root], checkpoint=crash_at('file:1'))
    with pytest.raises(InputError, match='interrupted rotation to another password is pending'):
        _vault_tree.rotate_password_file(passfile, [tree.root], new_password='something-else')


def test_rotation_refuses_scripts_and_missing_files(tmp_path):
    script = tmp_path / 'pass.sh'
    script.write_text('#!/bin/sh\necho x\n')
    script.chmod(0o700)
    with pytest.raises(InputError, match='cannot be rotated'):
        _vault_tree.rotate_password_file(str(script), [str(tmp_path)])
    with pytest.raises(InputError, match='does not exist'):
        _vault_tree.rotate_password_file(str(tmp_path / 'missing'), [str(tmp_path)])


def test_pause_hook_is_off_unless_both_variables_are_set(monkeypatch):
    monkeypatch.delenv('_TURNKEY_VAULT_TEST_PAUSE', raising=False)
    assert _vault_tree.pause_from_environment() is None
