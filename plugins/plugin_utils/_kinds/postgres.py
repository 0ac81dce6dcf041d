# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres: the password of one PostgreSQL login role (role turnkey.secrets.postgres_credentials).

PostgreSQL keeps one password per role: set sends the new SCRAM verifier, test logs in
with it, rollback puts the old one back; consumers get it right after promotion.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils._connection import POSTGRES as CONNECTION_SPEC
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind


class Postgres(Kind):
    name = 'postgres'
    tags = ('postgres', 'db')
    group = 'db'
    steps = ('set', 'test', 'rollback')
    generate = 'urlsafe:24'
    max_age_days = 180
    prerequisites = ('The login role exists (role turnkey.secrets.postgres_credentials only changes its password); '
                     'login_user may ALTER it (superuser or CREATEROLE); psycopg on the db hosts (requirements.txt).')
    # Unset connection options stay unset: the module's defaults apply.  Their descriptions
    # are module postgres_password's.
    options = dict({key: {k: v for k, v in spec.items() if k != 'default'} for key, spec in CONNECTION_SPEC.items()},
                   role={'type': 'str', 'required': True, 'example': 'app',
                         'description': 'The PostgreSQL login role whose password this is.'})
    documented_by = 'postgres_password'
    connection = tuple(CONNECTION_SPEC)
    module_group = 'turnkey.secrets.postgres'

    def record(self, name, options, current, new):
        out = super(Postgres, self).record(name, options, current, new)
        out['user'] = options['role']
        return out
