# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""generic: a random value only consumers use (an internal API token, a signing key)."""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind


class Generic(Kind):
    name = 'generic'
    tags = ('generic',)
    generate = 'urlsafe:32'
    max_age_days = 180
