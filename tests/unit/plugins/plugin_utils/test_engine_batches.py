"""Service records of a batching kind (htpasswd) become one record per file and step list;
other kinds stay one record per secret."""

import secrets

from ansible_collections.turnkey.secrets.plugins.plugin_utils import _engine
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS


def record(name, kind, state='pending', **options):
    value = secrets.token_urlsafe(12)
    old = secrets.token_urlsafe(12)
    spec = KINDS[kind].spec()
    full = {key: opt.get('default') for key, opt in spec.items()}
    full.update(options, kind=kind)
    return _engine.service_record(name, KINDS[kind], full, {'vault_' + name: old}, {'vault_' + name: value}, state)


def test_users_of_one_file_are_one_record():
    recs = [record('u%d' % i, 'htpasswd', path='/srv/a/htpasswd', user='user%d' % i) for i in range(5)]
    out = _engine.batches(recs)
    assert list(out) == ['web']
    [batch] = out['web']
    assert batch['names'] == ['u0', 'u1', 'u2', 'u3', 'u4']
    assert [m['entry']['name'] for m in batch['members']] == ['user0', 'user1', 'user2', 'user3', 'user4']
    assert [m['entry']['password'] for m in batch['members']] == [r['new'] for r in recs]
    assert [m['entry']['previous_password'] for m in batch['members']] == [r['old'] for r in recs]
    assert batch['label'] == 'u0, u1, u2 and 2 more (htpasswd)'
    assert 'new' not in batch and 'old' not in batch
    assert batch['options']['path'] == '/srv/a/htpasswd'


def test_files_steps_and_options_keep_batches_apart():
    recs = [record('a', 'htpasswd', path='/srv/a/htpasswd', user='a'),
            record('b', 'htpasswd', path='/srv/b/htpasswd', user='b'),
            record('c', 'htpasswd', path='/srv/a/htpasswd', user='c', mode='0600'),
            record('d', 'htpasswd', path='/srv/a/htpasswd', user='d', state='rollback'),
            record('e', 'htpasswd', path='/srv/a/htpasswd', user='e')]
    names = [b['names'] for b in _engine.batches(recs)['web']]
    assert names == [['a', 'e'], ['b'], ['c'], ['d']]


def test_other_kinds_are_one_record_each():
    recs = [record('s%d' % i, 'redis', user='app%d' % i) for i in range(3)]
    out = _engine.batches(recs)['redis']
    assert [r['names'] for r in out] == [['s0'], ['s1'], ['s2']]
    assert all('new' in r and 'members' not in r for r in out)


def test_preview_marks_the_consumers_of_due_secrets():
    entries = {'secret_key': (KINDS['django_secret_key'], {'keep': 2}), 'token': (KINDS['generic'], {})}
    spec = {'env_files': [{'path': '/srv/app.env', 'values': {'SECRET_KEY': 'vault_secret_key', 'FALLBACKS': ['vault_secret_key_fallbacks'],
                                                              'TOKEN': 'vault_token'}}],
            'podman_secrets': [{'name': 'tok', 'var': 'vault_token'}]}
    assert _engine.preview(spec, entries, ['secret_key']) == [
        '/srv/app.env: FALLBACKS=<changed> SECRET_KEY=<changed> TOKEN=<unchanged>', 'podman secret tok: <unchanged>']
    assert _engine.preview(spec, entries, ['token'])[1] == 'podman secret tok: <changed>'


def test_two_secrets_for_one_htpasswd_user_or_file_mode_are_refused():
    import pytest
    from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
    same_user = {'a': {'kind': 'htpasswd', 'path': '/srv/h', 'user': 'admin'},
                 'b': {'kind': 'htpasswd', 'path': '/srv//h', 'user': 'admin'}}
    with pytest.raises(InputError) as exc:
        _engine.validate_catalogue(same_user, {})
    assert 'turnkey_secrets.a and turnkey_secrets.b are the same user in path /srv/h' in exc.value.msg
    modes = {'a': {'kind': 'htpasswd', 'path': '/srv/h', 'user': 'x'},
             'b': {'kind': 'htpasswd', 'path': '/srv/h', 'user': 'y', 'mode': '0600', 'group': 'www-data'}}
    with pytest.raises(InputError) as exc:
        _engine.validate_catalogue(modes, {})
    assert 'share path /srv/h but differ in group, mode' in exc.value.msg
    fine = {'a': {'kind': 'htpasswd', 'path': '/srv/h', 'user': 'x'}, 'b': {'kind': 'htpasswd', 'path': '/srv/h', 'user': 'y'},
            'c': {'kind': 'htpasswd', 'path': '/srv/other', 'user': 'x', 'mode': '0600'}}
    assert sorted(_engine.validate_catalogue(fine, {})) == ['a', 'b', 'c']
