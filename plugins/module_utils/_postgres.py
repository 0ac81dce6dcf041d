# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL role passwords set as SCRAM-SHA-256 verifiers computed on the client.

The server only ever receives ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>``
(RFC 5802 / RFC 7677), the form ``psql``'s ``\\password`` sends, so the plaintext never
reaches the server, its statement log or ``pg_stat_activity``.

Whether a role already has a password is decided by verifying the password against the
stored verifier (``pg_authid``, superusers only), or, for other login users, by logging
in as the role with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stringprep
import traceback
import unicodedata

from ansible_collections.turnkey.secrets.plugins.module_utils._connection import POSTGRES
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import CHANGED, HIDDEN, UNCHANGED, redact

try:
    import psycopg
    from psycopg import sql
except ImportError:
    psycopg = sql = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None

SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations in 16+)
SALT_LEN = 16
APPLICATION_NAME = 'turnkey.secrets.postgres_password'
_VERIFIER = re.compile(r'^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$')
_PROHIBITED = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
               stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
               stringprep.in_table_c9, stringprep.in_table_a1)


# ---------------------------------------------------------------- SCRAM-SHA-256

# How the module reaches the server; shared with the rotation's postgres kinds, which pass
# these through module_defaults.
# The names community.postgresql uses are accepted too (aliases), so its tasks paste in.
CONNECTION_SPEC = POSTGRES


