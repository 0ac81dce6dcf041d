# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Users of an htpasswd file (nginx ``auth_basic_user_file``, Apache ``AuthUserFile``).

Hashing:
* ``bcrypt`` through the ``bcrypt`` package, written as ``$2y$`` (what Apache tools write;
  nginx/libxcrypt accept ``$2y$``, ``$2b$`` and ``$2a$`` alike);
* ``apr_md5_crypt`` (``$apr1$``) in pure Python: a short, fixed, published algorithm, so no
  dependency is needed for the scheme Apache's ``htpasswd`` writes by default;
* ``sha256_crypt``/``sha512_crypt`` (``$5$``/``$6$``) through libpass (the maintained
  passlib fork): the SHA-crypt specification has many easy-to-get-wrong steps, and libpass
  ships a pure Python implementation that does not need the ``crypt`` module (removed in
  Python 3.13);
* ``md5_crypt`` (``$1$``): the same algorithm as ``$apr1$`` with another magic string;
* for migrating old files only (each use warns): ``des_crypt`` (libpass; 8 characters at
  most), ``ldap_sha1`` (``{SHA}``, unsalted) and ``plaintext``;
* community.general.htpasswd's (passlib's) aliases: ``portable_apache_24``, ``portable``,
  ``host_apache_24``, ``host`` and ``linux_apache_24`` are bcrypt, ``portable_apache_22``
  is ``apr_md5_crypt``.

