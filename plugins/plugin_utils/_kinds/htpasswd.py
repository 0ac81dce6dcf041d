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
    shared_by = 'path'
    shared_options = ('owner', 'group', 'mode')
    prerequisites = ('nginx on the hosts of group web with auth_basic_user_file pointing at path; its directory '
                     'exists and only root can write it (or set allow_shared_parent on role htpasswd).')
    options = {
        'path': {'type': 'path', 'required': True, 'example': '/etc/nginx/.htpasswd',
                 'description': 'The htpasswd file nginx reads, on the web hosts (absolute).'},
        'user': {'type': 'str', 'default': 'admin', 'description': 'The basic-auth user whose password this is.'},
        'hash_scheme': {'type': 'str', 'default': 'bcrypt', 'choices': list(SCHEMES),
                        'description': 'How the password is hashed in the file.'},
        'bcrypt_rounds': {'type': 'int', 'description': 'bcrypt cost; default: the module\'s.'},
        'owner': {'type': 'str', 'description': 'Owner of the file; default: kept (root for a new file).'},
        'group': {'type': 'str', 'example': 'www-data',
                  'description': 'Group of the file (the group nginx\'s workers run as).'},
        'mode': {'type': 'raw', 'default': '0640', 'description': 'Mode of the file, an octal string.'},
        'verify_url': {'type': 'str', 'example': 'https://dashboard.example.com/',
                       'description': 'A URL nginx guards with this file: the test step expects 200 with the new '
                                      'password and 401 with the old one; without it the new hash is only '
                                      'checked in the file.'},
        'validate_certs': {'type': 'bool', 'default': True, 'description': 'Check verify_url\'s TLS certificate.'},
    }

    def check(self, name, options, supplied):
        problems = []
        if not str(options['path']).startswith('/'):
            problems.append('path must be absolute, not %r' % options['path'])
        if isinstance(options['mode'], int):
            # YAML reads an unquoted 0640 as 416 and 600 as decimal 600: either would be a wrong mode.
            problems.append('mode must be a quoted octal string such as "0640", not the number %r' % (options['mode'],))
        elif not _octal(options['mode']):
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
