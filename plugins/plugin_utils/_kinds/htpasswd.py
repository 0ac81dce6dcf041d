# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""htpasswd: a basic-auth user of nginx (role turnkey.secrets.htpasswd) on the web hosts.

nginx keeps one hash per user, so set writes the new hash; test asks ``verify_url`` for
200 with the new password and 401 with the old; rollback writes the old hash back.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils._htpasswd import SCHEMES
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind


class Htpasswd(Kind):
    name = 'htpasswd'
    tags = ('htpasswd', 'dashboard')
    group = 'web'
    steps = ('set', 'test', 'rollback')
    generate = 'password:24'
    max_age_days = 90
    batch_apart = ('user',)
    options = {
        'path': {'type': 'path', 'required': True},
        'user': {'type': 'str', 'default': 'admin'},
        'hash_scheme': {'type': 'str', 'default': 'bcrypt', 'choices': list(SCHEMES)},
        'bcrypt_rounds': {'type': 'int'},
        'owner': {'type': 'str'},
        'group': {'type': 'str'},
        'mode': {'type': 'raw', 'default': '0640'},
        'verify_url': {'type': 'str'},
        'validate_certs': {'type': 'bool', 'default': True},
    }

    def check(self, name, options, supplied):
        problems = []
        if not str(options['path']).startswith('/'):
            problems.append('path must be absolute, not %r' % options['path'])
        if not _octal(options['mode']):
            problems.append('mode must be an octal string such as "0640", not %r' % (options['mode'],))
        if ':' in options['user'] or not options['user'].strip():
            problems.append('user must be a name without ":"')
        return problems

    def record(self, name, options, current, new):
        out = super(Htpasswd, self).record(name, options, current, new)
        out['user'] = options['user']
        # The shape of role htpasswd's htpasswd_users.
        out['entry'] = {'name': options['user'], 'password': out['new'], 'previous_password': out['old'] or ''}
        return out


def _octal(mode):
    text = str(mode)
    return text.isdigit() and all(c in '01234567' for c in text) and len(text) in (3, 4)
