# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-vault blobs: the format, the cipher, and where blobs sit in a file.

The format is ansible-core's ``VaultAES256``, which stock ``ansible-vault`` reads and
writes: a header ``$ANSIBLE_VAULT;1.1;AES256`` (or ``1.2;AES256;<vault-id>``), then
``hex(hex(salt) \\n hex(hmac) \\n hex(ciphertext))`` in lines of 80.  PBKDF2-HMAC-SHA256
(10000 iterations) turns the password and the blob's own 32-byte salt into an AES-256-CTR
key, an HMAC-SHA256 key and the counter block.  Every blob has its own salt, so opening
one costs one derivation and sealing one costs another: the floor of any rekey.  The
derivation releases the GIL, so ``parallel()`` spreads blobs over the cores with threads
(no fork inside an ansible worker).  The unit tests check this implementation against
ansible's ``VaultLib`` both ways.

Blobs are whole files or inline ``!vault |`` block scalars of YAML files.  An inline blob
is located by the YAML parser and then by exact character offsets, so replacing it
leaves every other character of the file as it was (comments, order, indentation, line
endings).  Nothing here imports controller code: action plugins use it; the argument
specs at the end are shared with the documentation stubs under ``plugins/modules``.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import re
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

try:
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

try:
    import yaml
except ImportError:
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

HEADER = '$ANSIBLE_VAULT'
CIPHER = 'AES256'
ITERATIONS = 10000
SALT_BYTES = 32
LINE_WIDTH = 80
# Files a directory walk looks into for inline values: what ansible loads as variables.
VARS_SUFFIXES = ('.yml', '.yaml', '.json', '')

_HEAD_RE = re.compile(r'^([ \t]*)\$ANSIBLE_VAULT;', re.M)


def require_libraries():
    if CRYPTOGRAPHY_IMPORT_ERROR:
        raise InputError('the cryptography Python library is required on the controller (pip install cryptography)')
    if YAML_IMPORT_ERROR:
        raise InputError('the PyYAML Python library is required on the controller (pip install PyYAML)')


def check_label(label, option='vault_id'):
    """A vault-id label as ansible writes it in the header, or None."""
    if label is None:
        return None
    label = str(label)
    if not label or label != label.strip() or any(ch in label for ch in ';@\r\n'):
        raise InputError('%s %r is not a usable vault-id label: no spaces at the ends, no ";", "@" or newline' % (option, label))
    return label


def check_password(password, option):
    """Password bytes; ansible strips whitespace from password files, so it must not have any at the ends."""
    if isinstance(password, str):
        password = password.encode('utf-8')
    if not password:
        raise InputError('%s is empty' % option)
    if password != password.strip():
        raise InputError('%s starts or ends with whitespace, which ansible strips when it reads a password file: '
                         'remove it' % option)
    return password


def _derive(password, salt):
    raw = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=ITERATIONS).derive(password)
    return raw[:32], raw[32:64], raw[64:]


def _mac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def seal(plaintext, password, label=None, salt=None):
    """Encrypt ``plaintext`` (bytes) into a vault envelope (str, ending with a newline)."""
    salt = salt or os.urandom(SALT_BYTES)
    key, mac_key, counter = _derive(password, salt)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    ciphertext = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    body = binascii.hexlify(b'\n'.join((binascii.hexlify(salt), binascii.hexlify(_mac(mac_key, ciphertext)),
                                        binascii.hexlify(ciphertext)))).decode('ascii')
    if label and label != 'default':
        header = '%s;1.2;%s;%s' % (HEADER, CIPHER, label)
    else:
        header = '%s;1.1;%s' % (HEADER, CIPHER)
    return '\n'.join([header] + [body[i:i + LINE_WIDTH] for i in range(0, len(body), LINE_WIDTH)]) + '\n'


