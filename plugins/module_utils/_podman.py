# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Podman secrets: change detection on every podman version, consumers, recreation.

How an existing secret is compared with the wanted data:

* podman >= 4.7: ``podman secret inspect --showsecret`` returns the stored value, which
  is compared in memory and never kept;
* older podman (Debian 12 ships 4.3) cannot return the value.  The secret then carries
  the label ``turnkey.secrets.digest``: PBKDF2-SHA256 of the data with a random salt
  and a high iteration count (``_redact.kdf_digest``).  Anyone able to read labels can
  only test guesses at PBKDF2 speed, one secret at a time; an unsalted fast hash would
  let them test billions of guesses a second against every secret at once.

Replacing on podman < 4.7 is ``rm`` then ``create``.  The new value is first stored
under a pending name, so a driver or option error stops before anything is removed,
and a failure after the removal leaves the new value in the pending secret instead of
losing it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets as _secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _command, _redact
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import CommandError, InputError, TurnkeyError

DIGEST_LABEL = 'turnkey.secrets.digest'
SYSTEMD_UNIT_LABEL = 'PODMAN_SYSTEMD_UNIT'
# podman stores 1 to 511999 bytes ("larger than 0 and less than 512000 bytes").
MAX_DATA = 512000
NAME_RE = re.compile(r'^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,62}[a-zA-Z0-9])?$')
SHOWSECRET_VERSION = (4, 7)
WORKERS = 4
ITEM_KEYS = ('state', 'driver', 'driver_opts', 'labels', 'force', 'skip_existing')


def parse_version(text):
    match = re.match(r'\s*(\d+)\.(\d+)(?:\.(\d+))?', text or '')
    if not match:
        raise TurnkeyError('cannot read the podman version from %r' % (text or '').strip()[:80])
    return tuple(int(part or 0) for part in match.groups())


def pending_name(name):
    """Where the new value waits while ``name`` is replaced (valid and at most 64 chars)."""
    return 'turnkey-pending.' + hashlib.sha256(name.encode('utf-8')).hexdigest()[:24]


def _parallel(func, items):
    """``[func(item)]`` on a few threads: podman start-up and PBKDF2 both release the GIL."""
    items = list(items)
    if len(items) < 2:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(func, items))


# --------------------------------------------------------------------------- input

class Wanted(object):
    """One requested secret, validated and with its data loaded as bytes."""

    def __init__(self, name, state, data, driver, driver_opts, labels, force, skip_existing, consumers, units):
        self.name = name
        self.state = state
        self.data = data
        self.driver = driver
        self.driver_opts = driver_opts
        self.labels = labels
        self.force = force
        self.skip_existing = skip_existing
        self.consumers = consumers
        self.units = units


def _load_data(item, name):
    given = [key for key in ('data', 'path', 'env') if item.get(key) is not None]
    if len(given) > 1:
        raise InputError('secret %s: data, path and env are mutually exclusive; give only one' % name)
    if not given:
        raise InputError('secret %s: state=present needs one of data, path or env' % name)
    if item.get('data') is not None:
        data = item['data'].encode('utf-8') if isinstance(item['data'], str) else bytes(item['data'])
        if b'\0' in data:
            # Text values only: a NUL (often a trailing one from a careless encoding) would be cut by
            # every consumer reading the secret as an environment variable or a C string.
            raise InputError('secret %s: data contains a NUL character; data and env are text, give binary '
                             'values through path (stored byte for byte)' % name)
    elif item.get('path') is not None:
        # O_NOFOLLOW and regular files only: a link planted by whoever can write the directory
        # cannot make a root-run module copy a root-only file into a secret they can mount.
        try:
            data = _atomic.read_bytes(item['path'], follow=False, limit=MAX_DATA + 1)
        except InputError as exc:
            raise InputError('secret %s: cannot read path: %s' % (name, exc.msg)) from None
        if data is None:
            raise InputError('secret %s: cannot read path %s: it does not exist' % (name, item['path']))
    else:
        if item['env'] not in os.environ:
            # Worded as containers.podman.podman_secret words it, so playbooks and tests
            # matching its message keep working after the switch.
            raise InputError('Environment variable %s is not set (secret %s): it must be in the environment the '
                             'module runs in; do not set it with the environment keyword (ansible shows it at -vvvv '
                             'and in the process list): pass vault values through data instead' % (item['env'], name))
        data = os.environ[item['env']].encode('utf-8')
    if not data:
        raise InputError('secret %s: the data is empty and podman refuses empty secrets (it stores 1 to %d bytes); '
                         'give at least one byte, e.g. a newline' % (name, MAX_DATA - 1))
    if len(data) >= MAX_DATA:
        raise InputError('secret %s: the data is %s bytes; podman stores at most %d bytes (just under 500 KiB): '
                         'store a smaller value, e.g. a key to the large file instead of the file'
                         % (name, len(data) if len(data) <= MAX_DATA else 'more than %d' % MAX_DATA, MAX_DATA - 1))
    return data