def saslprep(password):
    """The string PostgreSQL and libpq hash for ``password``.

    SASLprep (RFC 4013) as PostgreSQL applies it: ASCII is used as is, and a password
    SASLprep rejects (prohibited or unassigned characters, bad bidi) is used unchanged
    rather than refused, so such passwords keep working.
    """
    if password.isascii():
        return password
    mapped = ''.join(' ' if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    if not mapped:
        return password
    prepared = unicodedata.normalize('NFKC', mapped)
    if any(table(c) for c in prepared for table in _PROHIBITED):
        return password
    if any(stringprep.in_table_d1(c) for c in prepared):
        if any(stringprep.in_table_d2(c) for c in prepared) or not (
                stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            return password
    return prepared


def _keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac('sha256', saslprep(password).encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for ``password``."""
    salt = os.urandom(SALT_LEN) if salt is None else salt
    stored_key, server_key = _keys(password, salt, iterations)
    salt_b64, stored_b64, server_b64 = (base64.b64encode(raw).decode('ascii') for raw in (salt, stored_key, server_key))
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (iterations, salt_b64, stored_b64, server_b64)


def verify_scram(password, verifier):
    """True when ``verifier`` (as stored in ``pg_authid``) was made from ``password``."""
    match = _VERIFIER.match(verifier or '')
    if not match:
        return False
    iterations = int(match.group(1))
    if not 1 <= iterations <= 10000000:
        return False
    try:
        salt, stored, server = (base64.b64decode(match.group(i), validate=True) for i in (2, 3, 4))
    except ValueError:
        return False
    stored_key, server_key = _keys(password, salt, iterations)
    return hmac.compare_digest(stored_key, stored) & hmac.compare_digest(server_key, server)


def verify_md5(password, role, stored):
    """True when ``stored`` is the legacy ``md5`` hash of ``password`` for ``role``."""
    expected = 'md5' + hashlib.md5((password + role).encode('utf-8')).hexdigest()  # noqa: S324 - PostgreSQL's format
    return hmac.compare_digest(expected, stored or '')


# ---------------------------------------------------------------- connections

def _clean(exc, secrets):
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return redact(text, secrets)


# SQLSTATE classes whose primary message names objects, never values: integrity constraints,
# transaction rollback, insufficient resources, connection, operator intervention, object
# state, invalid transaction state; and 42501 (insufficient privilege).
_PLAIN_SQLSTATES = ('23', '40', '53', '08', '57', '55', '25', '42501')


def _clean_row_error(exc, secrets):
    """``_clean`` for errors on a table's rows, which must not quote a value of the row: a
    DETAIL line, a trigger's RAISE or an input syntax error can."""
    state = exc.sqlstate or ''
    if state.startswith(_PLAIN_SQLSTATES) and exc.diag.message_primary:
        return redact(exc.diag.message_primary, secrets)
    named = ['%s %s' % (what, getattr(exc.diag, what + '_name')) for what in ('constraint', 'table', 'column')
             if getattr(exc.diag, what + '_name', None)]
    return redact('%s%s' % (type(exc).__name__, ' (%s)' % ', '.join(named) if named else ''), secrets)


def _host(params):
    """libpq's host: a name, an address or a socket directory; empty means libpq's default socket."""
    host = params.get('login_host') or ''
    # As community.postgresql: the socket is used when the host is empty or localhost.
    if host in ('', 'localhost') and params.get('login_unix_socket'):
        return params['login_unix_socket']
    return host


def _endpoint(params):
    host = _host(params)
    if not host:
        return "libpq's default Unix socket for port %s" % (params.get('login_port') or 5432)
    return host if host.startswith('/') else '%s:%s' % (host, params.get('login_port') or 5432)


def connect(params, user, password, dbname=None):
    """A psycopg connection (autocommit); the password goes to libpq in memory only."""
    kwargs = dict(host=_host(params), port=params.get('login_port') or 5432, user=user,
                  dbname=dbname or params.get('login_db') or 'postgres', sslmode=params.get('ssl_mode') or 'prefer',
                  connect_timeout=params.get('connect_timeout') or 10, application_name=APPLICATION_NAME,
                  autocommit=True)
    if password:
        kwargs['password'] = password
    for option, keyword in (('ca_cert', 'sslrootcert'), ('ssl_cert', 'sslcert'), ('ssl_key', 'sslkey')):
        if params.get(option):
            kwargs[keyword] = params[option]
    return psycopg.connect(**kwargs)


def _admin(params, secrets, connector):
    user = params.get('login_user') or 'postgres'
    try:
        conn = connector(params, user, params.get('login_password'))
    except psycopg.Error as exc:
        raise TurnkeyError('cannot connect to PostgreSQL at %s (database %s) as %s: %s; nothing was changed' % (
            _endpoint(params), params.get('login_db') or 'postgres', user, _clean(exc, secrets))) from None
    if params.get('session_role'):
        try:
            conn.execute(sql.SQL('SET ROLE {}').format(sql.Identifier(params['session_role'])))
        except psycopg.Error as exc:
            conn.close()
            raise TurnkeyError('login_user %s cannot switch to session_role %s (%s): it must be a member of that '
                               'role. Nothing was changed' % (user, params['session_role'], _clean(exc, secrets))) from None
    return conn


def try_login(params, role, password, secrets, connector=connect):
    """``None`` when ``role`` logs in with ``password``, else the server's reason."""
    try:
        connector(params, role, password, params.get('test_login_db')).close()
    except psycopg.Error as exc:
        return _clean(exc, secrets)
    return None


# ---------------------------------------------------------------- the module's work

def _items(params):
    expires = params.get('expires')
    if params.get('roles') is not None:
        items = [dict(role=i.get('role'), password=i.get('password'),
                      expires=expires if i.get('expires') is None else i['expires']) for i in params['roles']]
        if not items:
            raise InputError('roles is empty: give at least one {role, password} item')
    else:
        items = [dict(role=params.get('role'), password=params.get('password'), expires=expires)]
    seen = set()
    for index, item in enumerate(items):
        where = 'roles[%d]' % index if params.get('roles') is not None else 'role'
        if not item['role']:
            raise InputError('%s: the role name is empty' % where)
        if not item['password']:
            raise InputError('%s: the password of role %s is empty; PostgreSQL cannot log in with an empty '
                             'password' % (where, item['role']))
        if '\x00' in item['password']:
            raise InputError('%s: the password of role %s contains a NUL character, which libpq cannot send'
                             % (where, item['role']))
        if item['role'] in seen:
            raise InputError('role %s is listed twice' % item['role'])
        seen.add(item['role'])
    return items


def _verify_logins(params, items, secrets, connector):
    failed = []
    for item in items:
        reason = try_login(params, item['role'], item['password'], secrets, connector)
        if reason:
            failed.append('%s (%s)' % (item['role'], reason))
    return failed


def manage(params, check_mode=False, connector=None, warn=None):
    """Set (state=present) or test (state=verified) role passwords; returns the result dict."""
    connector = connector or connect
    warn = warn or (lambda msg: None)
    items = _items(params)
    secrets = [i['password'] for i in items] + [params.get('login_password')]
    state = params.get('state') or 'present'
    if state == 'verified':
        failed = _verify_logins(params, items, secrets, connector)
        if failed:
            raise TurnkeyError('login with the given password failed for: %s' % '; '.join(failed),
                               roles=[dict(role=i['role'], changed=False) for i in items])
        results = [dict(role=i['role'], changed=False, checked_with='login', login_tested=True) for i in items]
        return _single(params, dict(changed=False, roles=results))

    conn = _admin(params, secrets, connector)
    try:
        return _apply(params, items, conn, check_mode, secrets, connector, warn)
    except psycopg.Error as exc:
        raise TurnkeyError('PostgreSQL at %s failed: %s' % (_endpoint(params), _clean(exc, secrets))) from None
    finally:
        conn.close()


def _apply(params, items, conn, check_mode, secrets, connector, warn):
    names = [i['role'] for i in items]
    rows = conn.execute('SELECT rolname, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)', (names,)).fetchall()
    can_login = dict(rows)
    missing = [n for n in names if n not in can_login]
    if missing:
        raise TurnkeyError('role(s) %s do not exist on %s: create them first (CREATE ROLE ... LOGIN); this module only '
                           'sets passwords. Nothing was changed' % (', '.join(missing), _endpoint(params)))
    if params.get('test_login'):
        no_login = [n for n in names if not can_login[n]]
        if no_login:
            raise TurnkeyError('test_login is true but role(s) %s have NOLOGIN and can never log in: grant LOGIN or '
                               'set test_login=false. Nothing was changed' % ', '.join(no_login))

    _read_expiry(conn, items)
    try:
        stored = dict(conn.execute('SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = ANY(%s)',
                                   (names,)).fetchall())
        checked_with = 'pg_authid'
    except psycopg.errors.InsufficientPrivilege:
        stored = None
        checked_with = 'login'

    results = []
    for item in items:
        role, password = item['role'], item['password']
        if stored is not None:
            current = stored.get(role)
            item['previous'] = current
            item['changed'] = not verify_scram(password, current)
            if item['changed'] and current and verify_md5(password, role, current):
                item['upgrade'] = 'md5'
        else:
            # Without pg_authid the only proof is a login; a role pg_hba.conf keeps out (or
            # a NOLOGIN role) therefore always reads as changed.
            item['changed'] = try_login(params, role, password, secrets, connector) is not None
            if item['changed'] and not can_login[role]:
                warn('role %s has NOLOGIN: without superuser rights (pg_authid) its password cannot be verified, '
                     'so it is set on every run' % role)
        results.append(dict(role=role, changed=item['changed'] or item['expires_changed'], checked_with=checked_with,
                            login_tested=False))
        if item.get('upgrade'):
            results[-1]['upgraded_from'] = item['upgrade']
        if item['expires'] is not None:
            results[-1]['expires_changed'] = item['expires_changed']

    changed_items = [i for i in items if i['changed']]
    if changed_items and not check_mode:
        _set_verifiers(params, conn, changed_items, secrets)

    if params.get('test_login'):
        # In check mode a role still holding its old password cannot be tested yet.
        testable = [index for index, item in enumerate(items) if not (check_mode and item['changed'])]
        failed = _verify_logins(params, [items[index] for index in testable], secrets, connector)
        if failed:
            _fail_after_test(params, conn, changed_items if not check_mode else [], stored is not None, failed, secrets)
        for index in testable:
            results[index]['login_tested'] = True

    # After the test logins: an expiry in the past must not make a good password look broken.
    expiring = [i for i in items if i['expires_changed']]
    if expiring and not check_mode:
        with conn.transaction():
            for item in expiring:
                conn.execute(sql.SQL('ALTER ROLE {} VALID UNTIL {}').format(
                    sql.Identifier(item['role']), sql.Literal(item['expires'])))

    diff = dict(before={}, after={})
    for item in items:
        diff['before'][item['role']] = dict(password=HIDDEN if item['changed'] else UNCHANGED)
        diff['after'][item['role']] = dict(password=CHANGED if item['changed'] else UNCHANGED)
        if item['expires'] is not None:
            # Expiry dates are not secret: the diff shows them.
            diff['before'][item['role']]['expires'] = item['expires_before']
            diff['after'][item['role']]['expires'] = item['expires'] if item['expires_changed'] else item['expires_before']
    return _single(params, dict(changed=bool(changed_items or expiring), roles=results, checked_with=checked_with,
                                diff=diff))


def _read_expiry(conn, items):
    """Compare each wanted ``expires`` with the role's VALID UNTIL, parsed by the server itself."""
    for item in items:
        item['expires_changed'] = False
        if item['expires'] is None:
            continue
        try:
            before, same = conn.execute(
                'SELECT rolvaliduntil::text, rolvaliduntil IS NOT DISTINCT FROM %s::timestamptz '
                'FROM pg_catalog.pg_roles WHERE rolname = %s', (item['expires'], item['role'])).fetchone()
        except psycopg.errors.DataError as exc:
            raise InputError('expires of role %s: PostgreSQL cannot read %r as a date and time (%s); give for example '
                             '"2027-06-30" or "infinity". Nothing was changed'
                             % (item['role'], item['expires'], ' '.join(str(exc).split()))) from None
        item['expires_before'] = before or 'never'
        item['expires_changed'] = not same


def _single(params, result):
    if params.get('roles') is None:
        result['role'] = result['roles'][0]
    return result


def _set_verifiers(params, conn, items, secrets):
    try:
        # One transaction: either every role gets its new verifier or none does.
        with conn.transaction():
            for item in items:
                conn.execute(sql.SQL('ALTER ROLE {} PASSWORD {}').format(
                    sql.Identifier(item['role']), sql.Literal(scram_verifier(item['password']))))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise TurnkeyError('login_user %s may not change these passwords (%s): use a superuser or a role with '
                           'CREATEROLE. Nothing was changed'
                           % (params.get('login_user') or 'postgres', _clean(exc, secrets))) from None
    except psycopg.Error as exc:
        raise TurnkeyError('setting the passwords failed: %s. Nothing was changed' % _clean(exc, secrets)) from None


def _fail_after_test(params, conn, changed_items, restorable, failed, secrets):
    msg = 'login with the new password failed for: %s' % '; '.join(failed)
    if not changed_items:
        raise TurnkeyError(msg + '. Nothing was changed')
    if not restorable:
        raise TurnkeyError(msg + '. The new password is set but the previous verifier could not be read (login_user '
                           'is not a superuser), so it was not restored: put the previous password back (the role\'s '
                           'rollback step) or fix pg_hba.conf')
    try:
        with conn.transaction():
            for item in changed_items:
                # The stored verifier (or md5 hash) goes back as it was; PostgreSQL recognises it.
                previous = sql.Literal(item['previous']) if item['previous'] else sql.SQL('NULL')
                conn.execute(sql.SQL('ALTER ROLE {} PASSWORD {}').format(sql.Identifier(item['role']), previous))
    except psycopg.Error as exc:
        raise TurnkeyError(msg + '. Restoring the previous passwords failed too: %s' % _clean(exc, secrets)) from None
    raise TurnkeyError(msg + '. The previous passwords were restored')
