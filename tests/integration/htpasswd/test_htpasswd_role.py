"""The htpasswd role through ansible-playbook -vvvv against nginx whose workers run as www-data."""

import grp
import os
import stat

from harness import new_secret
from htpasswd_helpers import file_identity

from ansible_collections.turnkey.secrets.plugins.module_utils._htpasswd import hash_password

APPLY = 'turnkey.secrets.htpasswd : Apply the htpasswd users'
NEW = 'turnkey.secrets.htpasswd : Ask nginx with the new passwords'
OLD = 'turnkey.secrets.htpasswd : Ask nginx with the previous passwords'
CHECK = 'turnkey.secrets.htpasswd : Check that nginx accepts the new passwords and refuses the previous ones'


def role(path, url, current, previous=None, **extra):
    admin = {'name': 'admin', 'password': '{{ %s }}' % current}
    if previous:
        admin['previous_password'] = '{{ %s }}' % previous
    role_vars = {'htpasswd_path': path, 'htpasswd_verify_url': url,
                 'htpasswd_users': [admin, {'name': 'viewer', 'password': '{{ viewer }}'}]}
    role_vars.update(extra)
    return [{'name': 'role', 'ansible.builtin.include_role': {'name': 'turnkey.secrets.htpasswd'}, 'vars': role_vars},
            {'name': 'registered', 'ansible.builtin.debug': {'msg': '{{ htpasswd_result.users | map(attribute="action") }}'}}]


def test_role_rotates_and_nginx_confirms(www_nginx, playbook):
    path, nginx = www_nginx()
    values = {k: new_secret() for k in ('pw1', 'pw2', 'viewer')}

    first = playbook(secret_vars=values, tasks=role(path, nginx.url, 'pw1'))
    assert first.task(APPLY)['changed'] and first.task(APPLY)['result'].get('censored')
    assert not first.task(CHECK)['failed']
    assert first.task('registered')['result']['msg'] == ['added', 'added']
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, grp.getgrgid(st.st_gid).gr_name) == (0o640, 0, 'www-data')
    assert nginx.status('admin', values['pw1']) == 200

    # check mode: reported, nothing written, nothing asked over HTTP
    before = file_identity(path)
    check = playbook(secret_vars=values, check=True, tasks=role(path, nginx.url, 'pw2', 'pw1'))
    assert check.task(APPLY)['changed'] and check.task(NEW)['skipped']
    assert file_identity(path) == before

    rotate = playbook(secret_vars=values, tasks=role(path, nginx.url, 'pw2', 'pw1'))
    assert rotate.task(APPLY)['changed']
    assert rotate.task('registered')['result']['msg'] == ['updated', 'unchanged']
    assert rotate.task(CHECK)['result']['msg'].endswith('accepts the new passwords and refuses the previous ones')
    assert nginx.status('admin', values['pw2']) == 200
    assert nginx.status('admin', values['pw1']) == 401

    again = playbook(secret_vars=values, tasks=role(path, nginx.url, 'pw2', 'pw1'))
    assert not again.changed and again.task(NEW)['skipped']


def test_role_fails_when_nginx_does_not_take_the_new_password(www_nginx, playbook):
    path, _nginx = www_nginx('served')
    other_path, other = www_nginx('elsewhere')
    values = {k: new_secret() for k in ('pw1', 'pw2', 'viewer')}
    # The URL guards another file, where admin still has the previous password.
    with open(other_path, 'w') as handle:
        handle.write('admin:%s\n' % hash_password(values['pw1'], 'apr_md5_crypt'))
    os.chmod(other_path, 0o644)
    result = playbook(secret_vars=values, expect_rc=2, tasks=role(path, other.url, 'pw2', 'pw1'))
    failure = result.task(CHECK)
    assert failure['failed']
    msg = failure['result']['msg']
    assert 'admin got HTTP 401 with the new password, expected 200' in msg
    assert 'viewer got HTTP 401 with the new password, expected 200' in msg
    assert 'admin got HTTP 200 with the previous password, expected 401' in msg
