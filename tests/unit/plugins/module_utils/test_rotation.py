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
    changed, _ = _rotation.record(str(path), ['a', 'c'], when=when, check_mode=True)
    assert changed and 'c:' not in path.read_text()
    changed, _ = _rotation.record(str(path), ['a', 'c'], when=when, defaults={'max_age_days': 30})
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
