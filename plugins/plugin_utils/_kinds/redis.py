# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis: the password of a Redis ACL user (role turnkey.secrets.redis_credentials).

Redis accepts several passwords per user: set adds the new one beside the old, test
authenticates with it, rollback removes it again, and retire (once every consumer has the
new one) drops every other password.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils._connection import REDIS as CONNECTION_SPEC
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind


class Redis(Kind):
    name = 'redis'
    tags = ('redis',)
    group = 'redis'
    steps = ('set', 'test', 'rollback', 'retire')
    generate = 'urlsafe:32'
    max_age_days = 180
    prerequisites = ('The ACL user exists; login_user may run ACL SETUSER and the persist command; Redis loads '
                     'users from an aclfile for acl_save; the redis Python package on the redis hosts.')
    # Unset connection options stay unset: the module's defaults apply.  Their descriptions
    # are module redis_password's.
    options = dict({key: {k: v for k, v in spec.items() if k != 'default'} for key, spec in CONNECTION_SPEC.items()},
                   user={'type': 'str', 'default': 'default', 'description': 'The Redis ACL user whose password this is.'},
                   persist={'type': 'str', 'default': 'acl_save', 'choices': ['auto', 'acl_save', 'config_rewrite', 'none'],
                            'description': 'How Redis keeps the change across restarts (ACL SAVE to its aclfile, '
                                           'CONFIG REWRITE, auto: whichever the server uses).'})
    documented_by = 'redis_password'
    connection = tuple(CONNECTION_SPEC)
    module_group = 'turnkey.secrets.redis'

    def record(self, name, options, current, new):
        out = super(Redis, self).record(name, options, current, new)
        out.update(user=options['user'], persist=options['persist'])
        return out
