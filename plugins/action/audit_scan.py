# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of turnkey.secrets.audit_scan (documented in plugins/modules/audit_scan.py).

With ``catalogue: true`` the files this host holds are read from what the environment
already declares (``turnkey_secrets`` entries of kinds with a file, ``turnkey_env_files``),
so the audit has no second list to keep in sync.  Only the keys naming a file are
templated: the rest of the catalogue (passwords of admin logins...) is never touched.
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit_log
from ansible_collections.turnkey.secrets.plugins.plugin_utils._lock import run_id

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS
from ansible_collections.turnkey.secrets.plugins.plugin_utils._vault_vars import plain

MODULE = 'turnkey.secrets.audit_scan'
# The mode turnkey.secrets.env_file and the rotation give an env file without one.
ENV_FILE_MODE = '0600'
FILE_KEYS = ('path', 'mode', 'owner', 'group')


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _declared(self, spec, default_mode, source):
        """The file of one declaration, or None when it has no usable path."""
        if not isinstance(spec, dict) or not spec.get('path'):
            return None
        entry = {'path': None, 'mode': default_mode, 'owner': None, 'group': None}
        for key in FILE_KEYS:
            if spec.get(key) not in (None, ''):
                entry[key] = plain(self._templar.template(spec[key]))
        entry.update(backups=True, source=source)
        if spec.get('backup_encrypt'):
            entry['encrypted_backups'] = True
        return entry

    def catalogue_files(self, task_vars, consumer_group):
        groups = set(task_vars.get('group_names') or [])
        found = []
        catalogue = task_vars.get('turnkey_secrets') or {}
        for name in sorted(catalogue) if isinstance(catalogue, dict) else ():
            spec = catalogue[name]
            kind = KINDS.get(str(self._templar.template(spec.get('kind')))) if isinstance(spec, dict) else None
            if kind is None or 'path' not in kind.options or kind.group_of(spec) not in groups:
                continue
            found.append(self._declared(spec, kind.options.get('mode', {}).get('default', '0600'),
                                        'turnkey_secrets.%s' % name))
        if consumer_group in groups:
            env_files = task_vars.get('turnkey_env_files') or []
            for index, spec in enumerate(env_files if isinstance(env_files, list) else []):
                found.append(self._declared(spec, ENV_FILE_MODE, 'turnkey_env_files[%d]' % index))
        return [entry for entry in found if entry]

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if args.pop('catalogue', False):
            files = list(args.get('files') or []) + self.catalogue_files(task_vars, args.get('consumer_group') or 'app')
            args['files'] = files
            if not (files or args.get('path') or args.get('inventory') or args.get('report')):
                result.update(changed=False, skipped=True, skip_reason='no secret file declared or listed for this host')
                return result
        args.pop('consumer_group', None)
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        if args.get('report') and args.get('audit_log') and result.get('report'):
            self._log(args, task_vars, result['report'])
        return result

    def _log(self, args, task_vars, report):
        """This audit's line in the environment's audit log (names and counts only)."""
        log = _audit_log.from_vars(dict(task_vars, turnkey_audit_log=args['audit_log']), self._templar.template,
                                   self._task.check_mode)
        if log is None:
            return
        base = _audit_log.context(args.get('environment'), 'audit', run_id(os.getppid()), task_vars)
        outcome = 'passed' if report.get('passed') else 'failed: %s finding(s) at or above %s' % (
            report.get('failing'), args.get('fail_on') or 'critical')
        counts = {}
        for finding in report.get('findings') or ():
            counts[finding.get('severity')] = counts.get(finding.get('severity'), 0) + 1
        _audit_log.Trail(log, base, None, 'audit', outcome=outcome, findings=counts, warn=self._display.warning).flush()