With no ``hash_scheme`` (community.general's default, ``apr_md5_crypt``, for new users)
an existing user whose password verifies is left alone whatever its scheme, and a user
whose password changes keeps the scheme of its stored hash where it can be written.

A user is left alone when the given password verifies against its stored hash and the
hash already uses the wanted scheme: salted output is never compared.  Each user costs
at most one verification and one hash per run, done in a small thread pool (bcrypt
releases the GIL, so users are hashed in parallel on every core).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import HIDDEN, NEW, CHANGED

try:
    import bcrypt as _bcrypt_lib
except ImportError:
    _bcrypt_lib = None

SCHEMES = ('bcrypt', 'apr_md5_crypt', 'sha512_crypt', 'sha256_crypt')
# Written only to migrate old files: unsalted, or DES with its 8-character limit.
MIGRATION_SCHEMES = ('des_crypt', 'ldap_sha1', 'plaintext')
# What passlib's HtpasswdFile (community.general.htpasswd) resolves these names to while bcrypt is there.
ALIASES = {'portable_apache_24': 'bcrypt', 'portable': 'bcrypt', 'host_apache_24': 'bcrypt', 'host': 'bcrypt',
           'linux_apache_24': 'bcrypt', 'portable_apache_22': 'apr_md5_crypt'}
ALL_SCHEMES = SCHEMES + ('md5_crypt',) + MIGRATION_SCHEMES + tuple(sorted(ALIASES))
# community.general.htpasswd's default, for a drop-in; bcrypt is the recommended choice.
DEFAULT_SCHEME = 'apr_md5_crypt'
DES_MAX_BYTES = 8

# nginx runs crypt() for every request, in its event loop: the cost is paid per request and
# blocks the worker meanwhile.  Measured with nginx 1.22 / libxcrypt on one core: cost 5
# 4 ms, 8 27 ms, 9 52 ms, 10 102 ms, 11 203 ms, 12 408 ms per request.  10 is OWASP's
# minimum for bcrypt and keeps a page load with a dozen requests near a second of CPU.
DEFAULT_BCRYPT_ROUNDS = 10
# The crypt(3) default, and what Apache's htpasswd -2/-5 writes; libpass would use
# 535000/656000 rounds, about 0.3 s of nginx CPU per request.
SHA_CRYPT_ROUNDS = 5000
BCRYPT_MAX_BYTES = 72

_PASSLIB_LOCK = threading.Lock()
_PASSLIB_READY = {}
_ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
_BCRYPT_PREFIXES = ('$2y$', '$2b$', '$2a$')


# --------------------------------------------------------------------------- hashes

def identify(hashed):
    """``(scheme, bcrypt_cost)`` of a stored hash; scheme None when unknown or not writable here."""
    if hashed.startswith(_BCRYPT_PREFIXES):
        cost = hashed[4:6]
        return 'bcrypt', int(cost) if cost.isdigit() else None
    if hashed.startswith('$apr1$'):
        return 'apr_md5_crypt', None
    if hashed.startswith('$1$'):
        return 'md5_crypt', None
    if hashed.startswith('$6$'):
        return 'sha512_crypt', None
    if hashed.startswith('$5$'):
        return 'sha256_crypt', None
    if hashed.startswith('{SHA}'):
        return 'ldap_sha1', None
    if len(hashed) == 13 and all(ch in _ITOA64 for ch in hashed):
        return 'des_crypt', None
    return None, None


def canonical(scheme):
    """The scheme a ``hash_scheme`` value writes (aliases resolved; None stays None)."""
    if scheme in ALIASES:
        # passlib falls back to apr_md5_crypt when bcrypt is missing; here bcrypt is a requirement.
        return ALIASES[scheme]
    return scheme


def _need(lib, name, scheme):
    if lib is None:
        raise InputError(missing_required_lib(name, reason='for %s hashes' % scheme))
    return lib


def _sha_crypt(scheme):
    # Imported on first use: libpass takes longer to import than a whole apr1 or bcrypt run.
    # libpass finishes setting up a handler lazily, on its first hash, and that set-up is
    # not thread-safe (two users hashed at once failed in Base64Engine about once in 40
    # runs): the first use of each scheme runs one cheap hash under a lock.
    with _PASSLIB_LOCK:
        if scheme not in _PASSLIB_READY:
            try:
                from passlib import hash as handlers
            except ImportError:
                handlers = None
            handler = getattr(_need(handlers, 'libpass', scheme), scheme)
            warm = handler if scheme == 'des_crypt' else handler.using(rounds=handler.min_rounds)
            warm.verify('warm-up', warm.hash('warm-up'))
            _PASSLIB_READY[scheme] = handler
        return _PASSLIB_READY[scheme]


def _b64_24bit(value, chars):
    out = []
    for _dummy in range(chars):
        out.append(_ITOA64[value & 0x3f])
        value >>= 6
    return ''.join(out)


def apr1(password, salt, magic=b'$apr1$'):
    """Apache's MD5-based crypt (``$apr1$``), as in APR's apr_md5_encode(); ``$1$`` is md5_crypt."""
    salt = salt[:8]
    pw, salt_b = password, salt.encode('ascii')
    ctx = hashlib.md5(pw + magic + salt_b)  # noqa: S324 - the algorithm is defined on MD5
    alt = hashlib.md5(pw + salt_b + pw).digest()  # noqa: S324
    for left in range(len(pw), 0, -16):
        ctx.update(alt[:min(16, left)])
    bits = len(pw)
    while bits:
        ctx.update(b'\0' if bits & 1 else pw[:1])
        bits >>= 1
    final = ctx.digest()
    for i in range(1000):
        step = hashlib.md5(pw if i & 1 else final)  # noqa: S324
        if i % 3:
            step.update(salt_b)
        if i % 7:
            step.update(pw)
        step.update(final if i & 1 else pw)
        final = step.digest()
    encoded = ''.join(_b64_24bit(final[a] << 16 | final[b] << 8 | final[c], 4)
                      for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)))
    return '%s%s$%s%s' % (magic.decode('ascii'), salt, encoded, _b64_24bit(final[11], 2))


def hash_password(password, scheme, bcrypt_rounds=DEFAULT_BCRYPT_ROUNDS):
    """A new salted hash of ``password`` (str) in ``scheme``."""
    pw = password.encode('utf-8')
    if scheme == 'bcrypt':
        lib = _need(_bcrypt_lib, 'bcrypt', scheme)
        hashed = lib.hashpw(pw, lib.gensalt(bcrypt_rounds, prefix=b'2b')).decode('ascii')
        return '$2y$' + hashed[4:]
    if scheme in ('apr_md5_crypt', 'md5_crypt'):
        return apr1(pw, ''.join(secrets.choice(_ITOA64) for _dummy in range(8)),
                    b'$apr1$' if scheme == 'apr_md5_crypt' else b'$1$')
    if scheme == 'ldap_sha1':
        return '{SHA}' + base64.b64encode(hashlib.sha1(pw).digest()).decode('ascii')  # noqa: S324 - asked for
    if scheme == 'plaintext':
        return password
    if scheme == 'des_crypt':
        return _sha_crypt(scheme).hash(password)
    return _sha_crypt(scheme).using(rounds=SHA_CRYPT_ROUNDS).hash(password)


