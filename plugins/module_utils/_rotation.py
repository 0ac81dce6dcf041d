# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotation bookkeeping on the controller: what is due, the environment lock, rotation.yml.

Nothing here sees a secret value: only names, dates and process ids.
"""

from __future__ import annotations

import datetime
import json
import os
import socket

from ansible_collections.turnkey.secrets.plugins.module_utils._atomic import atomic_write, read_bytes
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError

ROTATION_HEADER = (
    '---\n'
    '# Rotation metadata only (no values): when each secret was last rotated and how old\n'
    '# it may get.  playbooks/rotate.yml rotates what is past max_age_days and rewrites\n'
    '# this file (comments other than this header are not kept).\n'
)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def parse_time(value, name):
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, datetime.date):
        parsed = datetime.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if text.endswith('Z'):
            text = text[:-1] + '+00:00'
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise InputError('rotated_at of %s is %r, not an ISO 8601 time such as 2026-01-31T00:00:00Z' % (name, value)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def due(rotation, names=None, force=False, pending=(), now=None):
    """Plan: for each secret name, whether it is due and why.

    ``rotation`` is ``turnkey_rotation`` ({name: {rotated_at, max_age_days}}); ``names``
    limits the plan to the secrets an environment actually has; ``pending`` names
    secrets with a ``_pending`` value left by an interrupted run: they are always due
    so the next run finishes or rolls them back.
    """
    now = now or utcnow()
    rotation = rotation or {}
    if not isinstance(rotation, dict):
        raise InputError('turnkey_rotation must be a mapping of secret name to {rotated_at, max_age_days}')
    plan = {}
    for name in (names if names is not None else sorted(rotation)):
        meta = rotation.get(name) or {}
        if not isinstance(meta, dict):
            raise InputError('turnkey_rotation.%s must be a mapping with rotated_at and max_age_days' % name)
        try:
            max_age = int(meta.get('max_age_days', 90))
        except (TypeError, ValueError):
            raise InputError('turnkey_rotation.%s.max_age_days must be a whole number of days' % name) from None
        entry = {'due': False, 'reason': 'fresh', 'max_age_days': max_age, 'age_days': None}
        if meta.get('rotated_at') in (None, ''):
            entry.update(due=True, reason='never rotated')
        else:
            age = now - parse_time(meta['rotated_at'], name)
            entry['age_days'] = age.days
            if age.total_seconds() >= max_age * 86400:
                entry.update(due=True, reason='%d days old (max %d)' % (age.days, max_age))
        if force:
            entry.update(due=True, reason='forced' + ('' if entry['reason'] == 'fresh' else ', ' + entry['reason']))
        if name in pending:
            entry.update(due=True, reason='pending value from an interrupted run')
        plan[name] = entry
    return plan


def record(path, names, when=None, check_mode=False, defaults=None):
    """Set ``rotated_at`` of ``names`` in the rotation file. Returns ``(changed, data)``."""
    import yaml
    when = format_time(when or utcnow())
    raw = read_bytes(path)
    data = {}
    if raw:
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            raise InputError('%s is not valid YAML (%s); fix or restore it from git' % (path, str(exc).splitlines()[0])) from None
    if not isinstance(data, dict) or not isinstance(data.get('turnkey_rotation', {}), dict):
        raise InputError('%s must hold a mapping turnkey_rotation: {name: {rotated_at, max_age_days}}' % path)
    table = data.setdefault('turnkey_rotation', {})
    changed = False
    for name in names:
        entry = table.setdefault(name, dict(defaults or {}))
        if entry.get('rotated_at') != when:
            entry['rotated_at'] = when
            changed = True
    if changed and not check_mode:
        body = yaml.safe_dump(data, default_flow_style=None, sort_keys=True, width=120)
        atomic_write(path, ROTATION_HEADER + body)
    return changed, data


# --------------------------------------------------------------------------- lock

def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return ''


def read_lock(path):
    raw = read_bytes(path)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode('utf-8'))
    except ValueError:
        return {'corrupt': True}


def lock_is_stale(info, now=None, max_age_seconds=6 * 3600):
    """Why the lock is stale, or None while its holder may still be running."""
    if info.get('corrupt'):
        return 'the lock file is not valid JSON'
    now = now or utcnow()
    try:
        started = parse_time(info.get('started'), 'lock')
    except InputError:
        return 'the lock has no valid start time'
    if (now - started).total_seconds() > max_age_seconds:
        return 'it is older than %d minutes' % (max_age_seconds // 60)
    if info.get('host') == socket.gethostname():
        pid = info.get('pid')
        if not isinstance(pid, int) or not _pid_alive(pid):
            return 'process %s on this host is gone' % pid
        if 'ansible' not in _cmdline(pid):
            return 'process %s on this host is no longer ansible' % pid
    return None


def acquire(path, owner_pid, environment, run_id, break_stale=True, max_age_seconds=6 * 3600):
    """Create the lock with O_EXCL. Returns ``{'acquired': bool, 'broke': reason|None}``.

    Raises TurnkeyError naming the holder when another live run has it.  Re-acquiring a
    lock this same run holds is a no-op (plays may call it more than once).
    """
    info = {'pid': owner_pid, 'host': socket.gethostname(), 'environment': environment,
            'run_id': run_id, 'started': format_time(utcnow())}
    broke = None
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            held = read_lock(path) or {}
            if held.get('run_id') == run_id:
                return {'acquired': False, 'broke': None, 'held_by_us': True}
            reason = lock_is_stale(held, max_age_seconds=max_age_seconds)
            if reason is None or not break_stale:
                raise TurnkeyError(
                    'rotation in progress for environment %s: locked by pid %s on %s since %s (%s). '
                    'Wait for it to finish; if that run is really gone, remove the lock or run with '
                    '-e rotate_break_lock=true' % (held.get('environment', environment), held.get('pid'),
                                                   held.get('host'), held.get('started'), path),
                    lock=held)
            broke = reason
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            continue
        except FileNotFoundError:
            raise InputError('cannot create lock %s: its directory does not exist' % path) from None
        with os.fdopen(fd, 'w') as handle:
            json.dump(info, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return {'acquired': True, 'broke': broke, 'held_by_us': True}
    raise TurnkeyError('could not take the rotation lock %s: another run raced for it' % path)


def release(path, run_id):
    """Remove the lock if this run holds it. Returns True when removed."""
    held = read_lock(path)
    if held is None:
        return False
    if held.get('run_id') != run_id:
        raise TurnkeyError('the rotation lock %s belongs to another run (pid %s on %s); not removing it'
                           % (path, held.get('pid'), held.get('host')))
    os.unlink(path)
    return True
