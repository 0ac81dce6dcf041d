# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis ACL user passwords, set as SHA-256 hashes so the plaintext never reaches the server.

Redis keeps ACL passwords as unsalted SHA-256 (``ACL GETUSER`` lists them); that is
Redis's design, which this module only reads. A user may hold several passwords, which
is what makes a zero-downtime rotation possible: add the new one beside the old, deploy
it to every client, then retire the old one.

Every change is one ``ACL SETUSER <user> resetpass #<sha256> ...`` with the exact wanted
list, so the password list is replaced atomically and only hashes travel.
"""

from __future__ import annotations

import hashlib
import os
import stat
import traceback

from ansible_collections.turnkey.secrets.plugins.module_utils._connection import REDIS
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import NEW, REMOVED, UNCHANGED, redact

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:
    redis = NoBackoff = Retry = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None

PERSIST_CHOICES = ('auto', 'acl_save', 'config_rewrite', 'none')


def password_hash(password):
    """The form Redis stores and accepts with ``#``: SHA-256 of the UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(password.encode('utf-8')).hexdigest()


# Connection options of redis_password; documented in doc_fragments/redis.py.
CONNECTION_SPEC = REDIS


def _clean(exc, secrets):
    return redact(' '.join(str(exc).split()) or type(exc).__name__, secrets)


def _endpoint(params):
    return '%s:%s' % (params.get('login_host') or 'localhost', params.get('login_port') or 6379)


def connect(params, user, password):
    """One dedicated connection (a pool could reconnect later with a password just retired)."""
    kwargs = dict(host=params.get('login_host') or 'localhost', port=params.get('login_port') or 6379,
                  username=user or None, password=password or None, decode_responses=True,
                  socket_timeout=params.get('connect_timeout') or 10,
                  socket_connect_timeout=params.get('connect_timeout') or 10, single_connection_client=True,
                  # redis-py retries with backoff by default: seconds per refused connection, and
                  # a retried transaction is not what the caller asked for.
                  retry=Retry(NoBackoff(), 0))
    if params.get('tls'):
        validate = params.get('validate_certs', True)
        kwargs.update(ssl=True, ssl_cert_reqs='required' if validate else 'none', ssl_check_hostname=validate,
                      ssl_ca_certs=params.get('ca_certs'), ssl_certfile=params.get('client_cert_file'),
                      ssl_keyfile=params.get('client_key_file'))
    client = redis.Redis(**kwargs)
    client.ping()
    return client


def try_login(params, user, password, secrets, connector=connect):
    """``None`` when ``user`` authenticates with ``password``, else the server's reason."""
    try:
        connector(params, user, password).close()
    except redis.RedisError as exc:
        return _clean(exc, secrets)
    return None


# ---------------------------------------------------------------- input

def _items(params):
    keys = ('password', 'state', 'keep_previous', 'retire_previous', 'previous_password')
    if params.get('users') is not None:
        items = []
        for raw in params['users']:
            item = dict(user=raw.get('user'))
            for key in keys:
                item[key] = raw.get(key) if raw.get(key) is not None else params.get(key)
            items.append(item)
        if not items:
            raise InputError('users is empty: give at least one {user, password} item')
    else:
        items = [dict(user=params.get('user') or 'default', **{k: params.get(k) for k in keys})]
    seen = set()
    for index, item in enumerate(items):
        where = 'users[%d]' % index if params.get('users') is not None else 'user'
        item['state'] = item['state'] or 'present'
        if not item['user']:
            raise InputError('%s: the user name is empty' % where)
        if not item['password']:
            raise InputError('%s: the password of user %s is empty' % (where, item['user']))
        if item['keep_previous'] and item['retire_previous']:
            raise InputError('%s: keep_previous and retire_previous exclude each other (set adds beside the old '
                             'password, finish retires it)' % where)
        if item['previous_password'] and not item['keep_previous']:
            raise InputError('%s: previous_password needs keep_previous=true (it names the one old password to '
                             'keep valid)' % where)
        if item['state'] != 'present' and (item['keep_previous'] or item['retire_previous'] or item['previous_password']):
            raise InputError('%s: keep_previous, retire_previous and previous_password apply to state=present only' % where)
        if item['user'] in seen:
            raise InputError('user %s is listed twice' % item['user'])
        seen.add(item['user'])
    return items


