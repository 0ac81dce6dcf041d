"""fernet_key with columns: a retire step on the db group, every old key kept at promotion,
trimmed only once retire succeeded everywhere; bad entries refused before anything changes."""

import datetime

import pytest
from cryptography.fernet import Fernet

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _engine

from test_kind_postgres_alternating import MemoryStore

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
COLUMNS = [{'table': 'oauth', 'column': 'token'}]
CONSUMERS = {'app1': {'env_files': [{'path': '/srv/app.env', 'values': {
    'FIELD_ENCRYPTION_KEYS': ['vault_fek', 'vault_fek_previous']}}]}, 'app2': {'env_files': []}}


def key():
    return Fernet.generate_key().decode()


def entries(**options):
    return _engine.validate_catalogue({'fek': dict({'kind': 'fernet_key'}, **options)})


def test_steps_and_group_follow_columns():
    kind, options = entries()['fek']
    assert kind.steps_of(options) == () and kind.group_of(options) is None
    kind, options = entries(columns=COLUMNS)['fek']
    assert kind.steps_of(options) == ('retire',) and kind.group_of(options) == 'db'
    assert kind.group_of(entries(columns=COLUMNS, group='pg')['fek'][1]) == 'pg'
    assert options['columns'] == [{'table': 'oauth', 'column': 'token', 'primary_key': 'id'}]


def test_check_groups_needs_the_group_only_with_columns():
    _engine.check_groups(entries(), ['fek'], {})
    with pytest.raises(InputError) as exc:
        _engine.check_groups(entries(columns=COLUMNS), ['fek'], {})
    assert 'turnkey_secrets.fek' in exc.value.msg and 'group db' in exc.value.msg


def test_play_hosts_retire_on_the_group():
    from types import SimpleNamespace
    run = SimpleNamespace(entries=entries(columns=COLUMNS), inflight={})
    assert _engine.play_hosts(run, {}, {'db': ['d1']}, ['fek']) == {'services': [], 'retire': ['d1']}
    run = SimpleNamespace(entries=entries(), inflight={})
    assert _engine.play_hosts(run, {}, {'db': ['d1']}, ['fek']) == {'services': [], 'retire': []}


@pytest.mark.parametrize('spec, problem', [
    ({'columns': 'oauth.token'}, 'turnkey_secrets.fek'),
    ({'columns': [{'table': 'oauth'}]}, 'column'),
    ({'columns': [{'column': 'token'}]}, 'table'),
    ({'columns': [{'table': 'oauth', 'column': 'token', 'key': 'id'}]}, 'key'),
    ({'keep': -1}, 'turnkey_secrets.fek: keep must be 0 or more'),
    ({'columns': COLUMNS, 'batch_size': 0}, 'turnkey_secrets.fek: batch_size must be 1 or more'),
])
def test_bad_options_are_refused(spec, problem):
    with pytest.raises(InputError) as exc:
        entries(**spec)
    assert problem in exc.value.msg and 'turnkey_secrets.fek' in exc.value.msg
    assert 'Nothing was changed' in exc.value.msg


def _rotate(store, catalogue, retired_hosts, counts):
    run = _engine.Run(store, catalogue, NOW)
    run.create(['fek'], {})
    assert run.service_records() == []  # no set/test: straight to tested
    run.promote({}, {'db': ['d1']}, ['app1'])
    promoted = dict(store.values)
    retiring = run.deployed(['app1'], CONSUMERS)
    records = run.retire_records(retiring)
    redeploy = run.retired({h: ['fek'] for h in retired_hosts}, {'db': ['d1']}, CONSUMERS, counts)
    return run, promoted, records, redeploy


def test_promote_keeps_every_key_and_retire_trims():
    old, older, oldest = key(), key(), key()
    store = MemoryStore({'vault_fek': old, 'vault_fek_previous': [older, oldest]})
    catalogue = entries(columns=COLUMNS, keep=1, login_host='db.internal', login_password='pw-admin')
    run, promoted, records, redeploy = _rotate(store, catalogue, ['d1'], {'d1': {'fek': 0}})
    new = promoted['vault_fek']
    assert new not in (old, older, oldest)
    assert promoted['vault_fek_previous'] == [old, older, oldest]  # nothing trimmed at promotion
    [record] = records
    assert record['steps'] == ['retire'] and record['group'] == 'db'
    assert record['new'] == new and record['previous'] == [old, older, oldest]
    assert record['module_defaults'] == {'group/turnkey.secrets.postgres': {'login_host': 'db.internal',
                                                                            'login_password': 'pw-admin'}}
    # Retired on every host with 0 rows left: trimmed to keep, app1 (which reads the list) waits again.
    assert store.values['vault_fek_previous'] == [old]
    assert redeploy == ['app1'] and store.journal['waiting'] == ['app1']
    assert store.journal['secrets']['fek']['state'] == 'retired'
    assert store.journal['secrets']['fek']['rows_under_old_keys'] == 0
    assert run.finish() == ['fek'] and 'fek' not in run.inflight


def test_failed_retire_keeps_every_key_and_the_count():
    old, older = key(), key()
    store = MemoryStore({'vault_fek': old, 'vault_fek_previous': [older]})
    run, promoted, _records, redeploy = _rotate(store, entries(columns=COLUMNS, keep=0), [], {'d1': {'fek': 3}})
    assert redeploy == [] and store.values['vault_fek_previous'] == [old, older]
    entry = store.journal['secrets']['fek']
    assert entry['state'] == 'deployed' and entry['rows_under_old_keys'] == 3
    assert run.finish() == []
    # The next run retries retire from the journal alone.
    again = _engine.Run(store, entries(columns=COLUMNS, keep=0), NOW)
    assert [r['name'] for r in again.retire_records(['fek'])] == ['fek']
    assert again.retired({'d1': ['fek']}, {'db': ['d1']}, CONSUMERS, {'d1': {'fek': 0}}) == ['app1']
    assert store.values['vault_fek_previous'] == []


def test_without_columns_nothing_changes():
    old, older, oldest = key(), key(), key()
    store = MemoryStore({'vault_fek': old, 'vault_fek_previous': [older, oldest]})
    run = _engine.Run(store, entries(keep=2), NOW)
    run.create(['fek'], {})
    run.promote({}, {}, ['app1'])
    assert store.values['vault_fek_previous'] == [old, older]
    assert run.deployed(['app1'], CONSUMERS) == []
    assert run.retired({}, {}, CONSUMERS) == []
    assert run.finish() == ['fek']
