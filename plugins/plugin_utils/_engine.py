# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rotation engine: plan, validate, and move each secret through its journal states.

A secret in flight has one journal entry (``_stores``) whose state says which step comes
next; every step is idempotent and is decided from that state alone:

  pending   new value stored; its kind's service steps (set, test) run on the kind's hosts
  rollback  a test failed: the hosts undo what set did, then the entry is dropped
  tested    every host has it and it works: the next step promotes it
  promoted  it is the current value; consumer hosts (``waiting``) get it
  deployed  every consumer has it; the kind's retire step drops the old credential
  retired   done (what retiring changed, such as a trimmed key list, goes to the
            consumers again through ``waiting``): its date goes to rotation.yml, then
            the entry goes

``waiting`` lists the consumer hosts that have not received the current values since a
promotion (or a deployment): every run with work deploys them, and a secret leaves
``promoted`` only when none of its own consumers is waiting.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.turnkey.secrets.plugins.module_utils import _redact, _rotation
from ansible_collections.turnkey.secrets.plugins.module_utils._env_file import KEY_RE
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._generate import parse_kind
from ansible_collections.turnkey.secrets.plugins.module_utils._podman import NAME_RE
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS

NAME = re.compile(r'^[a-z_][a-z0-9_]*$')
MAX_LISTED = 12
CONTROLLER = 'controller'
# What a consumer entry may hold (the env_file / podman_secret options it passes on).
# The keys of the consumer lists, documented in docs/catalogue.md (scripts/catalogue_docs.py).
CONSUMER_OPTIONS = {
    'turnkey_env_files': {
        'path': {'type': 'path', 'required': True, 'example': '/srv/app/.env',
                 'description': 'The env file on each host of group app (absolute).'},
        'values': {'type': 'dict', 'required': True, 'example': '{DB_PASSWORD: vault_db_password}',
                   'description': 'Variable of the file to the vault variable it holds; a list of vault variables '
                                  'joins them (list_format), e.g. SECRET_KEY_FALLBACKS: [vault_secret_key_fallbacks].'},
        'owner': {'type': 'str', 'description': 'Owner of the file; default: kept (root for a new file).'},
        'group': {'type': 'str', 'example': 'app', 'description': 'Group of the file (the one the app runs as).'},
        'mode': {'type': 'str', 'default': '0600', 'description': 'Mode of the file, an octal string.'},
        'list_format': {'type': 'str', 'default': 'comma', 'choices': ['comma', 'json'],
                        'description': 'How a list of values is written.'},
        'backup': {'type': 'bool', 'default': True,
                   'description': 'Keep the previous file as a 0600 backup beside it (the last backup_keep ones).'},
        'backup_encrypt': {'type': 'dict', 'example': '{gpg_passphrase: vault_backup_passphrase, dir: /srv/backups}',
                           'description': 'Keep an encrypted copy instead of a plaintext one (see env_file): '
                                          'age_recipients (age public keys) or gpg_passphrase (the vault variable of '
                                          'an AES256 passphrase), dir (backup directory on the host), keep (copies, '
                                          'default 3), fetch_dir (also fetch each copy to this controller directory, '
                                          'as fetch_dir/HOST/NAME).'},
    },
    'turnkey_podman_secrets': {
        'name': {'type': 'str', 'required': True, 'example': 'db_password', 'description': 'The podman secret.'},
        'var': {'type': 'str', 'required': True, 'example': 'vault_db_password',
                'description': 'The vault variable it holds.'},
        'labels': {'type': 'dict', 'description': 'Labels of the secret.'},
        'driver': {'type': 'str', 'description': 'The secret driver; default: podman\'s (file).'},
        'driver_opts': {'type': 'dict', 'description': 'Options of the driver.'},
        'consumers': {'type': 'list', 'example': '[app, worker]',
                      'description': 'Containers recreated when the value changes, besides those podman '
                                     'reports using the secret.'},
        'units': {'type': 'list', 'description': 'systemd units (Quadlet) restarted when the value changes.'},
        'force': {'type': 'bool', 'default': False,
                  'description': 'Replace a secret made outside this collection, whose content cannot be verified.'},
        'skip_existing': {'type': 'bool', 'default': False, 'description': 'Leave an existing secret as it is.'},
    },
}
ENV_FILE_KEYS = set(CONSUMER_OPTIONS['turnkey_env_files'])
PODMAN_KEYS = set(CONSUMER_OPTIONS['turnkey_podman_secrets'])


