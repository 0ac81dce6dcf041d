# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotation dates: what is due, and rotation.yml (names and dates, never a value).

Shared by the rotation engine (controller) and the audit module (targets); the engine
itself lives in plugins/plugin_utils.
"""

from __future__ import annotations

import datetime

from ansible_collections.turnkey.secrets.plugins.module_utils._atomic import atomic_write, read_bytes
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

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


def read_table(path):
    """The content of a rotation file ({} when it does not exist)."""
    import yaml
    raw = read_bytes(path)
    data = {}
    if raw:
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            raise InputError('%s is not valid YAML (%s); fix or restore it from git' % (path, str(exc).splitlines()[0])) from None
    if not isinstance(data, dict) or not isinstance(data.get('turnkey_rotation') or {}, dict):
        raise InputError('%s must hold a mapping turnkey_rotation: {name: {rotated_at, max_age_days}}' % path)
    return data


def stamp(path, stamps, defaults=None, check_mode=False):
    """Set ``rotated_at`` of each name in ``stamps`` ({name: time}). Returns whether it changed.

    ``defaults`` maps a name to the ``max_age_days`` a secret gets when the table has no
    row for it yet.
    """
    import yaml
    data = read_table(path)
    table = data.get('turnkey_rotation') or {}
    data['turnkey_rotation'] = table
    changed = False
    for name, when in stamps.items():
        entry = table.get(name)
        if not isinstance(entry, dict):
            entry = table[name] = {}
            if (defaults or {}).get(name) is not None:
                entry['max_age_days'] = int(defaults[name])
        stamped = format_time(parse_time(when, name))
        if entry.get('rotated_at') != stamped:
            entry['rotated_at'] = stamped
            changed = True
    # Written by releases before the journal: the journal tracks outstanding hosts now.
    if data.pop('turnkey_rotation_outstanding', None) is not None:
        changed = True
    if changed and not check_mode:
        body = yaml.safe_dump(data, default_flow_style=None, sort_keys=True, width=120)
        atomic_write(path, ROTATION_HEADER + body)
    return changed
