# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record on the controller which secrets were rotated, in the environment's rotation.yml."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('path', 'names', 'max_age_days', 'outstanding'))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        path = args.get('path')
        names = [str(n) for n in (args.get('names') or [])]
        if not path:
            raise AnsibleActionFail('path is required: the rotation.yml of the environment')
        max_age = args.get('max_age_days', 90)
        if not isinstance(max_age, dict):
            max_age = dict.fromkeys(names, max_age)
        defaults = {str(k): {'max_age_days': int(v)} for k, v in max_age.items()}
        try:
            outstanding = args.get('outstanding')
            if outstanding is not None:
                outstanding = [str(h) for h in outstanding]
            changed, data = _rotation.record(str(path), names, check_mode=self._task.check_mode, defaults=defaults,
                                             outstanding=outstanding)
        except TurnkeyError as exc:
            result.update(failed=True, msg=exc.msg)
            return result
        result.update(changed=changed, rotated=names, rotation=data.get('turnkey_rotation', {}),
                      outstanding=data.get('turnkey_rotation_outstanding', []))
        if self._task.diff and changed:
            result['diff'] = {'before_header': str(path), 'after_header': str(path),
                              'before': '', 'after': ''.join('rotated_at of %s updated\n' % n for n in names)}
        return result