def _str_dict(value, what, name):
    out = {}
    for raw_key, val in (value or {}).items():
        if not isinstance(raw_key, str):
            # YAML reads unquoted 1, yes or null as a number, boolean or None: str() would turn
            # them into "1", "True", "None" without telling anyone.
            raise InputError('secret %s: %s key %r is a %s, not a string; quote it in YAML'
                             % (name, what, raw_key, type(raw_key).__name__))
        key = raw_key
        if key in ('True', 'False', 'None'):
            # What ansible's JSON transport makes of unquoted yes/no/null keys.
            raise InputError('secret %s: %s key %r looks like an unquoted YAML yes/no/null; quote the key'
                             % (name, what, key))
        if not key or '=' in key:
            raise InputError('secret %s: %s key %r is invalid: it must be non-empty and contain no "="' % (name, what, key))
        out[key] = '' if val is None else str(val)
    return out


def normalize(params):
    """The module parameters as a list of ``Wanted``; raises InputError before anything changes."""
    items = params.get('secrets')
    single = items is None
    if single:
        items = [dict((k, params.get(k)) for k in ('name', 'data', 'path', 'env', 'consumers', 'units'))]
    out, seen = [], set()
    for given in items:
        item = dict(given)
        for key in ITEM_KEYS:
            if item.get(key) is None:
                item[key] = params.get(key)
        name = item.get('name')
        if not name or not NAME_RE.match(str(name)):
            raise InputError('invalid secret name %r: podman allows 1 to 64 characters from [a-zA-Z0-9_.-], '
                             'starting and ending with a letter or digit' % (name,))
        if name in seen:
            raise InputError('secret %s is listed twice; list each secret once' % name)
        seen.add(name)
        state = item.get('state') or 'present'
        labels = _str_dict(item.get('labels'), 'label', name)
        if DIGEST_LABEL in labels:
            raise InputError('secret %s: the label %s is reserved for change detection; remove it from labels'
                             % (name, DIGEST_LABEL))
        data = _load_data(item, name) if state == 'present' else None
        out.append(Wanted(name, state, data, item.get('driver') or None,
                          _str_dict(item.get('driver_opts'), 'driver option', name), labels,
                          bool(item.get('force')), bool(item.get('skip_existing')),
                          list(item.get('consumers') or ()), list(item.get('units') or ())))
    return out


# --------------------------------------------------------------------------- podman

