# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fernet_key: a Fernet key; the old keys stay in the MultiFernet list.

No service to set: promotion puts the new key first and keeps the current one in
``vault_<name>_previous`` (at most ``keep``) so existing tokens keep decrypting.

With ``columns`` (PostgreSQL columns of tokens under this key) the entry gains a retire
step: promotion keeps every old key, retire re-encrypts the columns under the new key
(module fernet_rotate, on the first host of ``group``) and succeeds only when no row is
left under an old key; only then is ``vault_<name>_previous`` trimmed to ``keep`` (and
the consumers get the trimmed list).  A key still needed by a row is never dropped.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils._connection import POSTGRES as CONNECTION_SPEC
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind, keep_previous


class FernetKey(Kind):
    name = 'fernet_key'
    tags = ('app_keys', 'fernet')
    generate = 'fernet_key'
    max_age_days = 365
    prerequisites = ('With columns: psycopg on the first host of group (requirements.txt) and a login_user that may '
                     'SELECT and UPDATE the columns.')
    # Unset connection options stay unset: the module's defaults apply.  Their descriptions
    # are module fernet_rotate's (the postgres doc fragment).
    options = dict(
        {key: {k: v for k, v in spec.items() if k != 'default'} for key, spec in CONNECTION_SPEC.items()},
        keep={'type': 'int', 'default': 2,
              'description': 'Previous keys kept in vault_<name>_previous (MultiFernet decrypts with them), newest first. '
                             'With columns, trimmed only once no row is under a dropped key.'},
        columns={'type': 'list', 'elements': 'dict',
                 'options': {'table': {'type': 'str', 'required': True},
                             'column': {'type': 'str', 'required': True},
                             'primary_key': {'type': 'str', 'default': 'id', 'no_log': False}},
                 'description': 'PostgreSQL columns of tokens under this key (table, column, primary_key: default id), '
                                'as module fernet_rotate takes them: re-encrypted under the new key before old keys '
                                'are dropped.'},
        batch_size={'type': 'int', 'default': 1000, 'description': 'Rows per batch (and transaction) when re-encrypting.'},
        group={'type': 'str', 'default': 'db',
               'description': 'With columns: the inventory group whose first host re-encrypts them.'},
    )
    documented_by = 'fernet_rotate'
    connection = tuple(CONNECTION_SPEC)
    module_group = 'turnkey.secrets.postgres'

    def steps_of(self, options):
        return ('retire',) if options.get('columns') else ()

    def group_of(self, options):
        return options.get('group') or 'db' if options.get('columns') else None

    def kept_keys(self, name):
        return ('vault_%s_previous' % name,)

    def check(self, name, options, supplied):
        problems = ['keep must be 0 or more'] if options['keep'] < 0 else []
        if options.get('batch_size') is not None and options['batch_size'] < 1:
            problems.append('batch_size must be 1 or more')
        return problems

    def promote(self, name, options, current, new):
        key = self.keys(name)[0]
        out = dict(new)
        # With columns every old key stays until retire has re-encrypted the rows under it.
        keep = None if options.get('columns') else options['keep']
        out[key + '_previous'] = keep_previous(current, key, key + '_previous', new[key], keep)
        return out

    def retired(self, name, options, current):
        key = self.keys(name)[0] + '_previous'
        previous = list(current.get(key) or [])
        return {key: previous[:options['keep']]} if len(previous) > options['keep'] else {}

    def record(self, name, options, current, new):
        out = super(FernetKey, self).record(name, options, current, new)
        out['previous'] = list(current.get(self.keys(name)[0] + '_previous') or [])
        return out
