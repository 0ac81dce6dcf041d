# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log of an environment: one JSON line per step of a secret, never a value.

``rotate.yml``, ``deploy.yml`` and ``audit.yml`` append to it (the rotation and
audit_scan action plugins, on the controller); ``audit.yml`` reads it back (``findings``).
A line holds the time (UTC), the controller's user and host, the AWX job / CI run when
there is one, the environment, the run, and either one secret's step and outcome or the
run's start / end; names and hosts only.  Reasons of failures are redacted against every
value the run knows before they are written.

Each line is one ``os.write`` on a descriptor opened ``O_APPEND`` (concurrent runs never
interleave half lines), created 0600 (``O_NOFOLLOW``: never through a planted link).
Past ``max_size`` the file is renamed to ``.1`` (``.1`` to ``.2``... ``keep`` of them),
under ``flock`` so two writers rotate once.  Lives in module_utils: the audit module reads it.
"""

from __future__ import annotations

import datetime
import fcntl
import getpass
import json
import os
import socket
import stat

from ansible_collections.turnkey.secrets.plugins.module_utils._redact import HIDDEN, redact_obj

DEFAULT_NAME = '.state/audit.log'
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_KEEP = 5
SYSLOG_ADDRESS = '/dev/log'
SYSLOG_PRI = 10 * 8 + 6  # authpriv.info: who touched which secret
# Where the job ids come from: AWX / Tower, then CI systems (first one set wins).
AWX_ENV = ('AWX_JOB_ID', 'JOB_ID')
AWX_VARS = ('awx_job_id', 'tower_job_id')
CI_ENV = (('github', 'GITHUB_RUN_ID'), ('gitlab', 'CI_JOB_ID'), ('jenkins', 'BUILD_TAG'),
          ('buildkite', 'BUILDKITE_BUILD_ID'), ('circleci', 'CIRCLE_WORKFLOW_JOB_ID'), ('drone', 'DRONE_BUILD_NUMBER'),
          ('azure', 'BUILD_BUILDID'), ('woodpecker', 'CI_PIPELINE_NUMBER'))
SUCCESS = ('promoted', 'retired')


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _user():
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (containers): the uid says who it was
        return str(os.getuid())


def context(environment, mode, run_id, task_vars=None, environ=None):
    """The fields every line of a run carries."""
    environ = os.environ if environ is None else environ
    task_vars = task_vars or {}
    out = {'environment': environment or 'default', 'playbook': mode, 'run': run_id,
           'user': _user(), 'controller': socket.gethostname()}
    for name in AWX_VARS:
        if task_vars.get(name) not in (None, ''):
            out['awx_job'] = str(task_vars[name])
            break
    else:
        for name in AWX_ENV:
            if environ.get(name):
                out['awx_job'] = environ[name]
                break
    for system, name in CI_ENV:
        if environ.get(name):
            out['ci'] = '%s:%s' % (system, environ[name])
            break
    return out


class Log(object):
    def __init__(self, path, max_size=DEFAULT_MAX_SIZE, keep=DEFAULT_KEEP, syslog=False, syslog_address=SYSLOG_ADDRESS):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.max_size = int(max_size or DEFAULT_MAX_SIZE)
        self.keep = max(int(DEFAULT_KEEP if keep is None else keep), 0)
        self.syslog = bool(syslog)
        self.syslog_address = syslog_address or SYSLOG_ADDRESS

    def _open(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError('%s is not a regular file' % self.path)
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # made wider by hand: the log names who touched what
        return fd, st

    def _rotate(self):
        """Shift path -> .1 -> .2 ...; the oldest beyond ``keep`` goes."""
        names = [self.path] + ['%s.%d' % (self.path, i) for i in range(1, self.keep + 1)]
        if self.keep == 0:
            os.unlink(self.path)
            return
        for older, newer in reversed(list(zip(names, names[1:]))):
            if os.path.lexists(older):
                os.replace(older, newer)

    def append(self, records):
        """Append each record as one line (one write each)."""
        lines = [(json.dumps(r, sort_keys=True, separators=(',', ':'), ensure_ascii=True) + '\n').encode('ascii')
                 for r in records]
        for data in lines:
            for _attempt in range(5):
                fd, st = self._open()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    try:
                        current = os.lstat(self.path)
                    except FileNotFoundError:
                        current = None
                    if current is None or (current.st_dev, current.st_ino) != (st.st_dev, st.st_ino):
                        continue  # another writer rotated it meanwhile: open the new one
                    size = os.fstat(fd).st_size
                    if size and size + len(data) > self.max_size:
                        self._rotate()
                        continue
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError('short write to %s' % self.path)
                    break
                finally:
                    os.close(fd)
            if self.syslog:
                self._send(data)

    def _send(self, data):
        message = b'<%d>turnkey.secrets[%d]: %s' % (SYSLOG_PRI, os.getpid(), data.rstrip(b'\n'))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.connect(self.syslog_address)
            sock.send(message)
        except OSError:
            pass  # syslog is a copy: the file is the record
        finally:
            sock.close()


def from_vars(task_vars, template, check_mode=False):
    """The Log of the environment from ``turnkey_audit_log*`` (None: off, or check mode).

    Default ``<inventory dir>/.state/audit.log``: beside the environment it records, ignored
    by git (``.state/``) and by the collection build (galaxy.yml build_ignore)."""
    if check_mode:
        return None

    def var(name, default=None):
        value = task_vars.get(name, default)
        return template(value) if isinstance(value, str) and '{' in value else value

    path = var('turnkey_audit_log')
    if path is None and task_vars.get('inventory_dir'):
        path = os.path.join(str(task_vars['inventory_dir']), DEFAULT_NAME)
    if not path:
        return None
    return Log(str(path), var('turnkey_audit_log_max_size'), var('turnkey_audit_log_keep'),
               str(var('turnkey_audit_log_syslog', False)).lower() in ('1', 'true', 'yes', 'on'),
               var('turnkey_audit_log_syslog_address'))


# --------------------------------------------------------------------------- what a run did

def _values(run):
    out = []
    for source in [run.values] + [e.get('new') or {} for e in run.inflight.values()]:
        for value in source.values():
            out.extend(value if isinstance(value, (list, tuple)) else [value])
    return [v for v in out if isinstance(v, (str, bytes)) and v]


class Trail(object):
    """The lines of one step of the engine, computed from the run's journal when written.

    ``flush`` is called right after the step's journal write (``Run.on_save``, before the
    kill tests' checkpoint) and once more when the step ends; a line is written once."""

    def __init__(self, log, base, run, step, **facts):
        self.log, self.base, self.run, self.step, self.facts = log, base, run, step, facts
        self.before = {n: dict(e) for n, e in run.inflight.items()} if run else {}
        self.values_before = dict(run.values) if run else {}
        self.written = set()
        self.secrets = _values(run) if run else []

    def flush(self, *_args):
        """Write the new lines.  A log that cannot be written is a warning (``warn``), never
        a failed step: the journal write before it happened, the run must go on to its end."""
        if self.log is None:
            return
        try:
            self._flush()
        except Exception as exc:  # noqa: BLE001 - whatever it is, the rotation must not stop half way
            self.log = None
            warn = self.facts.get('warn')
            if warn:
                warn('audit log %s not written: %s' % (getattr(exc, 'filename', None) or '', exc.__class__.__name__))

    def _flush(self):
        records = []
        for fields in getattr(self, '_' + self.step)():
            key = json.dumps(fields, sort_keys=True)
            if key not in self.written:
                self.written.add(key)
                records.append(fields)
        if records:
            secrets = self.secrets + (_values(self.run) if self.run else [])
            now = utc_now()
            self.log.append([redact_obj(dict(self.base, time=now, **r), secrets) for r in records])

    # helpers ------------------------------------------------------------------
    def _kind(self, name):
        entry = (self.run.entries or {}).get(name)
        return entry[0] if entry else None

    def _reason(self, name, host):
        for failure in self.facts.get('failures') or ():
            if name in str(failure.get('name', '')).split(', ') and failure.get('host') == host:
                return 'failed: %s: %s' % (failure.get('step') or '?', failure.get('msg') or '?')
        return 'failed'

    # steps --------------------------------------------------------------------
    def _plan(self):
        facts = self.facts
        yield {'step': 'start', 'due': sorted(facts.get('due') or []),
               'in_flight': {n: e['state'] for n, e in sorted(self.before.items())}}
        if not self.run:
            return
        for name, entry in sorted(self.before.items()):
            yield {'step': 'resume', 'secret': name, 'outcome': 'resumed: %s' % entry['state']}
        for name in sorted(set(self.run.inflight) - set(self.before)):
            yield {'step': 'create', 'secret': name, 'outcome': 'created'}
        for name in self.run.waiting_for_person:
            yield {'step': 'create', 'secret': name, 'outcome': 'failed: waiting for a person (a new DingTalk pair)'}
        for name in sorted(self.run.entries):
            keys = self._kind(name).keys(name)
            if any(self.values_before.get(k) in (None, '') and self.run.values.get(k) not in (None, '') for k in keys):
                yield {'step': 'generate', 'secret': name, 'outcome': 'created'}

    def _host_steps(self, name, host, outcome):
        kind = self._kind(name)
        has_set = kind is None or 'set' in kind.steps_of(self.run.entries[name][1])
        resumed_rollback = (self.before.get(name) or {}).get('state') == 'rollback'
        if outcome in ('rolled_back', 'rollback_failed') and resumed_rollback:
            steps = []
        elif outcome == 'set_failed':
            return [('set', self._reason(name, host))]
        else:
            steps = [('set', 'set')] if has_set else []
            if outcome in ('tested', 'failed', 'rolled_back', 'rollback_failed'):
                failed = outcome == 'failed' or (outcome != 'tested' and self._reason(name, host) != 'failed')
                steps.append(('test', self._reason(name, host) if failed else 'tested'))
        if outcome in ('rolled_back', 'rollback_failed'):
            steps.append(('rollback', 'rolled_back' if outcome == 'rolled_back' else self._reason(name, host)))
        return steps

    def _promote(self):
        for host, per_host in sorted((self.facts.get('outcomes') or {}).items()):
            for name, outcome in sorted(per_host.items()):
                if outcome in ('retired', 'retire_failed'):
                    continue
                for step, result in self._host_steps(name, host, outcome):
                    yield {'step': step, 'secret': name, 'host': host, 'outcome': result}
        for name, entry in sorted(self.run.inflight.items()):
            for host in entry.get('hosts_missing') or ():
                yield {'step': 'set', 'secret': name, 'host': host, 'outcome': 'failed: no result (host unreachable)'}
        for name in self.run.done:
            yield {'step': 'promote', 'secret': name, 'outcome': 'promoted'}
        for name in self.run.failed:
            yield {'step': 'promote', 'secret': name,
                   'outcome': 'failed: not promoted, the services keep the current credential'}
        for name in self.run.undoing:
            yield {'step': 'promote', 'secret': name, 'outcome': 'failed: undoing set failed on a host, the next run undoes it'}

    def _deployed(self):
        promoted = [n for n, e in self.before.items() if e['state'] == 'promoted']
        for host, names in sorted((self.facts.get('uses') or {}).items()):
            result = (self.facts.get('outcomes') or {}).get(host)
            if result is None:
                continue
            for name in sorted(n for n in names if n in promoted or self.facts.get('mode') == 'deploy'):
                yield {'step': 'deploy', 'secret': name, 'host': host,
                       'outcome': 'deployed to %s' % host if result == 'ok' else 'failed: %s' % result}

    def _retired(self):
        for host, per_host in sorted((self.facts.get('outcomes') or {}).items()):
            counts = (self.facts.get('counts') or {}).get(host) or {}
            for name, outcome in sorted(per_host.items()):
                line = {'step': 'retire', 'secret': name, 'host': host}
                if name in counts:
                    # fernet_key with columns: rows still under an old key (a count, never a row).
                    line['rows_under_old_keys'] = counts[name]
                if outcome == 'retired':
                    yield dict(line, outcome='retired')
                elif outcome == 'retire_failed':
                    yield dict(line, outcome=self._reason(name, host))

    def _finish(self):
        # finish drops what it dated from the journal.
        for name in sorted(set(self.before) - set(self.run.inflight)):
            yield {'step': 'finish', 'secret': name, 'outcome': 'retired'}
        yield {'step': 'end', 'outstanding': sorted(self.run.journal.get('waiting') or []),
               'in_flight': {n: e['state'] for n, e in sorted(self.run.inflight.items())}}

    def _vault_done(self):
        for name in self.facts.get('names') or ():
            yield {'step': 'finish', 'secret': name, 'outcome': 'retired'}

    def _audit(self):
        yield {'step': 'audit', 'outcome': self.facts.get('outcome') or 'done', 'findings': self.facts.get('findings')}