class Podman(object):
    """The podman CLI.  ``runner`` is ``_command.run`` (unit tests pass a fake)."""

    def __init__(self, executable=None, runner=None):
        self.exe = _command.find_executable('podman', executable)
        self._runner = runner or _command.run
        self._version = None

    def __call__(self, *args, **kwargs):
        argv = [self.exe] + list(args)
        data = kwargs.get('data')
        if isinstance(data, bytes) and self._runner is _command.run and not _is_utf8(data):
            return _run_binary_stdin(argv, data)
        return self._runner(argv, **kwargs)

    @property
    def version(self):
        if self._version is None:
            self._version = parse_version(self('version', '--format', '{{.Client.Version}}').stdout)
        return self._version

    @property
    def showsecret(self):
        return self.version >= SHOWSECRET_VERSION

    def secrets(self, names=None):
        """``{name: record}`` for existing secrets (all, or those in ``names``)."""
        listed = {}
        for line in self('secret', 'ls', '--noheading', '--format', '{{.ID}}\t{{.Name}}').stdout.splitlines():
            if '\t' in line:
                sid, name = line.split('\t', 1)
                if names is None or name in names:
                    listed[name] = sid
        if not listed:
            return {}
        # Inspect by ID: a name argument could also match another secret's ID prefix.
        # One removed meanwhile (by someone else) fails alone: podman still prints the rest.
        res = self('secret', 'inspect', *sorted(listed.values()), check=False)
        try:
            raw = json.loads(res.stdout or '[]')
        except ValueError:
            raise CommandError('podman secret inspect failed (rc=%d): %s' % (res.rc, res.stderr.strip()), rc=res.rc) from None
        out = {}
        for entry in raw:
            spec = entry.get('Spec') or {}
            driver = spec.get('Driver') or {}
            record = {
                'id': entry.get('ID'),
                'name': spec.get('Name'),
                'driver': driver.get('Name'),
                'driver_opts': dict(driver.get('Options') or {}),
                'labels': dict(spec.get('Labels') or {}),
                'created_at': entry.get('CreatedAt'),
                'updated_at': entry.get('UpdatedAt'),
            }
            if listed.get(record['name']) == record['id']:
                out[record['name']] = record
        return out

    def stored_value(self, name):
        try:
            out = self('secret', 'inspect', '--showsecret', '--format', '{{.SecretData}}', name, text=False).stdout
        except CommandError as exc:
            # Its stdout may hold a value: keep only the message.
            raise CommandError(exc.msg, rc=exc.rc) from None
        return out[:-1] if out.endswith(b'\n') else out

    def create(self, name, want, digest=None, replace=False):
        argv = ['secret', 'create']
        if replace:
            argv.append('--replace')
        if want.driver:
            argv += ['--driver', want.driver]
        for key, value in sorted(want.driver_opts.items()):
            argv += ['--driver-opts', _csv_field('%s=%s' % (key, value))]
        labels = dict(want.labels)
        if digest:
            labels[DIGEST_LABEL] = digest
        for key, value in sorted(labels.items()):
            argv += ['--label', '%s=%s' % (key, value)]
        self(*(argv + [name, '-']), data=want.data)

    def systemctl(self, *args):
        return self._runner(['systemctl'] + ([] if os.geteuid() == 0 else ['--user']) + list(args))

    def remove(self, name, check=True):
        return self('secret', 'rm', name, check=check)

    def containers(self):
        """Every container with the fields needed to find and recreate consumers.

        Only these fields are read: ``Config.Env`` holds the values of env-type secrets.
        """
        ids = self('ps', '-a', '-q', '--no-trunc').stdout.split()
        if not ids:
            return []
        fmt = '\t'.join('{{json %s}}' % f for f in (
            '.Name', '.ID', '.State.Status', '.Config.CreateCommand', '.Config.Labels', '.Config.Secrets'))
        # A container removed meanwhile makes inspect fail for it alone: keep the rest.
        out = self('container', 'inspect', '--format', fmt, *ids, check=False).stdout
        found = []
        for line in out.splitlines():
            try:
                name, cid, status, command, labels, secrets = [json.loads(p) for p in line.split('\t')]
            except ValueError:
                continue
            names = {s.get('Name') for s in secrets or () if s.get('Name')}
            names.update(secret_names_in_command(command or ()))
            # The secret IDs it was created with: a replaced secret has a new ID.
            ids = {s['Name']: s.get('ID') for s in secrets or () if s.get('Name')}
            found.append({'name': name.lstrip('/'), 'id': cid, 'status': status, 'create_command': command or [],
                          'labels': labels or {}, 'secrets': names, 'secret_ids': ids})
        return found


def _is_utf8(data):
    try:
        data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


def _run_binary_stdin(argv, data):
    """``_command.run`` for data that is not UTF-8, which its argv/output scrubbing cannot take.

    Only ``secret create`` gets here: its argv is built here without the data and podman
    never echoes the data, so there is nothing to scrub.
    """
    proc = subprocess.run(argv, input=data, capture_output=True, check=False)  # pylint: disable=ansible-bad-function
    out, err = proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')
    if proc.returncode != 0:
        detail = err.strip() or '(no output)'
        raise CommandError('%s failed (rc=%d): %s' % (' '.join(argv[:3]), proc.returncode, detail),
                           rc=proc.returncode, stderr=detail)
    return _command.Result(proc.returncode, out, err, argv)


def _csv_field(text):
    """podman parses each --driver-opts value as one CSV record."""
    if ',' not in text and '"' not in text:
        return text
    buf = io.StringIO()
    csv.writer(buf, lineterminator='').writerow([text])
    return buf.getvalue()