def verify(password, hashed):
    """True when ``password`` matches ``hashed``; False for a mismatch or a malformed hash."""
    scheme = identify(hashed)[0]
    pw = password.encode('utf-8')
    try:
        if scheme == 'bcrypt':
            lib = _need(_bcrypt_lib, 'bcrypt', scheme)
            return lib.checkpw(pw, ('$2b$' + hashed[4:]).encode('ascii'))
        if scheme in ('apr_md5_crypt', 'md5_crypt'):
            parts = hashed.split('$')
            return len(parts) == 4 and hmac.compare_digest(apr1(pw, parts[2], ('$%s$' % parts[1]).encode()), hashed)
        if scheme in ('sha512_crypt', 'sha256_crypt', 'des_crypt'):
            return _sha_crypt(scheme).verify(password, hashed)
        if scheme == 'ldap_sha1':
            digest = base64.b64encode(hashlib.sha1(pw).digest()).decode('ascii')  # noqa: S324 - read-only legacy
            return hmac.compare_digest('{SHA}' + digest, hashed)
    except (ValueError, TypeError, UnicodeEncodeError):
        return False
    return False


# --------------------------------------------------------------------------- file

class Entry(object):
    """One line: a user (``name``, ``hashed``, ``tail`` = ``:extra`` fields) or verbatim text."""
    __slots__ = ('name', 'hashed', 'tail', 'eol', 'text')

    def __init__(self, text, name=None, hashed=None, tail='', eol=''):
        self.text, self.name, self.hashed, self.tail, self.eol = text, name, hashed, tail, eol

    def render(self):
        if self.name is None:
            return self.text
        return '%s:%s%s%s' % (self.name, self.hashed, self.tail, self.eol)


def parse(text, path):
    """Entries of an htpasswd file; InputError naming the line (never its content) if corrupt."""
    entries = []
    for number, line in enumerate(text.splitlines(True), 1):
        body = line.rstrip('\r\n')
        if not body.strip() or body.lstrip().startswith('#'):
            entries.append(Entry(line))
            continue
        name, sep, rest = body.partition(':')
        if not sep or not name:
            raise InputError('line %d of %s is not "user:hash" (%s); fix or remove it by hand, the file was not changed'
                             % (number, path, 'no ":"' if not sep else 'empty user name'))
        # nginx and Apache stop the hash at the next ":"; what follows is kept as is.
        hashed, colon, extra = rest.partition(':')
        entries.append(Entry(line, name, hashed, colon + extra, line[len(body):]))
    return entries


def check_name(name):
    if not name:
        raise InputError('a user name is empty; give every user a name')
    if ':' in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InputError('user name %r contains ":" or a control character (newline, tab...); '
                         'htpasswd files cannot hold such names' % name)
    if name.lstrip().startswith('#'):
        raise InputError('user name %r starts with "#": the line would be read as a comment' % name)


def wanted_users(params):
    """The requested users as dicts ``name, password, state``, validated before any work."""
    if params.get('users') is not None:
        users = [dict(name=u['name'], password=u.get('password'), state=u.get('state') or params['state'])
                 for u in params['users']]
    else:
        users = [dict(name=params['name'], password=params.get('password'), state=params['state'])]
    if not users:
        raise InputError('users is empty; list at least one user')
    seen = set()
    for user in users:
        check_name(user['name'])
        if user['name'] in seen:
            raise InputError('user %r is listed twice; list each user once' % user['name'])
        seen.add(user['name'])
        password = user['password']
        if user['state'] == 'absent' or password is None:
            continue
        if password == '':
            raise InputError('the password of user %r is empty' % user['name'])
        if '\0' in password:
            raise InputError('the password of user %r contains a NUL character, which web servers cut the '
                             'password at' % user['name'])
        if '\n' in password or '\r' in password:
            raise InputError('the password of user %r contains a line break (newline or carriage return), which '
                             'cannot be typed at a basic-auth prompt and breaks the file on some readers; '
                             'use a password without line breaks' % user['name'])
        limit = {'bcrypt': BCRYPT_MAX_BYTES, 'des_crypt': DES_MAX_BYTES}.get(canonical(params.get('hash_scheme')))
        if limit and len(password.encode('utf-8')) > limit:
            raise InputError('the password of user %r is %d bytes long; %s uses at most %d bytes and would '
                             'ignore the rest: use a shorter password or another hash_scheme'
                             % (user['name'], len(password.encode('utf-8')), canonical(params['hash_scheme']), limit))
    return users


