"""postgres_password with community.postgresql's option names, on real PostgreSQL 15 servers:
aliases, expires, session_role, the Unix socket by default, client-certificate authentication."""

import os
import shutil

import psycopg
from harness import Postgres, new_secret
from psycopg import sql
from tls_servers import TlsPostgres, make_certificates

from ansible_collections.turnkey.secrets.plugins.module_utils._postgres import scram_verifier

MODULE = 'turnkey.secrets.postgres_password'


def _task(name, args, **extra):
    return dict({'name': name, MODULE: args}, **extra)


def _valid_until(server, role):
    return server.sql('SELECT rolvaliduntil::date::text FROM pg_roles WHERE rolname = %s', (role,))[0][0]


def test_community_postgresql_names_expires_and_session_role(postgres, roles, playbook):
    old, new, admin_password = new_secret(), new_secret(), new_secret()
    role, other = roles.create(old), roles.create(old)
    # A login role without CREATEROLE, member of a NOLOGIN role that has it: only SET ROLE lets it work.
    admin, group = roles.create(admin_password), roles.create(None, 'NOLOGIN CREATEROLE')
    postgres.sql(sql.SQL('GRANT {} TO {}').format(sql.Identifier(group), sql.Identifier(admin)))
    connection = dict(login_host=postgres.host, port=postgres.port, db='postgres', login_user=admin,
                      login_password='{{ admin_password }}', session_role=group)
    args = dict(connection, name=role, password='{{ new }}', expires='2099-01-31', test_login=True)
    listed = dict(connection, roles=[{'user': other, 'password': '{{ new }}', 'expires': 'infinity'}])
    without_role = dict(args, session_role=None)
    result = playbook(secret_vars={'new': new, 'admin_password': admin_password}, tasks=[
        _task('no session role', without_role, ignore_errors=True),
        _task('bad date', dict(args, expires='soon'), ignore_errors=True),
        _task('check', args, check_mode=True),
        _task('apply', args),
        _task('check again', args, check_mode=True),
        _task('apply again', args),
        _task('list', listed),
        _task('list again', listed),
        _task('only the expiry', dict(args, expires='2098-12-31')),
    ])
    assert 'may not change these passwords' in result.task('no session role')['result']['msg']
    bad = result.task('bad date')['result']
    assert result.task('bad date')['failed'] and bad['msg'].startswith('expires of role %s: PostgreSQL cannot read' % role)
    assert not result.task('no session role')['changed'] and not result.task('bad date')['changed']
    check = result.task('check')
    assert check['changed'] and check['result']['role']['expires_changed']
    assert check['result']['diff']['after'][role] == {'password': '<changed>', 'expires': '2099-01-31'}
    assert result.task('apply')['changed'] and result.task('apply')['result']['checked_with'] == 'login'
    assert not result.task('check again')['changed'] and not result.task('apply again')['changed']
    assert result.task('list')['changed'] and not result.task('list again')['changed']
    only = result.task('only the expiry')['result']['role']
    assert result.task('only the expiry')['changed'] and only['expires_changed']
    assert postgres.can_login(role, new) and postgres.can_login(other, new) and not postgres.can_login(role, old)
    assert _valid_until(postgres, role) == '2098-12-31'
    assert postgres.sql('SELECT rolvaliduntil = \'infinity\' FROM pg_roles WHERE rolname = %s', (other,))[0][0]


def test_login_host_defaults_to_the_unix_socket(tmp_path, playbook):
    """As community.postgresql: no login_host means the local socket (libpq's /var/run/postgresql)."""
    default_dir = '/var/run/postgresql'
    if not os.path.isdir(default_dir):
        os.makedirs(default_dir)
        shutil.chown(default_dir, 'postgres', 'postgres')
    server = Postgres()
    server.socket_dirs = [default_dir, server.workdir]
    server.initdb()
    # Passwords over the socket too (root is not the postgres OS user: no peer login here); no TCP.
    with open(os.path.join(server.data, 'pg_hba.conf'), 'w') as handle:
        handle.write('local all all scram-sha-256\n')
    server.pg_ctl_start('-c log_connections=on')
    try:
        role, old, new = 'tk_sock_' + new_secret(4).lower().replace('-', '_'), new_secret(), new_secret()
        with psycopg.connect(host=server.workdir, port=server.port, user='postgres', password=server.admin_password,
                             dbname='postgres', autocommit=True) as conn:
            conn.execute(sql.SQL('CREATE ROLE {} LOGIN PASSWORD {}').format(
                sql.Identifier(role), sql.Literal(scram_verifier(old))))
        base = dict(name=role, password='{{ new }}', login_password='{{ admin_password }}', port=server.port)
        result = playbook(secret_vars={'new': new, 'admin_password': server.admin_password}, tasks=[
            _task('default socket', base),
            _task('named socket', dict(base, login_host='localhost', login_unix_socket=server.workdir)),
            _task('unreachable', dict(base, login_unix_socket=str(tmp_path)), ignore_errors=True),
        ])
        assert result.task('default socket')['changed'] and not result.task('named socket')['changed']
        assert 'cannot connect to PostgreSQL at %s' % tmp_path in result.task('unreachable')['result']['msg']
        log = server.read_log()
        assert 'connection received: host=[local]' in log and 'host=127.0.0.1' not in log
    finally:
        server.stop()


def test_client_certificate_authentication(tmp_path, playbook):
    admin = 'tk_certadmin'
    certs = make_certificates(str(tmp_path / 'pki'), clients=(admin,))
    server = TlsPostgres(certs, cert_users=(admin,)).start()
    try:
        role, old, new = 'tk_cert_role', new_secret(), new_secret()
        server.sql(sql.SQL('CREATE ROLE {} SUPERUSER LOGIN').format(sql.Identifier(admin)))
        server.sql(sql.SQL('CREATE ROLE {} LOGIN PASSWORD {}').format(sql.Identifier(role),
                                                                      sql.Literal(scram_verifier(old))))
        args = dict(role=role, password='{{ new }}', login_host='localhost', login_port=server.port,
                    login_user=admin, ssl_mode='verify-full', ca_cert=certs['ca'],
                    ssl_cert=certs['client:' + admin], ssl_key=certs['client_key:' + admin], test_login=True)
        no_cert = {k: v for k, v in args.items() if k not in ('ssl_cert', 'ssl_key')}
        role_vars = dict(postgres_credentials_role=role, postgres_credentials_password='{{ newer }}',
                         postgres_credentials_previous_password='{{ new }}', postgres_credentials_login_host='localhost',
                         postgres_credentials_login_port=server.port, postgres_credentials_login_user=admin,
                         postgres_credentials_ssl_mode='verify-full', postgres_credentials_ca_cert=certs['ca'],
                         postgres_credentials_ssl_cert=certs['client:' + admin],
                         postgres_credentials_ssl_key=certs['client_key:' + admin])
        newer = new_secret()
        result = playbook(secret_vars={'new': new, 'newer': newer}, tasks=[
            _task('without the certificate', no_cert, ignore_errors=True),
            _task('apply', args),
            _task('apply again', args),
            {'name': 'role', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.postgres_credentials'},
             'vars': role_vars},
        ])
        assert result.task('without the certificate')['failed']
        assert 'certificate' in result.task('without the certificate')['result']['msg']
        assert result.task('apply')['changed'] and not result.task('apply again')['changed']
        assert result.task('apply')['result']['checked_with'] == 'pg_authid'
        assert server.can_login(role, newer) and not server.can_login(role, new)
        assert 'did not set no_log' not in result.output
    finally:
        server.stop()