# --------------------------------------------------------------------------- reading it back

def read(path):
    """(records oldest first, lines that are not JSON) of the log and its rotated copies."""
    records, bad = [], 0
    names = []
    index = 1
    while os.path.exists('%s.%d' % (path, index)):
        names.insert(0, '%s.%d' % (path, index))
        index += 1
    if os.path.exists(path):
        names.append(path)
    for name in names:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, 'rb') as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(record, dict):
                    records.append(record)
    return records, bad


def _time(text):
    try:
        return datetime.datetime.strptime(str(text), '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def findings(records, max_ages, now=None):
    """[(rule, secret, message)]: secrets no logged run rotated for longer than their max age
    (when the log reaches back that far), and failures no success followed."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    first = None
    last_ok, failed = {}, {}
    for record in records:
        when = _time(record.get('time'))
        name, outcome = record.get('secret'), str(record.get('outcome') or '')
        if when is None:
            continue
        first = when if first is None else min(first, when)
        if not name:
            continue
        if outcome in SUCCESS or (record.get('step') == 'generate' and outcome == 'created'):
            last_ok[name] = when
            failed.pop(name, None)
        elif outcome.startswith('failed'):
            failed.setdefault(name, {})[(record.get('step'), record.get('host'))] = (when, outcome)
        elif name in failed:
            # The same step on the same host went through later (a deploy to a host that is back).
            failed[name].pop((record.get('step'), record.get('host')), None)
            if not failed[name]:
                del failed[name]
    out = []
    for name in sorted(max_ages):
        days = max_ages[name]
        if not days or first is None:
            continue
        limit = datetime.timedelta(days=int(days))
        if name in last_ok:
            if now - last_ok[name] > limit:
                out.append(('rotation-not-logged', name, '%s: the audit log shows no rotation for %d days (max %d): '
                            'run rotate.yml' % (name, (now - last_ok[name]).days, int(days))))
        elif now - first > limit:
            out.append(('rotation-not-logged', name, '%s: no rotation in the audit log, which reaches back %d days '
                        '(max %d): run rotate.yml' % (name, (now - first).days, int(days))))
    for name in sorted(failed):
        when, outcome = max(failed[name].values())
        out.append(('rotation-failed', name, '%s: rotation failed at %s (%s) and no rotation succeeded since'
                    % (name, when.strftime('%Y-%m-%dT%H:%M:%SZ'), outcome)))
    return out


__all__ = ['HIDDEN', 'Log', 'Trail', 'context', 'findings', 'from_vars', 'read']
