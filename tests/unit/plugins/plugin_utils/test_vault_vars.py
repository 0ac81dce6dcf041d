"""Editing encrypted vars files in memory: surgical YAML edits, plaintext idempotence."""

import os
import secrets
import stat

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.turnkey.secrets.plugins.module_utils import _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars

ORIGINAL = '''---
# Production secrets.  Rotated by turnkey.secrets.
vault_db_password: "old-db"   # 180 days

# Django
vault_secret_key: 'old-key'
vault_secret_key_fallbacks:
  - older-key   # kept for sessions
  - oldest-key
vault_port: 5432
vault_note: |
  two
  lines

# end of file
'''


def pw():
    return secrets.token_urlsafe(16).encode()


def vault_file(tmp_path, text=ORIGINAL, label='production', mode=0o640):
    password = pw()
    path = tmp_path / 'vault.yml'
    path.write_text(_vault.seal(text.encode(), password, label))
    path.chmod(mode)
    return str(path), password


def plaintext(path, password):
    return VaultLib([('x', VaultSecret(password))]).decrypt(open(path, 'rb').read()).decode()


def test_edit_keeps_everything_else_byte_for_byte():
    out = _vault_vars.edit_text(ORIGINAL, 'f', {'vault_secret_key': 'new-key', 'vault_new': 'n'}, ['vault_port'])
    assert out == ORIGINAL.replace("vault_secret_key: 'old-key'", 'vault_secret_key: new-key').replace(
        'vault_port: 5432\n', '').replace('  lines\n', '  lines\nvault_new: n\n')


def test_edit_replaces_block_values_whole():
    updates = {'vault_secret_key_fallbacks': ['old-key', 'older-key'], 'vault_note': 'one line'}
    out = _vault_vars.edit_text(ORIGINAL, 'f', updates, [])
    data = yaml.safe_load(out)
    assert data['vault_secret_key_fallbacks'] == ['old-key', 'older-key'] and data['vault_note'] == 'one line'
    assert out.startswith(ORIGINAL.split('vault_secret_key_fallbacks', maxsplit=1)[0])
    assert out.endswith('vault_port: 5432\nvault_note: one line\n\n# end of file\n')


@pytest.mark.parametrize('text, expected', [
    ('', 'k: v\n'),
    ('---\n', '---\nk: v\n'),
    ('# only a comment', '# only a comment\nk: v\n'),
    ('a: 1', 'a: 1\nk: v'),
    ('a: 1\r\nb:\r\n- x\r\n', 'a: 1\r\nb:\r\n- x\r\nk: v\r\n'),
    ('  a: 1\n', '  a: 1\n  k: v\n'),
])
def test_edit_appends_to_odd_files(text, expected):
    assert _vault_vars.edit_text(text, 'f', {'k': 'v'}, []) == expected


@pytest.mark.parametrize('value', ['yes', 'null', '123', '1e3', ': colon', '- dash', "it's", 'multi\nline', '#hash', '',
                                   '!@#$%^&*(-_=+)', ['a', {'b': 'c'}], {'x': ['y']}, 0, True, None, 1.5])
def test_values_of_every_shape_round_trip(value):
    out = _vault_vars.edit_text('a: 1\nb: 2\n', 'f', {'a': value}, [])
    assert yaml.safe_load(out) == {'a': value, 'b': 2}


@pytest.mark.parametrize('text, message', [
    ('- a\n- b\n', 'block mapping'),
    ('{a: 1}\n', 'block mapping'),
    ('a: 1\n---\nb: 2\n', '2 YAML documents'),
    ('a: 1\na: 2\n', 'defines a twice'),
    ('a: &x 1\nb: *x\n', 'alias'),
])
def test_edit_refuses_what_it_cannot_do_safely(text, message):
    with pytest.raises(InputError, match=message):
        _vault_vars.edit_text(text, 'f', {'b': 'v'}, [])


def test_yaml_errors_never_quote_the_plaintext():
    secret = secrets.token_hex(8)
    with pytest.raises(InputError) as info:
        _vault_vars.edit_text('a: "%s\n' % secret, 'vault.yml', {'b': 'v'}, [])
    assert 'vault.yml' in info.value.msg and secret not in info.value.msg


def test_strict_comparison():
    assert _vault_vars.same({'a': [1, 'x']}, {'a': [1, 'x']})
    assert not _vault_vars.same(True, 1) and not _vault_vars.same('5432', 5432) and not _vault_vars.same([1], [1, 2])


