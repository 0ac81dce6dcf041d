"""The postgres_alternating kind: which login role a rotation targets, what it stores, what
its task file gets, through the engine's own functions with an in-memory store."""

import datetime
import secrets

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _engine
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds.postgres_alternating import (
    PostgresAlternating, login_roles, next_user)

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
KIND = KINDS['postgres_alternating']


def entry(**extra):
    return dict({'kind': 'postgres_alternating', 'role': 'app', 'login_host': '127.0.0.1', 'login_port': 5433,
                 'login_user': 'postgres', 'login_password': secrets.token_urlsafe(12)}, **extra)


class MemoryStore(object):
    """The store interface the engine uses (load, save, dates, record_dates), in memory."""

    def __init__(self, values=None):
        self.values = dict(values or {})
        self.journal = {}
        self.dated = {}
        self.writes = 0

    def load(self):
        return dict(self.values), dict(self.journal)

    def save(self, updates=None, journal=None):
        self.writes += 1
        self.values.update(updates or {})
        self.journal = dict(journal or {})

    def dates(self):
        return {}

    def record_dates(self, dates, defaults):
        self.dated.update(dates)
        return True


def test_registered_with_the_postgres_tags_and_db_group():
    assert isinstance(KIND, PostgresAlternating)
    assert KIND.group == 'db'
    assert set(KIND.tags) == {'postgres', 'db'}
    assert 'retire' not in KIND.steps and {'set', 'test', 'rollback'} <= set(KIND.steps)
    assert KIND.module_group == 'turnkey.secrets.postgres'
    assert set(KINDS['postgres'].connection) == set(KIND.connection)


def test_keys_password_first_then_user():
    assert KIND.keys('db') == ('vault_db', 'vault_db_user')
    assert KIND.kept_keys('db') == ()


@pytest.mark.parametrize('current, target', [
    (None, 'app_a'), ('', 'app_a'), ('app_a', 'app_b'), ('app_b', 'app_a'),
    # A role the vault names that is neither (a former single-user role): start with _a.
    ('app', 'app_a'), ('other_b', 'app_a'),
])
def test_next_user_is_the_one_not_in_use(current, target):
    assert next_user('app', current) == target
    assert login_roles('app') == ('app_a', 'app_b')


def test_new_values_new_password_for_the_inactive_role():
    _k, options = _engine.validate_catalogue({'db': entry()})['db']
    first = KIND.new_values('db', options, {}, None)
    assert first['vault_db_user'] == 'app_a'
    assert len(first['vault_db']) == 32  # urlsafe:24
    second = KIND.new_values('db', options, {'vault_db': first['vault_db'], 'vault_db_user': 'app_a'}, None)
    assert second['vault_db_user'] == 'app_b'
    assert second['vault_db'] != first['vault_db']
    third = KIND.new_values('db', options, dict(second), None)
    assert third['vault_db_user'] == 'app_a'


def test_generate_option_is_honoured():
    _k, options = _engine.validate_catalogue({'db': entry(generate='hex:16')})['db']
    value = KIND.new_values('db', options, {}, None)['vault_db']
    assert len(value) == 32 and set(value) <= set('0123456789abcdef')


def test_promote_switches_user_and_password_together():
    new = {'vault_db': secrets.token_urlsafe(12), 'vault_db_user': 'app_b'}
    current = {'vault_db': secrets.token_urlsafe(12), 'vault_db_user': 'app_a'}
    assert KIND.promote('db', {'role': 'app'}, current, new) == new


def test_record_targets_the_new_user_and_carries_no_old_password():
    old = secrets.token_urlsafe(12)
    new = {'vault_db': secrets.token_urlsafe(12), 'vault_db_user': 'app_b'}
    record = KIND.record('db', {'role': 'app'}, {'vault_db': old, 'vault_db_user': 'app_a'}, new)
    assert record == {'new': new['vault_db'], 'user': 'app_b', 'previous_user': 'app_a'}
    assert old not in repr(record)


def test_service_record_module_defaults_hold_the_connection_options_only():
    entries = _engine.validate_catalogue({'db': entry(ssl_mode='verify-full', ca_cert='/etc/ssl/ca.pem')})
    kind, options = entries['db']
    new = {'vault_db': secrets.token_urlsafe(12), 'vault_db_user': 'app_a'}
    record = _engine.service_record('db', kind, options, {}, new, 'pending')
    defaults = record['module_defaults']['group/turnkey.secrets.postgres']
    assert defaults == {'login_host': '127.0.0.1', 'login_port': 5433, 'login_user': 'postgres',
                        'login_password': options['login_password'], 'ssl_mode': 'verify-full',
                        'ca_cert': '/etc/ssl/ca.pem'}
    assert record['steps'] == ['set', 'test', 'rollback']
    assert record['user'] == 'app_a' and record['group'] == 'db'
    assert _engine.service_record('db', kind, options, {}, new, 'rollback')['steps'] == ['rollback']


