"""Dotenv parsing, quoting and in-place updates (module_utils/_env_file.py)."""

import json
import os
import random
import string
import subprocess

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _env_file
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

TRICKY = [
    '', 'plain', 'with space', 'hash # inside', 'hash#nospace', "it's", 'dollar $HOME ${HOME}', 'back\\slash',
    'quote "double"', "both ' and \" and $ and `", 'tab\there', '=leading=equals', ' leading space', 'trailing space ',
    '!@#$%^&*(-_=+)', 'ünïcödé', '\\', "'", '"', '`',
]


def _random_value(rng):
    alphabet = string.ascii_letters + string.digits + string.punctuation + ' \t'
    return ''.join(rng.choice(alphabet) for dummy in range(rng.randint(0, 40)))


@pytest.mark.parametrize('value', TRICKY)
def test_render_parses_back(value):
    text = 'K=%s\n' % _env_file.render_value(value)
    assert _env_file.values_of(text) == {'K': value}


def test_render_parses_back_random():
    rng = random.Random(7)
    for dummy in range(2000):
        value = _random_value(rng)
        assert _env_file.values_of('K=%s' % _env_file.render_value(value)) == {'K': value}, repr(value)


def test_a_shell_reads_back_what_is_written(tmp_path):
    """``set -a; . FILE`` is the strictest common reader: it must see the exact values."""
    rng = random.Random(11)
    values = {'V%d' % i: v for i, v in enumerate(TRICKY + [_random_value(rng) for dummy in range(50)])}
    new_text = _env_file.update('', values)[0]
    env_path = tmp_path / 'app.env'
    env_path.write_text(new_text)
    script = 'set -a; . "$1"; exec "$2" -c "import json, os; print(json.dumps(dict(os.environ)))"'
    out = subprocess.run(['bash', '-c', script, 'bash', str(env_path), os.environ.get('PYTHON', 'python3')],
                         env={'PATH': os.environ['PATH']}, capture_output=True, check=True, text=True).stdout
    seen = json.loads(out)
    assert {k: seen.get(k) for k in values} == values


def test_keeps_other_lines_comments_and_order():
    text = ('# settings of the app\n'
            '\n'
            'export DEBUG=false\n'
            "SECRET_KEY='old'   # rotated by ansible\n"
            'ALLOWED_HOSTS=a,b\n')
    new, report = _env_file.update(text, {'SECRET_KEY': 'new value', 'FIELD_ENCRYPTION_KEY': 'k'})
    assert new == ('# settings of the app\n'
                   '\n'
                   'export DEBUG=false\n'
                   "SECRET_KEY='new value'   # rotated by ansible\n"
                   'ALLOWED_HOSTS=a,b\n'
                   'FIELD_ENCRYPTION_KEY=k\n')
    assert report['added'] == ['FIELD_ENCRYPTION_KEY']
    assert report['updated'] == ['SECRET_KEY']
    assert report['removed'] == []


def test_export_prefix_is_kept():
    new = _env_file.update('export A=1\n', {'A': '2'})[0]
    assert new == 'export A=2\n'


def test_equal_value_quoted_differently_is_left_alone():
    text = 'A="x"\nB=\'y z\'\nC = plain  # note\nD="a\\$b"\n'
    new, report = _env_file.update(text, {'A': 'x', 'B': 'y z', 'C': 'plain', 'D': 'a$b'})
    assert new == text
    assert report['added'] == report['updated'] == report['removed'] == []


def test_second_update_is_a_no_op():
    values = dict(zip(('A', 'B', 'C', 'D'), TRICKY[3:7]))
    once = _env_file.update('X=1\n', values)[0]
    twice, report = _env_file.update(once, values)
    assert twice == once and report['updated'] == [] and report['added'] == []


def test_lists_comma_and_json():
    new = _env_file.update('', {'L': ['a', 'b'], 'E': []})[0]
    assert new == 'L=a,b\nE=\n'
    new = _env_file.update('', {'L': ['a', 'b,c']}, list_format='json')[0]
    assert _env_file.values_of(new) == {'L': '["a","b,c"]'}
    # A JSON list written by hand with spaces is the same list: unchanged.
    text = 'L=\'["a", "b"]\'\n'
    assert _env_file.update(text, {'L': ['a', 'b']}, list_format='json')[0] == text
    with pytest.raises(InputError, match='list_format: json'):
        _env_file.update('', {'L': ['a,b']})


def test_scalars():
    new = _env_file.update('', {'PORT': 8501, 'DEBUG': False, 'RATIO': 0.5})[0]
    assert _env_file.values_of(new) == {'PORT': '8501', 'DEBUG': 'false', 'RATIO': '0.5'}


def test_remove_exclusive_and_duplicates():
    text = 'A=1\n# keep me\nB=2\nA=3\nC=4\n'
    new, report = _env_file.update(text, {'C': '4'}, remove=['A'])
    assert new == '# keep me\nB=2\nC=4\n'
    assert report['removed'] == ['A']
    new, report = _env_file.update(text, {'C': '5'}, exclusive=True)
    assert new == '# keep me\nC=5\n'
    assert report['removed'] == ['A', 'B']
    # The last assignment counts and is the one updated.
    new, report = _env_file.update(text, {'A': '3'})
    assert new == text and report['updated'] == []
    new = _env_file.update(text, {'A': '9'})[0]
    assert new == 'A=1\n# keep me\nB=2\nA=9\nC=4\n'


def test_removing_a_missing_key_is_no_change():
    new, report = _env_file.update('A=1\n', remove=['B'])
    assert new == 'A=1\n' and report['removed'] == []


def test_file_without_final_newline():
    assert _env_file.update('A=1', {'A': '1'})[0] == 'A=1'
    assert _env_file.update('A=1', {'B': '2'})[0] == 'A=1\nB=2\n'
    assert _env_file.update('', {})[0] == ''


def test_diff_names_keys_never_values():
    secret = 'S3cr3t-value-that-must-not-leak'
    old_secret = 'old-S3cr3t-value-that-must-not-leak'
    report = _env_file.update('A=%s\nB=%s\n' % (old_secret, old_secret), {'A': secret, 'N': secret}, remove=['B'])[1]
    diff = json.dumps(report)
    assert secret not in diff and old_secret not in diff
    assert report['diff']['before'] == 'A=********\nB=********\n'
    assert report['diff']['after'] == 'A=<changed>\nN=<new>\n'


@pytest.mark.parametrize('values, remove, match', [
    ({'1BAD': 'x'}, (), 'invalid key name'),
    ({'BAD-KEY': 'x'}, (), 'invalid key name'),
    ({}, ['NO SPACE'], 'invalid key name'),
    ({'A': 'two\nlines'}, (), 'line break'),
    ({'A': 'cr\r'}, (), 'line break'),
    ({'A': None}, (), 'null'),
    ({'A': {'nested': 1}}, (), 'string or a list'),
    ({'A': 'x'}, ['A'], 'both in values and in remove'),
])
def test_bad_input(values, remove, match):
    with pytest.raises(InputError, match=match):
        _env_file.update('', values, remove)


@pytest.mark.parametrize('text, line', [
    ('A=1\nthis is not an assignment\n', 2),
    ('A="unterminated\nB=2\n', 1),
    ("A='x' trailing\n", 1),
    ('# ok\n\n=novalue\n', 3),
])
def test_unparsable_line_is_named(text, line):
    with pytest.raises(InputError, match='line %d of /x/.env does not parse' % line) as info:
        _env_file.update(text, {'A': 'v'}, path='/x/.env')
    assert 'unterminated' not in info.value.msg and 'trailing' not in info.value.msg