def _wanted(item, current):
    """The exact list of hashes the user should hold, new password first."""
    new = password_hash(item['password'])
    if item['state'] == 'absent':
        return [h for h in current if h != new]
    if not item['keep_previous']:
        return [new]
    if item['previous_password']:
        # Kept only while the user still has it: a retired password is never brought back.
        previous = password_hash(item['previous_password'])
        return [new] + [h for h in current if h == previous and h != new]
    return [new] + [h for h in current if h != new]


# ---------------------------------------------------------------- the module's work

def _check_client_certificate(params):
    cert, key = params.get('client_cert_file'), params.get('client_key_file')
    if (cert or key) and not params.get('tls'):
        raise InputError('client_cert_file and client_key_file are sent in the TLS handshake: set tls: true')
    if key and not cert:
        raise InputError('client_key_file is the key of client_cert_file: give client_cert_file too')
    for option, path in (('client_cert_file', cert), ('client_key_file', key)):
        if path and not os.access(path, os.R_OK):
            raise InputError('%s %s cannot be read on this host' % (option, path))


def manage(params, check_mode=False, connector=None, warn=None):
    """Apply the wanted passwords (state present/absent) or test logins (verified)."""
    connector = connector or connect
    warn = warn or (lambda msg: None)
    _check_client_certificate(params)
    items = _items(params)
    secrets = [i['password'] for i in items] + [i['previous_password'] for i in items] + [params.get('login_password')]
    if any(i['state'] == 'verified' for i in items):
        if any(i['state'] != 'verified' for i in items):
            raise InputError('state=verified cannot be mixed with present/absent items in one call')
        failed = ['%s (%s)' % (i['user'], reason) for i in items
                  for reason in [try_login(params, i['user'], i['password'], secrets, connector)] if reason]
        if failed:
            raise TurnkeyError('login with the given password failed for: %s' % '; '.join(failed))
        verified = [dict(user=i['user'], changed=False, action='verified', login_tested=True) for i in items]
        return _single(params, dict(changed=False, users=verified))

    try:
        client = connector(params, params.get('login_user'), params.get('login_password'))
    except redis.RedisError as exc:
        raise TurnkeyError('cannot connect to Redis at %s as %s: %s; nothing was changed' % (
            _endpoint(params), params.get('login_user') or 'default', _clean(exc, secrets))) from None
    try:
        return _apply(params, items, client, check_mode, secrets, connector, warn)
    except redis.RedisError as exc:
        raise TurnkeyError('Redis at %s failed: %s' % (_endpoint(params), _clean(exc, secrets))) from None
    finally:
        client.close()


def _noperm(exc):
    return 'NOPERM' in str(exc) or 'no permissions' in str(exc)


def _read_user(client, user):
    try:
        info = client.acl_getuser(user)
    except redis.ResponseError as exc:
        if _noperm(exc):
            raise TurnkeyError('login_user may not read ACL users (%s): it needs +acl (or +@admin). Nothing was '
                               'changed' % ' '.join(str(exc).split())) from None
        raise
    if not info:
        return None
    return dict(passwords=list(info.get('passwords') or []), flags=list(info.get('flags') or []))


def _config_get(client, name):
    """A config value, or ``None`` when login_user may not read it."""
    try:
        return (client.config_get(name) or {}).get(name, '')
    except redis.ResponseError as exc:
        if _noperm(exc):
            return None
        raise