def secret_names_in_command(argv):
    """Secret names in the ``--secret`` options of a create/run command line."""
    names = []
    argv = list(argv)
    for index, arg in enumerate(argv):
        if arg == '--secret' and index + 1 < len(argv):
            spec = argv[index + 1]
        elif arg.startswith('--secret='):
            spec = arg[len('--secret='):]
        else:
            continue
        source = None
        for part in spec.split(','):
            key, sep, value = part.partition('=')
            if sep and key == 'source':
                source = value
            elif not sep and source is None:
                source = part
        if source:
            names.append(source)
    return names


# --------------------------------------------------------------------------- plan

def _comparable_opts(want, have):
    have_opts = dict(have['driver_opts'])
    # The file driver records its storage path itself; only compare it when asked for.
    if have['driver'] == 'file' and 'path' not in want.driver_opts:
        have_opts.pop('path', None)
    return have_opts


def _user_labels(labels):
    return dict((k, v) for k, v in (labels or {}).items() if k != DIGEST_LABEL)


def plan_one(podman, want, have):
    """Decide what to do with one secret: a dict with ``action`` and ``changes``."""
    if want.state == 'absent':
        return {'action': 'removed' if have else 'absent', 'changes': ['state'] if have else []}
    if have is None:
        return {'action': 'created', 'changes': ['state']}
    if want.skip_existing:
        return {'action': 'skipped', 'changes': []}
    changes = []
    if want.driver and want.driver != have['driver']:
        changes.append('driver')
    if _comparable_opts(want, have) != want.driver_opts:
        changes.append('driver_opts')
    if _user_labels(have['labels']) != want.labels:
        changes.append('labels')
    digest = None
    if podman.showsecret:
        if podman.stored_value(want.name) != want.data:
            changes.append('data')
    elif DIGEST_LABEL in have['labels']:
        digest = have['labels'][DIGEST_LABEL]
        if not _redact.kdf_verify(want.data, digest):
            changes.append('data')
            digest = None
    elif want.force or changes:
        changes.append('data')
    else:
        return {'action': 'unverified', 'changes': []}
    return {'action': 'updated' if changes else 'unchanged', 'changes': changes, 'digest': digest}


# --------------------------------------------------------------------------- apply

def _in_use(exc):
    return 'in use' in (exc.msg or '').lower()


