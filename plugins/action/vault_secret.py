# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of turnkey.secrets.vault_secret (documented in plugins/modules/vault_secret.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._vault import SECRET_SPEC, check_password
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_tree, _vault_vars


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # Everything happens on the controller: no connection to the host is needed.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(**SECRET_SPEC)
        try:
            if args['vault_password'] is not None:
                password = check_password(str(args['vault_password']), 'vault_password')
            elif args['vault_password_file']:
                password = _vault_tree.load_password(args['vault_password_file'], args['vault_id'], self._loader,
                                                     'vault_password_file')
            else:
                password = _vault_tree.playbook_secrets(self._loader, args['vault_id'])
            result.update(_vault_vars.update_vault_file(
                args['path'], password, vault_id=args['vault_id'], values=_vault_vars.plain(args['values']),
                generate={str(k): str(v) for k, v in args['generate'].items()},
                regenerate=[str(k) for k in args['regenerate']], remove=[str(k) for k in args['remove']],
                create=args['create'], mode=args['mode'], backup=args['backup'], check_mode=self._task.check_mode,
                follow=args['follow'], allow_shared_parent=args['allow_shared_parent'],
                return_values=args['return_values'], vault_format=args['format']))
        except TurnkeyError as exc:
            result.update(exc.details)
            result.update(failed=True, changed=False, msg=exc.msg)
        if 'secret_values' in result:
            # Censor the values in every callback even when the task forgot no_log; the
            # registered variable keeps them.
            result['_ansible_no_log'] = True
        if not self._task.diff:
            result.pop('diff', None)
        return result