def _suggest(word, choices):
    close = difflib.get_close_matches(str(word), sorted(choices), n=1)
    return ' (did you mean %s?)' % close[0] if close else ''


def _raise(problems, what):
    if problems:
        shown = '; '.join(problems[:MAX_LISTED])
        more = len(problems) - MAX_LISTED
        raise InputError('%s: %s%s. Nothing was changed.' % (what, shown, ' (and %d more)' % more if more > 0 else ''))


# --------------------------------------------------------------------------- validation

def validate_catalogue(catalogue, supplied=None):
    """{name: (kind, options)} for ``turnkey_secrets``; InputError listing every problem."""
    if not isinstance(catalogue, dict):
        raise InputError('turnkey_secrets must map each secret name to {kind: ..., ...}')
    supplied = supplied or {}
    entries, problems = {}, []
    for name in sorted(catalogue):
        spec = catalogue[name]
        where = 'turnkey_secrets.%s' % name
        if not isinstance(name, str) or not NAME.match(name):
            problems.append('%s: a secret name is lower case letters, digits and _ (it names vault_<name>)' % where)
            continue
        if not isinstance(spec, dict) or 'kind' not in spec:
            problems.append('%s needs kind: one of %s' % (where, ', '.join(sorted(KINDS))))
            continue
        kind = KINDS.get(spec['kind'])
        if kind is None:
            problems.append('%s.kind is %r: use one of %s%s'
                            % (where, spec['kind'], ', '.join(sorted(KINDS)), _suggest(spec['kind'], KINDS)))
            continue
        argspec = kind.spec()
        unknown = sorted(str(k) for k in spec if k not in argspec)
        for key in unknown:
            problems.append('%s: unknown key %s%s; kind %s accepts %s' % (where, key, _suggest(key, argspec), kind.name,
                                                                          ', '.join(sorted(argspec))))
        if unknown:
            continue
        result = ArgumentSpecValidator(argspec).validate(dict(spec))
        if result.error_messages:
            # The validator's messages name options, never their values (no_log is honoured).
            problems.extend('%s: %s' % (where, msg) for msg in result.error_messages)
            continue
        options = result.validated_parameters
        # A credential templated from the vault that is still empty (vault.yml.example copied
        # as it is): say which, instead of a login failing on the service.
        for key in sorted(k for k, opt in argspec.items() if opt.get('no_log') and spec.get(k) == ''):
            problems.append('%s.%s is empty: enter that value in vault.yml (ansible-vault edit), or remove %s for '
                            'peer or certificate authentication' % (where, key, key))
        if options.get('generate'):
            try:
                parse_kind(options['generate'])
            except InputError as exc:
                problems.append('%s.generate: %s' % (where, exc.msg))
        if options.get('max_age_days') is not None and options['max_age_days'] < 1:
            problems.append('%s.max_age_days must be 1 or more' % where)
        problems.extend('%s: %s' % (where, p) for p in kind.check(name, options, supplied.get(name)))
        entries[name] = (kind, options)
    owners = {}
    for name, (kind, _options) in sorted(entries.items()):
        for key in tuple(kind.keys(name)) + tuple(kind.kept_keys(name)):
            if key in owners:
                problems.append('turnkey_secrets.%s and turnkey_secrets.%s both store %s: rename one' % (owners[key], name, key))
            owners.setdefault(key, name)
    problems.extend(_shared_conflicts(entries))
    for name in sorted(set(supplied) - set(entries)):
        if name not in catalogue:
            problems.append('dingtalk_new.%s: no such secret in turnkey_secrets%s' % (name, _suggest(name, catalogue)))
    _raise(problems, 'invalid turnkey_secrets')
    return entries


