# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side lock so two rotations of one environment never run at once."""

from __future__ import annotations

import os
import socket

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation


def _run_id(pid):
    # pid plus the process start time: unique for this ansible-playbook run.
    try:
        with open('/proc/%d/stat' % pid) as handle:
            start = handle.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        start = '0'
    return '%s:%d:%s' % (socket.gethostname(), pid, start)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('path', 'state', 'environment', 'force', 'max_age_minutes'))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        path = args.get('path')
        state = args.get('state', 'present')
        if not path:
            raise AnsibleActionFail('path is required: where the lock file of this environment lives')
        if state not in ('present', 'absent', 'stale'):
            raise AnsibleActionFail('state must be present, absent or stale, not %r' % state)
        path = os.path.abspath(os.path.expanduser(str(path)))
        # Action plugins run in a worker forked by ansible-playbook: the parent is the run.
        owner = os.getppid()
        run_id = _run_id(owner)
        result.update(path=path, run_id=run_id, changed=False)
        try:
            if state == 'present':
                max_age_seconds = int(args.get('max_age_minutes', 360)) * 60
                if self._task.check_mode:
                    _rotation.check_free(path, run_id, str(args.get('environment') or ''), max_age_seconds)
                    return result
                if args.get('force'):
                    held = _rotation.read_lock(path)
                    if held and held.get('run_id') != run_id:
                        os.unlink(path)
                        result['broke'] = 'forced with rotate_break_lock'
                outcome = _rotation.acquire(path, owner, str(args.get('environment') or ''), run_id,
                                            max_age_seconds=max_age_seconds)
                # The lock is scratch state of this run (taken and released by it), not a
                # change to the environment, so it does not count as "changed".
                result['acquired'] = outcome['acquired']
                if outcome.get('broke'):
                    result['broke'] = outcome['broke']
                    self._display.warning('removed a stale rotation lock %s: %s' % (path, outcome['broke']))
            elif state == 'stale':
                held = _rotation.read_lock(path)
                reason = held and _rotation.lock_is_stale(held)
                if reason:
                    result['broke'] = reason
                    if not self._task.check_mode:
                        os.unlink(path)
                        self._display.warning('removed a stale rotation lock %s: %s' % (path, reason))
            elif not self._task.check_mode:
                _rotation.release(path, run_id)
        except TurnkeyError as exc:
            result.update(failed=True, msg=exc.msg)
        return result
