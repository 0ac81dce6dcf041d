# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openbao store: an environment's secrets in a KV version 2 mount of OpenBao or
HashiCorp Vault (same API, client ``hvac``).

Layout (fixed, other tools read it): catalogue secret ``<name>`` is the KV secret
``<mount>/<prefix>/<name>``; data key ``value`` is the current value (vault variable
``vault_<name>``), other data keys are the kind's kept values (``vault_<name>_<key>``:
``fallbacks``, ``previous``, ...); ``custom_metadata`` holds ``rotated_at`` and
``max_age_days``.  Every change is one new KV version, so the previous value stays
readable as the version before (``bao kv rollback``).

The journal is the KV secret ``<prefix>/_turnkey/journal``, written with check-and-set
(``cas``) at every transition: pending values live there before anything changes.  A
transition that also changes values first writes the journal with those values under
``applying`` (the commit point: one CAS write), then each secret with CAS on the version
this run read, then the journal without ``applying``.  A run cut off in between leaves
``applying``, which the next load overlays on the values and the next save writes first:
every step stays decided by the journal alone.  A concurrent writer is detected (the CAS
fails, the run stops without writing that secret), but past the commit point the values
are decided, so the next run writes them over that edit (a new version; the edit stays
in the history) and the error says so.

The lock is the KV secret ``<prefix>/_turnkey/lock``, taken with CAS, naming its holder,
with an expiry renewed at every step of the run.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import socket
import time

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError

try:
    import hvac
    import hvac.exceptions
    import requests
except ImportError:  # reported when the backend is chosen, not at import
    hvac = None

JOURNAL = '_turnkey/journal'
LOCK = '_turnkey/lock'
READERS = 16
DEFAULTS = {'mount': 'secret', 'auth_method': 'token', 'approle_mount': 'approle', 'validate_certs': True,
            'timeout': 10, 'retry_seconds': 30, 'lock_ttl': 3600}
OPTIONS = frozenset(('backend', 'url', 'urls', 'mount', 'prefix', 'auth_method', 'token_file', 'role_id', 'role_id_file',
                     'secret_id_file', 'approle_mount', 'ca_cert', 'validate_certs', 'namespace', 'timeout',
                     'retry_seconds', 'lock_ttl'))


def var_to_path(var, names):
    """``(secret name, data key)`` of vault variable ``var``: the longest catalogue name it
    starts with, else the variable's own name (vault_ removed)."""
    if not isinstance(var, str) or not var.startswith('vault_') or len(var) == len('vault_'):
        raise InputError('%s cannot be kept in an OpenBao store: its variables are vault_<name>' % var)
    rest = var[len('vault_'):]
    for name in sorted(names, key=len, reverse=True):
        if rest == name:
            return name, 'value'
        if rest.startswith(name + '_'):
            return name, rest[len(name) + 1:]
    return rest, 'value'


def path_to_var(name, key):
    return 'vault_%s' % name if key == 'value' else 'vault_%s_%s' % (name, key)


def values_of(secrets):
    """Vault variables of ``{name: data}`` (what the vars plugin and the engine see)."""
    out = {}
    for name, data in secrets.items():
        for key, value in (data or {}).items():
            out[path_to_var(name, key)] = value
    return out


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


