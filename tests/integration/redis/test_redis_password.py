"""turnkey.secrets.redis_password against a real Redis 7: dual passwords, retirement, restarts."""

import hashlib
import secrets

from harness import assert_no_secret, free_port, new_secret


def password_hash(password):
    return hashlib.sha256(password.encode()).hexdigest()


def module_task(name, args, check=False, ignore_errors=False):
    task = {'name': name, 'turnkey.secrets.redis_password': args}
    if check:
        task['check_mode'] = True
    if ignore_errors:
        task['ignore_errors'] = True
    return task


def admin(server):
    return dict(login_host=server.host, login_port=server.port, login_user=server.admin_user,
                login_password='{{ admin_password }}')


def slowlog_text(server):
    return repr(server.client().slowlog_get(1000))


def test_rotation_both_valid_then_only_new_and_it_survives_a_restart(redis_server, acl_user, playbook, logs_in):
    old, new = new_secret(), new_secret()
    user = acl_user(old)
    # Log every command with its arguments: the plaintext must never be one of them.
    redis_server.client().config_set('slowlog-log-slower-than', 0)
    values = {'old': old, 'new': new, 'admin_password': redis_server.admin_password}
    add = dict(user=user, password='{{ new }}', keep_previous=True, previous_password='{{ old }}', test_login=True,
               **admin(redis_server))
    result = playbook(secret_vars=values, tasks=[
        module_task('check', add, check=True),
        module_task('add', add),
        module_task('check again', add, check=True),
        module_task('add again', add),
    ])
    check = result.task('check')
    assert check['changed'] and check['result']['diff'] == {
        'before': {user: {'passwords': ['<unchanged>'], 'nopass': False}},
        'after': {user: {'passwords': ['<new>', '<unchanged>'], 'nopass': False}}}
    assert result.task('add')['changed'] and result.task('add')['result']['user']['action'] == 'added'
    assert result.task('add')['result']['persisted'] == 'acl_save'
    assert not result.task('check again')['changed'] and not result.task('add again')['changed']
    assert logs_in(redis_server, user, old) and logs_in(redis_server, user, new)

    retire = dict(user=user, password='{{ new }}', retire_previous=True, test_login=True, **admin(redis_server))
    result = playbook(secret_vars=values, tasks=[module_task('retire', retire), module_task('retire again', retire)])
    assert result.task('retire')['result']['user']['action'] == 'retired'
    assert not result.task('retire again')['changed']
    assert logs_in(redis_server, user, new) and not logs_in(redis_server, user, old)

    assert_no_secret(slowlog_text(redis_server), [new, old], 'Redis slowlog')
    with open(redis_server.aclfile) as handle:
        acl = handle.read()
    assert '#' + password_hash(new) in acl and '#' + password_hash(old) not in acl
    assert_no_secret(acl, [new, old], 'ACL file')

    redis_server.restart()
    assert logs_in(redis_server, user, new) and not logs_in(redis_server, user, old)


def test_default_user_of_a_requirepass_server(requirepass_redis, playbook, logs_in):
    """redis.conf with requirepass, no ACL file: CONFIG REWRITE persists; requirepass is cleared."""
    server = requirepass_redis
    old = server.admin_password
    new = '%dK%s' % (secrets.randbelow(90) + 10, new_secret(6))   # a value community.general.redis mangles
    values = {'old': old, 'new': new}
    result = playbook(secret_vars=values, tasks=[
        module_task('add', dict(password='{{ new }}', keep_previous=True, test_login=True, login_host=server.host,
                                login_port=server.port, login_password='{{ old }}')),
    ])
    assert result.task('add')['result']['persisted'] == 'config_rewrite'
    assert logs_in(server, 'default', old) and logs_in(server, 'default', new)
    assert server.client('default', new).config_get('requirepass') == {'requirepass': ''}

    result = playbook(secret_vars=values, tasks=[
        module_task('retire', dict(password='{{ new }}', retire_previous=True, login_host=server.host,
                                   login_port=server.port, login_password='{{ new }}')),
    ])
    assert result.task('retire')['changed']
    with open(server.conffile) as handle:
        conf = handle.read()
    assert 'requirepass' not in conf and 'user default on' in conf
    assert_no_secret(conf, [new, old], 'redis.conf')

    server.restart()
    assert logs_in(server, 'default', new) and not logs_in(server, 'default', old)


def test_errors_are_clear_change_nothing_and_leak_nothing(redis_server, requirepass_redis, acl_user, playbook, logs_in):
    old, new, wrong = new_secret(), new_secret(), new_secret()
    user = acl_user(old)
    values = {'old': old, 'new': new, 'wrong': wrong, 'admin_password': redis_server.admin_password,
              'rp_password': requirepass_redis.admin_password}
    base = dict(user=user, password='{{ new }}', **admin(redis_server))
    no_acl_file = dict(password='{{ new }}', persist='acl_save', login_host=requirepass_redis.host,
                       login_port=requirepass_redis.port, login_password='{{ rp_password }}')
    result = playbook(secret_vars=values, tasks=[
        module_task('server down', dict(base, login_port=free_port()), ignore_errors=True),
        module_task('wrong admin password', dict(base, login_password='{{ wrong }}'), ignore_errors=True),
        module_task('user missing', dict(base, user='tk_missing_' + secrets.token_hex(3)), ignore_errors=True),
        module_task('acl_save without an ACL file', no_acl_file, ignore_errors=True),
        module_task('last password', dict(base, password='{{ old }}', state='absent'), ignore_errors=True),
        module_task('verified with the wrong password', dict(base, password='{{ wrong }}', state='verified'),
                    ignore_errors=True),
    ])
    messages = {}
    for name in ('server down', 'wrong admin password', 'user missing', 'acl_save without an ACL file', 'last password',
                 'verified with the wrong password'):
        task = result.task(name)
        assert task['failed'] and not task['changed'], name
        messages[name] = task['result']['msg']
    assert 'Traceback' not in result.output
    assert messages['server down'].startswith('cannot connect to Redis at 127.0.0.1:')
    assert 'nothing was changed' in messages['server down']
    assert 'WRONGPASS' in messages['wrong admin password'] or 'invalid username-password' in messages['wrong admin password']
    assert 'do not exist' in messages['user missing'] and 'Nothing was changed' in messages['user missing']
    assert 'needs an ACL file' in messages['acl_save without an ACL file']
    assert 'would leave it no password' in messages['last password']
    assert 'login with the given password failed for: %s' % user in messages['verified with the wrong password']
    assert logs_in(redis_server, user, old) and not logs_in(redis_server, user, new)
    assert logs_in(requirepass_redis, 'default', requirepass_redis.admin_password)
    assert not logs_in(requirepass_redis, 'default', new)
