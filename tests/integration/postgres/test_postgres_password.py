"""turnkey.secrets.postgres_password against a real PostgreSQL 15 with log_statement = 'all'."""

import hashlib
import secrets

from harness import assert_no_secret, free_port, new_secret
from psycopg import sql

from ansible_collections.turnkey.secrets.plugins.module_utils import _postgres


def module_task(name, args, check=False, ignore_errors=False):
    task = {'name': name, 'turnkey.secrets.postgres_password': args}
    if check:
        task['check_mode'] = True
    if ignore_errors:
        task['ignore_errors'] = True
    return task


def test_rotation_check_apply_check_apply(postgres, roles, playbook):
    old, new = new_secret(), new_secret()
    role = roles.create(old)
    args = dict(role=role, password='{{ new }}', test_login=True, **roles.admin(role))
    result = playbook(secret_vars={'old': old, 'new': new, 'admin_password': postgres.admin_password}, tasks=[
        module_task('check', args, check=True),
        {'name': 'old still valid', 'ansible.builtin.assert': {'that': 'true'}},
        module_task('apply', args),
        module_task('check again', args, check=True),
        module_task('apply again', args),
    ])
    check = result.task('check')
    assert check['changed'] and check['result']['role'] == dict(role=role, changed=True, checked_with='pg_authid',
                                                                login_tested=False)
    assert check['result']['diff'] == {'before': {role: {'password': '********'}}, 'after': {role: {'password': '<changed>'}}}
    apply = result.task('apply')
    assert apply['changed'] and apply['result']['role']['login_tested']
    assert not result.task('check again')['changed'] and not result.task('apply again')['changed']
    assert result.task('apply again')['result']['role']['login_tested']

    assert postgres.can_login(role, new)
    assert not postgres.can_login(role, old)
    assert _postgres.verify_scram(new, roles.stored(role))
    log = postgres.read_log()
    assert 'ALTER ROLE "%s" PASSWORD \'SCRAM-SHA-256$4096:' % role in log
    assert_no_secret(log, [new], 'PostgreSQL statement log')


def test_list_form_as_createrole_user_verifies_by_login(postgres, roles, playbook):
    """Not a superuser: pg_authid is unreadable, so a test login decides (checked_with=login)."""
    admin_password = new_secret()
    admin = roles.create(admin_password, 'LOGIN CREATEROLE')
    names = [roles.create(new_secret()) for _index in range(3)]
    values = {'p%d' % i: new_secret() for i in range(3)}
    values['admin_password'] = admin_password
    task = module_task('apply', dict(login_host=postgres.host, login_port=postgres.port, login_user=admin,
                                     login_password='{{ admin_password }}', test_login=True,
                                     roles=[{'role': n, 'password': '{{ p%d }}' % i} for i, n in enumerate(names)]))
    again = dict(task, name='again')
    result = playbook(secret_vars=values, tasks=[task, again])
    apply = result.task('apply')['result']
    assert result.task('apply')['changed'] and apply['checked_with'] == 'login'
    assert [r['changed'] for r in apply['roles']] == [True] * 3
    assert not result.task('again')['changed']
    assert all(postgres.can_login(n, values['p%d' % i]) for i, n in enumerate(names))


def test_md5_hash_is_upgraded_to_scram(postgres, roles, playbook):
    password = new_secret()
    role = roles.create()
    # Only a legacy hash, never the plaintext, goes to the server here too.
    md5 = 'md5' + hashlib.md5((password + role).encode()).hexdigest()
    postgres.sql(sql.SQL('ALTER ROLE {} PASSWORD {}').format(sql.Identifier(role), sql.Literal(md5)))
    task = module_task('upgrade', dict(role=role, password='{{ pw }}', **roles.admin(role)))
    result = playbook(secret_vars={'pw': password, 'admin_password': postgres.admin_password},
                      tasks=[task, dict(task, name='again')])
    assert result.task('upgrade')['result']['role']['upgraded_from'] == 'md5'
    assert not result.task('again')['changed']
    assert roles.stored(role).startswith('SCRAM-SHA-256$') and postgres.can_login(role, password)


def test_failed_test_login_puts_the_previous_verifier_back(postgres, roles, playbook):
    old, new = new_secret(), new_secret()
    role = roles.create(old)
    before = roles.stored(role)
    db = 'tk_' + secrets.token_hex(4)
    postgres.sql(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(db)))
    postgres.sql(sql.SQL('REVOKE CONNECT ON DATABASE {} FROM PUBLIC').format(sql.Identifier(db)))
    result = playbook(secret_vars={'new': new, 'old': old, 'admin_password': postgres.admin_password}, expect_rc=2, tasks=[
        module_task('apply', dict(role=role, password='{{ new }}', test_login=True, test_login_db=db, **roles.admin(role)))])
    failed = result.task('apply')
    assert failed['failed'] and not failed['changed']
    msg = failed['result']['msg']
    assert 'login with the new password failed for: %s' % role in msg and 'permission denied for database' in msg
    assert msg.endswith('The previous passwords were restored')
    assert roles.stored(role) == before and postgres.can_login(role, old)


def test_errors_are_clear_change_nothing_and_leak_nothing(postgres, roles, playbook):
    old, new = new_secret(), new_secret()
    role = roles.create(old)
    wrong = new_secret()
    values = {'old': old, 'new': new, 'admin_password': postgres.admin_password, 'wrong': wrong}
    base = dict(role=role, password='{{ new }}', **roles.admin(role))
    result = playbook(secret_vars=values, tasks=[
        module_task('server down', dict(base, login_port=free_port()), ignore_errors=True),
        module_task('wrong admin password', dict(base, login_password='{{ wrong }}'), ignore_errors=True),
        module_task('role missing', dict(base, role='tk_missing_' + secrets.token_hex(3)), ignore_errors=True),
        module_task('verified with the wrong password', dict(base, state='verified'), ignore_errors=True),
    ])
    messages = {}
    for name in ('server down', 'wrong admin password', 'role missing', 'verified with the wrong password'):
        task = result.task(name)
        assert task['failed'] and not task['changed'], name
        assert 'Traceback' not in result.output
        messages[name] = task['result']['msg']
    assert 'cannot connect to PostgreSQL at 127.0.0.1:' in messages['server down']
    assert 'Connection refused' in messages['server down'] and 'nothing was changed' in messages['server down']
    assert 'password authentication failed for user "postgres"' in messages['wrong admin password']
    assert 'do not exist' in messages['role missing'] and 'Nothing was changed' in messages['role missing']
    assert 'login with the given password failed for: %s' % role in messages['verified with the wrong password']
    assert postgres.can_login(role, old)


def test_our_verifiers_agree_with_the_server_and_libpq(postgres, roles):
    """Non-ASCII passwords: the server hashes them itself (test-only values) and we must agree."""
    suffix = new_secret(6)
    role = roles.create()
    for password in ['caf\u00e9' + suffix, 'I\u00adX' + suffix, '\u2168\u00a0' + suffix, '\u00e9\u0007' + suffix,
                     '\u0627\u0031' + suffix, '\U0001F511' + suffix]:
        postgres.sql(sql.SQL('ALTER ROLE {} LOGIN PASSWORD {}').format(sql.Identifier(role), sql.Literal(password)))
        assert _postgres.verify_scram(password, roles.stored(role)), repr(password)
        postgres.sql(sql.SQL('ALTER ROLE {} PASSWORD {}').format(sql.Identifier(role),
                                                                 sql.Literal(_postgres.scram_verifier(password))))
        assert postgres.can_login(role, password), repr(password)
