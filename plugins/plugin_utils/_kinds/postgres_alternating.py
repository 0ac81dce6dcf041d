# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_alternating: two PostgreSQL login roles used in turn (AWS's alternating users).

Catalogue entry: ``{kind: postgres_alternating, role: app, ...}`` with the connection
options of the ``postgres`` kind.  The vault holds ``vault_<name>`` (the password of the
login role in use) and ``vault_<name>_user`` (that role, ``<role>_a`` or ``<role>_b``);
consumers name both (e.g. ``DB_USER: vault_db_user``, ``DB_PASSWORD: vault_db``).

A rotation gives a new password to the login role NOT in use (``<role>_b`` when the
vault says ``<role>_a``, else ``<role>_a``): set sends its SCRAM verifier (role
turnkey.secrets.postgres_credentials, ``tasks_from: set``), test logs in as it, and
promotion switches both vault variables together, so every consumer gets the new user
and its password at once.  The role in use before keeps its password until the next
rotation gives it a new one, so clients still holding the old pair keep logging in
while the consumers are updated: no retire step is needed (and a password stays valid
for up to two rotation periods, max_age_days each).  A failed test has nothing
to undo either: the role that got the new password is the inactive one, which no
consumer uses, and its password is known nowhere once the pending value is dropped;
the ``rollback`` step is declared (so the engine drops the entry in the same run) and
does nothing.

What the DBA creates once (the module only changes passwords; ``<role>`` owns the
objects, and each login role acts as it, so objects created through either login role
belong to ``<role>`` and both see the same privileges)::

    CREATE ROLE app NOLOGIN;
    CREATE ROLE app_a LOGIN IN ROLE app;   -- INHERIT (the default) gives app's privileges
    CREATE ROLE app_b LOGIN IN ROLE app;
    ALTER ROLE app_a SET role = 'app';     -- new objects belong to app, not app_a
    ALTER ROLE app_b SET role = 'app';
    GRANT CONNECT ON DATABASE appdb TO app;
    ALTER DATABASE appdb OWNER TO app;     -- or ALTER ... OWNER TO app for existing objects

and, in pg_hba.conf, lines that let both login roles in (e.g. ``+app`` as the user
column, which matches members of ``app``).  ``login_user`` of the entry needs CREATEROLE
(or is a superuser) to change their passwords.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils._generate import generate as generate_value
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds.postgres import Postgres

SUFFIXES = ('_a', '_b')
NAMEDATALEN = 64  # PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes


def login_roles(role):
    """The two login roles of group role ``role``."""
    return tuple(role + suffix for suffix in SUFFIXES)


def next_user(role, current_user):
    """The login role a rotation gives the new password: the one not in use."""
    first, second = login_roles(role)
    return second if current_user == first else first


class PostgresAlternating(Kind):
    name = 'postgres_alternating'
    tags = ('postgres', 'db')
    group = 'db'
    # rollback does nothing (see above); no retire: the previous role stays valid.
    steps = ('set', 'test', 'rollback')
    generate = 'urlsafe:24'
    max_age_days = 180
    # The same catalogue options and connection as the postgres kind.
    prerequisites = ('The group role <role> owns the objects; login roles <role>_a and <role>_b exist, members of it '
                     '(INHERIT); vault_<name>_user names the one in use (<role>_a at first); login_user may ALTER both.')
    options = Postgres.options
    connection = Postgres.connection
    module_group = Postgres.module_group
    documented_by = Postgres.documented_by

    def keys(self, name):
        # The password first: the engine (and base record) treat keys()[0] as the secret.
        return ('vault_%s' % name, 'vault_%s_user' % name)

    def check(self, name, options, supplied):
        role = options.get('role') or ''
        if not role.strip():
            return ['role must name the group role (its login roles are <role>_a and <role>_b)']
        longest = max(len(r.encode('utf-8')) for r in login_roles(role))
        if longest >= NAMEDATALEN:
            return ['role is too long: PostgreSQL names are at most %d bytes and %s_a must fit'
                    % (NAMEDATALEN - 1, role)]
        return []

    def new_values(self, name, options, current, supplied):
        password_key, user_key = self.keys(name)
        kind = options.get('generate') or self.generate
        return {password_key: generate_value(kind), user_key: next_user(options['role'], (current or {}).get(user_key))}

    def record(self, name, options, current, new):
        # No previous password travels: nothing is ever put back (see above).
        password_key, user_key = self.keys(name)
        user = (new or {}).get(user_key) or next_user(options['role'], None)
        return {'new': (new or {}).get(password_key), 'user': user,
                'previous_user': (current or {}).get(user_key)}