def _shared_conflicts(entries):
    """Two secrets on one shared object that would undo each other (Kind.shared_by)."""
    problems, seen = [], {}
    for name, (kind, options) in sorted(entries.items()):
        if kind.shared_by is None:
            continue
        target = (kind.name, os.path.normpath(str(options[kind.shared_by])))
        for other in seen.get(target, ()):
            other_options = entries[other][1]
            where = 'turnkey_secrets.%s and turnkey_secrets.%s' % (other, name)
            if all(options[k] == other_options[k] for k in kind.batch_apart):
                problems.append('%s are the same %s in %s %s: one secret each' % (
                    where, '/'.join(kind.batch_apart), kind.shared_by, target[1]))
            differ = [k for k in kind.shared_options if options.get(k) != other_options.get(k)]
            if differ:
                problems.append('%s share %s %s but differ in %s: give both the same' % (
                    where, kind.shared_by, target[1], ', '.join(differ)))
        seen.setdefault(target, []).append(name)
    return problems


def known_keys(entries, values):
    """Vault variables consumers may name: what the vault holds and what the catalogue makes."""
    keys = set(values)
    for name, (kind, _options) in entries.items():
        keys.update(kind.keys(name))
        keys.update(kind.kept_keys(name))
    return keys


def consumers_of(entries, consumers):
    """{host: [names of the secrets it reads]} (for the audit log's deploy lines)."""
    return {host: sorted(n for n, (kind, _o) in entries.items()
                         if consumed_keys(spec) & (set(kind.keys(n)) | set(kind.kept_keys(n))))
            for host, spec in consumers.items()}


def kept_keys(entries):
    return {key for name, (kind, _o) in entries.items() for key in kind.kept_keys(name)}


def _vars_of(source):
    return list(source) if isinstance(source, (list, tuple)) else [source]


def _entries(problems, host, var, entries, accepted, needs):
    """(where, entry) of the mappings in a consumer list; other items and unknown keys are problems."""
    for index, entry in enumerate(entries):
        where = '%s: %s[%d]' % (host, var, index)
        if not isinstance(entry, dict):
            problems.append('%s must be a mapping with %s' % (where, needs))
            continue
        for key in sorted(set(entry) - accepted):
            problems.append('%s: unknown key %s%s; accepted: %s' % (where, key, _suggest(key, accepted),
                                                                    ', '.join(sorted(accepted))))
        yield where, entry