def _job(password, stored, scheme, rounds, hash_new):
    """New hash for one user, or None when ``stored`` (if given) already holds ``password``."""
    if stored is not None and verify(password, stored):
        return None
    return hash_password(password, scheme, rounds) if hash_new else True


def _run_parallel(calls):
    if len(calls) <= 1:
        return [fn(*args) for fn, args in calls]
    workers = min(len(calls), os.cpu_count() or 1, 8)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, *args) for fn, args in calls]
        return [f.result() for f in futures]


def plan(entries, users, scheme, bcrypt_rounds=None, only_on_create=False, check_mode=False):
    """Apply ``users`` to ``entries`` in place; returns one report dict per user.

    ``scheme`` None (no ``hash_scheme`` given) keeps any stored hash the password verifies
    against, and a changed password keeps the stored scheme unless it is a migration one;
    new users get DEFAULT_SCHEME.  ``bcrypt_rounds`` None accepts bcrypt hashes of any cost
    (files from ``htpasswd -B`` stay untouched); an explicit value also rehashes bcrypt
    hashes of another cost.
    """
    scheme = canonical(scheme)
    rounds = DEFAULT_BCRYPT_ROUNDS if bcrypt_rounds is None else bcrypt_rounds
    reports, calls, pending = [], [], []
    for user in users:
        name = user['name']
        lines = [e for e in entries if e.name == name]
        report = dict(name=name, state=user['state'], changed=False, changes=[])
        reports.append(report)
        if user['state'] == 'absent':
            report['action'] = 'removed' if lines else 'absent'
            report['changed'] = bool(lines)
            entries[:] = [e for e in entries if e.name != name]
            continue
        if lines[1:]:
            # nginx only reads the first line of a user: later ones are dead weight.
            entries[:] = [e for e in entries if e.name != name or e is lines[0]]
            report.update(changed=True, changes=['duplicates'], action='updated')
        report.setdefault('action', 'unchanged')
        if not lines:
            if user['password'] is None:
                raise InputError('user %r does not exist yet: give its password' % name)
            report.update(action='added', changed=True)
            if entries and not entries[-1].render().endswith('\n'):
                entries[-1].text += '\n'
                entries[-1].eol += '\n'
            # The placeholder stays in check mode, where nothing is hashed.
            entry = Entry('', name, NEW, '', '\n')
            entries.append(entry)
            calls.append((_job, (user['password'], None, scheme or DEFAULT_SCHEME, rounds, not check_mode)))
            pending.append((report, entry, None))
            continue
        if user['password'] is None or only_on_create:
            continue
        entry = lines[0]
        stored_scheme, cost = identify(entry.hashed)
        write = scheme
        if scheme is None:
            write = stored_scheme if stored_scheme in SCHEMES + ('md5_crypt',) else DEFAULT_SCHEME
        if scheme == 'plaintext':
            if hmac.compare_digest(entry.hashed.encode('utf-8'), user['password'].encode('utf-8')):
                continue
            change, stored = 'password' if stored_scheme is None else 'scheme', None
        elif scheme is not None and stored_scheme != scheme:
            change, stored = 'scheme', None
        elif write == 'bcrypt' == stored_scheme and bcrypt_rounds is not None and cost != bcrypt_rounds:
            change, stored = 'rounds', None
        else:
            change, stored = 'password', entry.hashed
        calls.append((_job, (user['password'], stored, write, rounds, not check_mode)))
        pending.append((report, entry, change))

    for (report, entry, change), new_hash in zip(pending, _run_parallel(calls)):
        if new_hash is None:
            continue
        if change:
            report['changes'].append(change)
            report.update(action='updated', changed=True)
        if new_hash is not True:
            entry.hashed = new_hash
    return reports


