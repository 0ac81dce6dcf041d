"""The redis_credentials role through ansible-playbook -vvvv: set + test, retire, rollback."""

from harness import new_secret

SET = 'turnkey.secrets.redis_credentials : Add beside the previous one the new password of Redis user {}'
TEST = 'turnkey.secrets.redis_credentials : Log in with the new password as Redis user {}'
FINISH = 'turnkey.secrets.redis_credentials : Retire the other passwords of Redis user {}'
ROLLBACK = 'turnkey.secrets.redis_credentials : Remove the new password of Redis user {}'


def role_task(name, tasks_from='main', **role_vars):
    include = {'name': 'turnkey.secrets.redis_credentials', 'tasks_from': tasks_from}
    return {'name': name, 'ansible.builtin.include_role': include, 'vars': role_vars}


def common(server, user):
    return dict(redis_credentials_user=user, redis_credentials_password='{{ new }}',
                redis_credentials_previous_password='{{ old }}', redis_credentials_login_host=server.host,
                redis_credentials_login_port=server.port, redis_credentials_login_user=server.admin_user,
                redis_credentials_login_password='{{ admin_password }}')


def test_set_test_then_retire(redis_server, acl_user, playbook, logs_in):
    old, stale, new = new_secret(), new_secret(), new_secret()
    user = acl_user(old, stale)
    values = {'old': old, 'new': new, 'admin_password': redis_server.admin_password}
    result = playbook(secret_vars=values, tasks=[role_task('set and test', **common(redis_server, user)),
                                                 role_task('again', **common(redis_server, user))])
    sets = [r for r in result.results if r['task'] == SET.format(user)]
    assert [r['changed'] for r in sets] == [True, False]
    assert all(r['result'].get('censored') for r in sets)
    assert not result.task(TEST.format(user))['failed']
    assert logs_in(redis_server, user, old) and logs_in(redis_server, user, new)
    assert not logs_in(redis_server, user, stale), 'only the named previous password stays valid'

    result = playbook(secret_vars=values, tasks=[role_task('retire', 'retire', **common(redis_server, user))])
    assert result.task(FINISH.format(user))['changed']
    assert logs_in(redis_server, user, new) and not logs_in(redis_server, user, old)
    redis_server.restart()
    assert logs_in(redis_server, user, new) and not logs_in(redis_server, user, old)


def test_failed_test_rolls_back(redis_server, acl_user, playbook, logs_in):
    old, new = new_secret(), new_secret()
    user = acl_user(old)
    redis_server.client().execute_command('ACL', 'SETUSER', user, 'off')   # nobody can log in as it
    values = {'old': old, 'new': new, 'admin_password': redis_server.admin_password}
    result = playbook(secret_vars=values, expect_rc=2, tasks=[role_task('rotate', **common(redis_server, user))])
    assert result.task(SET.format(user))['changed']
    assert result.task(TEST.format(user))['failed']
    assert result.task(ROLLBACK.format(user))['changed']
    redis_server.client().execute_command('ACL', 'SETUSER', user, 'on')
    assert logs_in(redis_server, user, old) and not logs_in(redis_server, user, new)
