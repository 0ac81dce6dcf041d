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


def record(path, names, when=None, check_mode=False, defaults=None, outstanding=None):
    """Set ``rotated_at`` of ``names`` in the rotation file. Returns ``(changed, data)``.

    ``defaults`` maps a name to the entry a secret gets when the table has none yet.
    ``outstanding`` (a list) replaces ``turnkey_rotation_outstanding``: hosts that did not
    get the current values, so the next run deploys them even when nothing is due.
    """
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
        entry = table.setdefault(name, dict((defaults or {}).get(name) or {}))
        if entry.get('rotated_at') != when:
            entry['rotated_at'] = when
            changed = True
    if outstanding is not None:
        outstanding = sorted(set(outstanding))
        if outstanding != sorted(data.get('turnkey_rotation_outstanding') or []):
            changed = True
            if outstanding:
                data['turnkey_rotation_outstanding'] = outstanding
            else:
                data.pop('turnkey_rotation_outstanding', None)
    if changed and not check_mode:
        body = yaml.safe_dump(data, default_flow_style=None, sort_keys=True, width=120)
        atomic_write(path, ROTATION_HEADER + body)
    return changed, data


# Each kind of secret: the tags that select it, how a new value is generated, and the
# vault keys that hold it (``{name}`` is the secret's name in ``turnkey_secrets``).
KINDS = {
    'htpasswd': {'tags': ('htpasswd', 'dashboard'), 'generate': 'password:24', 'keys': ('vault_{name}',), 'group': 'web'},
    'django_secret_key': {'tags': ('app_keys', 'django'), 'generate': 'django_secret_key', 'keys': ('vault_{name}',), 'group': None},
    'fernet_key': {'tags': ('app_keys', 'fernet'), 'generate': 'fernet_key', 'keys': ('vault_{name}',), 'group': None},
    'postgres': {'tags': ('postgres', 'db'), 'generate': 'urlsafe:24', 'keys': ('vault_{name}',), 'group': 'db'},
    'redis': {'tags': ('redis',), 'generate': 'urlsafe:32', 'keys': ('vault_{name}',), 'group': 'redis'},
    # Only a person can regenerate a DingTalk robot's URL and secret: never generated.
    'dingtalk': {'tags': ('dingtalk',), 'generate': None, 'keys': ('vault_{name}_webhook_url', 'vault_{name}_secret'),
                 'group': None},
    'vault': {'tags': ('vault',), 'generate': None, 'keys': (), 'group': None},
    # A random value only consumers use (env files, podman secrets): an internal API
    # token, a webhook signing key.  Nothing to set on a service.
    'generic': {'tags': ('generic',), 'generate': 'urlsafe:32', 'keys': ('vault_{name}',), 'group': None},
}
# How old a secret of each kind may get by default (the seeds' schedules: 90 days for
# human-facing passwords and the DingTalk robot, 180 for service credentials).
MAX_AGE_DAYS = {'htpasswd': 90, 'dingtalk': 90, 'postgres': 180, 'redis': 180, 'django_secret_key': 180,
                'fernet_key': 365, 'vault': 365, 'generic': 180}
# Groups whose hosts a kind's "set" and "test" steps run on (None: the controller, once).
KIND_GROUPS = {kind: spec['group'] for kind, spec in KINDS.items()}


def plan(catalogue, rotation, run_tags=('all',), force=False, defined_vars=(), now=None):
    """The rotation plan of an environment.

    ``catalogue`` is ``turnkey_secrets`` ({name: {kind, generate?}}); ``run_tags`` is
    ``ansible_run_tags`` (tags restrict the kinds; ``rotate_force`` forces);
    ``defined_vars`` are the names of defined variables, to find pending values left by
    an interrupted run.  Returns {name: {kind, due, reason, generate, keys, pending_keys}}.
    """
    if not isinstance(catalogue, dict):
        raise InputError('turnkey_secrets must map each secret name to {kind: ...}')
    run_tags = set(run_tags or ('all',))
    defined = set(defined_vars or ())
    selected, pending = [], set()
    for name, spec in sorted(catalogue.items()):
        if not isinstance(spec, dict) or spec.get('kind') not in KINDS:
            raise InputError('turnkey_secrets.%s needs kind: one of %s' % (name, ', '.join(sorted(KINDS))))
        kind = KINDS[spec['kind']]
        if 'all' not in run_tags and not run_tags.intersection(kind['tags']):
            continue
        selected.append(name)
        if any(key.format(name=name) + '_pending' in defined for key in kind['keys']):
            pending.add(name)
    dates = due(rotation, names=selected, force=force, pending=pending, now=now)
    out = {}
    for name in selected:
        spec = catalogue[name]
        kind = KINDS[spec['kind']]
        keys = [key.format(name=name) for key in kind['keys']]
        entry = dict(dates[name])
        entry.update(kind=spec['kind'], vault_keys=keys, pending_keys=[k + '_pending' for k in keys],
                     default_max_age_days=int(spec.get('max_age_days', MAX_AGE_DAYS[spec['kind']])),
                     generate=spec.get('generate', kind['generate']), resume=name in pending)
        out[name] = entry
    return out