def _persist_mode(params, client, warn):
    """Resolve ``auto`` and check the mode can work, before anything is changed."""
    mode = params.get('persist') or 'auto'
    if mode == 'none':
        return mode
    aclfile = _config_get(client, 'aclfile')
    try:
        config_file = (client.info('server') or {}).get('config_file', '')
    except redis.ResponseError:
        config_file = ''
    if mode == 'auto':
        if aclfile:
            return 'acl_save'
        if config_file:
            return 'config_rewrite'
        if aclfile is None:
            raise InputError('persist=auto cannot tell how this server stores its users (login_user may not run '
                             'CONFIG GET): set persist to acl_save, config_rewrite or none. Nothing was changed')
        warn('Redis at %s has neither an ACL file nor a config file: the passwords are set in memory only and are '
             'lost on restart' % _endpoint(params))
        return 'none'
    if mode == 'acl_save' and aclfile == '':
        raise InputError('persist=acl_save needs an ACL file, and Redis at %s has none (no aclfile directive): use '
                         'persist=config_rewrite to store users in redis.conf. Nothing was changed' % _endpoint(params))
    if mode == 'config_rewrite':
        if aclfile:
            raise InputError('Redis at %s keeps its users in an ACL file (%s), which CONFIG REWRITE does not write: '
                             'use persist=acl_save. Nothing was changed' % (_endpoint(params), aclfile))
        if not config_file:
            raise InputError('persist=config_rewrite needs a config file, and Redis at %s was started without one: '
                             'use persist=none or start it from a redis.conf. Nothing was changed' % _endpoint(params))
    return mode


_LOCAL_HOSTS = ('', 'localhost', '127.0.0.1', '::1')


def _acl_file_attrs(params, client):
    """``(path, stat)`` of the server's ACL file when this host can see it, else ``(path or None, None)``.

    ``ACL SAVE`` writes a new file with the server's umask (0644 for redis-server's default),
    owned by the server's user, in place of the 0600 one: the module puts the previous mode
    and owner back afterwards.  Only for a server on this host (loopback or a local socket).
    """
    aclfile = _config_get(client, 'aclfile')
    if not aclfile:
        return None, None
    if not os.path.isabs(aclfile):
        base = _config_get(client, 'dir')
        if not base:
            return aclfile, None
        aclfile = os.path.join(base, aclfile)
    if str(params.get('login_host') or '') not in _LOCAL_HOSTS and not str(params.get('login_host')).startswith('/'):
        return aclfile, None
    try:
        st = os.lstat(aclfile)
    except OSError:
        return aclfile, None
    if not stat.S_ISREG(st.st_mode):
        return aclfile, None
    return aclfile, st