@pytest.mark.parametrize('spec, problem', [
    ({'role': ''}, 'role must name the group role'),
    ({'role': 'r' * 62}, 'role is too long'),
    ({'role': 'app', 'user': 'app_a'}, 'unknown key user'),
    ({'role': 'app', 'ssl_mode': 'sometimes'}, 'ssl_mode'),
])
def test_invalid_entries(spec, problem):
    with pytest.raises(InputError) as exc:
        _engine.validate_catalogue({'db': dict(entry(), **spec)})
    assert problem in exc.value.msg
    assert 'Nothing was changed' in exc.value.msg


def test_role_of_61_bytes_fits():
    assert _engine.validate_catalogue({'db': dict(entry(), role='r' * 61)})


def test_consumers_may_name_both_keys():
    entries = _engine.validate_catalogue({'db': entry()})
    known = _engine.known_keys(entries, {})
    spec = {'h': {'env_files': [{'path': '/srv/app.env', 'values': {'DB_USER': 'vault_db_user',
                                                                    'DB_PASSWORD': 'vault_db'}}]}}
    assert _engine.validate_consumers(spec, known)
    with pytest.raises(InputError):
        _engine.validate_consumers({'h': {'env_files': [{'path': '/srv/app.env', 'values': {'X': 'vault_db_users'}}]}},
                                   known)


def _cycle(store, entries, consumers):
    """One rotation through the engine's transitions with every host succeeding."""
    run = _engine.Run(store, entries, NOW)
    run.create(['db'], {})
    records = run.service_records()
    assert [r['name'] for r in records] == ['db']
    run.promote({'localhost': {'db': 'tested'}}, {'db': ['localhost']}, list(consumers))
    resolved = _engine.resolve_consumers(consumers['localhost'], run.values, _engine.kept_keys(entries))
    assert run.deployed(['localhost'], consumers) == []  # no retire step
    assert run.finish() == ['db']
    return records[0], resolved['env_files'][0]['values']


def test_engine_alternates_and_consumers_get_both():
    entries = _engine.validate_catalogue({'db': entry()})
    consumers = {'localhost': {'env_files': [{'path': '/srv/app.env', 'values': {
        'DB_USER': 'vault_db_user', 'DB_PASSWORD': 'vault_db'}}]}}
    store = MemoryStore()
    seen = []
    for expected in ('app_a', 'app_b', 'app_a'):
        before = dict(store.values)
        record, env = _cycle(store, entries, consumers)
        assert record['user'] == expected
        assert record['previous_user'] == before.get('vault_db_user')
        assert store.values['vault_db_user'] == expected
        assert env == {'DB_USER': expected, 'DB_PASSWORD': store.values['vault_db']}
        assert store.values['vault_db'] != before.get('vault_db')
        assert 'secrets' not in store.journal or not store.journal['secrets']
        seen.append(store.values['vault_db'])
    assert len(set(seen)) == 3


def test_failed_test_is_dropped_in_the_same_run_and_the_vault_is_unchanged():
    entries = _engine.validate_catalogue({'db': entry()})
    current = {'vault_db': secrets.token_urlsafe(12), 'vault_db_user': 'app_a'}
    store = MemoryStore(current)
    run = _engine.Run(store, entries, NOW)
    run.create(['db'], {})
    assert run.inflight['db']['new']['vault_db_user'] == 'app_b'
    # apply.yml: test failed, then the (no-op) rollback step ran: rolled_back.
    run.promote({'localhost': {'db': 'rolled_back'}}, {'db': ['localhost']}, ['localhost'])
    assert run.failed == ['db']
    assert 'db' not in run.inflight
    assert store.values == current


def test_deploy_sets_the_current_password_on_the_current_user():
    entries = _engine.validate_catalogue({'db': entry()})
    current = {'vault_db': secrets.token_urlsafe(12), 'vault_db_user': 'app_b'}
    run = _engine.Run(MemoryStore(current), entries, NOW)
    records = run.service_records(['db'], deploy=True)
    assert [(r['user'], r['new'], r['steps']) for r in records] == [('app_b', current['vault_db'], ['set', 'test'])]


def test_deploy_generates_what_is_missing():
    entries = _engine.validate_catalogue({'db': entry()})
    store = MemoryStore()
    run = _engine.Run(store, entries, NOW)
    assert run.generate_missing(['db']) == ['db']
    assert store.values['vault_db_user'] == 'app_a' and store.values['vault_db']
    # A vault migrated from the postgres kind has the password only: it goes to <role>_a.
    password = secrets.token_urlsafe(12)
    store = MemoryStore({'vault_db': password})
    run = _engine.Run(store, entries, NOW)
    run.generate_missing(['db'])
    assert store.values == {'vault_db': password, 'vault_db_user': 'app_a'}
