"""Vault blobs: the format against ansible-core's VaultLib, and locating blobs in files."""

import binascii
import secrets

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.turnkey.secrets.plugins.module_utils import _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError


def pw():
    return secrets.token_urlsafe(12).encode()


def ansible_encrypt(plaintext, password, label=None):
    return VaultLib().encrypt(plaintext, VaultSecret(password), vault_id=label).decode()


def ansible_decrypt(envelope, password):
    return VaultLib([('x', VaultSecret(password))]).decrypt(envelope)


@pytest.mark.parametrize('label', [None, 'staging', 'default'])
@pytest.mark.parametrize('plaintext', [b'', b'a', b'x' * 16, 'k\u00e9y: v\u00e4lue\n'.encode() * 40])
def test_seal_is_read_by_ansible_and_ansible_is_read_by_us(label, plaintext):
    password = pw()
    ours = _vault.seal(plaintext, password, label)
    assert ansible_decrypt(ours, password) == plaintext
    assert _vault.decrypt(ansible_encrypt(plaintext, password, label), password) == plaintext
    header = ours.split('\n', 1)[0]
    assert header == ('$ANSIBLE_VAULT;1.2;AES256;staging' if label == 'staging' else '$ANSIBLE_VAULT;1.1;AES256')
    assert all(len(line) <= 80 for line in ours.splitlines()) and ours.endswith('\n')


def test_same_salt_gives_ansibles_exact_bytes():
    password, salt = pw(), secrets.token_bytes(32)
    theirs = VaultLib().encrypt(b'same', VaultSecret(password), vault_id='prod', salt=salt).decode()
    assert _vault.seal(b'same', password, 'prod', salt=salt) == theirs


def test_wrong_password_is_an_hmac_mismatch_not_garbage():
    envelope = _vault.seal(b'data', pw())
    with pytest.raises(InputError, match='HMAC mismatch'):
        _vault.decrypt(envelope, pw(), 'f.yml')


def test_open_tries_the_hinted_password_first_and_reports_which_opened():
    old, new = pw(), pw()
    blob = _vault.Blob(_vault.seal(b'v', new), 'f')
    assert blob.open([old, new], first=1) == 1
    assert blob.plaintext == b'v'
    assert _vault.Blob(_vault.seal(b'v', new), 'f').open([old]) is None


@pytest.mark.parametrize('mangle, message', [
    (lambda e: e.replace('AES256', 'AES128', 1), 'cipher AES128 is not supported'),
    (lambda e: e.replace(';1.1;', ';9.9;', 1), 'version 9.9'),
    (lambda e: e.replace('$ANSIBLE_VAULT', '$ANSIBLE_VAULX', 1), 'header is damaged'),
    (lambda e: e[:-3] + 'zz\n', 'damaged'),
    (lambda e: '\n'.join(e.splitlines()[:2]), 'damaged'),
])
def test_damaged_blobs_are_named(mangle, message):
    envelope = mangle(_vault.seal(b'secret data ' * 10, pw()))
    with pytest.raises(InputError, match=message) as info:
        _vault.Blob(envelope, 'group_vars/all/vault.yml')
    assert 'group_vars/all/vault.yml' in info.value.msg


def test_flipped_ciphertext_fails_the_hmac():
    password = pw()
    envelope = _vault.seal(b'secret data', password)
    assert _vault.Blob(_flip_ciphertext(envelope), 'f').open([password]) is None


@pytest.mark.parametrize('label', ['', ' x', 'a;b', 'a@b', 'a\nb'])
def test_bad_labels(label):
    with pytest.raises(InputError, match='not a usable vault-id label'):
        _vault.check_label(label, 'new_vault_id')


def test_passwords_with_whitespace_at_the_ends_are_refused():
    assert _vault.check_password('in side', 'x') == b'in side'
    for bad in ('', ' lead', 'trail\n'):
        with pytest.raises(InputError):
            _vault.check_password(bad, 'new_vault_password')


# ---------------------------------------------------------------- locating blobs

def inline(name, envelope, indent='  ', newline='\n', header=' !vault |'):
    lines = envelope.rstrip('\n').split('\n')
    return '%s:%s%s' % (name, header, newline) + ''.join(indent + line + newline for line in lines)


def test_whole_file_is_one_blob():
    envelope = _vault.seal(b'a: 1\n', pw(), 'demo')
    text, blobs = _vault.find_blobs(envelope.encode(), 'vault.yml')
    assert text == envelope and len(blobs) == 1
    assert not blobs[0].inline and blobs[0].label == 'demo' and (blobs[0].start, blobs[0].end) == (0, len(envelope))


def test_files_without_vault_data_and_binary_files_are_skipped():
    assert _vault.find_blobs(b'a: 1\n# !vault is mentioned in a comment\n', 'x.yml') == ('a: 1\n# !vault is mentioned in a comment\n', [])
    assert _vault.find_blobs(b'plain: yes\n', 'x.yml') == (None, [])
    assert _vault.find_blobs(b'\xff\xfe!vault\x00\x81', 'x.bin') == (None, [])
    assert _vault.find_blobs(b'k: !vault |\n  x\n', 'x.txt', inline=False) == (None, [])


