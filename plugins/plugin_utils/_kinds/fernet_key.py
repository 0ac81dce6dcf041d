# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fernet_key: a Fernet key; the old keys stay in the MultiFernet list.

No service to set: promotion puts the new key first and keeps the current one in
``vault_<name>_previous`` (at most ``keep``) so existing tokens keep decrypting.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind, keep_previous


class FernetKey(Kind):
    name = 'fernet_key'
    tags = ('app_keys', 'fernet')
    generate = 'fernet_key'
    max_age_days = 365
    options = {'keep': {'type': 'int', 'default': 2,
                        'description': 'Previous keys kept in vault_<name>_previous (MultiFernet decrypts with them), '
                                       'newest first.'}}

    def kept_keys(self, name):
        return ('vault_%s_previous' % name,)

    def check(self, name, options, supplied):
        return ['keep must be 0 or more'] if options['keep'] < 0 else []

    def promote(self, name, options, current, new):
        key = self.keys(name)[0]
        out = dict(new)
        out[key + '_previous'] = keep_previous(current, key, key + '_previous', new[key], options['keep'])
        return out
