# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of turnkey.secrets.rotation (documented in plugins/modules/rotation.py).

Each step reads the environment's store afresh, does one journal transition (one atomic
write) and returns what the next plays need.  Values travel only in results marked
no_log.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit_log, _rotation
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _engine, _git, _lock, _stores, _vault_tree, _vault_vars

STEPS = ('recover', 'plan', 'git', 'promote', 'deployed', 'retired', 'finish', 'vault_done', 'release', 'migrate')
ARGS = frozenset(('step', 'environment', 'vault_file', 'rotation_file', 'lock_file', 'vault_password_file', 'vault_id',
                  'catalogue', 'mode', 'force', 'break_lock', 'dingtalk_new', 'dingtalk_new_url', 'dingtalk_new_secret',
                  'consumer_group', 'consumers', 'names', 'hosts', 'vault_format', 'git', 'git_stage', 'git_base', 'store'))


def _supplied(args, entries_raw):
    supplied = dict(_vault_vars.plain(args.get('dingtalk_new') or {}))
    if args.get('dingtalk_new_url') is not None and not supplied:
        robots = [n for n, s in (entries_raw or {}).items() if isinstance(s, dict) and s.get('kind') == 'dingtalk']
        if len(robots) != 1:
            raise TurnkeyError('dingtalk_new_url / dingtalk_new_secret name no robot and the environment has %d: give '
                               'dingtalk_new: {<name>: {url: ..., secret: ...}} instead' % len(robots))
        supplied[robots[0]] = {'url': str(args['dingtalk_new_url']), 'secret': str(args.get('dingtalk_new_secret') or '')}
    return supplied


def _deploy_reason(run, name):
    if not run.missing_keys(name):
        return 'the current value'
    return 'empty in the vault, generated now' if run.entries[name][0].generate else 'empty in the vault: a person enters it'


def _unretired(run):
    """Secrets deployed everywhere whose old credential is still to be retired."""
    return sorted(n for n, e in run.inflight.items() if e['state'] == 'deployed')


def _deployed_names(task_vars):
    """What deploy.yml applied: every planned secret but those whose set failed."""
    plan_result = _vault_vars.plain(task_vars.get('__rotation') or {})
    failed = _vault_vars.plain(task_vars.get('__rotation_promoted') or {}).get('failed_names') or ()
    return [n for n in sorted(plan_result.get('plan') or {}) if n not in failed]


def _writable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.W_OK) and \
        os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