def _restore_acl_file_attrs(params, seen, warn):
    path, before = seen
    if path is None:
        return None
    if before is None:
        warn('ACL SAVE rewrote %s with the Redis server\'s umask (often 0644, readable by every local user): '
             'the module cannot see that file from here (remote server or no permission), so check its mode '
             'and owner on the Redis host (chmod 0600)' % path)
        return dict(path=path, restored=False)
    want_mode = stat.S_IMODE(before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        warn('ACL SAVE rewrote %s and the module cannot open it to restore mode %04o: %s'
             % (path, want_mode, exc.strerror or exc))
        return dict(path=path, restored=False)
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (before.st_uid, before.st_gid):
            os.fchown(fd, before.st_uid, before.st_gid)
        if stat.S_IMODE(st.st_mode) != want_mode:
            os.fchmod(fd, want_mode)
    except OSError as exc:
        warn('ACL SAVE rewrote %s with mode %04o and the module could not restore mode %04o and owner %d:%d: %s'
             % (path, stat.S_IMODE(st.st_mode), want_mode, before.st_uid, before.st_gid, exc.strerror or exc))
        return dict(path=path, restored=False)
    finally:
        os.close(fd)
    return dict(path=path, restored=True, mode='%04o' % want_mode)


def _apply(params, items, client, check_mode, secrets, connector, warn):
    users = {}
    for item in items:
        users[item['user']] = _read_user(client, item['user'])
    missing = [u for u, info in users.items() if info is None]
    if missing:
        raise TurnkeyError('ACL user(s) %s do not exist on %s: create them with their permissions first (ACL SETUSER '
                           '<user> on ~<keys> +<commands>); this module only manages passwords. Nothing was changed'
                           % (', '.join(missing), _endpoint(params)))
    if params.get('test_login'):
        disabled = [i['user'] for i in items if i['state'] == 'present' and 'on' not in users[i['user']]['flags']]
        if disabled:
            raise TurnkeyError('test_login is true but ACL user(s) %s are disabled (off) and can never log in: enable '
                               'them (ACL SETUSER <user> on) or set test_login=false. Nothing was changed'
                               % ', '.join(disabled))

    results, changes, diff = [], [], dict(before={}, after={})
    for item in items:
        info = users[item['user']]
        current = info['passwords']
        wanted = _wanted(item, current)
        if not wanted:
            raise InputError('removing the password of user %s would leave it no password: set another one first. '
                             'Nothing was changed' % item['user'])
        nopass = 'nopass' in info['flags']
        changed = set(wanted) != set(current) or nopass
        if changed:
            changes.append(dict(user=item['user'], wanted=wanted, current=current, nopass=nopass))
            if item['previous_password'] and len(wanted) == 1 and item['password'] != item['previous_password']:
                warn('previous_password is not a password of user %s (already retired?): only the new password '
                     'is valid now' % item['user'])
        action = 'unchanged'
        if changed and set(wanted) < set(current) and not nopass:
            action = 'removed' if item['state'] == 'absent' else 'retired'
        elif changed:
            action = 'added' if set(current) <= set(wanted) and not nopass else 'replaced'
        results.append(dict(user=item['user'], changed=changed, action=action, passwords=len(wanted),
                            enabled='on' in info['flags'], login_tested=False))
        diff['before'][item['user']] = dict(passwords=[UNCHANGED if h in wanted else REMOVED for h in current],
                                            nopass=nopass)
        diff['after'][item['user']] = dict(passwords=[UNCHANGED if h in current else NEW for h in wanted], nopass=False)

    persist = None
    if changes:
        # Read-only, so check mode also reports a persist mode that cannot work.
        persist = _persist_mode(params, client, warn)
    if changes and not check_mode:
        _set(client, changes, clear_requirepass=any(c['user'] == 'default' for c in changes))

    if params.get('test_login'):
        testable = [index for index, item in enumerate(items)
                    if item['state'] == 'present' and not (check_mode and results[index]['changed'])]
        failed = ['%s (%s)' % (items[index]['user'], reason) for index in testable
                  for reason in [try_login(params, items[index]['user'], items[index]['password'], secrets, connector)]
                  if reason]
        if failed:
            msg = 'login with the new password failed for: %s' % '; '.join(failed)
            if not changes or check_mode:
                raise TurnkeyError(msg + '. Nothing was changed')
            _restore(client, changes, msg, secrets)
        for index in testable:
            results[index]['login_tested'] = True

    acl_file = None
    if persist and persist != 'none' and not check_mode:
        seen = _acl_file_attrs(params, client) if persist == 'acl_save' else None
        try:
            client.execute_command('ACL SAVE' if persist == 'acl_save' else 'CONFIG REWRITE')
        except redis.RedisError as exc:
            _restore(client, changes, 'persisting with %s failed: %s' % (persist, _clean(exc, secrets)), secrets)
        if persist == 'acl_save':
            acl_file = _restore_acl_file_attrs(params, seen, warn)
    result = dict(changed=bool(changes), users=results, diff=diff)
    if persist and not check_mode:
        result['persisted'] = persist
    if acl_file:
        result['acl_file'] = acl_file
    return _single(params, result)


def _set(client, changes, clear_requirepass):
    pipe = client.pipeline(transaction=True)
    if clear_requirepass and _config_get(client, 'requirepass'):
        # requirepass keeps the plaintext it was given (CONFIG GET shows it and CONFIG REWRITE
        # writes it back to redis.conf) while the default user's passwords change. Clearing it
        # sets the default user to nopass, so it happens inside the same MULTI as the ACL
        # SETUSER that follows: no client ever sees the user without a password.
        pipe.execute_command('CONFIG', 'SET', 'requirepass', '')
    for change in changes:
        pipe.execute_command('ACL', 'SETUSER', change['user'], 'resetpass', *['#' + h for h in change['wanted']])
    pipe.execute()


def _restore(client, changes, msg, secrets):
    try:
        pipe = client.pipeline(transaction=True)
        for change in changes:
            rules = ['#' + h for h in change['current']] + (['nopass'] if change['nopass'] else [])
            pipe.execute_command('ACL', 'SETUSER', change['user'], 'resetpass', *rules)
        pipe.execute()
    except redis.RedisError as exc:
        raise TurnkeyError('%s; restoring the previous passwords failed too: %s' % (msg, _clean(exc, secrets))) from None
    raise TurnkeyError(msg + '; the previous passwords were restored')


def _single(params, result):
    if params.get('users') is None:
        result['user'] = result['users'][0]
    return result