class Client(object):
    """hvac clients for every node URL, each call retried across them for ``retry_seconds``
    while the cluster elects a leader or a node is down.  Errors name the path and the
    capability, never the token."""

    def __init__(self, config):
        if hvac is None:
            raise InputError('turnkey_store.backend openbao needs the Python package hvac on the controller '
                             '(pip install hvac)')
        self.config = config = dict(DEFAULTS, **{k: v for k, v in (config or {}).items() if v is not None})
        unknown = sorted(set(config) - OPTIONS)
        if unknown:
            raise InputError('turnkey_store: unknown option(s) %s; accepted: %s' % (', '.join(unknown), ', '.join(sorted(OPTIONS))))
        urls = config.get('urls') or config.get('url')
        urls = [urls] if isinstance(urls, str) else list(urls or [])
        if not urls or not all(isinstance(u, str) and u.startswith(('http://', 'https://')) for u in urls):
            raise InputError('turnkey_store.url must be the http(s):// address of the store (or urls: a list of its nodes)')
        prefix = str(config.get('prefix') or '').strip('/')
        if not prefix or '..' in prefix.split('/'):
            raise InputError('turnkey_store.prefix must name the environment\'s folder in the mount, e.g. turnkey/staging')
        if config['auth_method'] not in ('token', 'approle'):
            raise InputError('turnkey_store.auth_method must be token or approle, not %r' % config['auth_method'])
        self.urls, self.mount, self.prefix = urls, str(config['mount']).strip('/'), prefix
        verify = config['ca_cert'] if config.get('ca_cert') else bool(config['validate_certs'])
        self.deadline_seconds = float(config['retry_seconds'])
        self.clients = [hvac.Client(url=u, verify=verify, namespace=config.get('namespace') or None,
                                    timeout=float(config['timeout'])) for u in urls]
        self.current = 0
        self._login()

    # authentication -----------------------------------------------------------
    def _login(self):
        config = self.config
        if config['auth_method'] == 'token':
            token = os.environ.get('VAULT_TOKEN') or os.environ.get('BAO_TOKEN')
            if not token:
                token = self._read_file(config.get('token_file') or '~/.vault-token', 'token_file',
                                        required=bool(config.get('token_file')))
            if not token:
                raise InputError('turnkey_store: no token: set VAULT_TOKEN or BAO_TOKEN in the environment of '
                                 'ansible-playbook, or turnkey_store.token_file')
            for client in self.clients:
                client.token = token
            return
        role_id = config.get('role_id') or self._read_file(config.get('role_id_file'), 'role_id_file')
        secret_id = os.environ.get('VAULT_SECRET_ID') or os.environ.get('BAO_SECRET_ID') or \
            self._read_file(config.get('secret_id_file'), 'secret_id_file')
        if not role_id or not secret_id:
            raise InputError('turnkey_store.auth_method approle needs role_id (or role_id_file) and secret_id_file '
                             '(or VAULT_SECRET_ID in the environment)')
        where = 'auth/%s/login' % config['approle_mount']
        try:
            login = self.call(
                lambda c: c.auth.approle.login(role_id=str(role_id), secret_id=secret_id,
                                               mount_point=config['approle_mount'], use_token=False),
                where, 'update')
        except TurnkeyError as exc:
            raise InputError('turnkey_store: AppRole login failed (%s): check role_id and the secret_id' % exc.msg) from None
        token = login['auth']['client_token']
        for client in self.clients:
            client.token = token

    @staticmethod
    def _read_file(path, option, required=True):
        if not path:
            return None
        path = os.path.expanduser(str(path))
        try:
            with open(path) as handle:
                return handle.read().strip() or None
        except OSError as exc:
            if not required:
                return None
            raise InputError('turnkey_store.%s %s cannot be read: %s' % (option, path, exc.strerror)) from None

    # calls ---------------------------------------------------------------------
    def call(self, fn, where, capability):
        """``fn(client)`` on the current node, moving to the next one on a connection error
        or a node that cannot answer (sealed, standby without leader) until the deadline."""
        deadline = time.monotonic() + self.deadline_seconds
        attempt = 0
        while True:
            client = self.clients[self.current]
            try:
                return fn(client)
            except hvac.exceptions.Forbidden:
                raise TurnkeyError('permission denied on %s at %s: the policy of this token lacks the %s capability '
                                   'there. Nothing more was changed' % (where, client.url, capability)) from None
            except hvac.exceptions.Unauthorized:
                raise TurnkeyError('the store %s refused the credentials (expired or revoked token) on %s'
                                   % (client.url, where)) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, hvac.exceptions.VaultDown,
                    hvac.exceptions.InternalServerError, hvac.exceptions.BadGateway, hvac.exceptions.RateLimitExceeded,
                    hvac.exceptions.PreconditionFailed) as exc:
                attempt += 1
                if time.monotonic() >= deadline:
                    raise TurnkeyError('the store is unreachable or has no leader (%s on %s after %d attempts over '
                                       '%.0f s, nodes %s). The journal keeps what was done: run again once it is back'
                                       % (type(exc).__name__, where, attempt, self.deadline_seconds,
                                          ', '.join(self.urls))) from None
                self.current = (self.current + 1) % len(self.clients)
                time.sleep(min(0.1 * attempt, 1.0))
            except hvac.exceptions.VaultError as exc:
                # Its text is the server's (never a value sent); the request URL is left out.
                raise TurnkeyError('the store %s refused %s (%s): %s'
                                   % (client.url, where, capability, _reason(exc))) from None

    def full(self, name):
        return '%s/%s' % (self.prefix, name)

    def shown(self, name, kind='data'):
        return '%s/%s/%s' % (self.mount, kind, self.full(name))

    def read(self, name):
        """``(data or None, version, custom_metadata)``; version 0 when it never existed."""
        def get(client):
            try:
                resp = client.secrets.kv.v2.read_secret_version(path=self.full(name), mount_point=self.mount,
                                                                raise_on_deleted_version=False)
            except hvac.exceptions.InvalidPath:
                return None
            return resp
        resp = self.call(get, self.shown(name), 'read')
        if not resp or not resp.get('data'):
            meta = self.metadata(name)
            return None, int(meta.get('current_version') or 0), meta.get('custom_metadata') or {}
        meta = resp['data'].get('metadata') or {}
        return resp['data'].get('data'), int(meta.get('version') or 0), meta.get('custom_metadata') or {}

    def metadata(self, name):
        def get(client):
            try:
                return client.secrets.kv.v2.read_secret_metadata(path=self.full(name), mount_point=self.mount)['data']
            except hvac.exceptions.InvalidPath:
                return {}
        return self.call(get, self.shown(name, 'metadata'), 'read') or {}

    def write(self, name, data, cas):
        """Write ``data`` as the next version when the current one is ``cas``.  Returns the new
        version; None when someone else wrote in between (unless it is this very data: a
        retried write that had landed)."""
        def put(client):
            try:
                resp = client.secrets.kv.v2.create_or_update_secret(path=self.full(name), secret=data, cas=cas,
                                                                    mount_point=self.mount)
                return int(resp['data']['version'])
            except hvac.exceptions.InvalidRequest as exc:
                if 'check-and-set' not in str(exc):
                    raise TurnkeyError('the store refused the write of %s: %s' % (self.shown(name), _reason(exc))) from None
                return None
        version = self.call(put, self.shown(name), 'create and update')
        if version is None:
            current, current_version, _meta = self.read(name)
            if current == data and current_version == cas + 1:
                return current_version
        return version

    def set_metadata(self, name, custom):
        self.call(lambda c: c.secrets.kv.v2.update_metadata(path=self.full(name), custom_metadata=custom,
                                                            mount_point=self.mount),
                  self.shown(name, 'metadata'), 'update')

    def list(self):
        def get(client):
            try:
                return client.secrets.kv.v2.list_secrets(path=self.prefix, mount_point=self.mount)['data']['keys']
            except hvac.exceptions.InvalidPath:
                return []
        return [k for k in self.call(get, '%s/metadata/%s' % (self.mount, self.prefix), 'list') if not k.endswith('/')]

    def read_all(self, names):
        """{name: (data, version, custom_metadata)}, read concurrently (one request each)."""
        names = list(names)
        if len(names) <= 1:
            return {n: self.read(n) for n in names}
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(READERS, len(names))) as pool:
            return dict(zip(names, pool.map(self.read, names)))


