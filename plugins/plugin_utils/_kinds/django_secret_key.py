# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""django_secret_key: Django's SECRET_KEY; the old keys stay in SECRET_KEY_FALLBACKS.

No service to set: promotion puts the new key first and moves the current one into
``vault_<name>_fallbacks`` (at most ``keep``), so sessions and signatures made with it
keep verifying; consumers get both.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind, keep_previous


class DjangoSecretKey(Kind):
    name = 'django_secret_key'
    tags = ('app_keys', 'django')
    generate = 'django_secret_key'
    max_age_days = 180
    options = {'keep': {'type': 'int', 'default': 2, 'description': 'Previous keys kept in vault_<name>_fallbacks (SECRET_KEY_FALLBACKS), newest first.'}}

    def kept_keys(self, name):
        return ('vault_%s_fallbacks' % name,)

    def check(self, name, options, supplied):
        return ['keep must be 0 or more'] if options['keep'] < 0 else []

    def promote(self, name, options, current, new):
        key = self.keys(name)[0]
        out = dict(new)
        out[key + '_fallbacks'] = keep_previous(current, key, key + '_fallbacks', new[key], options['keep'])
        return out
