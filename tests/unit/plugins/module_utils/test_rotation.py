"""Rotation dates: what is due, rotation.yml updates."""

import datetime

import pytest
import yaml

from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

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


def test_stamp_updates_only_named_entries(tmp_path):
    path = tmp_path / 'rotation.yml'
    path.write_text('turnkey_rotation:\n  a: {rotated_at: "2026-01-01T00:00:00Z", max_age_days: 90}\n'
                    '  b: {rotated_at: "2026-01-01T00:00:00Z", max_age_days: 180}\n'
                    'turnkey_rotation_outstanding: [th2]\n')
    when = '2026-11-23T10:00:00Z'
    assert _rotation.stamp(str(path), {'a': when, 'c': when}, check_mode=True)
    assert 'c:' not in path.read_text()
    _rotation.stamp(str(path), {'a': when, 'c': when}, defaults={'c': 30})
    data = yaml.safe_load(path.read_text())
    assert data['turnkey_rotation']['a'] == {'rotated_at': when, 'max_age_days': 90}
    assert data['turnkey_rotation']['b']['rotated_at'] == '2026-01-01T00:00:00Z'
    assert data['turnkey_rotation']['c'] == {'rotated_at': when, 'max_age_days': 30}
    # The journal tracks outstanding hosts now: the old key goes.
    assert 'turnkey_rotation_outstanding' not in data
    assert _rotation.stamp(str(path), {'a': when}) is False


def test_stamp_refuses_a_broken_file(tmp_path):
    path = tmp_path / 'rotation.yml'
    path.write_text('turnkey_rotation: [unclosed\n')
    with pytest.raises(InputError, match='not valid YAML'):
        _rotation.stamp(str(path), {'a': '2026-01-01T00:00:00Z'})
    assert path.read_text() == 'turnkey_rotation: [unclosed\n'