def test_set_generate_remove_check_apply_again(tmp_path):
    path, password = vault_file(tmp_path)
    envelope = open(path).read()
    args = dict(values={'vault_db_password': 'new-db', 'vault_port': 5432},
                generate={'vault_redis_password_pending': 'base64:32'}, remove=['vault_note', 'vault_gone'])

    check = _vault_vars.update_vault_file(path, password, check_mode=True, **args)
    assert check['changed'] and check['changed_keys'] == ['vault_db_password', 'vault_note', 'vault_redis_password_pending']
    assert open(path).read() == envelope
    assert check['diff']['before'] == 'vault_db_password: ********\nvault_note: ********\n'
    assert check['diff']['after'] == 'vault_db_password: <changed>\nvault_redis_password_pending: <new>\n'
    assert 'values' not in check

    result = _vault_vars.update_vault_file(path, password, return_values=True, **args)
    assert result['changed'] and result['generated_keys'] == ['vault_redis_password_pending']
    assert result['removed_keys'] == ['vault_note']
    text = plaintext(path, password)
    data = yaml.safe_load(text)
    assert data['vault_db_password'] == 'new-db' and 'vault_note' not in data
    assert result['values'] == {'vault_db_password': 'new-db', 'vault_port': 5432,
                                'vault_redis_password_pending': data['vault_redis_password_pending']}
    assert '# Production secrets.' in text and "vault_secret_key: 'old-key'" in text and '# kept for sessions' in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert open(path).readline() == '$ANSIBLE_VAULT;1.2;AES256;production\n'

    envelope = open(path).read()
    again = _vault_vars.update_vault_file(path, password, return_values=True, **args)
    assert not again['changed'] and open(path).read() == envelope
    assert again['values']['vault_redis_password_pending'] == data['vault_redis_password_pending']

    forced = _vault_vars.update_vault_file(path, password, generate={'vault_redis_password_pending': 'base64:32'},
                                           regenerate=['vault_redis_password_pending'], backup=True)
    assert forced['changed'] and os.path.exists(forced['backup_file'])
    assert yaml.safe_load(plaintext(path, password))['vault_redis_password_pending'] != data['vault_redis_password_pending']


def test_symlink_refused_unless_follow_then_edited_through_the_link(tmp_path):
    path, password = vault_file(tmp_path)
    link = tmp_path / 'link.yml'
    os.symlink(path, link)
    before = open(path, 'rb').read()
    with pytest.raises(InputError, match='symbolic link'):
        _vault_vars.update_vault_file(str(link), password, values={'vault_port': 1})
    assert open(path, 'rb').read() == before
    assert _vault_vars.update_vault_file(str(link), password, values={'vault_port': 1}, follow=True)['changed']
    assert os.path.islink(link) and yaml.safe_load(plaintext(path, password))['vault_port'] == 1


@pytest.mark.parametrize('mode, want', [('0600', 0o600), ('u=rw,go=', 0o600), ('go-r', 0o600), (0o640, 0o640)])
def test_mode_applies_to_an_existing_file_before_data_and_backups_are_private(tmp_path, monkeypatch, mode, want):
    """Review finding: mode was ignored on an existing file, and the backup kept its mode."""
    path, password = vault_file(tmp_path, mode=0o644)
    seen = []
    real_fchmod = os.fchmod

    def spy(fd, new_mode):
        seen.append((os.fstat(fd).st_size, new_mode))
        return real_fchmod(fd, new_mode)
    monkeypatch.setattr(os, 'fchmod', spy)
    result = _vault_vars.update_vault_file(path, password, values={'vault_port': 1}, mode=mode, backup=True)
    assert result['changed'] and stat.S_IMODE(os.stat(path).st_mode) == want
    assert stat.S_IMODE(os.stat(result['backup_file']).st_mode) == 0o600
    assert sorted(seen) == sorted([(0, 0o600), (0, want)])   # the backup's and the file's, both while empty
    assert not _vault_vars.update_vault_file(path, password, values={'vault_port': 1}, mode=mode)['changed']


def test_a_mode_change_alone_keeps_the_ciphertext(tmp_path):
    path, password = vault_file(tmp_path, mode=0o644)
    envelope = open(path).read()
    check = _vault_vars.update_vault_file(path, password, values={'vault_port': 5432}, mode='0600', check_mode=True)
    assert check['changed'] and check['changed_keys'] == [] and stat.S_IMODE(os.stat(path).st_mode) == 0o644
    result = _vault_vars.update_vault_file(path, password, values={'vault_port': 5432}, mode='0600')
    assert result['changed'] and result['changed_keys'] == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and open(path).read() == envelope
    assert not _vault_vars.update_vault_file(path, password, values={'vault_port': 5432}, mode='0600')['changed']
    with pytest.raises(InputError, match='mode'):
        _vault_vars.update_vault_file(path, password, values={'vault_port': 1}, mode='u+q')
    assert open(path).read() == envelope


def test_type_change_is_a_change(tmp_path):
    path, password = vault_file(tmp_path)
    assert _vault_vars.update_vault_file(path, password, values={'vault_port': '5432'})['changed']
    assert yaml.safe_load(plaintext(path, password))['vault_port'] == '5432'