class Blob(object):
    """One vault blob of a file: where it sits, its header, and once opened its plaintext.

    ``start``/``end`` are character offsets in the file's text.  For an inline blob they
    cover its lines from the first indentation to the end of the last line, without the
    final line break; ``indent`` and ``newline`` are what those lines used.
    """

    __slots__ = ('where', 'start', 'end', 'indent', 'newline', 'inline', 'label',
                 'salt', 'mac', 'ciphertext', 'plaintext', 'opened_with')

    def __init__(self, envelope, where, start=0, end=None, indent='', newline='\n', inline=False):
        self.where = where
        self.start = start
        self.end = len(envelope) if end is None else end
        self.indent = indent
        self.newline = newline
        self.inline = inline
        self.plaintext = None
        self.opened_with = None
        lines = [line.strip() for line in envelope.strip().split('\n')]
        head = [part.strip() for part in lines[0].split(';')]
        if len(head) < 3 or head[0] != HEADER:
            raise InputError('%s: not an ansible-vault blob (its header is damaged)' % where)
        if head[1] not in ('1.1', '1.2'):
            raise InputError('%s: vault format version %s is not supported (1.1 and 1.2 are)' % (where, head[1][:10]))
        if head[2] != CIPHER:
            raise InputError('%s: vault cipher %s is not supported (only AES256)' % (where, head[2][:20]))
        self.label = head[3] if len(head) > 3 and head[3] else None
        try:
            salt, mac, ciphertext = binascii.unhexlify(''.join(lines[1:])).split(b'\n', 2)
            self.salt = binascii.unhexlify(salt)
            self.mac = binascii.unhexlify(mac)
            self.ciphertext = binascii.unhexlify(ciphertext)
        except (binascii.Error, ValueError):
            raise InputError('%s: the vault data is damaged (not the hex layout ansible-vault writes): '
                             'truncated or edited by hand? Restore it from a backup or version control' % where) from None
        if not self.salt or len(self.mac) != 32 or not self.ciphertext or len(self.ciphertext) % 16:
            raise InputError('%s: the vault data is damaged (wrong lengths): truncated? Restore it from a backup '
                             'or version control' % where)

    def open(self, passwords, first=0):
        """Decrypt with the first of ``passwords`` (bytes) whose HMAC matches; its index, or None."""
        order = [first] + [i for i in range(len(passwords)) if i != first]
        for index in order:
            key, mac_key, counter = _derive(passwords[index], self.salt)
            if not hmac.compare_digest(_mac(mac_key, self.ciphertext), self.mac):
                continue
            decryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            try:
                padded = decryptor.update(self.ciphertext) + decryptor.finalize()
                self.plaintext = unpadder.update(padded) + unpadder.finalize()
            except ValueError:
                raise InputError('%s: the vault data is damaged (bad padding after a valid HMAC)' % self.where) from None
            self.opened_with = index
            return index
        return None

    def render(self, envelope):
        """Text that replaces ``[start, end)`` to hold ``envelope`` in this blob's place."""
        if not self.inline:
            return envelope
        lines = envelope.rstrip('\n').split('\n')
        return self.indent + (self.newline + self.indent).join(lines)


def decrypt(envelope, password, where='the vault data'):
    """Plaintext bytes of one envelope; InputError when the password does not open it."""
    if isinstance(envelope, bytes):
        envelope = envelope.decode('ascii', 'replace')
    blob = Blob(envelope, where)
    if blob.open([password]) is None:
        raise InputError('%s: the vault password does not decrypt it (HMAC mismatch): wrong password, or the data '
                         'was damaged' % where)
    return blob.plaintext


def find_blobs(data, where, inline=True):
    """``(text, blobs)`` of a file's bytes; ``(None, [])`` when it holds no vault data.

    A file starting with the vault header is one whole blob.  Otherwise, when ``inline``
    and the file is UTF-8 text mentioning ``!vault``, it is parsed as YAML and every
    ``!vault`` scalar is a blob.  Binary files are never blobs.
    """
    if data.startswith(HEADER.encode('ascii') + b';'):
        try:
            text = data.decode('ascii')
        except UnicodeDecodeError:
            raise InputError('%s: the vault file is damaged (it holds non-ASCII bytes)' % where) from None
        return text, [Blob(text, where)]
    if not inline or b'!vault' not in data:
        return None, []
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return None, []
    return text, inline_blobs(text, where)


