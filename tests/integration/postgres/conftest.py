"""Roles with random names on the session's PostgreSQL; their old passwords set as verifiers."""

import secrets

import pytest
from psycopg import sql

from ansible_collections.turnkey.secrets.plugins.module_utils._postgres import scram_verifier


class Roles(object):
    def __init__(self, server):
        self.server = server

    def create(self, password=None, options='LOGIN'):
        """A new role (name ``tk_<random>``); its password is sent as a verifier, as the module does."""
        name = 'tk_' + secrets.token_hex(4)
        query = sql.SQL('CREATE ROLE {} ' + options).format(sql.Identifier(name))
        if password:
            query = query + sql.SQL(' PASSWORD {}').format(sql.Literal(scram_verifier(password)))
        self.server.sql(query)
        return name

    def stored(self, name):
        return self.server.sql('SELECT rolpassword FROM pg_authid WHERE rolname = %s', (name,))[0][0]

    def admin(self, name):
        """Module options to log in as the session's superuser (password passed as a variable)."""
        return dict(login_host=self.server.host, login_port=self.server.port, login_user=self.server.admin_user,
                    login_password='{{ admin_password }}')


@pytest.fixture
def roles(postgres):
    return Roles(postgres)