class Applier(object):
    def __init__(self, podman, consumers_of, recreate_consumers, leftovers=()):
        self.podman = podman
        self.consumers_of = consumers_of
        self.recreate_consumers = recreate_consumers
        self.leftovers = set(leftovers)  # pending secrets a failed run left behind
        self.taken_down = {}

    def _take_down(self, name):
        """Remove the containers holding ``name`` (podman refused to remove a secret in use)."""
        for container in self.consumers_of(name):
            unit = container['labels'].get(SYSTEMD_UNIT_LABEL)
            if container['name'] in self.taken_down:
                continue  # another secret of the same container got there first
            if unit:
                self.podman.systemctl('stop', unit)
            else:
                self.podman('rm', '-f', container['name'])
            self.taken_down[container['name']] = container

    def _in_use_retry(self, name, action):
        """Run ``action``; if podman refuses because the secret is in use, take its consumers down first."""
        try:
            return action()
        except CommandError as exc:
            if not _in_use(exc):
                raise
            if not self.recreate_consumers:
                raise CommandError('secret %s is in use and podman refuses to replace it; it was left unchanged. '
                                   'Set recreate_consumers: true to remove and recreate its containers around '
                                   'the replacement, or remove them first' % name, rc=exc.rc) from None
        self._take_down(name)
        return action()

    def _remove(self, name):
        self._in_use_retry(name, lambda: self.podman.remove(name))

    def _remove_many(self, ids):
        """Remove the secrets of ``ids`` (name -> ID) in one podman call; returns the names it left.

        podman removes every secret it can and prints each removed ID; the rest (in use,
        gone meanwhile) are then removed one by one, where in-use handling applies.
        """
        if not ids:
            return []
        gone = set(self.podman('secret', 'rm', *sorted(ids), check=False).stdout.split())
        return [name for name, sid in sorted(ids.items()) if sid not in gone]

    def apply_all(self, pairs, existing):
        """Apply every ``(want, plan)``; returns ``[(name, message)]`` of those that failed.

        Without ``--replace`` (podman < 4.7) an update is: new value under the pending name,
        old secret removed, new one created, pending removed.  The creates run on a few
        threads and the removals of all secrets go in one podman call per step.
        """
        failures = []

        def guarded(func):
            def run(pair):
                try:
                    func(*pair)
                except TurnkeyError as exc:
                    failures.append((getattr(pair[0], 'name', pair[0]), exc.msg))
                    return False
                return True
            return run

        def digest_of(want, plan):
            if self.podman.showsecret:
                return None
            return plan.get('digest') or _redact.kdf_digest(want.data)

        stale = sorted(self.leftovers & {pending_name(w.name) for w, p in pairs if p['action'] != 'removed'})
        if stale:
            self.podman('secret', 'rm', *stale, check=False)
        swaps = [(w, p) for w, p in pairs if p['action'] == 'updated' and not self.podman.showsecret]

        def stage(want, plan):
            plan['digest'] = digest_of(want, plan)
            self.podman.create(pending_name(want.name), want, plan['digest'])

        staged = {pair[0].name for pair, ok in zip(swaps, _parallel(guarded(stage), swaps)) if ok}
        removing = dict((w.name, existing[w.name]['id']) for w, p in pairs if p['action'] == 'removed' or w.name in staged)
        left = self._remove_many(removing)

        def remove_one(name, action):
            try:
                self._remove(name)
            except TurnkeyError:
                if action == 'updated':
                    self.podman.remove(pending_name(name), check=False)
                raise

        actions = dict((w.name, p['action']) for w, p in pairs)
        unremoved = {name for name, ok in zip(left, _parallel(guarded(remove_one), [(n, actions[n]) for n in left]))
                     if not ok}

        def finish(want, plan):
            if plan['action'] == 'created':
                self.podman.create(want.name, want, digest_of(want, plan))
            elif self.podman.showsecret:
                self._in_use_retry(want.name, lambda: self.podman.create(want.name, want, None, replace=True))
            else:
                try:
                    self.podman.create(want.name, want, plan['digest'])
                except CommandError as exc:
                    raise CommandError('secret %s was removed but creating it again failed (%s); its new value is '
                                       'kept in secret %s: fix the cause and run again'
                                       % (want.name, exc.msg, pending_name(want.name)), rc=exc.rc) from None

        finishing = [(w, p) for w, p in pairs if p['action'] == 'created' or (
            p['action'] == 'updated' and (self.podman.showsecret or w.name in staged) and w.name not in unremoved)]
        done = {pair[0].name for pair, ok in zip(finishing, _parallel(guarded(finish), finishing)) if ok}
        if done & staged:
            self.podman('secret', 'rm', *sorted(pending_name(name) for name in done & staged), check=False)
        order = dict((w.name, index) for index, (w, _p) in enumerate(pairs))
        failures.sort(key=lambda failure: order[failure[0]])
        return failures


# --------------------------------------------------------------------------- consumers

def recreate_args(container):
    """``(subcommand, args)`` running the container's own command line again, or None.

    Same options and global flags, the same name, and ``--detach`` so ``podman run``
    returns once the container is up.
    """
    command = list(container['create_command'])
    for index, arg in enumerate(command[1:], 1):
        if arg in ('run', 'create'):
            extra = ['--name', container['name']] + (['--detach'] if arg == 'run' else [])
            return arg, command[1:index + 1] + extra + command[index + 1:]
    return None


def recreate(podman, container, gone=False):
    """Recreate (or restart the systemd unit of) one container; returns a report dict."""
    name = container['name']
    unit = container['labels'].get(SYSTEMD_UNIT_LABEL)
    if unit:
        # try-restart leaves an inactive unit alone: it gets the new value when it starts.
        podman.systemctl('start' if gone else 'try-restart', unit)
        return {'name': name, 'action': 'restarted', 'unit': unit}
    found = recreate_args(container)
    if found is None:
        return {'name': name, 'action': 'skipped',
                'reason': 'podman did not record the command that created it (created through the API); recreate it yourself'}
    subcommand, args = found
    running = container['status'] == 'running'
    if subcommand == 'run' and not running and not gone:
        return {'name': name, 'action': 'skipped',
                'reason': 'it is not running and was made by podman run, which would start it; remove it or recreate it yourself'}
    old = None
    if not gone:
        # Keep the old container aside until the new one is up, to put it back on failure.
        old = '%s.turnkey-old-%s' % (name, _secrets.token_hex(3))
        podman('rename', name, old)
        if running:
            podman('stop', old)
    try:
        podman(*args)
        if subcommand == 'create' and (running or gone):
            podman('start', name)
    except CommandError as exc:
        podman('rm', '-f', name, check=False)
        if old and podman('container', 'exists', old, check=False).rc == 0:
            podman('rename', old, name)
            if running:
                podman('start', name, check=False)
        raise CommandError('recreating container %s failed: %s; the old container was put back where it '
                           'still existed' % (name, exc.msg), rc=exc.rc) from None
    if old:
        podman('rm', '-f', old, check=False)
    return {'name': name, 'action': 'recreated'}


