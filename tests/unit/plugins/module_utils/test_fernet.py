"""Re-encrypting Fernet tokens under the primary key (module_utils/_fernet.py)."""

import pytest
from cryptography.fernet import Fernet, MultiFernet

from ansible_collections.turnkey.secrets.plugins.module_utils import _fernet
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError


@pytest.fixture
def keys():
    return [Fernet.generate_key().decode() for dummy in range(3)]


def _tokens(key, *plaintexts):
    return [Fernet(key).encrypt(p.encode()).decode() for p in plaintexts]


def test_old_tokens_are_rotated_primary_ones_kept(keys):
    new, old, older = keys
    a, b = _tokens(old, 'a', 'b')
    c, = _tokens(new, 'c')
    d, = _tokens(older, 'd')
    text = '# oauth tokens\n%s\n\n%s\n%s\n%s\n' % (a, c, b, d)
    out, rotated, count = _fernet.rotate_text(text, keys)
    assert (rotated, count) == ([2, 5, 6], 4)
    lines = out.split('\n')
    assert lines[0] == '# oauth tokens' and lines[2] == '' and lines[3] == c
    primary = Fernet(new)
    assert [primary.decrypt(lines[i].encode()) for i in (1, 3, 4, 5)] == [b'a', b'c', b'b', b'd']
    again, rotated = _fernet.rotate_text(out, keys)[:2]
    assert again == out and rotated == []


def test_rotation_keeps_the_timestamp(keys):
    token, = _tokens(keys[1], 'x')
    out = _fernet.rotate_text(token, keys)[0]
    assert Fernet(keys[0]).extract_timestamp(out.encode()) == Fernet(keys[1]).extract_timestamp(token.encode())


def test_same_as_multifernet_rotate(keys):
    token, = _tokens(keys[2], 'payload')
    out = _fernet.rotate_text(token, keys)[0]
    multi = MultiFernet([Fernet(k) for k in keys])
    assert multi.decrypt(out.encode()) == multi.decrypt(multi.rotate(token.encode())) == b'payload'


def test_undecryptable_tokens_name_lines_and_change_nothing(keys):
    retired = Fernet.generate_key()
    good, = _tokens(keys[1], 'ok')
    bad1, bad2 = _tokens(retired, 'lost', 'lost2')
    with pytest.raises(InputError) as info:
        _fernet.rotate_text('%s\n%s\nnot-a-token\n%s\n' % (good, bad1, bad2), keys, '/data/t.txt')
    assert 'lines 2, 3, 4' in info.value.msg and '/data/t.txt' in info.value.msg
    assert info.value.details['lines'] == [2, 3, 4]
    assert bad1 not in info.value.msg


@pytest.mark.parametrize('bad', ['', 'short', 'x' * 44, Fernet.generate_key().decode()[:-2]])
def test_bad_key_is_refused_without_echo(keys, bad):
    with pytest.raises(InputError, match=r'keys\[1\] is not a Fernet key') as info:
        _fernet.load_keys([keys[0], bad])
    assert not bad or bad not in info.value.msg


def test_empty_key_list():
    with pytest.raises(InputError, match='keys is empty'):
        _fernet.load_keys([])
