# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-encrypt Fernet tokens kept in a file under the primary key of a MultiFernet list.

File format: one token per line; blank lines and lines starting with ``#`` are kept as
they are.  A token the primary key already decrypts is left byte for byte, so a second
run changes nothing.  ``MultiFernet.rotate`` keeps each token's original timestamp, so
TTL checks behave as before.
"""

from __future__ import annotations

import traceback

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

try:
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet
except ImportError:
    Fernet = InvalidToken = MultiFernet = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None


def load_keys(keys):
    """``(primary Fernet, MultiFernet)``; InputError naming the position of a bad key."""
    if not keys:
        raise InputError('keys is empty: give the key list, primary (newest) first')
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key if isinstance(key, bytes) else str(key).strip().encode('ascii')))
        except (ValueError, TypeError, UnicodeEncodeError):
            raise InputError('keys[%d] is not a Fernet key (32 url-safe base64-encoded bytes, as '
                             'Fernet.generate_key() makes)' % index) from None
    return fernets[0], MultiFernet(fernets)


def _is_token_line(line):
    stripped = line.strip()
    return stripped != '' and not stripped.startswith('#')


def rotate_text(text, keys, path='the file'):
    """``(new_text, rotated_line_numbers, token_count)``.

    InputError, naming line numbers only, when some token no key can decrypt.
    """
    primary, multi = load_keys(keys)
    lines = text.split('\n')
    rotated, undecryptable, count = [], [], 0
    for index, line in enumerate(lines):
        if not _is_token_line(line):
            continue
        count += 1
        token = line.strip().encode('ascii', 'replace')
        try:
            primary.decrypt(token)
            continue
        except InvalidToken:
            pass
        try:
            lines[index] = multi.rotate(token).decode('ascii')
            rotated.append(index + 1)
        except InvalidToken:
            undecryptable.append(index + 1)
    if undecryptable:
        shown = ', '.join(str(n) for n in undecryptable[:20]) + (' ...' if len(undecryptable) > 20 else '')
        raise InputError(
            '%d token(s) in %s cannot be decrypted by any of the keys (lines %s): add the key that encrypted '
            'them to keys (it may have been retired too early) or fix those lines; nothing was changed'
            % (len(undecryptable), path, shown), lines=undecryptable)
    return '\n'.join(lines), rotated, count