def validate_consumers(by_host, known):
    """Check every host's ``turnkey_env_files`` / ``turnkey_podman_secrets`` before anything changes.

    ``by_host``: {host: {'env_files': [...], 'podman_secrets': [...]}} as templated for
    that host.  Returns the same, normalised.
    """
    problems, out = [], {}
    for host in sorted(by_host):
        env_files = by_host[host].get('env_files') or []
        podman = by_host[host].get('podman_secrets') or []
        if not isinstance(env_files, list) or not isinstance(podman, list):
            problems.append('%s: turnkey_env_files and turnkey_podman_secrets must be lists' % host)
            continue
        for where, entry in _entries(problems, host, 'turnkey_env_files', env_files, ENV_FILE_KEYS, 'path and values'):
            path = entry.get('path')
            if not isinstance(path, str) or not path.startswith('/'):
                problems.append('%s.path must be an absolute path' % where)
            mode = str(entry.get('mode', '0600'))
            if not (mode.isdigit() and set(mode) <= set('01234567') and len(mode) in (3, 4)):
                problems.append('%s.mode must be an octal string such as "0600", not %r' % (where, mode))
            if entry.get('list_format', 'comma') not in ('comma', 'json'):
                problems.append('%s.list_format must be comma or json' % where)
            problems.extend(_backup_encrypt_problems(where, entry.get('backup_encrypt'), known))
            values = entry.get('values')
            if not isinstance(values, dict) or not values:
                problems.append('%s.values must map variable names of the file to vault variables' % where)
                continue
            for target, source in values.items():
                if not isinstance(target, str) or not KEY_RE.match(target):
                    problems.append('%s.values: %r is not a valid environment variable name' % (where, target))
                for var in _vars_of(source):
                    if var not in known:
                        problems.append('%s.values.%s: %s is not defined in the vault or the catalogue%s'
                                        % (where, target, var, _suggest(var, known)))
        names = set()
        for where, entry in _entries(problems, host, 'turnkey_podman_secrets', podman, PODMAN_KEYS, 'name and var'):
            name = entry.get('name')
            if not isinstance(name, str) or not NAME_RE.match(name):
                problems.append('%s.name %r is not a valid podman secret name (letters, digits, _ . -; at most 64)'
                                % (where, name))
            elif name in names:
                problems.append('%s.name %s is listed twice' % (where, name))
            names.add(name)
            if entry.get('var') not in known:
                problems.append('%s.var: %s is not defined in the vault or the catalogue%s'
                                % (where, entry.get('var'), _suggest(entry.get('var'), known)))
        out[host] = {'env_files': env_files, 'podman_secrets': podman}
    _raise(problems, 'invalid consumers')
    return out


BACKUP_ENCRYPT_KEYS = ('age_recipients', 'gpg_passphrase', 'dir', 'keep', 'fetch_dir')


def _backup_encrypt_problems(where, spec, known):
    if spec is None:
        return []
    where += '.backup_encrypt'
    if not isinstance(spec, dict):
        return ['%s must be a mapping (age_recipients or gpg_passphrase, dir, keep, fetch_dir)' % where]
    problems = ['%s: unknown key %s%s; accepted: %s' % (where, key, _suggest(key, BACKUP_ENCRYPT_KEYS),
                                                        ', '.join(BACKUP_ENCRYPT_KEYS))
                for key in sorted(set(spec) - set(BACKUP_ENCRYPT_KEYS))]
    if bool(spec.get('age_recipients')) == bool(spec.get('gpg_passphrase')):
        problems.append('%s needs exactly one of age_recipients (public keys) and gpg_passphrase (a vault variable)'
                        % where)
    elif spec.get('gpg_passphrase') and spec['gpg_passphrase'] not in known:
        problems.append('%s.gpg_passphrase: %s is not defined in the vault or the catalogue%s'
                        % (where, spec['gpg_passphrase'], _suggest(spec['gpg_passphrase'], known)))
    if not isinstance(spec.get('keep', 3), int) or isinstance(spec.get('keep'), bool) or spec.get('keep', 3) < 1:
        problems.append('%s.keep must be 1 or more' % where)
    for key in ('dir', 'fetch_dir'):
        if spec.get(key) is not None and not str(spec[key]).startswith('/'):
            problems.append('%s.%s must be an absolute path' % (where, key))
    return problems


def consumed_keys(spec):
    keys = set()
    for entry in spec.get('env_files') or []:
        for source in (entry.get('values') or {}).values():
            keys.update(_vars_of(source))
    keys.update(entry.get('var') for entry in spec.get('podman_secrets') or [])
    return keys


def preview(spec, entries, names):
    """What a rotation of ``names`` would change in one host's consumers (check mode, --diff):
    ``path: KEY=<changed> ...`` and ``podman secret NAME: <changed>`` lines, never a value."""
    touched = set()
    for name in names:
        kind, _options = entries[name]
        touched.update(kind.keys(name))
        touched.update(kind.kept_keys(name))

    def mark(source):
        return _redact.CHANGED if touched & set(_vars_of(source)) else _redact.UNCHANGED
    lines = ['%s: %s' % (entry['path'], ' '.join('%s=%s' % (key, mark(source)) for key, source in sorted(entry['values'].items())))
             for entry in spec.get('env_files') or []]
    lines.extend('podman secret %s: %s' % (entry['name'], mark(entry['var'])) for entry in spec.get('podman_secrets') or [])
    return lines