def inline_blobs(text, where):
    """Every ``!vault`` scalar of a YAML text as a Blob, in file order."""
    # libyaml is ten times faster; its offsets are characters like Python's, except that
    # it does not count a byte-order mark, so the text is parsed without one.
    skip = 1 if text.startswith('\ufeff') else 0
    try:
        documents = list(yaml.compose_all(text[skip:], Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        # Only the position: the parser's message may quote the file's content.
        raise InputError('%s is not valid YAML%s, so its inline vault values cannot be located safely: fix it, or '
                         'leave it out with exclude' % (where, ' (line %d)' % (mark.line + 1) if mark else '')) from None
    blobs, seen = [], set()
    stack = [doc for doc in documents if doc is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag == '!vault':
            blobs.append(_inline_blob(text, node, where, skip))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
    return sorted(blobs, key=lambda blob: blob.start)


def _inline_blob(text, node, where, offset):
    begin, limit = node.start_mark.index + offset, node.end_mark.index + offset
    here = '%s line %d' % (where, text.count('\n', 0, begin) + 1)
    if not isinstance(node, yaml.ScalarNode) or node.style != '|':
        raise InputError('%s: only "!vault |" block values can be rekeyed in place; re-create this one with '
                         'ansible-vault encrypt_string' % here)
    match = _HEAD_RE.search(text, begin, limit)
    if not match:
        raise InputError('%s: this !vault value does not start with $ANSIBLE_VAULT' % here)
    indent, pos = match.group(1), match.start()
    here = '%s line %d' % (where, text.count('\n', 0, pos) + 1)
    lines, end, newline = [], pos, None
    while pos < limit:
        stop = text.find('\n', pos)
        stop = len(text) if stop < 0 else stop
        line = text[pos:stop]
        if newline is None:
            newline = '\r\n' if line.endswith('\r') else '\n'
        if line.endswith('\r'):
            line = line[:-1]
        if not line.startswith(indent) or not line[len(indent):].strip():
            break
        lines.append(line[len(indent):])
        end = pos + len(line)
        pos = stop + 1
    # The parser's view of the value must be exactly the lines found, or the layout is
    # one this code does not understand and nothing may be touched.
    if '\n'.join(lines) != node.value.rstrip('\n'):
        raise InputError('%s: unusual layout of a !vault block (blank or unevenly indented lines inside it); '
                         're-create it with ansible-vault encrypt_string' % here)
    return Blob('\n'.join(lines), here, match.start(), end, indent, newline, inline=True)


def replace(text, replacements):
    """``text`` with each ``(blob, envelope)`` of ``replacements`` written in the blob's place."""
    out, pos = [], 0
    for blob, envelope in sorted(replacements, key=lambda item: item[0].start):
        out.append(text[pos:blob.start])
        out.append(blob.render(envelope))
        pos = blob.end
    out.append(text[pos:])
    return ''.join(out)


def workers():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parallel(function, items, extra=0):
    """``[function(item) for item in items]`` on all cores (PBKDF2 and AES release the GIL).

    ``extra`` threads more than cores, for work that also waits on the disk.
    """
    items = list(items)
    count = min(len(items), workers() + extra)
    if count < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(function, items))


# Argument specs, shared by the action plugins and the documentation stubs.

REKEY_SPEC = dict(
    argument_spec=dict(
        paths=dict(type='list', elements='path', required=True),
        exclude=dict(type='list', elements='str', default=[]),
        old_vault_password_file=dict(type='path', no_log=False),
        old_vault_password=dict(type='str', no_log=True),
        new_vault_password_file=dict(type='path', no_log=False),
        new_vault_password=dict(type='str', no_log=True),
        old_vault_id=dict(type='str'),
        new_vault_id=dict(type='str'),
        rotate_password_file=dict(type='path', no_log=False),
        switch_vars_files=dict(type='bool', default=False),
        new_vault_password_kind=dict(type='str', default='urlsafe:32', no_log=False),
        backup=dict(type='bool', default=False),
    ),
    mutually_exclusive=[
        ('old_vault_password_file', 'old_vault_password', 'rotate_password_file'),
        ('new_vault_password_file', 'new_vault_password'),
        ('new_vault_password_file', 'rotate_password_file'),
    ],
)

SECRET_SPEC = dict(
    argument_spec=dict(
        path=dict(type='path', required=True),
        vault_password_file=dict(type='path', no_log=False),
        vault_password=dict(type='str', no_log=True),
        vault_id=dict(type='str'),
        values=dict(type='dict', default={}, no_log=True),
        generate=dict(type='dict', default={}),
        regenerate=dict(type='list', elements='str', default=[]),
        remove=dict(type='list', elements='str', default=[]),
        create=dict(type='bool', default=False),
        mode=dict(type='raw'),
        backup=dict(type='bool', default=False),
        return_values=dict(type='bool', default=False),
        follow=dict(type='bool', default=False),
        allow_shared_parent=dict(type='bool', default=False),
        format=dict(type='str', choices=['file', 'inline']),
    ),
    mutually_exclusive=[('vault_password_file', 'vault_password')],
)