def outcome(rotation_plan, due_names, done_by_host, groups):
    """Which due secrets every targeted host confirmed (set and tested), and which not.

    ``done_by_host`` maps host -> names it finished; ``groups`` maps group -> hosts.
    A secret whose group has no host was applied nowhere and is not confirmed.
    """
    confirmed, incomplete = [], {}
    for name in due_names:
        kind = rotation_plan[name]['kind']
        group = KIND_GROUPS.get(kind)
        if kind == 'vault':
            # The vault password is rotated last, by its own play, which records it.
            continue
        if group is None:
            # App keys have no service to set; DingTalk is set and tested once, on the controller.
            if kind != 'dingtalk' or any(name in (done or []) for done in done_by_host.values()):
                confirmed.append(name)
            else:
                incomplete[name] = ['(controller)']
            continue
        hosts = list(groups.get(group) or [])
        missing = [h for h in hosts if name not in (done_by_host.get(h) or [])]
        if hosts and not missing:
            confirmed.append(name)
        else:
            incomplete[name] = missing or ['(no host in group %s)' % group]
    return {'confirmed': confirmed, 'incomplete': incomplete}


def promotion(rotation_plan, names, new_values, current, bounds=None):
    """Vault keys to write when ``names`` are promoted: new value current, old kept
    where the kind allows two (Django fallbacks, older Fernet keys), bounded."""
    bounds = bounds or {}
    out = {}
    for name in names:
        entry = rotation_plan[name]
        kind = entry['kind']
        for key, pending in zip(entry['vault_keys'], entry['pending_keys']):
            if pending not in new_values:
                raise InputError('no pending value %s for %s; run again to start its rotation afresh' % (pending, name))
            out[key] = new_values[pending]
        main = entry['vault_keys'][0] if entry['vault_keys'] else None
        old = current.get(main)
        if kind == 'django_secret_key':
            keep = int(bounds.get(name, 2))
            previous = [old] if old and old != out[main] else []
            out[main + '_fallbacks'] = (previous + list(current.get(main + '_fallbacks') or []))[:keep]
        elif kind == 'fernet_key':
            keep = int(bounds.get(name, 2))
            previous = [old] if old and old != out[main] else []
            out[main + '_previous'] = (previous + list(current.get(main + '_previous') or []))[:keep]
    return out


def resolve(spec, current, variables):
    """Values for consumers: ``spec`` maps a target (env var, secret name) to a vault
    variable name, or to a list of them (flattened into one list, e.g. a MultiFernet
    key list).  ``current`` (this run's promoted values) wins over ``variables``."""
    def lookup(var):
        if var in current:
            return current[var]
        if var in variables:
            return variables[var]
        if var.endswith(('_fallbacks', '_previous')):
            # Lists of old keys start empty: the first rotation fills them.
            return []
        raise InputError('%s is not defined: add it to the vault (deploy.yml generates missing values) '
                         'or fix the name in turnkey_env_files / turnkey_podman_secrets' % var)

    out = {}
    for target, source in (spec or {}).items():
        if isinstance(source, (list, tuple)):
            values = []
            for var in source:
                value = lookup(var)
                values.extend(value if isinstance(value, (list, tuple)) else [value])
            out[target] = values
        else:
            out[target] = lookup(source)
    return out


def resolve_items(items, current, variables, source_key='var', value_key='data'):
    """``[{name, var, ...}]`` -> ``[{name, data, ...}]``: each item's ``var`` resolved."""
    out = []
    for item in items or ():
        if not isinstance(item, dict) or source_key not in item:
            raise InputError('each entry needs %s: the vault variable that holds its value' % source_key)
        resolved = dict((k, v) for k, v in item.items() if k != source_key)
        resolved[value_key] = resolve({'v': item[source_key]}, current, variables)['v']
        out.append(resolved)
    return out


def items(rotation_plan, kind, due_names, catalogue, new_values, variables):
    """One record per due secret of ``kind``: its name, catalogue entry, new and old value,
    and ``new_entry``/``old_entry`` ({name, password}) for list-form modules."""
    out = []
    for name in due_names:
        entry = rotation_plan.get(name)
        if not entry or entry['kind'] != kind:
            continue
        key = entry['vault_keys'][0]
        new = new_values.get(key + '_pending')
        if new is None:
            raise InputError('no pending value for %s; run again to start its rotation afresh' % name)
        old = variables.get(key) if key in variables else None
        spec = dict(catalogue.get(name) or {})
        user = spec.get('user') or spec.get('role') or {'htpasswd': 'admin', 'redis': 'default'}.get(kind)
        out.append({'secret': name, 'spec': spec, 'new': new, 'old': old, 'user': user,
                    'new_entry': {'name': user, 'password': new}, 'old_entry': {'name': user, 'password': old}})
    return out


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


def busy_error(path, held, environment=''):
    """The error a run gets when another live run holds the lock."""
    return TurnkeyError(
        'rotation in progress for environment %s: locked by pid %s on %s since %s (%s). '
        'Wait for it to finish; if that run is really gone, remove the lock or run with '
        '-e rotate_break_lock=true' % (held.get('environment') or environment, held.get('pid'),
                                       held.get('host'), held.get('started'), path),
        lock=held)


def check_free(path, run_id, environment='', max_age_seconds=6 * 3600):
    """Raise ``busy_error`` when another live run holds the lock (check mode: look, don't take)."""
    held = read_lock(path)
    if held and held.get('run_id') != run_id and not lock_is_stale(held, max_age_seconds=max_age_seconds):
        raise busy_error(path, held, environment)


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
                raise busy_error(path, held, environment) from None
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