def _reason(exc):
    errors = getattr(exc, 'errors', None) or []
    return '; '.join(str(e) for e in errors)[:300] or type(exc).__name__


class OpenBao(object):
    """The store interface of ``VaultFile`` (load, save, dates, record_dates) on KV v2."""

    def __init__(self, config, names=()):
        self.client = Client(config)
        self.names = list(names)
        self.secrets = {}      # name -> data
        self.versions = {}     # name -> version read
        self.meta = {}         # name -> custom_metadata
        self.journal_version = 0
        self.applying = {}
        self.lock = KVLock(self.client)

    def describe(self):
        return 'the OpenBao store %s (%s/%s)' % (self.client.urls[0], self.client.mount, self.client.prefix)

    def files(self):
        return []

    def load(self):
        names = [n for n in self.client.list() if n != '_turnkey']
        read = self.client.read_all(names + [JOURNAL])
        journal_data, self.journal_version, _meta = read.pop(JOURNAL)
        self.secrets, self.versions, self.meta = {}, {}, {}
        for name, (data, version, custom) in read.items():
            self.versions[name] = version
            self.meta[name] = custom
            if data is not None:
                self.secrets[name] = dict(data)
        journal_data = journal_data or {}
        self.applying = dict(journal_data.get('applying') or {})
        journal = journal_data.get('journal') or {}
        if not isinstance(journal, dict):
            raise InputError('%s: %s is not a mapping; restore an earlier version with bao kv rollback'
                             % (self.describe(), JOURNAL))
        values = values_of(self.secrets)
        values.update(self.applying)
        return values, journal

    def _desired(self, updates, removals):
        desired = {}
        for var, value in updates.items():
            name, key = var_to_path(var, self.names)
            desired.setdefault(name, dict(self.secrets.get(name) or {}))[key] = value
        for var in removals:
            name, key = var_to_path(var, self.names)
            if key in (self.secrets.get(name) or {}):
                desired.setdefault(name, dict(self.secrets[name])).pop(key, None)
        return {n: d for n, d in desired.items() if d != self.secrets.get(n)}

    def _write_journal(self, journal, applying, values_written=False):
        data = {'journal': journal or {}}
        if applying:
            data['applying'] = applying
        version = self.client.write(JOURNAL, data, self.journal_version)
        if version is None:
            raise TurnkeyError('%s: the journal %s was changed by another run during this step (is a second controller '
                               'rotating without the lock?); %s. Run the same command again: it goes on from the '
                               'journal as that run left it'
                               % (self.describe(), self.client.shown(JOURNAL),
                                  'the values of this step were written, its journal state was not' if values_written
                                  else 'nothing was written by this step'))
        self.journal_version = version

    def save(self, updates=None, removals=(), journal=None):
        updates = dict(self.applying, **dict(updates or {}))
        desired = self._desired(updates, [r for r in removals if r not in updates])
        if not desired:
            self._write_journal(journal, None)
            self.applying = {}
            return
        # The commit point: the values are decided once this write lands.
        self._write_journal(journal, updates)
        self.applying = updates
        for name in sorted(desired):
            read = self.versions.get(name, 0)
            version = self.client.write(name, desired[name], read)
            if version is None:
                raise self._conflict(name, read, desired[name])
            self.versions[name] = version
            self.secrets[name] = desired[name]
        self._write_journal(journal, None, values_written=True)
        self.applying = {}

    def _conflict(self, name, read, data):
        """A secret changed by someone else after the commit point.  This run stops without
        writing it; the values are decided (the journal's ``applying``, which services may
        already use), so the next run writes this step's keys over that edit."""
        current = int(self.client.metadata(name).get('current_version') or 0)
        keys = sorted(k for k in data if data[k] != (self.secrets.get(name) or {}).get(k))
        return TurnkeyError(
            '%s was changed by someone else during this step: version %d appeared after version %d, the one this run '
            'read. This run stopped without writing it. Its new values were committed to the journal %s (applying) '
            'before the conflict and may already be in use by the services, so the next run writes %s over that edit '
            'as a new version, keeping the data keys it does not set; the edit stays readable (bao kv get -version=%d). '
            'See who wrote it with bao kv metadata get, then run again'
            % (self.client.shown(name), current, read, self.client.shown(JOURNAL), ', '.join(keys) or 'its keys',
               current))

    def dates(self):
        out = {}
        for name, custom in self.meta.items():
            row = {}
            if custom.get('rotated_at'):
                row['rotated_at'] = custom['rotated_at']
            if custom.get('max_age_days'):
                try:
                    row['max_age_days'] = int(custom['max_age_days'])
                except ValueError:
                    raise InputError('%s: custom_metadata max_age_days is %r, not a whole number of days'
                                     % (self.client.shown(name, 'metadata'), custom['max_age_days'])) from None
            if row:
                out[name] = row
        return out

    def record_dates(self, stamps, defaults):
        changed = False
        for name in sorted(stamps):
            custom = self.meta.get(name)
            if custom is None:
                custom = self.client.metadata(name).get('custom_metadata') or {}
            new = dict(custom)
            new['rotated_at'] = _stamp(_parse(stamps[name]))
            if not new.get('max_age_days') and (defaults or {}).get(name) is not None:
                new['max_age_days'] = str(int(defaults[name]))
            if new != custom:
                self.client.set_metadata(name, new)
                changed = True
            self.meta[name] = new
        return changed