def test_inline_blobs_everywhere_and_exact_replacement():
    password, new_password = pw(), pw()
    values = ['one', 'two', 'three', 'four']
    env = [_vault.seal(v.encode(), password, 'staging') for v in values]
    text = ('---\n# leading comment\n'
            + inline('first', env[0], indent='          ')
            + 'plain: value   # trailing comment\n'
            + 'nested:\n  deeper:\n' + inline('    second', env[1], indent='      ', header=' !vault |-  # chomped')
            + 'items:\n  - !vault |\n' + ''.join('    ' + line + '\n' for line in env[2].rstrip().split('\n'))
            + '  - not secret\n'
            + inline('last', env[3], indent='  ').rstrip('\n'))  # no newline at the end of the file
    found_text, blobs = _vault.find_blobs(text.encode(), 'main.yml')
    assert found_text == text and [b.inline for b in blobs] == [True] * 4
    assert [b.label for b in blobs] == ['staging'] * 4
    assert [b.where for b in blobs] == ['main.yml line %d' % n for n in (4, 14, 22, 30)]
    for blob, value in zip(blobs, values):
        assert blob.open([password]) == 0 and blob.plaintext == value.encode()
    replacements = [(blob, _vault.seal(blob.plaintext, new_password, 'prod')) for blob in blobs]
    out = _vault.replace(text, replacements)
    # Outside the blobs nothing moved: strip every blob line from both and compare.
    assert _outside(out) == _outside(text)
    assert not out.endswith('\n')
    data = yaml.load(out, Loader=_VaultTextLoader)
    assert ansible_decrypt(data['first'], new_password) == b'one'
    assert ansible_decrypt(data['nested']['deeper']['second'], new_password) == b'two'
    assert ansible_decrypt(data['items'][0], new_password) == b'three'
    assert data['items'][1] == 'not secret'
    assert ansible_decrypt(data['last'], new_password) == b'four'


def test_crlf_files_keep_crlf():
    password = pw()
    text = 'a: 1\r\n' + inline('s', _vault.seal(b'v', password), newline='\r\n') + 'b: 2\r\n'
    dummy, blobs = _vault.find_blobs(text.encode(), 'w.yml')
    blobs[0].open([password])
    out = _vault.replace(text, [(blobs[0], _vault.seal(b'v', password))])
    assert out.count('\r\n') == out.count('\n') and out.startswith('a: 1\r\ns: !vault |\r\n') and out.endswith('\r\nb: 2\r\n')
    assert _outside(out) == _outside(text)


def test_offsets_survive_a_byte_order_mark_and_non_ascii_text():
    password = pw()
    text = '\ufeff# caf\u00e9 \U0001F600\nname: "\u00fcber"\n' + inline('s', _vault.seal(b'v', password)) + 'after: \u00e9\n'
    dummy, blobs = _vault.find_blobs(text.encode(), 'u.yml')
    assert blobs[0].where == 'u.yml line 4' and blobs[0].open([password]) == 0
    out = _vault.replace(text, [(blobs[0], _vault.seal(b'w', password))])
    assert out.startswith(text.split('$ANSIBLE', 1)[0]) and out.endswith('after: \u00e9\n')
    assert _outside(out) == _outside(text)


def test_same_node_through_an_alias_is_one_blob():
    envelope = _vault.seal(b'v', pw())
    text = inline('a', envelope).replace('a: !vault', 'a: &anchor !vault') + 'b: *anchor\n'
    assert len(_vault.find_blobs(text.encode(), 'x.yml')[1]) == 1


@pytest.mark.parametrize('text, message', [
    ('k: !vault "$ANSIBLE_VAULT;1.1;AES256\\n3030"\n', 'only "!vault |" block values'),
    ('k: !vault\n  - a\n', 'only "!vault |" block values'),
    ('k: !vault |\n  not a vault\n', 'does not start with'),
    ('k: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3030\n\n  3030\n', 'unusual layout'),
    ('k: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n [unbalanced\n', 'not valid YAML'),
])
def test_unsupported_or_broken_inline_values_are_errors(text, message):
    with pytest.raises(InputError, match=message):
        _vault.find_blobs(text.encode(), 'x.yml')


def test_yaml_errors_name_the_line_but_never_quote_the_content():
    secret = secrets.token_hex(8)
    text = 'a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\nb: "%s\n' % secret
    with pytest.raises(InputError) as info:
        _vault.find_blobs(text.encode(), 'x.yml')
    assert 'line' in info.value.msg and secret not in info.value.msg


def test_parallel_keeps_order():
    assert _vault.parallel(lambda x: x * 2, range(50)) == [x * 2 for x in range(50)]
    assert _vault.parallel(str, []) == []


def _flip_ciphertext(envelope):
    """The envelope with one ciphertext digit changed, still well-formed hex."""
    header, body = envelope.split('\n', 1)
    salt, mac, ciphertext = binascii.unhexlify(body.replace('\n', '')).split(b'\n', 2)
    ciphertext = ciphertext[:-1] + (b'0' if ciphertext[-1:] != b'0' else b'1')
    body = binascii.hexlify(b'\n'.join((salt, mac, ciphertext))).decode()
    return '\n'.join([header] + [body[i:i + 80] for i in range(0, len(body), 80)]) + '\n'


class _VaultTextLoader(yaml.SafeLoader):
    pass


_VaultTextLoader.add_constructor('!vault', lambda loader, node: loader.construct_scalar(node))


def _outside(text):
    """The text without blob lines: what must survive a rekey byte for byte."""
    return [line for line in text.split('\n')
            if not line.strip().startswith('$ANSIBLE_VAULT;') and not _is_hex_line(line.strip())]


def _is_hex_line(line):
    return bool(line) and len(line) <= 80 and all(ch in '0123456789abcdef' for ch in line.rstrip('\r'))
