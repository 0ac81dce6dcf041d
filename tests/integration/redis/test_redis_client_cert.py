"""redis_password and the redis_credentials role against a TLS-only Redis 7 that requires a
client certificate (tls-auth-clients yes): client_cert_file / client_key_file."""

import pytest
from harness import new_secret
from tls_servers import TlsRedis, make_certificates

MODULE = 'turnkey.secrets.redis_password'


@pytest.fixture
def server(tmp_path):
    certs = make_certificates(str(tmp_path / 'pki'), clients=('ops',))
    redis = TlsRedis(str(tmp_path / 'redis'), certs, client_cert='ops').start()
    yield redis
    redis.stop()


def test_client_certificate_module_and_role(server, playbook):
    user, old, new, newer = 'tk_cert_' + new_secret(4).lower().replace('-', 'x'), new_secret(), new_secret(), new_secret()
    server.client().execute_command('ACL', 'SETUSER', user, 'on', '>' + old, '~*', '+@read', '+ping')
    certs = server.certs
    login = dict(login_host=server.host, login_port=server.port, login_user=server.admin_user,
                 login_password='{{ admin_password }}', tls=True, ca_certs=certs['ca'], persist='none')
    with_cert = dict(login, client_cert_file=certs['client:ops'], client_key_file=certs['client_key:ops'])
    args = dict(with_cert, user=user, password='{{ new }}', test_login=True)
    role_vars = dict(redis_credentials_user=user, redis_credentials_password='{{ newer }}',
                     redis_credentials_previous_password='{{ new }}', redis_credentials_login_host=server.host,
                     redis_credentials_login_port=server.port, redis_credentials_login_user=server.admin_user,
                     redis_credentials_login_password='{{ admin_password }}', redis_credentials_tls=True,
                     redis_credentials_ca_certs=certs['ca'], redis_credentials_persist='none',
                     redis_credentials_client_cert_file=certs['client:ops'],
                     redis_credentials_client_key_file=certs['client_key:ops'])
    result = playbook(secret_vars={'new': new, 'newer': newer, 'admin_password': server.admin_password}, tasks=[
        {'name': 'no certificate', MODULE: dict(login, user=user, password='{{ new }}'), 'ignore_errors': True},
        {'name': 'certificate without tls', MODULE: dict(args, tls=False), 'ignore_errors': True},
        {'name': 'check', MODULE: args, 'check_mode': True},
        {'name': 'apply', MODULE: args},
        {'name': 'apply again', MODULE: args},
        {'name': 'role', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.redis_credentials'},
         'vars': role_vars},
    ])
    refused = result.task('no certificate')
    assert refused['failed'] and not refused['changed']
    assert 'set tls: true' in result.task('certificate without tls')['result']['msg']
    assert result.task('check')['changed'] and result.task('apply')['changed']
    assert not result.task('apply again')['changed']
    assert server.can_login(user, new) and server.can_login(user, newer) and not server.can_login(user, old)
