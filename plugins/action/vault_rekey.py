# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of turnkey.secrets.vault_rekey (documented in plugins/modules/vault_rekey.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
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
        """Password bytes for ``name`` (old, new); a list of candidates when only the playbook's
        vault secrets can give it."""
        value = args['%s_vault_password' % name]
        if value is not None:
            return check_password(str(value), '%s_vault_password' % name)
        if args['%s_vault_password_file' % name]:
            return _vault_tree.load_password(args['%s_vault_password_file' % name], vault_id, self._loader,
                                             '%s_vault_password_file' % name)
        found = _vault_tree.playbook_secrets(self._loader, vault_id)
        if not found:
            raise InputError('give %s_vault_password_file or %s_vault_password, or run the playbook with the vault-id '
                             '(--vault-id <label>@prompt, a file or a client script, or --ask-vault-pass)' % (name, name))
        return found

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
        old = old if isinstance(old, list) else [old]
        if args['new_vault_password'] is None and not args['new_vault_password_file']:
            # From the playbook's secrets, the new password is the one labelled new_vault_id.
            found = [s for label, s in self._labelled() if new_id and label == new_id]
            if not found:
                raise InputError('give new_vault_password_file or new_vault_password (or run the playbook with '
                                 '--vault-id <new_vault_id>@... and set new_vault_id)')
            new = found[0]
        else:
            new = self._password(args, 'new', new_id or old_id)
        return _vault_tree.rekey_tree(args['paths'], old, new, **common)

    def _labelled(self):
        secrets = getattr(getattr(self._loader, '_vault', None), 'secrets', None) or ()
        return [(label, secret.bytes) for label, secret in secrets if getattr(secret, 'bytes', None)]