def test_create_and_relabel(tmp_path):
    path = str(tmp_path / 'new' / 'vault.yml')
    os.makedirs(os.path.dirname(path))
    password = pw()
    with pytest.raises(InputError, match='set create: true'):
        _vault_vars.update_vault_file(path, password, values={'a': 'b'})
    result = _vault_vars.update_vault_file(path, password, vault_id='staging', create=True,
                                           generate={'vault_secret_key': 'django_secret_key'})
    assert result['created'] and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(yaml.safe_load(plaintext(path, password))['vault_secret_key']) == 50
    assert not _vault_vars.update_vault_file(path, password, vault_id='staging', create=True,
                                             generate={'vault_secret_key': 'django_secret_key'})['changed']
    relabel = _vault_vars.update_vault_file(path, password, vault_id='production')
    assert relabel['changed'] and relabel['changed_keys'] == []
    assert open(path).readline() == '$ANSIBLE_VAULT;1.2;AES256;production\n'


@pytest.mark.parametrize('kwargs, message', [
    (dict(values={'a': 1}, generate={'a': 'hex:8'}), 'both in values and in generate'),
    (dict(values={'a': 1}, remove=['a']), 'both set and removed'),
    (dict(regenerate=['a']), 'regenerate lists a'),
    (dict(generate={'a': 'rsa'}), 'generate.a: unknown secret kind'),
    (dict(values={'not-a-name': 1}), 'not a valid variable name'),
    (dict(vault_id='a;b'), 'not a usable vault-id label'),
])
def test_bad_arguments(tmp_path, kwargs, message):
    path, password = vault_file(tmp_path)
    with pytest.raises(InputError, match=message):
        _vault_vars.update_vault_file(path, password, **kwargs)


def test_wrong_password_and_plain_files_are_refused(tmp_path):
    path, _password = vault_file(tmp_path)
    with pytest.raises(InputError, match='does not decrypt it'):
        _vault_vars.update_vault_file(path, pw(), values={'a': 'b'})
    plain = tmp_path / 'plain.yml'
    plain.write_text('a: 1\n')
    with pytest.raises(InputError, match='not an ansible-vault encrypted file'):
        _vault_vars.update_vault_file(str(plain), pw(), values={'a': 'b'})
    assert plain.read_text() == 'a: 1\n'


def _inline_values_with_ansible(path, password):
    """Every !vault value decrypted by ansible's own VaultLib."""
    vault = VaultLib([('production', VaultSecret(password))])

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor('!vault', lambda loader, node: vault.decrypt(loader.construct_scalar(node).encode()).decode())
    with open(path) as handle:
        return yaml.load(handle, Loader=Loader)


def test_convert_to_inline_and_back_is_idempotent_and_read_by_ansible(tmp_path):
    path, password = vault_file(tmp_path)
    first = _vault_vars.update_vault_file(path, password, vault_format='inline')
    assert first['changed'] and first['format'] == 'inline'
    text = open(path).read()
    # The encrypted file's comments are not published in the clear text of the inline file.
    assert '#' not in text and 'vault_secret_key: !vault |' in text
    assert 'old-db' not in text and 'older-key' not in text
    inline = _inline_values_with_ansible(path, password)
    assert inline['vault_db_password'] == 'old-db' and inline['vault_secret_key_fallbacks'] == ['older-key', 'oldest-key']
    assert not _vault_vars.update_vault_file(path, password, vault_format='inline')['changed']
    assert open(path).read() == text
    # A change re-encrypts that key only.
    _vault_vars.update_vault_file(path, [pw(), password], values={'vault_secret_key': 'new-key'})
    after = open(path).read()
    assert after.split('vault_secret_key:')[0] == text.split('vault_secret_key:')[0]
    assert _inline_values_with_ansible(path, password)['vault_secret_key'] == 'new-key'
    back = _vault_vars.update_vault_file(path, password, vault_format='file')
    assert back['changed'] and back['format'] == 'file'
    data = yaml.safe_load(plaintext(path, password))
    assert data['vault_secret_key'] == 'new-key' and data['vault_secret_key_fallbacks'] == ['older-key', 'oldest-key']


def test_new_inline_file_and_plain_values_refused(tmp_path):
    password = pw()
    path = str(tmp_path / 'vault.yml')
    _vault_vars.update_vault_file(path, password, create=True, vault_id='production', vault_format='inline',
                                  values={'vault_a': 'a-value'})
    assert 'a-value' not in open(path).read()
    assert _inline_values_with_ansible(path, password)['vault_a'] == 'a-value'
    with pytest.raises(InputError, match='no vault password'):
        _vault_vars.update_vault_file(path, [], values={'vault_a': 'b'})


def test_inline_numbers_are_not_rewritten_at_every_run(tmp_path):
    # An inline !vault value is a string: 5432 reads back as '5432', which is no change.
    password = pw()
    path = str(tmp_path / 'vault.yml')
    values = {'vault_port': 5432, 'vault_ratio': 1.5, 'vault_flag': True, 'vault_list': [1, 'x'], 'vault_pw': 'abcdefgh'}
    first = _vault_vars.update_vault_file(path, password, values=values, create=True, vault_format='inline')
    assert first['changed']
    text = open(path).read()
    again = _vault_vars.update_vault_file(path, password, values=values)
    assert not again['changed'] and again['changed_keys'] == []
    assert open(path).read() == text
    assert _vault_vars.update_vault_file(path, password, values={'vault_port': 5433})['changed_keys'] == ['vault_port']
