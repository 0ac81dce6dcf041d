# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of turnkey.secrets.vault_secret (documented in plugins/modules/vault_secret.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._vault import SECRET_SPEC, check_password
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_tree, _vault_vars


def plain(value, where='values'):
    """Task arguments arrive as tagged subclasses (and lazily decrypted vault strings in
    ansible-core 2.19); the YAML dumper wants plain str, list, dict, int, float, bool, None."""
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): plain(v, '%s.%s' % (where, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, '%s[%d]' % (where, i)) for i, v in enumerate(value)]
    if isinstance(value, bytes):
        raise InputError('%s is binary data; give text' % where)
    return str(value)


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
            else:
                password = _vault_tree.load_password(args['vault_password_file'], args['vault_id'], self._loader,
                                                     'vault_password_file')
            result.update(_vault_vars.update_vault_file(
                args['path'], password, vault_id=args['vault_id'], values=plain(args['values']),
                generate={str(k): str(v) for k, v in args['generate'].items()},
                regenerate=[str(k) for k in args['regenerate']], remove=[str(k) for k in args['remove']],
                create=args['create'], mode=args['mode'], backup=args['backup'], check_mode=self._task.check_mode,
                return_values=args['return_values']))
        except TurnkeyError as exc:
            result.update(exc.details)
            result.update(failed=True, changed=False, msg=exc.msg)
        if 'values' in result:
            # Censor the values in every callback even when the task forgot no_log; the
            # registered variable keeps them.
            result['_ansible_no_log'] = True
        if not self._task.diff:
            result.pop('diff', None)
        return result