# --------------------------------------------------------------------------- entry points

def _public(record, name=None):
    if record is None:
        return {'name': name}
    return {'name': record['name'], 'id': record['id'], 'driver': record['driver'],
            'driver_opts': record['driver_opts'], 'labels': _user_labels(record['labels'])}


def _diff_side(want, have, plan, after):
    if after:
        if want.state == 'absent':
            return {'state': 'absent'}
        return {'state': 'present', 'driver': want.driver or (have or {}).get('driver') or 'default',
                'driver_opts': want.driver_opts, 'labels': want.labels,
                'data': _redact.state_placeholder('data' in plan['changes'] or have is None)}
    if have is None:
        return {'state': 'absent'}
    return {'state': 'present', 'driver': have['driver'], 'driver_opts': _comparable_opts(want, have),
            'labels': _user_labels(have['labels']), 'data': _redact.UNCHANGED}


CHANGING = ('created', 'updated', 'removed')


def _data_replaced(plan):
    """Containers hold a copy of the data: only new data makes them stale (labels do not)."""
    return plan['action'] == 'updated' and 'data' in plan['changes']


def stale_consumers(wanted, plans, existing, containers):
    """``{name: container}`` of containers created with an older version of a wanted secret
    that stays as it is (a recreation that failed or was skipped before): they still hold
    the old value, so they are recreated although no secret changes now."""
    current = {w.name: existing[w.name]['id'] for w, p in zip(wanted, plans)
               if w.state == 'present' and p['action'] not in CHANGING and w.name in existing}
    return {c['name']: c for c in containers
            if any(c['secret_ids'].get(name) not in (None, sid) for name, sid in current.items())}


