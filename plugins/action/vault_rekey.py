# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of turnkey.secrets.vault_rekey (documented in plugins/modules/vault_rekey.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._vault import REKEY_SPEC, check_password
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_tree


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # Everything happens on the controller: no connection to the host is needed.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(**REKEY_SPEC)
        try:
            result.update(self._rekey(args))
        except TurnkeyError as exc:
            result.update(exc.details)
            result.update(failed=True, changed=False, msg=exc.msg)
        if not self._task.diff:
            result.pop('diff', None)
        return result

    def _password(self, args, name, vault_id):
        value = args['%s_vault_password' % name]
        if value is not None:
            return check_password(str(value), '%s_vault_password' % name)
        return _vault_tree.load_password(args['%s_vault_password_file' % name], vault_id, self._loader,
                                         '%s_vault_password_file' % name)

    def _rekey(self, args):
        old_id, new_id = args['old_vault_id'], args['new_vault_id']
        common = dict(old_vault_id=old_id, new_vault_id=new_id, exclude=args['exclude'], backup=args['backup'],
                      check_mode=self._task.check_mode, checkpoint=_vault_tree.pause_from_environment())
        if args['rotate_password_file']:
            new = args['new_vault_password']
            return _vault_tree.rotate_password_file(
                args['rotate_password_file'], args['paths'], new_password=None if new is None else str(new),
                kind=args['new_vault_password_kind'], switch_vars_files=args['switch_vars_files'], **common)
        old = self._password(args, 'old', old_id)
        new = self._password(args, 'new', new_id or old_id)
        return _vault_tree.rekey_tree(args['paths'], [old], new, **common)