def resolve_consumers(spec, values, kept):
    """A host's consumer entries with each vault variable replaced by its value."""
    def value(var):
        if var in values:
            return values[var]
        if var in kept:
            return []  # old-key lists start empty: the first rotation fills them
        raise InputError('%s is not in the vault' % var)

    env_files = []
    for entry in spec.get('env_files') or []:
        resolved = dict(entry)
        resolved['values'] = {}
        for target, source in entry['values'].items():
            if isinstance(source, (list, tuple)):
                items = []
                for var in source:
                    got = value(var)
                    items.extend(got if isinstance(got, (list, tuple)) else [got])
                resolved['values'][target] = items
            else:
                resolved['values'][target] = value(source)
        if entry.get('backup_encrypt'):
            # The passphrase is named by its vault variable, like the values.
            encrypt = dict(entry['backup_encrypt'])
            if encrypt.get('gpg_passphrase'):
                encrypt['gpg_passphrase'] = value(encrypt['gpg_passphrase'])
            resolved['backup_encrypt'] = encrypt
        env_files.append(resolved)
    podman = []
    for entry in spec.get('podman_secrets') or []:
        resolved = {k: v for k, v in entry.items() if k != 'var'}
        got = value(entry['var'])
        resolved['data'] = ','.join(got) if isinstance(got, (list, tuple)) else got
        podman.append(resolved)
    return {'env_files': env_files, 'podman_secrets': podman}


# --------------------------------------------------------------------------- planning

def selected(entries, run_tags):
    tags = set(run_tags or ('all',))
    return [name for name, (kind, _o) in sorted(entries.items())
            if 'all' in tags or tags.intersection(kind.tags)]


def due(entries, names, dates, force, now=None):
    rows = {}
    for name in names:
        kind, options = entries[name]
        row = dict(dates.get(name) or {})
        row.setdefault('max_age_days', options.get('max_age_days') or kind.max_age_days)
        rows[name] = row
    return _rotation.due(rows, names=names, force=force, now=now)


def service_record(name, kind, options, values, new, state):
    options = {k: v for k, v in options.items() if v is not None}
    record = {'name': name, 'names': [name], 'kind': kind.name, 'group': kind.group_of(options),
              'label': '%s (%s)' % (name, kind.name),
              'steps': ['rollback'] if state == 'rollback' else [s for s in kind.steps_of(options) if s != 'retire'],
              'module_defaults': {}}
    if kind.module_group:
        record['module_defaults'] = {'group/' + kind.module_group: {
            key: options[key] for key in kind.connection if key in options}}
    record['options'] = options
    record.update(kind.record(name, options, values, new))
    return record


def batches(records):
    """Records by host group; records of a batching kind that agree on everything but its
    batch_apart options become one record whose ``members`` are the secrets' own parts."""
    out = {}
    merged = {}
    for record in records:
        kind = KINDS[record['kind']]
        if kind.batch_apart is None:
            out.setdefault(record['group'], []).append(record)
            continue
        key = (record['kind'], tuple(record['steps']), repr(sorted(
            (k, v) for k, v in record['options'].items() if k not in kind.batch_apart)))
        item = {k: v for k, v in record.items() if k not in ('names', 'label', 'steps', 'options', 'module_defaults')}
        if key in merged:
            batch = merged[key]
            batch['names'].append(record['name'])
            batch['members'].append(item)
            batch['label'] = _batch_label(batch['names'], record['kind'])
            continue
        batch = dict(record, members=[item])
        for own in item:
            if own not in ('kind', 'group'):
                batch.pop(own, None)
        merged[key] = batch
        out.setdefault(record['group'], []).append(batch)
    return out


