# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry of secret kinds: one file each, one line here (see _base.Kind)."""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import (
    dingtalk, django_secret_key, fernet_key, generic, htpasswd, postgres, postgres_alternating, redis, vault)

KINDS = {kind.name: kind for kind in (
    htpasswd.Htpasswd(),
    django_secret_key.DjangoSecretKey(),
    fernet_key.FernetKey(),
    postgres.Postgres(),
    postgres_alternating.PostgresAlternating(),
    redis.Redis(),
    dingtalk.DingTalk(),
    vault.Vault(),
    generic.Generic(),
)}
