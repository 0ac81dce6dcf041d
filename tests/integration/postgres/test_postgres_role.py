"""The postgres_credentials role through ansible-playbook -vvvv: set, test, rollback."""

import secrets

from harness import assert_no_secret, new_secret
from psycopg import sql

MAIN_SET = 'turnkey.secrets.postgres_credentials : Set the password of PostgreSQL role {}'
TEST = 'turnkey.secrets.postgres_credentials : Log in with the password as PostgreSQL role {}'
ROLLBACK = 'turnkey.secrets.postgres_credentials : Put back the previous password of PostgreSQL role {}'


def role_task(name, tasks_from='main', **role_vars):
    include = {'name': 'turnkey.secrets.postgres_credentials', 'tasks_from': tasks_from}
    return {'name': name, 'ansible.builtin.include_role': include, 'vars': role_vars}


def login_vars(postgres):
    return dict(postgres_credentials_login_host=postgres.host, postgres_credentials_login_port=postgres.port,
                postgres_credentials_login_password='{{ admin_password }}')


def test_main_is_idempotent_and_rollback_restores(postgres, roles, playbook):
    old, new = new_secret(), new_secret()
    role = roles.create(old)
    common = dict(postgres_credentials_role=role, postgres_credentials_password='{{ new }}',
                  postgres_credentials_previous_password='{{ old }}', **login_vars(postgres))
    result = playbook(secret_vars={'old': old, 'new': new, 'admin_password': postgres.admin_password}, tasks=[
        role_task('rotate', **common),
        {'name': 'new works', 'ansible.builtin.assert': {'that': 'true'}},
        role_task('rotate again', **common),
    ])
    sets = [r for r in result.results if r['task'] == MAIN_SET.format(role)]
    assert [r['changed'] for r in sets] == [True, False]
    assert all(r['result'].get('censored') for r in sets), 'secure_logging must hide the results'
    assert postgres.can_login(role, new) and not postgres.can_login(role, old)

    result = playbook(secret_vars={'old': old, 'admin_password': postgres.admin_password}, tasks=[
        role_task('undo', 'rollback', postgres_credentials_role=role, postgres_credentials_previous_password='{{ old }}',
                  **login_vars(postgres))])
    assert result.task(ROLLBACK.format(role))['changed']
    assert postgres.can_login(role, old) and not postgres.can_login(role, new)
    assert_no_secret(postgres.read_log(), [new, old], 'PostgreSQL statement log')


def test_main_rolls_back_when_the_test_fails(postgres, roles, playbook):
    old, new = new_secret(), new_secret()
    role = roles.create(old)
    db = 'tk_' + secrets.token_hex(4)
    postgres.sql(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(db)))
    postgres.sql(sql.SQL('REVOKE CONNECT ON DATABASE {} FROM PUBLIC').format(sql.Identifier(db)))
    result = playbook(secret_vars={'old': old, 'new': new, 'admin_password': postgres.admin_password}, expect_rc=2, tasks=[
        role_task('rotate', postgres_credentials_role=role, postgres_credentials_password='{{ new }}',
                  postgres_credentials_previous_password='{{ old }}', postgres_credentials_test_db=db,
                  **login_vars(postgres))])
    assert result.task(MAIN_SET.format(role))['changed']
    assert result.task(TEST.format(role))['failed']
    assert result.task(ROLLBACK.format(role))['changed']
    give_up = result.task('turnkey.secrets.postgres_credentials : Give up on role %s' % role)
    assert 'The previous password was put back' in give_up['result']['msg']
    assert postgres.can_login(role, old) and not postgres.can_login(role, new)
