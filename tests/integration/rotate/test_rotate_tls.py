"""rotate.yml against a TLS-only PostgreSQL and a TLS-only Redis (tls_servers.py).

PostgreSQL has ssl=on and only ``hostssl`` lines in pg_hba.conf; Redis listens on its TLS
port only (``port 0``).  Their certificate is signed by a CA made by openssl for this
module; the catalogue names it (``ssl_mode: verify-full`` + ``ca_cert`` for the postgres
kinds, ``tls: true`` + ``ca_certs`` for redis), and the server's name is verified.  The
controller (localhost) is the db, redis and app host (one env file).
"""

import json
import os
import sys

import pytest
import yaml

from harness import VaultedInventory, assert_no_secret, new_secret, run_playbook
from invariants import env_values
from tls_servers import TlsPostgres, TlsRedis, make_certificates

from ansible_collections.turnkey.secrets.plugins.module_utils import _postgres


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    return make_certificates(str(tmp_path_factory.mktemp('tls')))


@pytest.fixture(scope='module')
def tls_postgres(certs):
    server = TlsPostgres(certs).start()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def tls_redis(tmp_path_factory, certs):
    server = TlsRedis(str(tmp_path_factory.mktemp('tls-redis')), certs).start()
    yield server
    server.stop()


def _token():
    return new_secret(4).lower().replace('-', 'x').replace('_', 'x')


class TlsEnv(VaultedInventory):
    """One environment: a postgres role, a postgres_alternating pair, a Redis ACL user, all over TLS."""

    def __init__(self, base, postgres, redis_server, ca):
        super().__init__(base, 'tls')
        self.postgres = postgres
        self.redis = redis_server
        self.env_path = os.path.join(self.base, 'app.env')
        token = _token()
        self.role = 'tls_' + token
        self.alt_role = 'tlsalt_' + token
        self.redis_user = 'app_' + token
        self.old = {
            'vault_db_password': new_secret(),
            'vault_redis_password': new_secret(),
            'vault_db_admin_password': postgres.admin_password,
            'vault_redis_admin_password': redis_server.admin_password,
        }
        postgres.sql('CREATE ROLE %s LOGIN' % self.role)
        verifier = _postgres.scram_verifier(self.old['vault_db_password'])
        from psycopg import sql
        with postgres.connect() as conn:
            conn.execute(sql.SQL('ALTER ROLE {} PASSWORD {}').format(sql.Identifier(self.role), sql.Literal(verifier)))
        postgres.sql('CREATE ROLE %s NOLOGIN' % self.alt_role)
        for suffix in ('_a', '_b'):
            postgres.sql('CREATE ROLE %s%s LOGIN IN ROLE %s' % (self.alt_role, suffix, self.alt_role))
            postgres.sql("ALTER ROLE %s%s SET role = '%s'" % (self.alt_role, suffix, self.alt_role))
        redis_server.client().execute_command('ACL', 'SETUSER', self.redis_user, 'on',
                                              '>' + self.old['vault_redis_password'], '~*', '+@all')
        self.write_vault(self.old)
        self.write_inventory(ca)

    def write_inventory(self, ca):
        with open(os.path.join(self.inventory, 'local.yml'), 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                            'ansible_python_interpreter': sys.executable}},
                                    'children': {g: {'hosts': {'localhost': None}} for g in ('db', 'redis', 'app')}}},
                           handle)
        pg = {'login_host': self.postgres.host, 'login_port': self.postgres.port, 'login_user': 'postgres',
              'login_password': '{{ vault_db_admin_password }}', 'ssl_mode': 'verify-full', 'ca_cert': ca}
        main = {
            'turnkey_environment': 'tls',
            'turnkey_vault_id': 'tls',
            'turnkey_vault_password_file': self.password_file,
            'turnkey_secrets': {
                'db_password': dict(pg, kind='postgres', role=self.role),
                'db_alt': dict(pg, kind='postgres_alternating', role=self.alt_role),
                'redis_password': {'kind': 'redis', 'user': self.redis_user, 'login_host': self.redis.host,
                                   'login_port': self.redis.port, 'login_user': self.redis.admin_user,
                                   'login_password': '{{ vault_redis_admin_password }}', 'persist': 'acl_save',
                                   'tls': True, 'ca_certs': ca},
            },
            'turnkey_env_files': [{'path': self.env_path, 'mode': '0600', 'values': {
                'DB_PASSWORD': 'vault_db_password', 'REDIS_PASSWORD': 'vault_redis_password',
                'DB_ALT_USER': 'vault_db_alt_user', 'DB_ALT_PASSWORD': 'vault_db_alt'}}],
        }
        with open(os.path.join(self.gv, 'main.yml'), 'w') as handle:
            yaml.safe_dump(main, handle)

    def secret_values(self):
        return [v for k, v in self.vault().items() if isinstance(v, str) and not k.endswith('_user')]

    def rotate(self, tmp_path, expect_rc=0):
        before = self.secret_values()
        result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=self.inventory,
                              args=self.vault_args + ['-e', 'rotate_force=true'],
                              leak_check=before + list(self.old.values()), expect_rc=expect_rc, timeout=300)
        after = self.secret_values()
        assert_no_secret(result.output, after, 'rotate.yml output (values after the run)')
        assert_no_secret(json.dumps(result.results), after, 'task results')
        return result

    def drop(self):
        for role in (self.role, self.alt_role + '_a', self.alt_role + '_b', self.alt_role):
            self.postgres.sql('DROP ROLE IF EXISTS %s' % role)
        self.redis.client().execute_command('ACL', 'DELUSER', self.redis_user)