def _batch_label(names, kind):
    shown = ', '.join(names[:3]) + (' and %d more' % (len(names) - 3) if len(names) > 3 else '')
    return '%s (%s)' % (shown, kind)


def group_hosts(group, groups):
    return [CONTROLLER] if group == CONTROLLER else list(groups.get(group) or [])


def play_hosts(run, batches, groups, due_names):
    """The inventory hosts each later play of rotate.yml / deploy.yml has work for.

    The plays target these (and the controller) only: a host outside them would just
    skip every task, which costs the controller a worker per task and host.
    ``services``: the hosts of the groups with service records; ``retire``: the hosts of
    the groups of kinds that retire an old credential, for the secrets that may reach
    that step in this run.  The consumers play takes the hosts promote deploys to.
    """
    names = set(run.inflight) | set(due_names)
    retiring = {kind.group_of(options) for kind, options in (run.entries[n] for n in names if n in run.entries)
                if 'retire' in kind.steps_of(options)}

    def hosts_of(group_names):
        return sorted({h for g in group_names if g != CONTROLLER for h in groups.get(g) or ()})

    return {'services': hosts_of(batches), 'retire': hosts_of(retiring)}


def check_groups(entries, names, groups):
    problems = []
    for name in names:
        kind, options = entries[name]
        group = kind.group_of(options)
        if group and group != CONTROLLER and not groups.get(group):
            problems.append('turnkey_secrets.%s: kind %s runs on the hosts of group %s, which has none: add the %s '
                            'host(s) to the inventory' % (name, kind.name, group, group))
    _raise(problems, 'invalid inventory')


def outcome_of(name, host, outcomes):
    """A host's outcome for ``name`` (the controller's may have been recorded on any host)."""
    if host == CONTROLLER:
        for per_host in outcomes.values():
            if name in per_host:
                return per_host[name]
        return None
    return (outcomes.get(host) or {}).get(name)


UNDONE = ('rolled_back', 'set_failed')


def decide(state, results):
    """Next state of an entry in ``pending``/``rollback`` from its hosts' outcomes."""
    if state == 'pending':
        if results and all(r == 'tested' for r in results):
            return 'tested'
        if any(r in ('failed', 'rollback_failed') + UNDONE for r in results):
            return 'dropped' if all(r in UNDONE for r in results) else 'rollback'
        return 'pending'
    return 'dropped' if all(r in UNDONE for r in results) else 'rollback'


# --------------------------------------------------------------------------- transitions

