# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""New secret values, from the ``secrets`` module only.

A kind is ``NAME`` or ``NAME:N`` (``password:N:CLASSES`` for passwords):

* ``django_secret_key``: 50 characters of Django's ``get_random_secret_key()`` alphabet;
* ``fernet_key``: 32 random bytes, URL-safe base64 (what ``Fernet.generate_key()`` returns);
* ``base64:N``: N random bytes, standard base64 (``openssl rand -base64 N``);
* ``urlsafe:N``: N random bytes, URL-safe base64 without padding (``secrets.token_urlsafe``);
* ``hex:N``: N random bytes as 2N hex digits (``openssl rand -hex N``);
* ``password:N[:CLASSES]``: N characters drawn from the union of CLASSES (comma-separated
  ``upper``, ``lower``, ``digit``, ``symbol``; default ``upper,lower,digit``), at least one
  of each class.
"""

from __future__ import annotations

import base64
import re
import secrets
import string

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

DJANGO_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)'
# Symbols that survive shells, URLs' userinfo after quoting, YAML, .env files and htpasswd
# without surprises: no quotes, backslash, space, '$', '`', '#', '&', '/' or '?'.
DEFAULT_SYMBOLS = '!%*+,-.:=@^_~'
CLASSES = {
    'upper': string.ascii_uppercase,
    'lower': string.ascii_lowercase,
    'digit': string.digits,
    'symbol': DEFAULT_SYMBOLS,
}
DEFAULT_CLASSES = ('upper', 'lower', 'digit')
# Bytes for base64/urlsafe/hex, characters for password.
DEFAULT_LENGTH = {'base64': 32, 'urlsafe': 32, 'hex': 32, 'password': 24}
MAX_LENGTH = 4096
KINDS = ('django_secret_key', 'fernet_key') + tuple(sorted(DEFAULT_LENGTH))

_KIND_RE = re.compile(r'^(?P<name>[a-z_0-9]+)(?::(?P<length>[^:]*))?(?::(?P<classes>.*))?$')


def parse_kind(kind, classes=None):
    """``(name, length, classes)`` for a kind string; InputError saying what is accepted.

    ``classes`` (a list or comma-separated string) applies to password kinds only, so one
    lookup call can mix kinds.
    """
    text = str(kind).strip()
    match = _KIND_RE.match(text)
    name = match.group('name') if match else None
    if name not in KINDS:
        raise InputError('unknown secret kind %r: use one of django_secret_key, fernet_key, base64:N, '
                         'urlsafe:N, hex:N, password:N[:upper,lower,digit,symbol]' % text)
    length, class_text = match.group('length'), match.group('classes')
    if name in ('django_secret_key', 'fernet_key'):
        if length is not None:
            raise InputError('%s takes no length (got %r)' % (name, text))
        return name, None, None
    if length in (None, ''):
        length = DEFAULT_LENGTH[name]
    else:
        try:
            length = int(length)
        except ValueError:
            raise InputError('%r: the length after %s: must be a whole number' % (text, name)) from None
    if not 1 <= length <= MAX_LENGTH:
        raise InputError('%r: length must be between 1 and %d' % (text, MAX_LENGTH))
    if name != 'password':
        if class_text is not None:
            raise InputError('%r: only password takes character classes' % text)
        return name, length, None
    if class_text is not None and classes:
        raise InputError('%r: give the character classes in the kind or as an option, not both' % text)
    wanted = classes if classes else class_text
    if isinstance(wanted, str):
        wanted = wanted.split(',')
    wanted = tuple(c.strip() for c in (wanted or DEFAULT_CLASSES) if c.strip())
    unknown = [c for c in wanted if c not in CLASSES]
    if unknown or not wanted:
        raise InputError('%r: character classes must be among upper, lower, digit, symbol (got %s)'
                         % (text, ', '.join(unknown) or 'none'))
    wanted = tuple(dict.fromkeys(wanted))
    if length < len(wanted):
        raise InputError('%r: %d characters cannot hold one of each of %d classes' % (text, length, len(wanted)))
    return name, length, wanted


def password(length, classes=DEFAULT_CLASSES, symbols=None):
    """``length`` characters with at least one of each class, uniformly over the valid ones."""
    sets = [symbols if (c == 'symbol' and symbols) else CLASSES[c] for c in classes]
    alphabet = ''.join(dict.fromkeys(''.join(sets)))
    while True:
        # Rejection keeps the distribution uniform over all passwords meeting the policy.
        value = ''.join(secrets.choice(alphabet) for dummy in range(length))
        if all(any(ch in chars for ch in value) for chars in sets):
            return value


def generate(kind, classes=None, symbols=None):
    """A new value of ``kind`` (see the module docstring)."""
    name, length, wanted = parse_kind(kind, classes)
    if symbols is not None:
        symbols = str(symbols)
        if name == 'password' and 'symbol' not in wanted:
            raise InputError('symbols is set but the password kind %r does not include the symbol class' % str(kind))
        if not symbols or any(ch.isspace() or ch.isalnum() for ch in symbols):
            raise InputError('symbols must be a non-empty set of punctuation characters, without spaces or letters')
    if name == 'django_secret_key':
        return ''.join(secrets.choice(DJANGO_ALPHABET) for dummy in range(50))
    if name == 'fernet_key':
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('ascii')
    if name == 'base64':
        return base64.b64encode(secrets.token_bytes(length)).decode('ascii')
    if name == 'urlsafe':
        return secrets.token_urlsafe(length)
    if name == 'hex':
        return secrets.token_hex(length)
    return password(length, wanted, symbols)