@pytest.fixture
def tls_env(tmp_path, tls_postgres, tls_redis, certs):
    env = TlsEnv(tmp_path, tls_postgres, tls_redis, certs['ca'])
    yield env
    env.drop()


def test_servers_speak_tls_only(tls_env):
    pg, rd = tls_env.postgres, tls_env.redis
    old = tls_env.old
    assert pg.can_login(tls_env.role, old['vault_db_password'])
    assert pg.ssl_in_use(tls_env.role, old['vault_db_password'])
    # No host line: the same credentials without TLS are refused.
    assert not pg.can_login(tls_env.role, old['vault_db_password'], sslmode='disable')
    assert rd.can_login(tls_env.redis_user, old['vault_redis_password'])
    assert rd.plain_refused()


def test_rotate_over_tls_new_values_work_and_old_ones_are_refused(tls_env, tmp_path):
    pg, rd = tls_env.postgres, tls_env.redis
    old = tls_env.old
    result = tls_env.rotate(tmp_path)
    new = tls_env.vault()
    assert 'turnkey_rotation_journal' not in new
    for key in ('vault_db_password', 'vault_redis_password'):
        assert new[key] != old[key], key

    # PostgreSQL (postgres kind): the new password logs in over verified TLS, the old one no longer.
    assert pg.can_login(tls_env.role, new['vault_db_password'])
    assert pg.ssl_in_use(tls_env.role, new['vault_db_password'])
    assert not pg.can_login(tls_env.role, old['vault_db_password'])
    assert not pg.can_login(tls_env.role, new['vault_db_password'], sslmode='disable')
    # postgres_alternating over TLS: <role>_a got the first password.
    assert new['vault_db_alt_user'] == tls_env.alt_role + '_a'
    assert pg.can_login(new['vault_db_alt_user'], new['vault_db_alt'])
    assert not pg.can_login(tls_env.alt_role + '_b', new['vault_db_alt'])

    # Redis: the new password authenticates over TLS; the old one was retired once the env file had the new one.
    assert result.task('Retire the other passwords of Redis user %s' % tls_env.redis_user)['changed']
    assert rd.can_login(tls_env.redis_user, new['vault_redis_password'])
    assert not rd.can_login(tls_env.redis_user, old['vault_redis_password'])
    assert rd.plain_refused()

    assert env_values(tls_env.env_path) == {
        'DB_PASSWORD': new['vault_db_password'], 'REDIS_PASSWORD': new['vault_redis_password'],
        'DB_ALT_USER': new['vault_db_alt_user'], 'DB_ALT_PASSWORD': new['vault_db_alt']}

    log = pg.read_log()
    assert_no_secret(log, [old['vault_db_password'], new['vault_db_password'], new['vault_db_alt']],
                     'PostgreSQL server log')
    # The module's own logins (set, then test as the role) were TLS connections.
    authorized = [line for line in log.splitlines() if 'connection authorized: user=%s ' % tls_env.role in line]
    assert authorized and all('SSL enabled' in line for line in authorized), authorized


def test_unverifiable_server_certificate_changes_nothing(tls_env, tmp_path_factory, tmp_path):
    # A CA that did not sign the servers' certificate: verify-full / tls must refuse them.
    other = make_certificates(str(tmp_path_factory.mktemp('other-ca')))
    tls_env.write_inventory(other['ca'])
    pg, rd = tls_env.postgres, tls_env.redis
    old = tls_env.old
    result = tls_env.rotate(tmp_path, expect_rc=2)
    msg = result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    for name in ('db_password', 'db_alt', 'redis_password'):
        assert name in msg, msg
    vault = tls_env.vault()
    assert vault['vault_db_password'] == old['vault_db_password']
    assert vault['vault_redis_password'] == old['vault_redis_password']
    assert 'vault_db_alt' not in vault and 'turnkey_rotation_journal' not in vault
    assert pg.can_login(tls_env.role, old['vault_db_password'])
    assert rd.can_login(tls_env.redis_user, old['vault_redis_password'])
    assert 'certificate verify failed' in result.output