class Run(object):
    """One run's view of an environment: the store's values and journal, and the catalogue."""

    def __init__(self, store, entries, now):
        self.store = store
        self.entries = entries
        self.now = _rotation.format_time(now)
        self.values, self.journal = store.load()
        self.journal.setdefault('secrets', {})
        self.journal.setdefault('waiting', [])
        self.done, self.failed, self.undoing, self.waiting_for_person = [], [], [], []
        # Called after each journal write, before the checkpoint: the audit log's lines of
        # a step are written even when the run is killed right after that write.
        self.on_save = None

    @property
    def inflight(self):
        return self.journal['secrets']

    def missing_keys(self, name):
        """The vault variables of ``name`` that are absent or empty (deploy generates them)."""
        return [key for key in self.entries[name][0].keys(name) if self.values.get(key) in (None, '')]

    def save(self, transition, updates=None):
        journal = {k: v for k, v in self.journal.items() if v}
        self.store.save(updates, journal=journal)
        if updates:
            self.values.update(updates)
        if self.on_save:
            self.on_save()
        checkpoint(transition)

    # create ------------------------------------------------------------------
    def create(self, names, supplied):
        """Store new values as pending (one write) for ``names`` not yet in flight."""
        changed = False
        for name in names:
            if name in self.inflight:
                continue
            kind, options = self.entries[name]
            if kind.name == 'vault':
                continue  # its own play, after everything else (roles/vault)
            new = kind.new_values(name, options, self.values, supplied.get(name))
            if new is None:
                self.waiting_for_person.append(name)
                continue
            # Retire runs after the consumers: a kind with no other step has nothing to set.
            service = [s for s in kind.steps_of(options) if s != 'retire']
            self.inflight[name] = {'kind': kind.name, 'state': 'pending' if service else 'tested',
                                   'new': new, 'created': self.now}
            changed = True
        if changed:
            self.save('create')

    def generate_missing(self, names):
        """deploy.yml: generate what the vault lacks (one write). Returns the names generated."""
        updates, generated = {}, []
        for name in names:
            kind, options = self.entries[name]
            missing = self.missing_keys(name)
            if not missing or not kind.generate:
                continue
            new = kind.new_values(name, options, self.values, None)
            updates.update({key: new[key] for key in missing})
            generated.append(name)
        if updates:
            self.save('generate', updates)
        return generated

    def service_records(self, names=None, deploy=False):
        records = []
        for name, entry in sorted(self.inflight.items()):
            if entry['state'] in ('pending', 'rollback') and name in self.entries:
                kind, options = self.entries[name]
                records.append(service_record(name, kind, options, self.values, entry.get('new') or {}, entry['state']))
        if deploy:
            for name in names:
                kind, options = self.entries[name]
                if 'set' in kind.steps_of(options) and not self.missing_keys(name):
                    current = {k: self.values[k] for k in kind.keys(name)}
                    record = service_record(name, kind, options, {}, current, 'pending')
                    record['steps'] = [s for s in record['steps'] if s != 'rollback']
                    records.append(record)
        return records

    # promote -----------------------------------------------------------------
    def promote(self, outcomes, groups, consumer_hosts):
        """Record the service outcomes; promote what every host tested (one write)."""
        updates = {}
        for name, entry in sorted(self.inflight.items()):
            if entry['state'] not in ('pending', 'rollback', 'tested') or name not in self.entries:
                continue
            kind, options = self.entries[name]
            state = entry['state']
            if state != 'tested':
                hosts = group_hosts(kind.group_of(options), groups)
                results = [outcome_of(name, host, outcomes) for host in hosts]
                state = decide(state, results)
                missing = [h for h, r in zip(hosts, results) if r is None]
                if state == 'dropped':
                    self.failed.append(name)
                    del self.inflight[name]
                    continue
                entry['state'] = state
                if state == 'rollback':
                    self.undoing.append(name)
                if missing:
                    entry['hosts_missing'] = missing
                if state != 'tested':
                    continue
            new = entry.pop('new', {})
            updates.update(kind.promote(name, options, self.values, new))
            entry.pop('hosts_missing', None)
            entry.update(state='promoted', promoted=self.now)
            self.done.append(name)
        if self.done:
            self.journal['waiting'] = sorted(set(self.journal['waiting']) | set(consumer_hosts))
        if updates or self.done or self.failed or self.undoing:
            self.save('promote', updates)

    # consumers ---------------------------------------------------------------
    def deployed(self, ok_hosts, consumers):
        """Consumer hosts that got the current values; secrets none of whose consumers waits
        move on (one write).  Returns the secrets whose kinds retire an old credential."""
        before = list(self.journal['waiting'])
        self.journal['waiting'] = sorted(set(before) - set(ok_hosts))
        waiting = set(self.journal['waiting'])
        retiring = []
        for name, entry in sorted(self.inflight.items()):
            if entry['state'] != 'promoted' or name not in self.entries:
                continue
            kind, options = self.entries[name]
            keys = set(kind.keys(name)) | set(kind.kept_keys(name))
            if any(keys & consumed_keys(consumers.get(h) or {}) for h in waiting):
                continue
            entry['state'] = 'deployed' if 'retire' in kind.steps_of(options) else 'retired'
        for name, entry in self.inflight.items():
            if entry['state'] == 'deployed':
                retiring.append(name)
        if before != self.journal['waiting'] or any(e['state'] in ('deployed', 'retired') for e in self.inflight.values()):
            self.save('deployed')
        return retiring

    def retire_records(self, names):
        out = []
        for name in names:
            kind, options = self.entries[name]
            record = service_record(name, kind, options, self.values, {k: self.values.get(k) for k in kind.keys(name)},
                                    'deployed')
            record['steps'] = ['retire']
            out.append(record)
        return out

    def retired(self, retired, groups, consumers, counts=None):
        """Secrets whose retire step succeeded on every host of their group become ``retired``;
        what the kind writes then (``Kind.retired``: fernet_key's trimmed key list) is saved
        in the same write and the consumer hosts reading it become ``waiting``.  ``counts``:
        {host: {name: rows still under an old key}}, kept in the entry (one write).
        Returns {host: consumer spec} of the hosts to deploy again."""
        updates, changed, redeploy = {}, False, set()
        for name, entry in sorted(self.inflight.items()):
            if entry['state'] != 'deployed' or name not in self.entries:
                continue
            kind, options = self.entries[name]
            hosts = group_hosts(kind.group_of(options), groups)
            found = [c[name] for c in (counts or {}).values() if isinstance(c, dict) and name in c]
            if found and entry.get('rows_under_old_keys') != max(found):
                entry['rows_under_old_keys'] = max(found)
                changed = True
            if not hosts or not all(name in (retired.get(h) or ()) for h in hosts):
                continue
            written = kind.retired(name, options, self.values)
            updates.update(written)
            entry['state'] = 'retired'
            changed = True
            redeploy.update(h for h, spec in consumers.items() if set(written) & consumed_keys(spec))
        if redeploy:
            self.journal['waiting'] = sorted(set(self.journal['waiting']) | redeploy)
        if changed:
            self.save('retired', updates)
        return sorted(redeploy)

    # finish ------------------------------------------------------------------
    def finish(self):
        """Date what is done in rotation.yml, then drop it from the journal."""
        done = {n: e for n, e in self.inflight.items() if e['state'] == 'retired'}
        if not done:
            return []
        defaults = {n: (self.entries[n][1].get('max_age_days') or self.entries[n][0].max_age_days)
                    for n in done if n in self.entries}
        self.store.record_dates({n: e.get('promoted') or self.now for n, e in done.items()}, defaults)
        checkpoint('dated')
        for name in done:
            del self.inflight[name]
        self.save('finish')
        return sorted(done)