def _diff_text(entries, reports=None):
    marks = {}
    for report in reports or ():
        if report['changed'] and report['state'] == 'present':
            marks[report['name']] = NEW if report['action'] == 'added' else CHANGED
    return ''.join('%s:%s\n' % (e.name, marks.get(e.name, HIDDEN)) for e in entries if e.name is not None)


_MIGRATION_RISK = {
    'des_crypt': 'DES crypt uses only the first 8 characters and is cracked in hours',
    'ldap_sha1': 'an unsalted SHA-1 is cracked by a fast offline search',
    'plaintext': 'the file holds the passwords themselves',
}


def scheme_warnings(scheme):
    risk = _MIGRATION_RISK.get(canonical(scheme))
    if risk is None:
        return []
    return ['hash_scheme %s is meant for migrating old files only: %s. Use hash_scheme: bcrypt (recommended) '
            'or apr_md5_crypt' % (scheme, risk)]


def manage(params, check_mode=False, want_diff=False):
    """Bring the file at ``params['path']`` to the wanted users; returns the module result.

    Every check (users, rounds, mode syntax, symlink, shared parent) runs before the file is
    read; the read-modify-write runs under ``_atomic.file_lock`` (not in check mode, which
    writes nothing, not even a lock file).
    """
    users = wanted_users(params)
    bcrypt_rounds = params.get('bcrypt_rounds')
    if bcrypt_rounds is not None and not 4 <= bcrypt_rounds <= 31:
        raise InputError('bcrypt_rounds must be between 4 and 31 (got %d)' % bcrypt_rounds)
    _atomic.parse_mode(params.get('mode'), 0o600)
    with _atomic.Target(params['path'], params.get('follow', False), params.get('allow_shared_parent', False)) as target:
        if check_mode:
            return _manage(target, params, users, bcrypt_rounds, check_mode, want_diff)
        with target.lock():
            return _manage(target, params, users, bcrypt_rounds, check_mode, want_diff)


def _manage(target, params, users, bcrypt_rounds, check_mode, want_diff):
    path = target.path
    raw = target.read()
    try:
        text = raw.decode('utf-8') if raw is not None else ''
    except UnicodeDecodeError:
        raise InputError('%s is not UTF-8 text; convert it (for example with iconv) or remove the offending '
                         'lines, the file was not changed' % path) from None
    entries = parse(text, path)
    before = _diff_text(entries)
    if raw is None and any(u['state'] == 'present' for u in users) and not params.get('create', True):
        raise InputError('%s does not exist and create is false; create the file or set create: true' % path)

    only_on_create = params.get('update_password') == 'on_create'  # noqa: S105 - a choice, not a password
    reports = plan(entries, users, params.get('hash_scheme'), bcrypt_rounds, only_on_create, check_mode)
    result = dict(changed=False, path=path, users=reports,
                  bcrypt_rounds=DEFAULT_BCRYPT_ROUNDS if bcrypt_rounds is None else bcrypt_rounds,
                  warnings=scheme_warnings(params.get('hash_scheme')))
    if params.get('users') is None:
        result['user'] = reports[0]
    counts = {}
    for report in reports:
        if report['changed']:
            counts[report['action']] = counts.get(report['action'], 0) + 1
    result['msg'] = ', '.join('%s %d' % (k, v) for k, v in sorted(counts.items())) or 'no user changed'
    if raw is None and not any(r['changed'] for r in reports):
        return result
    data = ''.join(e.render() for e in entries).encode('utf-8')
    if check_mode and raw is None:
        changed, backup_file = True, None
    else:
        # Octal and symbolic modes alike are set on the temp file before the data lands.
        changed, backup_file = target.write_if_changed(
            data, mode=params.get('mode'), owner=params.get('owner'), group=params.get('group'),
            backup=params.get('backup'), check_mode=check_mode)
    # In check mode nothing is hashed, so the rendered text cannot show every change.
    changed = changed or any(r['changed'] for r in reports)
    result['changed'] = changed
    if backup_file:
        result['backup_file'] = backup_file
    if want_diff:
        result['diff'] = dict(before=before, after=_diff_text(entries, reports),
                              before_header=path, after_header=path)
    return result