def _parse(value):
    from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation
    return _rotation.parse_time(value, 'rotated_at')


class KVLock(object):
    """The environment lock as a KV entry: taken with CAS, naming its holder, expiring
    ``lock_ttl`` seconds after its last renewal (a dead controller's lock goes away)."""

    def __init__(self, client):
        self.client = client
        self.ttl = int(client.config['lock_ttl'])
        self.where = client.shown(LOCK)

    def _info(self, owner, environment):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        now = _now()
        return {'host': socket.gethostname(), 'boot_id': _lock.boot_id(), 'pid': owner, 'pid_start': _lock.start_time(owner),
                'run_id': _lock.run_id(owner), 'environment': environment, 'started': _stamp(now),
                'expires': _stamp(now + datetime.timedelta(seconds=self.ttl))}

    def _stale(self, held):
        """Why ``held`` may be taken over, or None while its holder may be alive."""
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        try:
            expires = _parse(held.get('expires'))
        except InputError:
            return 'its expiry is unreadable'
        if expires <= _now():
            return 'it expired at %s (its holder stopped renewing it)' % held.get('expires')
        if _lock._main_alive(held) is False:
            return 'process %s on this host is gone' % held.get('pid')
        return None

    def _busy(self, held, environment):
        return TurnkeyError(
            'rotation in progress for environment %s: locked by pid %s on %s since %s, until %s (%s). Wait for it to '
            'finish; if that run is really gone, its lock expires then, or run with -e rotate_break_lock=true'
            % (held.get('environment') or environment, held.get('pid'), held.get('host'), held.get('started'),
               held.get('expires'), self.where), lock=held)

    def held(self):
        data, version, _meta = self.client.read(LOCK)
        return (data if data and data.get('run_id') else None), version

    def acquire(self, environment, owner, force=False):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        me = _lock.run_id(owner)
        held, version = self.held()
        broke = None
        if held and held.get('run_id') == me:
            self.renew(owner)
            return {'acquired': False, 'broke': None}
        if held:
            broke = self._stale(held) or ('forced with rotate_break_lock' if force else None)
            if not broke:
                raise self._busy(held, environment)
            broke = 'pid %s on %s: %s' % (held.get('pid'), held.get('host'), broke)
        if self.client.write(LOCK, self._info(owner, environment), version) is None:
            # Someone took it between the read and the write: name them.
            held, _version = self.held()
            raise self._busy(held or {}, environment)
        return {'acquired': True, 'broke': broke}

    def renew(self, owner):
        """Push the expiry on; fail when this run no longer holds the lock."""
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        held, version = self.held()
        if not held or held.get('run_id') != _lock.run_id(owner):
            raise TurnkeyError('this run no longer holds the rotation lock %s (%s): another run took it over; stopping '
                               'here, the journal keeps what was done' % (
                                   self.where, 'now pid %s on %s' % (held.get('pid'), held.get('host')) if held else 'free'))
        info = dict(held, expires=_stamp(_now() + datetime.timedelta(seconds=self.ttl)))
        if self.client.write(LOCK, info, version) is None:
            raise TurnkeyError('the rotation lock %s changed while this run renewed it; stopping here' % self.where)

    def check_free(self, owner, environment):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        held, _version = self.held()
        if held and held.get('run_id') != _lock.run_id(owner) and not self._stale(held):
            raise self._busy(held, environment)

    def clear_stale(self, environment):
        held, version = self.held()
        if not held:
            return None
        reason = self._stale(held)
        if reason and self.client.write(LOCK, {'released': _stamp(_now()), 'by': 'a later run: ' + reason}, version):
            return 'pid %s on %s: %s' % (held.get('pid'), held.get('host'), reason)
        return None

    def release(self, owner):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        held, version = self.held()
        if held and held.get('run_id') == _lock.run_id(owner):
            self.client.write(LOCK, {'released': _stamp(_now())}, version)
            return True
        return False
