# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs turnkey.secrets.podman_secret_info and censors its result when it holds secret values.

A module cannot mark its own result no_log (ansible strips ``_ansible_*`` keys a module
returns); an action plugin can.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_name='turnkey.secrets.podman_secret_info',
                                           module_args=self._task.args, task_vars=task_vars))
        try:
            showsecret = boolean(self._task.args.get('showsecret', False), strict=True)
        except TypeError:
            showsecret = True  # the module refused the value; censoring costs nothing
        # A failure holds no value (the module checks podman before reading one) and its
        # message tells what to fix: only a result with values is censored.
        if showsecret and not result.get('failed'):
            result['_ansible_no_log'] = True
        return result