def next_due(entries, names, dates):
    """``name YYYY-MM-DD`` of each secret, soonest first (never-rotated ones: ``now``)."""
    rows = []
    for name in names:
        meta = dates.get(name) or {}
        kind, options = entries[name]
        days = int(meta.get('max_age_days') or options.get('max_age_days') or kind.max_age_days)
        if meta.get('rotated_at'):
            when = _rotation.parse_time(meta['rotated_at'], name) + datetime.timedelta(days=days)
            rows.append((when.strftime('%Y-%m-%d'), name))
        else:
            rows.append(('now', name))
    return ['%s %s' % (name, when) for when, name in sorted(rows, key=lambda r: (r[0] != 'now', r[0], r[1]))]


def checkpoint(transition):
    """Test hook: with ``_TURNKEY_ROTATION_TEST_PAUSE=<transition>`` (and a marker file in
    ``_TURNKEY_ROTATION_TEST_MARKER``) the run stops right after that journal write, so
    the kill tests can kill it exactly there: create, generate, promote, deployed, retired,
    dated, finish.  It goes on when the test creates ``<marker>.go`` (or after two minutes)."""
    marker = os.environ.get('_TURNKEY_ROTATION_TEST_MARKER')
    if not marker or os.environ.get('_TURNKEY_ROTATION_TEST_PAUSE') != transition:
        return
    with open(marker, 'w') as handle:
        handle.write(transition)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not os.path.exists(marker + '.go'):
        time.sleep(0.05)
