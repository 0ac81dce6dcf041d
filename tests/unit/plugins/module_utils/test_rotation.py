"""Rotation bookkeeping: due dates, the environment lock, rotation.yml updates."""

import datetime
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError

NOW = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)


def test_due_by_age_force_and_pending():
    table = {
        'old': {'rotated_at': '2026-01-01T00:00:00Z', 'max_age_days': 90},
        'fresh': {'rotated_at': '2026-11-20T00:00:00Z', 'max_age_days': 90},
        'never': {'max_age_days': 180},
        'boundary': {'rotated_at': '2026-08-25T00:00:00Z', 'max_age_days': 90},
    }
    plan = _rotation.due(table, now=NOW)
    assert plan['old']['due'] and plan['old']['age_days'] == 326
    assert not plan['fresh']['due'] and plan['fresh']['reason'] == 'fresh'
    assert plan['never']['due'] and plan['never']['reason'] == 'never rotated'
    assert plan['boundary']['due']
    assert _rotation.due(table, names=['fresh'], force=True, now=NOW)['fresh']['reason'] == 'forced'
    assert _rotation.due(table, names=['fresh'], pending={'fresh'}, now=NOW)['fresh']['due']
    # A secret the environment has but the table does not know is due.
    assert _rotation.due(table, names=['unknown'], now=NOW)['unknown']['due']


def test_due_rejects_bad_metadata_clearly():
    with pytest.raises(InputError, match='ISO 8601'):
        _rotation.due({'x': {'rotated_at': 'last tuesday'}}, now=NOW)
    with pytest.raises(InputError, match='whole number'):
        _rotation.due({'x': {'rotated_at': '2026-01-01', 'max_age_days': 'soon'}}, now=NOW)
    with pytest.raises(InputError, match='mapping'):
        _rotation.due(['x'], now=NOW)


def test_record_updates_only_named_entries(tmp_path):
    path = tmp_path / 'rotation.yml'
    path.write_text('turnkey_rotation:\n  a: {rotated_at: "2026-01-01T00:00:00Z", max_age_days: 90}\n'
                    '  b: {rotated_at: "2026-01-01T00:00:00Z", max_age_days: 180}\n')
    when = datetime.datetime(2026, 11, 23, 10, 0, 0, tzinfo=datetime.timezone.utc)
    changed = _rotation.record(str(path), ['a', 'c'], when=when, check_mode=True)[0]
    assert changed and 'c:' not in path.read_text()
    _rotation.record(str(path), ['a', 'c'], when=when, defaults={'c': {'max_age_days': 30}})
    data = yaml.safe_load(path.read_text())['turnkey_rotation']
    assert data['a'] == {'rotated_at': '2026-11-23T10:00:00Z', 'max_age_days': 90}
    assert data['b']['rotated_at'] == '2026-01-01T00:00:00Z'
    assert data['c'] == {'rotated_at': '2026-11-23T10:00:00Z', 'max_age_days': 30}
    assert _rotation.record(str(path), ['a'], when=when)[0] is False


def test_record_refuses_a_broken_file(tmp_path):
    path = tmp_path / 'rotation.yml'
    path.write_text('turnkey_rotation: [unclosed\n')
    with pytest.raises(InputError, match='not valid YAML'):
        _rotation.record(str(path), ['a'])
    assert path.read_text() == 'turnkey_rotation: [unclosed\n'


def _sleeper():
    # A live process whose command line says "ansible", standing in for ansible-playbook.
    return subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', 'ansible-playbook'])


def test_lock_excludes_a_second_live_run(tmp_path):
    path = str(tmp_path / '.rotate.lock')
    holder = _sleeper()
    try:
        assert _rotation.acquire(path, holder.pid, 'staging', 'run-1')['acquired']
        assert stat_mode(path) == 0o600
        with pytest.raises(TurnkeyError, match='rotation in progress for environment staging'):
            _rotation.acquire(path, os.getpid(), 'staging', 'run-2')
        # The same run asking again is fine.
        assert _rotation.acquire(path, holder.pid, 'staging', 'run-1')['held_by_us']
        with pytest.raises(TurnkeyError, match='belongs to another run'):
            _rotation.release(path, 'run-2')
        assert _rotation.release(path, 'run-1') and not os.path.exists(path)
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_dead_run_is_broken(tmp_path):
    path = str(tmp_path / '.rotate.lock')
    dead = _sleeper()
    dead.kill()
    dead.wait()
    _rotation.acquire(path, dead.pid, 'demo', 'run-1')
    outcome = _rotation.acquire(path, os.getpid(), 'demo', 'run-2')
    assert outcome['acquired'] and 'gone' in outcome['broke']
    assert json.load(open(path))['run_id'] == 'run-2'


