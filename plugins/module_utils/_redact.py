# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep secret values out of diffs, results, logs and error messages.

* placeholders for diffs (``<changed>``, ``<unchanged>``, ``<new>``, ``<removed>``);
* ``redact()`` scrubs known secret values (and their common encodings) from text;
* ``kdf_digest()``/``kdf_verify()``: a salted, deliberately slow digest that can be
  stored next to a secret (e.g. in a podman label) to detect change without keeping
  the plaintext or a fast unsalted hash an attacker could brute-force;
* ``fingerprint()``: a keyed HMAC for telling values apart inside one run (the key is
  random per process, so fingerprints are useless outside it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _secrets
from urllib.parse import quote, quote_plus

try:
    from cryptography.hazmat.primitives import hashes as _hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC as _PBKDF2HMAC
except ImportError:
    _PBKDF2HMAC = None

CHANGED = '<changed>'
UNCHANGED = '<unchanged>'
NEW = '<new>'
REMOVED = '<removed>'
HIDDEN = '********'

# Values shorter than this are not scrubbed from free text: replacing every "1" or
# "on" in an error message would destroy it and still not hide anything useful.
MIN_REDACT_LEN = 4

KDF_NAME = 'pbkdf2-sha256'
KDF_ITERATIONS = 120000

_RUN_KEY = _secrets.token_bytes(32)


def _as_text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return str(value)


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    return str(value).encode('utf-8', 'surrogateescape')


def variants(value):
    """Forms in which a secret commonly leaks: as is, URL-encoded, base64, repr-escaped."""
    text = _as_text(value)
    if len(text) < MIN_REDACT_LEN:
        return set()
    out = {text, quote(text, safe='', errors='surrogateescape'), quote_plus(text, errors='surrogateescape'),
           text.encode('unicode_escape', 'surrogateescape').decode('ascii', 'replace')}
    out.add(base64.b64encode(_as_bytes(value)).decode('ascii'))
    return {v for v in out if len(v) >= MIN_REDACT_LEN}


def redact(text, secret_values, placeholder=HIDDEN):
    """Return ``text`` with every form of every value in ``secret_values`` replaced."""
    if text is None:
        return text
    was_bytes = isinstance(text, bytes)
    out = _as_text(text)
    forms = set()
    for value in secret_values or ():
        if value is None:
            continue
        forms |= variants(value)
    # Longest first so a secret that contains another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        out = out.replace(form, placeholder)
    return _as_bytes(out) if was_bytes else out


def redact_obj(obj, secret_values, placeholder=HIDDEN):
    """``redact`` applied through dicts, lists and tuples (keys included)."""
    if isinstance(obj, dict):
        return {redact_obj(k, secret_values, placeholder): redact_obj(v, secret_values, placeholder) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v, secret_values, placeholder) for v in obj)
    if isinstance(obj, (str, bytes)):
        return redact(obj, secret_values, placeholder)
    return obj


def state_placeholder(changed):
    return CHANGED if changed else UNCHANGED


def fingerprint(value):
    """Keyed per-process fingerprint: equal values compare equal within one run only."""
    return hmac.new(_RUN_KEY, _as_bytes(value), hashlib.sha256).hexdigest()[:16]


def _pbkdf2_sha256(value, salt, iterations):
    # cryptography's PBKDF2 is about twice as fast as hashlib's and runs outside the GIL, so the
    # list forms' threads derive on every core; hashlib's gives the same bytes where it is missing.
    if _PBKDF2HMAC is not None:
        return _PBKDF2HMAC(algorithm=_hashes.SHA256(), length=32, salt=salt, iterations=iterations).derive(value)
    return hashlib.pbkdf2_hmac('sha256', value, salt, iterations)


def kdf_digest(value, salt=None, iterations=KDF_ITERATIONS):
    """Salted slow digest: ``pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>``."""
    if salt is None:
        salt = os.urandom(16)
    dk = _pbkdf2_sha256(_as_bytes(value), salt, iterations)
    return '%s$%d$%s$%s' % (
        KDF_NAME, iterations,
        base64.b64encode(salt).decode('ascii'), base64.b64encode(dk).decode('ascii'))


def kdf_verify(value, digest):
    """True when ``digest`` (from ``kdf_digest``) was made from ``value``; False if malformed."""
    try:
        name, iterations, salt, expected = digest.split('$')
        if name != KDF_NAME:
            return False
        iterations = int(iterations)
        if not 1000 <= iterations <= 10000000:
            return False
        salt = base64.b64decode(salt, validate=True)
        expected = base64.b64decode(expected, validate=True)
    except (AttributeError, ValueError, TypeError):
        return False
    if len(expected) != 32:
        return False
    return hmac.compare_digest(_pbkdf2_sha256(_as_bytes(value), salt, iterations), expected)
