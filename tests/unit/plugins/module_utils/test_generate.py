"""Secret generators (the lookup itself runs in tests/integration/vault)."""

import base64
import binascii
import string

import pytest
from cryptography.fernet import Fernet

from ansible_collections.turnkey.secrets.plugins.module_utils import _generate
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError


def test_django_secret_key_matches_djangos_generator():
    from django.core.management.utils import get_random_secret_key
    theirs = get_random_secret_key()
    ours = _generate.generate('django_secret_key')
    assert len(ours) == len(theirs) == 50
    assert set(ours) <= set(_generate.DJANGO_ALPHABET)
    assert set(theirs) <= set(_generate.DJANGO_ALPHABET)


def test_fernet_key_is_accepted_by_fernet():
    key = _generate.generate('fernet_key')
    assert len(key) == 44 and len(base64.urlsafe_b64decode(key)) == 32
    token = Fernet(key).encrypt(b'x')
    assert Fernet(key).decrypt(token) == b'x'


@pytest.mark.parametrize('kind, decode, size', [
    ('base64:32', lambda v: base64.b64decode(v, validate=True), 32),
    ('base64:24', lambda v: base64.b64decode(v, validate=True), 24),
    ('urlsafe:24', lambda v: base64.urlsafe_b64decode(v + '=' * (-len(v) % 4)), 24),
    ('hex:16', binascii.unhexlify, 16),
    ('base64', lambda v: base64.b64decode(v, validate=True), 32),
])
def test_byte_kinds_hold_n_random_bytes(kind, decode, size):
    values = {_generate.generate(kind) for dummy in range(20)}
    assert len(values) == 20
    assert all(len(decode(v)) == size for v in values)


def test_urlsafe_and_hex_alphabets():
    assert set(_generate.generate('urlsafe:64')) <= set(string.ascii_letters + string.digits + '-_')
    assert set(_generate.generate('hex:64')) <= set('0123456789abcdef')


def test_password_policy_every_class_present():
    for dummy in range(200):
        value = _generate.generate('password:4:upper,lower,digit,symbol')
        assert len(value) == 4
        assert any(c.isupper() for c in value) and any(c.islower() for c in value)
        assert any(c.isdigit() for c in value) and any(c in _generate.DEFAULT_SYMBOLS for c in value)
    default = _generate.generate('password')
    assert len(default) == 24 and set(default) <= set(string.ascii_letters + string.digits)


def test_password_classes_as_option_and_custom_symbols():
    value = _generate.generate('password:30', classes=['digit', 'symbol'], symbols='#$')
    assert set(value) <= set('0123456789#$') and set(value) & set('#$')
    assert set(_generate.generate('password:30', classes='lower')) <= set(string.ascii_lowercase)


@pytest.mark.parametrize('kind, kwargs, message', [
    ('rsa:2048', {}, 'unknown secret kind'),
    ('django_secret_key:10', {}, 'takes no length'),
    ('hex:abc', {}, 'whole number'),
    ('hex:0', {}, 'between 1 and'),
    ('base64:99999', {}, 'between 1 and'),
    ('hex:8:upper', {}, 'only password takes character classes'),
    ('password:8:upper,emoji', {}, 'among upper, lower, digit, symbol'),
    ('password:2:upper,lower,digit', {}, 'cannot hold one of each'),
    ('password:8:upper', {'classes': ['lower']}, 'not both'),
    ('password:8', {'symbols': '#'}, 'does not include the symbol class'),
    ('password:8:symbol', {'symbols': 'a b'}, 'punctuation'),
])
def test_bad_kinds_say_what_is_accepted(kind, kwargs, message):
    with pytest.raises(InputError, match=message):
        _generate.generate(kind, **kwargs)