def test_old_or_corrupt_locks_are_stale(tmp_path):
    old = {'host': 'elsewhere', 'pid': 1, 'started': '2020-01-01T00:00:00Z'}
    assert 'older than' in _rotation.lock_is_stale(old)
    assert _rotation.lock_is_stale({'corrupt': True})
    recent = dict(old, started=_rotation.format_time(_rotation.utcnow()))
    assert _rotation.lock_is_stale(recent) is None  # another host: only age can tell


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_plan_restricts_by_tags_and_finds_pending_values():
    catalogue = {
        'db_password': {'kind': 'postgres'},
        'dashboard_password': {'kind': 'htpasswd', 'generate': 'password:32'},
        'dingtalk': {'kind': 'dingtalk'},
    }
    table = {'db_password': {'rotated_at': '2026-11-01T00:00:00Z', 'max_age_days': 180}}
    plan = _rotation.plan(catalogue, table, run_tags=['all'], now=NOW)
    assert sorted(plan) == ['dashboard_password', 'db_password', 'dingtalk']
    assert not plan['db_password']['due'] and plan['dashboard_password']['due']
    assert plan['dashboard_password']['generate'] == 'password:32'
    assert plan['dingtalk']['generate'] is None
    assert plan['dingtalk']['vault_keys'] == ['vault_dingtalk_webhook_url', 'vault_dingtalk_secret']
    only_db = _rotation.plan(catalogue, table, run_tags=['postgres'], now=NOW)
    assert list(only_db) == ['db_password']
    resumed = _rotation.plan(catalogue, table, defined_vars=['vault_db_password_pending'], now=NOW)
    assert resumed['db_password']['due'] and resumed['db_password']['resume']
    with pytest.raises(InputError, match='kind'):
        _rotation.plan({'x': {'kind': 'carrier-pigeon'}}, {}, now=NOW)


def test_outcome_needs_every_targeted_host():
    plan = _rotation.plan({'db_password': {'kind': 'postgres'}, 'dash': {'kind': 'htpasswd'},
                           'secret_key': {'kind': 'django_secret_key'}}, {}, now=NOW)
    groups = {'db': ['db1'], 'web': ['w1', 'w2']}
    result = _rotation.outcome(plan, ['db_password', 'dash', 'secret_key'],
                               {'db1': ['db_password'], 'w1': ['dash']}, groups)
    assert result['confirmed'] == ['db_password', 'secret_key']
    assert result['incomplete'] == {'dash': ['w2']}
    assert 'no host' in _rotation.outcome(plan, ['db_password'], {}, {})['incomplete']['db_password'][0]


def test_promotion_keeps_bounded_fallbacks():
    plan = _rotation.plan({'secret_key': {'kind': 'django_secret_key'}, 'fk': {'kind': 'fernet_key'},
                           'db': {'kind': 'postgres'}}, {}, now=NOW)
    current = {'vault_secret_key': 'k1', 'vault_secret_key_fallbacks': ['k0', 'k-1'], 'vault_fk': 'f1', 'vault_db': 'p1'}
    new = {'vault_secret_key_pending': 'k2', 'vault_fk_pending': 'f2', 'vault_db_pending': 'p2'}
    out = _rotation.promotion(plan, ['secret_key', 'fk', 'db'], new, current, bounds={'fk': 3})
    assert out == {'vault_secret_key': 'k2', 'vault_secret_key_fallbacks': ['k1', 'k0'],
                   'vault_fk': 'f2', 'vault_fk_previous': ['f1'], 'vault_db': 'p2'}
    # Promoting again (a re-run) does not push the key into its own fallbacks.
    again = _rotation.promotion(plan, ['secret_key'], new, dict(current, vault_secret_key='k2',
                                vault_secret_key_fallbacks=['k1', 'k0']))
    assert again['vault_secret_key_fallbacks'] == ['k1', 'k0']
    with pytest.raises(InputError, match='no pending value'):
        _rotation.promotion(plan, ['db'], {}, current)