def manage(params, check_mode=False, runner=None, sink=None, warn=None):
    """``podman_secret``: returns the module result; raises TurnkeyError subclasses.

    ``sink`` (a list) receives every loaded secret value, for the module edge to redact;
    ``warn`` is called with each warning.
    """
    wanted = normalize(params)
    if sink is not None:
        # Values that are not UTF-8 cannot be scrubbed from text (and podman never echoes them).
        sink.extend(w.data.decode('utf-8') for w in wanted if w.data is not None and _is_utf8(w.data))
    podman = Podman(params.get('executable'), runner)
    version = '.'.join(map(str, podman.version))
    pending = {pending_name(w.name) for w in wanted}
    existing = podman.secrets({w.name for w in wanted} | pending)
    plans = _parallel(lambda w: plan_one(podman, w, existing.get(w.name)), wanted)
    changing = [(w, p) for w, p in zip(wanted, plans) if p['action'] in CHANGING]
    recreating = params.get('recreate_consumers')
    containers = podman.containers() if changing or recreating else []
    stale = stale_consumers(wanted, plans, existing, containers) if recreating else {}

    def consumers_of(name):
        return [c for c in containers if name in c['secrets']]

    results, before, after, warnings = [], {}, {}, []
    for want, plan in zip(wanted, plans):
        have = existing.get(want.name)
        entry = _public(have, want.name)
        entry.update(state=want.state, action=plan['action'], changes=plan['changes'],
                     changed=plan['action'] in CHANGING)
        if entry['changed']:
            entry['consumers'] = sorted(c['name'] for c in consumers_of(want.name))
            before[want.name] = _diff_side(want, have, plan, False)
            after[want.name] = _diff_side(want, have, plan, True)
        if plan['action'] == 'unverified':
            warnings.append('secret %s exists without the %s label, so its content cannot be verified on podman %s; '
                            'it was left as is. Set force: true once to replace it with the wanted data; later runs '
                            'then detect changes' % (want.name, DIGEST_LABEL, version))
        results.append(entry)
    result = {
        'changed': bool(changing),
        'secrets': results,
        'consumers': dict((e['name'], e['consumers']) for e in results if e['changed']),
        'restart_units': sorted({u for w, p in changing if _data_replaced(p) for u in w.units}),
        'recreated': [],
        'stale_consumers': sorted(stale),
        'podman_version': version,
        'verify_method': 'showsecret' if podman.showsecret else 'digest_label',
        'diff': {'before': before, 'after': after},
    }
    if stale:
        result['changed'] = True
    if check_mode or not (changing or stale):
        return _finish(params, result, warnings, warn)

    applier = Applier(podman, consumers_of, params.get('recreate_consumers'), pending & set(existing))
    failures = applier.apply_all(changing, existing)
    failed = {failure[0] for failure in failures}
    now = podman.secrets({pair[0].name for pair in changing}) if changing else {}
    for entry in results:
        if entry['name'] in failed:
            entry.update(changed=False, action='failed')
        elif entry['changed'] and entry['name'] in now:
            entry.update(_public(now[entry['name']]))
    result['changed'] = any(e['changed'] for e in results)
    result['restart_units'] = sorted({u for w, p in changing if _data_replaced(p) and w.name not in failed for u in w.units})

    if recreating:
        targets = dict(stale, **applier.taken_down)
        for want, plan in changing:
            if want.name in failed or not (plan['action'] == 'created' or _data_replaced(plan)):
                continue
            targets.update((c['name'], c) for c in consumers_of(want.name))
            for name in want.consumers:
                match = [c for c in containers if c['name'] == name]
                if match:
                    targets[name] = match[0]
                else:
                    warnings.append('consumer %s of secret %s does not exist; nothing to recreate' % (name, want.name))
        for name in sorted(targets):
            try:
                report = recreate(podman, targets[name], gone=name in applier.taken_down)
            except TurnkeyError as exc:
                failures.append((name, exc.msg))
                continue
            result['recreated'].append(report)
            if report['action'] == 'skipped':
                warnings.append('container %s was not recreated: %s' % (name, report['reason']))
        result['changed'] = result['changed'] or any(r['action'] != 'skipped' for r in result['recreated'])
    _finish(params, result, warnings, warn)
    if failures:
        result.pop('diff')
        raise TurnkeyError('%d podman secret operation(s) failed: %s'
                           % (len(failures), '; '.join('%s: %s' % f for f in failures)), **result)
    return result


def _finish(params, result, warnings, warn):
    for warning in warnings:
        if warn:
            warn(warning)
    del warnings[:]
    if params.get('secrets') is None:
        result['secret'] = result['secrets'][0]
    return result


def info(params, runner=None):
    """``podman_secret_info``: names, ids, labels, drivers, times and consumers; values only with ``showsecret``."""
    podman = Podman(params.get('executable'), runner)
    names = params.get('name') or None
    showsecret = params.get('showsecret')
    if showsecret and not podman.showsecret:
        raise InputError('showsecret needs podman %s or later (podman secret inspect --showsecret); this host has '
                         'podman %s: read the value where it is used instead'
                         % ('.'.join(map(str, SHOWSECRET_VERSION)), '.'.join(map(str, podman.version))))
    existing = podman.secrets(set(names) if names else None)
    containers = podman.containers() if params.get('consumers', True) and existing else []
    out = []
    for name in sorted(existing):
        record = existing[name]
        entry = _public(record)
        entry.update(created_at=record['created_at'], updated_at=record['updated_at'],
                     verifiable=podman.showsecret or DIGEST_LABEL in record['labels'])
        if params.get('consumers', True):
            entry['consumers'] = sorted(c['name'] for c in containers if name in c['secrets'])
        if showsecret:
            # containers.podman.podman_secret_info's key, so playbooks switch by the module name alone.
            entry['SecretData'] = _text_value(name, podman.stored_value(name))
        out.append(entry)
    return {'changed': False, 'secrets': out, 'missing': sorted(set(names or ()) - set(existing)),
            'podman_version': '.'.join(map(str, podman.version))}


def _text_value(name, data):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise InputError('secret %s holds binary data, which showsecret cannot return as text' % name) from None