def _shown(path):
    """``path`` relative to the working directory when it is below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith('..') else relative


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = ARGS

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        step = args.get('step')
        if step not in STEPS:
            raise AnsibleActionFail('step must be one of %s' % ', '.join(STEPS))
        # The parent of this worker is the ansible-playbook run: the lock is the run's.
        self._owner = os.getppid()
        try:
            result.update(getattr(self, '_' + step)(args, task_vars))
        except TurnkeyError as exc:
            result.update(failed=True, changed=False, msg=exc.msg)
        # Plans and consumer specs carry values: censored in every callback.  Errors never
        # hold a value, and the operator must read them.
        if not result.get('failed'):
            result['_ansible_no_log'] = True
        return result

    # helpers -----------------------------------------------------------------
    def _passwords(self, args):
        passwords = []
        path = args.get('vault_password_file')
        if path and os.path.exists(os.path.expanduser(str(path))):
            passwords.append(_vault_tree.load_password(str(path), args.get('vault_id'), self._loader, 'vault_password_file'))
        # The secrets ansible-playbook was given (--vault-id, --ask-vault-pass, ...).
        passwords.extend(p for p in _vault_tree.playbook_secrets(self._loader, args.get('vault_id')) if p not in passwords)
        return passwords

    def _store(self, args, names=()):
        config = _vault_vars.plain(args.get('store') or {})
        if not isinstance(config, dict):
            raise TurnkeyError('turnkey_store must be a mapping such as {backend: openbao, url: ..., prefix: ...}')
        openbao = _stores.backend(config) == 'openbao'
        return _stores.open_store(config, args.get('vault_file'), args.get('rotation_file'),
                                  [] if openbao else self._passwords(args), args.get('vault_id') or None,
                                  args.get('lock_file'), names, args.get('vault_format') or None)

    def _run(self, args, catalogue=None, supplied=None, renew=False):
        entries = _engine.validate_catalogue(_vault_vars.plain(catalogue if catalogue is not None else args.get('catalogue') or {}),
                                             supplied)
        store = self._store(args, list(entries))
        if renew and store.lock is not None:
            # A KV lock expires unless its holder renews it; a run that lost it stops here.
            store.lock.renew(self._owner)
        return _engine.Run(store, entries, _rotation.utcnow())

    def _consumers(self, args, task_vars):
        group = args.get('consumer_group') or 'app'
        hostvars = task_vars.get('hostvars') or {}
        out = {}
        for host in (task_vars.get('groups') or {}).get(group) or []:
            host_vars = hostvars[host]
            out[host] = {'env_files': _vault_vars.plain(host_vars.get('turnkey_env_files') or []),
                         'podman_secrets': _vault_vars.plain(host_vars.get('turnkey_podman_secrets') or [])}
        return out

    def _outcomes(self, task_vars, var):
        hostvars = task_vars.get('hostvars') or {}
        out = {}
        for host in hostvars:
            value = hostvars[host].get(var)
            if value:
                out[str(host)] = _vault_vars.plain(value)
        return out

    def _trail(self, args, task_vars, run, step, **facts):
        """The audit log's lines of this step (plugins/module_utils/_audit_log.py)."""
        mode = args.get('mode') or _vault_vars.plain(task_vars.get('__rotation') or {}).get('mode') or 'rotate'
        log = _audit_log.from_vars(task_vars, self._templar.template, self._task.check_mode)
        base = _audit_log.context(args.get('environment') or task_vars.get('turnkey_environment'), mode,
                                  _lock.run_id(self._owner), task_vars)
        trail = _audit_log.Trail(log, base, run, step, mode=mode, warn=self._display.warning, **facts)
        if run is not None:
            run.on_save = trail.flush
        return trail

    # steps -------------------------------------------------------------------
    def _plan(self, args, task_vars):
        catalogue = _vault_vars.plain(args.get('catalogue') or {})
        supplied = _supplied(args, catalogue)
        mode = args.get('mode') or 'rotate'
        groups = {str(k): list(v) for k, v in (task_vars.get('groups') or {}).items()}
        # Everything is checked before the lock and before any change.
        run = self._run(args, catalogue, supplied)
        names = _engine.selected(run.entries, task_vars.get('ansible_run_tags') or ['all'])
        consumers = _engine.validate_consumers(self._consumers(args, task_vars), _engine.known_keys(run.entries, run.values))
        _engine.check_groups(run.entries, names, groups)
        plan = _engine.due(run.entries, names, run.store.dates(), bool(args.get('force')) or mode == 'deploy')
        password_file = os.path.expanduser(str(args.get('vault_password_file') or ''))
        for name in names:
            # A vault password rotation cut short leaves <password file>.new: finish it.
            if run.entries[name][0].name == 'vault' and password_file and os.path.exists(password_file + '.new'):
                plan[name].update(due=True, reason='interrupted vault password rotation: resumed')
        for name in names:
            # Changing the vault password needs the file it lives in (AWX, navigator and
            # --ask-vault-pass runs have none): say so and rotate the rest.  deploy.yml
            # changes no vault password.
            if run.entries[name][0].name == 'vault' and plan[name]['due'] and mode != 'deploy' and \
                    not _writable(password_file):
                plan[name].update(due=False, reason='due, but skipped: the vault password is changed in the file it '
                                  'lives in and no writable turnkey_vault_password_file is given (%s)'
                                  % (_shown(password_file) if password_file else 'none'))
                self._display.warning('%s: vault password rotation skipped: no writable vault password file '
                                      '(turnkey_vault_password_file); rotate it where the password lives'
                                      % (args.get('environment') or 'default'))
        due = [n for n in names if plan[n]['due']]
        for name in run.inflight:
            if name in run.entries:
                plan.setdefault(name, {'due': True})
                plan[name].update(due=True, reason='in flight (%s): resumed' % run.inflight[name]['state'])
        rotate_due = [n for n in due if n not in run.inflight]
        work = bool(due or run.inflight or run.journal['waiting'] or mode == 'deploy')
        lock = run.store.lock
        out = {'work': work, 'mode': mode, 'plan': plan, 'consumers': consumers, 'lock': lock.where, 'changed': False,
               # The host this step runs on, which runs every once-only step of the later plays.
               'hosts': {'controller': str(task_vars.get('inventory_hostname') or 'localhost'), 'services': [], 'retire': []},
               'vault_due': [n for n in due if run.entries[n][0].name == 'vault'],
               # What the end report compares to name the files to commit.
               'fingerprint': {p: _git.digest(p) for p in run.store.files()}}
        if not work or self._task.check_mode:
            if self._task.check_mode:
                lock.check_free(self._owner, str(args.get('environment') or ''))
                changing = sorted(set(rotate_due) | set(run.inflight)) if mode != 'deploy' else \
                    [n for n in names if run.missing_keys(n) and run.entries[n][0].generate]
                out['preview'] = {h: _engine.preview(spec, run.entries, changing) for h, spec in consumers.items()}
            else:
                broke = lock.clear_stale(str(args.get('environment') or ''))
                if broke:
                    self._display.warning('removed a rotation lock left by a run that died: %s' % broke)
            out['work'] = False
            out['report'] = self._report_plan(args, run, plan, rotate_due, check=self._task.check_mode)
            self._trail(args, task_vars, None, 'plan', due=due).flush()
            return out
        taken = lock.acquire(str(args.get('environment') or ''), self._owner, force=bool(args.get('break_lock')))
        if taken.get('broke'):
            self._display.warning('removed a stale rotation lock %s: %s' % (lock.where, taken['broke']))
        # Another run may have finished between the first read and the lock: read again.
        run = self._run(args, catalogue, supplied)
        trail = self._trail(args, task_vars, run, 'plan', due=due)
        generated = []
        deploy_reasons = {}
        if mode == 'deploy':
            deploy_reasons = {n: _deploy_reason(run, n) for n in names}
            generated = run.generate_missing(names)
            # Dated now: what was generated, and what a person put in the vault and rotation.yml
            # has no date for (the vault password, a DingTalk pair), so the first rotate.yml
            # does not take them for overdue.
            dates = run.store.dates()
            undated = [n for n in names if not (dates.get(n) or {}).get('rotated_at')
                       and not run.missing_keys(n)]
            stamped = sorted(set(generated) | set(undated))
            if stamped:
                run.store.record_dates({n: run.now for n in stamped},
                                       {n: run.entries[n][1].get('max_age_days') or run.entries[n][0].max_age_days
                                        for n in stamped})
            records = run.service_records(names, deploy=True)
            run.journal['waiting'] = sorted(set(run.journal['waiting']) | set(consumers))
            run.save('deploy')
        else:
            run.create(rotate_due, supplied)
            records = run.service_records()
        trail.flush()
        batches = _engine.batches(records)
        out['hosts'].update(_engine.play_hosts(run, batches, groups, rotate_due))
        out.update(batches=batches, generated=generated, changed=bool(generated),
                   waiting_for_person=run.waiting_for_person,
                   report=self._report_plan(args, run, plan, rotate_due, deploy_reasons=deploy_reasons))
        return out

    def _report_plan(self, args, run, plan, rotate_due, check=False, deploy_reasons=None):
        env = args.get('environment') or 'default'
        reasons = '; '.join('%s: %s' % (n, plan[n].get('reason')) for n in sorted(plan)) or \
            'no secrets in turnkey_secrets for the selected tags'
        if args.get('mode') == 'deploy':
            given = deploy_reasons or {}
            reasons = '; '.join('%s: %s' % (n, given.get(n) or _deploy_reason(run, n)) for n in sorted(plan)) or \
                'no secrets in turnkey_secrets for the selected tags'
        lines = ['%s: %s.' % (env, reasons)]
        verb = ('Would deploy' if check else 'To deploy') if args.get('mode') == 'deploy' else \
            ('Would rotate' if check else 'To rotate now')
        lines.append('%s: %s.' % (verb, ', '.join(sorted(set(rotate_due) | set(run.inflight))) or 'nothing'))
        if run.journal['waiting']:
            lines.append('Hosts that still need the current values: %s.' % ', '.join(run.journal['waiting']))
        if plan:
            lines.append('Next due: %s.' % ', '.join(_engine.next_due(run.entries, sorted(plan), run.store.dates())))
        person = [n for n in rotate_due if run.entries[n][0].generate is None and run.entries[n][0].name != 'vault'
                  and n not in run.inflight]
        if person and not check:
            waiting = [n for n in person if n in run.waiting_for_person] if run.waiting_for_person else []
            if waiting:
                lines.append('DingTalk %s is due: regenerate the robot in the DingTalk group settings and run again '
                             'with -e @newpair.yml holding dingtalk_new: {%s: {url: ..., secret: ...}}.'
                             % (', '.join(waiting), waiting[0]))
        return ' '.join(lines)

    def _promote(self, args, task_vars):
        run = self._run(args, renew=True)
        groups = {str(k): list(v) for k, v in (task_vars.get('groups') or {}).items()}
        consumers = _vault_vars.plain(args.get('consumers') or {})
        hosts_with_consumers = [h for h, spec in consumers.items() if _engine.consumed_keys(spec)]
        outcomes = self._outcomes(task_vars, '__rotation_outcome')
        trail = self._trail(args, task_vars, run, 'promote', outcomes=outcomes, failures=self._failures(task_vars))
        run.promote(outcomes, groups, hosts_with_consumers)
        trail.flush()
        kept = _engine.kept_keys(run.entries)
        resolved = {h: _engine.resolve_consumers(consumers[h], run.values, kept)
                    for h in run.journal['waiting'] if h in consumers}
        return {'changed': bool(run.done), 'promoted': run.done, 'failed_names': run.failed, 'undoing': run.undoing,
                'deploy': resolved,
                'pending': {n: e.get('hosts_missing') or [] for n, e in run.inflight.items() if e['state'] == 'pending'}}

    def _deployed(self, args, task_vars):
        run = self._run(args, renew=True)
        consumers = _vault_vars.plain(args.get('consumers') or {})
        outcomes = self._outcomes(task_vars, '__rotation_deployed')
        if args.get('hosts') is not None:
            # A second deployment in the run (retired): only the hosts of that play, whose
            # facts are this play's; an unreachable one keeps the first play's and stays waiting.
            shown = {str(h) for h in args['hosts']}
            outcomes = {h: v for h, v in outcomes.items() if h in shown}
        ok = [h for h, v in outcomes.items() if v == 'ok']
        trail = self._trail(args, task_vars, run, 'deployed', outcomes=outcomes,
                            uses=_engine.consumers_of(run.entries, consumers))
        retiring = run.deployed(ok, consumers)
        trail.flush()
        return {'changed': False, 'batches': _engine.batches(run.retire_records(retiring)),
                'waiting': run.journal['waiting'],
                'consumer_failures': {h: v for h, v in outcomes.items() if v != 'ok'}}

    def _retired(self, args, task_vars):
        run = self._run(args, renew=True)
        groups = {str(k): list(v) for k, v in (task_vars.get('groups') or {}).items()}
        consumers = _vault_vars.plain(args.get('consumers') or {})
        outcomes = self._outcomes(task_vars, '__rotation_outcome')
        counts = self._outcomes(task_vars, '__rotation_counts')
        retired = {h: [n for n, r in v.items() if r == 'retired'] for h, v in outcomes.items()}
        trail = self._trail(args, task_vars, run, 'retired', outcomes=outcomes, counts=counts,
                            failures=self._failures(task_vars))
        redeploy = run.retired(retired, groups, consumers, counts)
        trail.flush()
        kept = _engine.kept_keys(run.entries)
        return {'changed': bool(redeploy), 'deploy': {h: _engine.resolve_consumers(consumers[h], run.values, kept)
                                                      for h in redeploy}}

    def _finish(self, args, task_vars):
        run = self._run(args, renew=True)
        trail = self._trail(args, task_vars, run, 'finish')
        finished = run.finish()
        trail.flush()
        return {'changed': bool(finished), 'dated': finished, 'waiting': run.journal['waiting'],
                'inflight': {n: e['state'] for n, e in run.inflight.items()},
                'report': self._report_end(args, task_vars, run, finished),
                'problems': self._problems(task_vars, run)}

    def _problems(self, task_vars, run):
        """Why the run fails (and what the DingTalk alert says): one sentence each."""
        promoted = _vault_vars.plain(task_vars.get('__rotation_promoted') or {})
        out = []
        if promoted.get('failed_names'):
            out.append('rotation of %s failed: the services keep the current credential (set was undone where it had '
                       'run) and the pending value was dropped; fix the cause and run again.' % ', '.join(promoted['failed_names']))
        if promoted.get('undoing'):
            out.append('rotation of %s failed and undoing it failed on a host: the pending value is kept so that the '
                       'next run undoes it; fix the cause and run again.' % ', '.join(promoted['undoing']))
        unretired = _unretired(run)
        if unretired:
            out.append('the old credential of %s was not retired (the new one is in use everywhere); fix the cause and '
                       'run again to retire it.' % ', '.join(unretired))
        if run.journal['waiting']:
            out.append('These hosts did not get the current values: %s; run rotate.yml again when they are reachable.'
                       % ', '.join(run.journal['waiting']))
        return out

    def _report_end(self, args, task_vars, run, finished):
        """The lines an operator reads at the end of a run: what changed where, what is left,
        when each secret is due, which files to commit.  Names and hosts only, sorted."""
        plan_result = _vault_vars.plain(task_vars.get('__rotation') or {})
        promoted = _vault_vars.plain(task_vars.get('__rotation_promoted') or {})
        env = args.get('environment') or 'default'
        if plan_result.get('mode') == 'deploy':
            lines = ['%s: deployed the current values of %s.' % (env, ', '.join(_deployed_names(task_vars)) or 'nothing')]
        else:
            lines = ['%s: rotated %s.' % (env, ', '.join(sorted(promoted.get('promoted') or [])) or 'nothing')]
        if plan_result.get('generated'):
            lines.append('Generated, as they were missing or empty in the vault: %s.'
                         % ', '.join(sorted(plan_result['generated'])))
        if finished:
            lines.append('Finished (old values retired, dates recorded): %s.' % ', '.join(finished))
        consumed = self._outcomes(task_vars, '__rotation_consumed')
        if consumed:
            lines.append('Consumers updated: %s.' % '; '.join(
                '%s: %s' % (host, ', '.join(consumed[host])) for host in sorted(consumed)))
        failures = self._failures(task_vars)

        def about(names):
            told = sorted('%s on %s: %s' % (f['name'], f['host'], f['msg']) for f in failures
                          if set(f['name'].split(', ')) & set(names))
            return ' (%s)' % '; '.join(told) if told else ''
        if promoted.get('failed_names'):
            lines.append('Failed, the services keep the current credential: %s%s.' % (
                ', '.join(promoted['failed_names']), about(promoted['failed_names'])))
        if promoted.get('undoing'):
            lines.append('Failed, and undoing set failed on a host (the next run undoes it): %s.'
                         % ', '.join(promoted['undoing']))
        unretired = _unretired(run)
        if unretired:
            lines.append('Old credential not retired (run again): %s%s.' % (', '.join(unretired), about(unretired)))
        pending = sorted((promoted.get('pending') or {}))
        if pending:
            lines.append('Not finished (pending value kept; run again): %s.' % ', '.join(pending))
        if run.journal['waiting']:
            lines.append('Hosts that still need the current values (run again when they are back): %s.'
                         % ', '.join(run.journal['waiting']))
        if plan_result.get('waiting_for_person'):
            lines.append('Waiting for a person: %s.' % ', '.join(plan_result['waiting_for_person']))
        names = [n for n in sorted(plan_result.get('plan') or {}) if n in run.entries]
        if names:
            lines.append('Next due: %s.' % ', '.join(_engine.next_due(run.entries, names, run.store.dates())))
        changed = [p for p, digest in sorted((plan_result.get('fingerprint') or {}).items()) if _git.digest(p) != digest]
        if changed:
            lines.append('Commit: %s.' % ', '.join(_shown(p) for p in changed))
        return lines

    def _failures(self, task_vars):
        return [f for v in self._outcomes(task_vars, '__rotation_failures').values() for f in v]

    def _recover(self, args, task_vars):
        put_back = False
        if _stores.backend(_vault_vars.plain(args.get('store') or {})) != 'vault_file':
            return {'changed': False, 'put_back': False}
        if not self._task.check_mode and args.get('vault_password_file'):
            # The inventory directory: where rotate.yml's vault step rekeys (roles/vault's vault_paths).
            inventory = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(str(args['vault_file'])))))
            put_back = _vault_tree.finish_switch([inventory], str(args['vault_password_file']))
        if put_back:
            # The rotation is complete: date it here, this run cannot plan (no vault values).
            raw = task_vars.get('turnkey_secrets') or {}
            names = _vault_vars.plain([n for n, spec in raw.items() if isinstance(spec, dict) and spec.get('kind') == 'vault'])
            self._vault_done(dict(args, names=names), task_vars)
        return {'changed': put_back, 'put_back': put_back}

    def _vault_done(self, args, task_vars):
        names = _vault_vars.plain([str(n) for n in args.get('names') or []])
        store = self._store(dict(args, vault_password_file=None), names)
        changed = store.record_dates({n: _rotation.utcnow() for n in names}, {n: 365 for n in names}) if names else False
        self._trail(args, task_vars, None, 'vault_done', names=names if changed else []).flush()
        return {'changed': bool(changed)}

    def _git(self, args, task_vars):
        """Commit and push the vault file and rotation.yml (turnkey_git); ``git_stage``:
        ``create`` (pending values, before any service changes) or ``finish``."""
        spec = _git.check(_vault_vars.plain(args.get('git') or {}))
        if spec is None or self._task.check_mode:
            return {'changed': False, 'pushed': False}
        files = [os.path.abspath(os.path.expanduser(str(args[k]))) for k in ('vault_file', 'rotation_file')]
        inventory = os.path.dirname(os.path.dirname(os.path.dirname(files[0])))
        accepted = {}
        for base in _vault_vars.plain(args.get('git_base') or []):
            for path, value in (base or {}).items():
                accepted.setdefault(path, set()).add(value)
        names = _vault_vars.plain(args.get('names') or [])
        if args.get('mode') == 'deploy' and args.get('git_stage') == 'finish':
            names = _deployed_names(task_vars)
        names = ', '.join(sorted(names)) or 'nothing'
        # The subject names the environment and the secrets: what `git log --oneline` of the
        # branch shows. "-ing" before any service changes, "-ed" after finish.
        verbs = ('deploying', 'deployed') if args.get('mode') == 'deploy' else ('rotating', 'rotated')
        message = 'turnkey.secrets: %s: %s %s' % (args.get('environment') or 'default',
                                                  verbs[args.get('git_stage') == 'finish'], names)
        out = _git.write_back(spec, inventory, files, accepted, message)
        return {'changed': out['pushed'], 'pushed': out['pushed'], 'commit': out['commit'], 'digests': out['digests']}

    def _migrate(self, args, task_vars):
        """Copy the vault file's values and rotation.yml's dates into the OpenBao store (names only reported)."""
        catalogue = _vault_vars.plain(args.get('catalogue') or {})
        names = list(_engine.validate_catalogue(catalogue))
        config = _vault_vars.plain(args.get('store') or {})
        if _stores.backend(config) != 'openbao':
            raise TurnkeyError('turnkey_store.backend is not openbao: set turnkey_store (docs/openbao.md) before migrating')
        source = _stores.open_store({}, args.get('vault_file'), args.get('rotation_file'), self._passwords(args),
                                    args.get('vault_id') or None)
        values, journal = source.load()
        if not source.exists:
            raise TurnkeyError('%s does not exist: nothing to migrate (check -i and rotation_vault_file)' % source.path)
        if journal:
            raise TurnkeyError('%s holds a rotation in flight: finish it with rotate.yml on the vault file before migrating'
                               % source.path)
        target = self._store(args, names)
        current, target_journal = target.load()
        if target_journal.get('secrets'):
            raise TurnkeyError('%s has a rotation in flight: finish it before migrating into it' % target.describe())
        force = bool(args.get('force'))
        skipped = sorted(k for k in values if not str(k).startswith('vault_'))
        copied = [k for k in values if k not in skipped]
        # A value the store already holds differently was rotated there since the first
        # migration: copying a stale vault file over it would hand services an old credential.
        differ = sorted(k for k in copied if current.get(k) not in (None, '') and not _vault_vars.same(current[k], values[k]))
        if differ and not force:
            raise TurnkeyError('the store already holds other values for %s (rotated there since the vault file was '
                               'copied?): nothing was copied. Delete the vault file from this checkout, or run again '
                               'with -e store_migrate_force=true to overwrite the store with it' % ', '.join(differ))
        updates = {k: values[k] for k in copied if current.get(k) in (None, '') or k in differ}
        dates = {n: row for n, row in source.dates().items() if isinstance(row, dict) and row.get('rotated_at')}
        have = target.dates()

        def newer(name, row):
            theirs = (have.get(name) or {}).get('rotated_at')
            ours = _rotation.parse_time(row['rotated_at'], name)
            return not theirs or (force and name in differ) or ours > _rotation.parse_time(theirs, name)
        stamps = {n: row['rotated_at'] for n, row in dates.items() if newer(n, row)}
        result = {'changed': bool(updates or stamps), 'copied': sorted(updates), 'dated': sorted(stamps), 'skipped': skipped}
        if self._task.check_mode or not result['changed']:
            return result
        env = str(args.get('environment') or '')
        target.lock.acquire(env, self._owner)
        try:
            if updates:
                target.save(updates, journal=target_journal)
            if stamps:
                target.record_dates(stamps, {n: dates[n].get('max_age_days') for n in stamps})
        finally:
            target.lock.release(self._owner)
        return result

    def _release(self, args, task_vars):
        if not self._task.check_mode:
            self._store(args).lock.release(self._owner)
        return {'changed': False}
