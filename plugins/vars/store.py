# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: store
short_description: The vault_<name> variables of an environment whose turnkey_store is OpenBao
version_added: 0.3.0
description:
  - For an inventory whose C(group_vars/all/*.yml) sets C(turnkey_store.backend=openbao), gives group C(all) the
    variables C(vault_<name>) (and C(vault_<name>_<key>) for kept values) read from C(<mount>/<prefix>/<name>).
  - Read once per C(ansible-playbook) run (cached in the process), all secrets concurrently, one request each.
  - The token comes from E(VAULT_TOKEN), E(BAO_TOKEN), C(turnkey_store.token_file) or AppRole, as for the
    rotation engine (docs/openbao.md). C(turnkey_store) must be literal YAML here (no templates).
  - Enable it in C(ansible.cfg) with C(vars_plugins_enabled = host_group_vars,turnkey.secrets.store).
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  stage:
    description: When to read the store (C(inventory), C(task) or C(all)), as for other vars plugins.
    type: str
    choices: [all, task, inventory]
    default: all
    ini:
      - key: stage
        section: vars_turnkey_secrets_store
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
'''

import glob  # noqa: E402 - documentation comes first
import os  # noqa: E402 - documentation comes first

from ansible.errors import AnsibleError  # noqa: E402 - documentation comes first
from ansible.inventory.group import Group  # noqa: E402 - documentation comes first
from ansible.plugins.vars import BaseVarsPlugin  # noqa: E402 - documentation comes first
from ansible.utils.unsafe_proxy import wrap_var  # noqa: E402 - documentation comes first

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError  # noqa: E402 - documentation comes first

_CACHE = {}


def _store_config(loader, path):
    files = sorted(glob.glob(os.path.join(path, 'group_vars', 'all', '*.yml')) +
                   glob.glob(os.path.join(path, 'group_vars', 'all', '*.yaml')) +
                   glob.glob(os.path.join(path, 'group_vars', 'all.yml')))
    config = None
    for name in files:
        data = loader.load_from_file(name, unsafe=True) or {}
        if isinstance(data, dict) and isinstance(data.get('turnkey_store'), dict):
            config = dict(data['turnkey_store'])
    return config


class VarsModule(BaseVarsPlugin):
    REQUIRES_ENABLED = True

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not any(isinstance(e, Group) and e.name == 'all' for e in (entities if isinstance(entities, list) else [entities])):
            return {}
        path = os.path.realpath(path if os.path.isdir(path) else os.path.dirname(path))
        if path in _CACHE:
            return _CACHE[path]
        config = _store_config(loader, path)
        if not config or config.get('backend') != 'openbao':
            _CACHE[path] = {}
            return {}
        from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores import openbao
        try:
            # The journal's ``applying`` included: a run cut off past its commit point has
            # decided those values (the services may already use them).
            values, _journal = openbao.OpenBao(config).load()
        except TurnkeyError as exc:
            raise AnsibleError('turnkey.secrets.store (%s): %s' % (path, exc.msg)) from None
        # Values are data, never templates.
        values = wrap_var(values)
        _CACHE[path] = values
        return values
