# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vault: the environment's ansible-vault password (role turnkey.secrets.vault).

Rotated last, by its own play, once every other value is stored: a new password beside
the old, every blob rekeyed, then the password file swapped (see roles/vault).
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind


class Vault(Kind):
    name = 'vault'
    tags = ('vault',)
    group = None
    generate = None
    max_age_days = 365
    prerequisites = ('turnkey_vault_password_file is a file the controller can write (the new password replaces '
                     'it); every encrypted file of the environment uses that vault id.')

    def keys(self, name):
        return ()

    def new_values(self, name, options, current, supplied):
        return {}

    def record(self, name, options, current, new):
        return {}
