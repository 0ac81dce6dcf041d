"""_podman: planning, replacement order, consumers and recreation, against a fake podman CLI."""

import json
import threading

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _podman, _redact
from ansible_collections.turnkey.secrets.plugins.module_utils._command import Result
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import CommandError, InputError, TurnkeyError

SECRET = 'unit-test-value-' + 'x' * 8


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch):
    real = _redact.kdf_digest
    monkeypatch.setattr(_redact, 'kdf_digest', lambda value: real(value, iterations=1000))


class FakePodman(object):
    """Just enough of the podman CLI (and systemctl) for the module logic."""

    def __init__(self, version='4.3.1'):
        self.version = version
        self.secrets = {}     # name -> dict(id, data, labels, driver, opts)
        self.containers = {}  # name -> dict(id, status, command, labels, secrets)
        self.calls = []
        self.fail = {}        # (verb, name) -> stderr
        self.counter = 0
        self.lock = threading.Lock()  # the module runs podman from a few threads

    def add_secret(self, name, data, labels=None, driver='file', opts=None):
        self.counter += 1
        self.secrets[name] = {'id': 'id%05d' % self.counter, 'data': data, 'labels': dict(labels or {}),
                              'driver': driver, 'opts': dict(opts or {}, path='/var/lib/secrets')}

    def add_container(self, name, command, status='running', labels=None):
        self.counter += 1
        self.containers[name] = {'id': 'c%05d' % self.counter, 'status': status, 'command': command,
                                 'labels': labels or {}}

    def __call__(self, argv, data=None, check=True, text=True, **_):
        args = list(argv[1:])
        self.calls.append(args)
        for value in (SECRET, SECRET.encode()):
            assert value not in args, 'secret value in argv'
        with self.lock:
            rc, out, err = self.dispatch(argv[0], args, data)
        if isinstance(out, str) and not text:
            out = out.encode()
        if check and rc:
            raise CommandError('%s failed (rc=%d): %s' % (' '.join(argv[:3]), rc, err), rc=rc, stderr=err)
        return Result(rc, out, err, argv)

    def dispatch(self, exe, args, data):
        if exe == 'systemctl':
            return 0, '', ''
        verb = tuple(args[:2])
        target = args[-1] if args else None
        if verb == ('secret', 'rm'):
            # podman removes what it can, prints each removed ID, and fails for the rest.
            removed, errors = [], []
            for name in args[2:]:
                if (verb, name) in self.fail:
                    errors.append(self.fail[(verb, name)])
                elif name in self.secrets:
                    removed.append(self.secrets.pop(name)['id'] + '\n')
                else:
                    errors.append('no such secret')
            return (125 if errors else 0), ''.join(removed), '\n'.join(errors)
        if (verb, target) in self.fail:
            return 125, '', self.fail[(verb, target)]
        if args[0] == 'version':
            return 0, self.version + '\n', ''
        if verb == ('secret', 'ls'):
            return 0, ''.join('%s\t%s\n' % (s['id'], n) for n, s in self.secrets.items()), ''
        if verb == ('secret', 'inspect') and '--showsecret' in args:
            return 0, self.secrets[target]['data'].decode() + '\n', ''
        if verb == ('secret', 'inspect'):
            by_id = dict((s['id'], (n, s)) for n, s in self.secrets.items())
            return 0, json.dumps([{'ID': i, 'CreatedAt': 't0', 'UpdatedAt': 't1', 'Spec': {
                'Name': by_id[i][0], 'Driver': {'Name': by_id[i][1]['driver'], 'Options': by_id[i][1]['opts']},
                'Labels': by_id[i][1]['labels']}} for i in args[2:] if i in by_id]), ''
        if verb == ('secret', 'create'):
            name = args[-2]
            if name in self.secrets and '--replace' not in args:
                return 125, '', 'secret name in use'
            labels = dict(a.split('=', 1) for a in _values(args, '--label'))
            opts = dict(a.split('=', 1) for a in _values(args, '--driver-opts'))
            self.add_secret(name, data, labels, (_values(args, '--driver') or ['file'])[0], opts)
            return 0, self.secrets[name]['id'] + '\n', ''
        if args[0] == 'ps':
            return 0, ''.join(c['id'] + '\n' for c in self.containers.values()), ''
        if verb == ('container', 'inspect'):
            lines = []
            for name, c in self.containers.items():
                if c['id'] in args:
                    lines.append('\t'.join(json.dumps(v) for v in (
                        name, c['id'], c['status'], c['command'], c['labels'], None)))
            return 0, '\n'.join(lines) + '\n', ''
        if verb == ('container', 'exists'):
            return (0 if target in self.containers else 1), '', ''
        if args[0] == 'rename':
            self.containers[args[2]] = self.containers.pop(args[1])
            return 0, '', ''
        if args[0] in ('stop', 'start'):
            self.containers[target]['status'] = 'running' if args[0] == 'start' else 'exited'
            return 0, '', ''
        if args[0] == 'rm':
            self.containers.pop(target, None)
            return 0, '', ''
        if 'run' in args or 'create' in args:
            name = args[args.index('--name') + 1]
            self.add_container(name, ['podman'] + args, 'running' if 'run' in args else 'created')
            return 0, '', ''
        raise AssertionError('unexpected podman call %r' % args)

    def mutations(self):
        return [c for c in self.calls if c[0] in ('rm', 'rename', 'stop', 'start', 'run', 'create')
                or c[:2] in (['secret', 'create'], ['secret', 'rm'])]


def _values(args, flag):
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(_podman._command, 'find_executable', lambda name, explicit=None: 'podman')
    return FakePodman()


def manage(fake, check_mode=False, warnings=None, **params):
    params.setdefault('state', 'present')
    return _podman.manage(params, check_mode=check_mode, runner=fake,
                          warn=(warnings.append if warnings is not None else None))


# ------------------------------------------------------------------ input

@pytest.mark.parametrize('name', ['', 'bad/name', '-lead', 'trail.', 'a' * 65, 'a b'])
def test_invalid_names_are_refused(name):
    with pytest.raises(InputError, match='invalid secret name'):
        _podman.normalize({'name': name, 'data': SECRET})


@pytest.mark.parametrize('name', ['a', 'db_password', 'A.b-c_9', 'a' * 64])
def test_valid_names(name):
    assert _podman.normalize({'name': name, 'data': SECRET})[0].name == name


def test_size_limits_follow_podman():
    assert len(_podman.normalize({'name': 'a', 'data': 'x' * 511999})[0].data) == 511999
    with pytest.raises(InputError, match='at most 511999 bytes'):
        _podman.normalize({'name': 'a', 'data': 'x' * 512000})
    with pytest.raises(InputError, match='refuses empty secrets'):
        _podman.normalize({'name': 'a', 'data': ''})


def test_input_errors(tmp_path, monkeypatch):
    monkeypatch.delenv('TK_UNSET', raising=False)
    cases = [
        ({'name': 'a', 'data': SECRET, 'path': '/x'}, 'mutually exclusive'),
        ({'name': 'a'}, 'needs one of data, path or env'),
        ({'name': 'a', 'path': str(tmp_path / 'missing')}, 'cannot read path'),
        ({'name': 'a', 'env': 'TK_UNSET'}, 'TK_UNSET is not set'),
        ({'name': 'a', 'data': SECRET, 'labels': {_podman.DIGEST_LABEL: 'x'}}, 'reserved'),
        ({'name': 'a', 'data': SECRET, 'labels': {'a=b': 'x'}}, 'contain no "="'),
        ({'secrets': [{'name': 'a', 'data': SECRET}, {'name': 'a', 'data': SECRET}]}, 'listed twice'),
    ]
    for params, message in cases:
        with pytest.raises(InputError, match=message):
            _podman.normalize(params)
        assert SECRET not in message


def test_list_items_inherit_top_level_defaults_and_binary_path(tmp_path):
    blob = tmp_path / 'blob'
    blob.write_bytes(b'\x00\xff\xfe')
    wanted = _podman.normalize({'labels': {'app': 'x'}, 'force': True, 'secrets': [
        {'name': 'a', 'data': SECRET}, {'name': 'b', 'path': str(blob), 'labels': {'own': '1'}},
        {'name': 'c', 'state': 'absent'}]})
    assert [w.labels for w in wanted] == [{'app': 'x'}, {'own': '1'}, {'app': 'x'}]
    assert wanted[1].data == b'\x00\xff\xfe' and wanted[2].data is None and all(w.force for w in wanted)


def test_version_and_helpers():
    assert _podman.parse_version('4.3.1\n') == (4, 3, 1)
    assert _podman.parse_version('4.7.0-dev') == (4, 7, 0)
    assert _podman.parse_version('5.0') == (5, 0, 0)
    with pytest.raises(TurnkeyError):
        _podman.parse_version('garbage')
    assert len(_podman.pending_name('a' * 64)) <= 64
    assert _podman.NAME_RE.match(_podman.pending_name('x'))
    assert _podman._csv_field('k=a,b') == '"k=a,b"' and _podman._csv_field('k=v') == 'k=v'
    assert _podman.secret_names_in_command(
        ['podman', 'run', '--secret', 'a', '--secret=b,type=env,target=B', '--secret', 'type=mount,source=c', 'img']) == ['a', 'b', 'c']


# ------------------------------------------------------------------ plan and apply on podman 4.3

def test_create_then_unchanged_then_rotate_with_pending_order(fake):
    first = manage(fake, name='db', data=SECRET, labels={'app': 'x'})
    assert first['changed'] and first['secret']['action'] == 'created'
    stored = fake.secrets['db']
    assert stored['data'] == SECRET.encode() and stored['labels']['app'] == 'x'
    assert _redact.kdf_verify(SECRET, stored['labels'][_podman.DIGEST_LABEL])
    assert SECRET not in json.dumps(first)

    fake.calls[:] = []
    again = manage(fake, name='db', data=SECRET, labels={'app': 'x'})
    assert not again['changed'] and again['secret']['action'] == 'unchanged' and not fake.mutations()

    fake.calls[:] = []
    new = SECRET + '-2'
    rotated = manage(fake, name='db', data=new, labels={'app': 'x'})
    assert rotated['changed'] and rotated['secret']['changes'] == ['data']
    pending = _podman.pending_name('db')
    assert [c[:2] + [c[-2] if c[1] == 'create' else c[-1]] for c in fake.mutations()] == [
        ['secret', 'create', pending], ['secret', 'rm', 'db'], ['secret', 'create', 'db'], ['secret', 'rm', pending]]
    assert fake.secrets['db']['data'] == new.encode() and pending not in fake.secrets


def test_list_form_rotation_removes_in_one_call_per_step(fake):
    names = ['s%d' % i for i in range(5)]
    manage(fake, secrets=[{'name': n, 'data': SECRET} for n in names])
    fake.calls[:] = []
    result = manage(fake, secrets=[{'name': n, 'data': SECRET + n} for n in names])
    assert [s['action'] for s in result['secrets']] == ['updated'] * 5
    removals = [c for c in fake.mutations() if c[:2] == ['secret', 'rm']]
    assert removals == [['secret', 'rm'] + names, ['secret', 'rm'] + sorted(_podman.pending_name(n) for n in names)]
    assert len([c for c in fake.mutations() if c[:2] == ['secret', 'create']]) == 10
    assert sorted(fake.secrets) == names and all(fake.secrets[n]['data'] == (SECRET + n).encode() for n in names)


def test_one_secret_in_use_does_not_stop_the_others(fake):
    manage(fake, secrets=[{'name': n, 'data': SECRET} for n in ('a', 'b', 'c')])
    fake.fail[(('secret', 'rm'), 'b')] = 'secret b is in use by container web'
    with pytest.raises(TurnkeyError, match='b: secret b is in use'):
        manage(fake, secrets=[{'name': n, 'data': SECRET + '2'} for n in ('a', 'b', 'c')])
    assert [fake.secrets[n]['data'] for n in ('a', 'b', 'c')] == [(SECRET + '2').encode(), SECRET.encode(),
                                                                  (SECRET + '2').encode()]
    assert sorted(fake.secrets) == ['a', 'b', 'c']


def test_labels_and_driver_opts_are_compared_exactly(fake):
    manage(fake, name='db', data=SECRET, labels={'a': '1'}, driver_opts={'k': 'v'})
    assert not manage(fake, name='db', data=SECRET, labels={'a': '1'}, driver_opts={'k': 'v'})['changed']
    extra = manage(fake, name='db', data=SECRET, labels={'a': '1', 'b': '2'}, driver_opts={'k': 'v'})
    assert extra['secret']['changes'] == ['labels']
    fewer = manage(fake, name='db', data=SECRET, labels={'a': '1', 'b': '2'})
    assert fewer['secret']['changes'] == ['driver_opts']
    assert manage(fake, name='db', data=SECRET, labels={'a': '1', 'b': '2'}, driver='pass')['secret']['changes'] == ['driver']


def test_check_mode_changes_nothing_and_diff_has_placeholders(fake):
    manage(fake, name='db', data=SECRET, labels={'a': '1'})
    fake.calls[:] = []
    result = manage(fake, check_mode=True, name='db', data=SECRET + 'new', labels={'a': '2'})
    assert result['changed'] and not fake.mutations()
    assert result['diff'] == {
        'before': {'db': {'state': 'present', 'driver': 'file', 'driver_opts': {}, 'labels': {'a': '1'}, 'data': '<unchanged>'}},
        'after': {'db': {'state': 'present', 'driver': 'file', 'driver_opts': {}, 'labels': {'a': '2'}, 'data': '<changed>'}}}


def test_unverifiable_secret_needs_force_and_skip_existing_never_touches(fake):
    fake.add_secret('byhand', b'old')
    warnings = []
    result = manage(fake, warnings=warnings, name='byhand', data=SECRET)
    assert not result['changed'] and result['secret']['action'] == 'unverified'
    assert 'force: true' in warnings[0] and SECRET not in warnings[0]
    assert manage(fake, name='byhand', data=SECRET, skip_existing=True, labels={'x': 'y'})['secret']['action'] == 'skipped'
    assert fake.secrets['byhand']['data'] == b'old'
    assert manage(fake, name='byhand', data=SECRET, force=True)['secret']['action'] == 'updated'
    assert manage(fake, name='byhand', data=SECRET, force=True)['secret']['action'] == 'unchanged'


def test_unverifiable_secret_with_other_labels_is_replaced(fake):
    fake.add_secret('byhand', b'old', labels={'x': '1'})
    assert manage(fake, name='byhand', data=SECRET)['secret']['changes'] == ['labels', 'data']


def test_absent(fake):
    fake.add_secret('db', b'old')
    assert manage(fake, check_mode=True, name='db', state='absent')['changed'] and 'db' in fake.secrets
    assert manage(fake, name='db', state='absent')['secret']['action'] == 'removed' and 'db' not in fake.secrets
    assert manage(fake, name='db', state='absent')['secret']['action'] == 'absent'


def test_pending_create_failure_removes_nothing(fake):
    manage(fake, name='db', data=SECRET)
    fake.fail[(('secret', 'create'), '-')] = 'invalid driver'
    with pytest.raises(TurnkeyError, match='invalid driver') as info:
        manage(fake, name='db', data=SECRET + '2')
    assert fake.secrets['db']['data'] == SECRET.encode()
    assert info.value.details['secrets'][0]['action'] == 'failed' and not info.value.details['changed']


def test_final_create_failure_keeps_new_value_in_pending_secret(fake):
    manage(fake, name='db', data=SECRET)
    real = fake.dispatch

    def flaky(exe, args, data):
        if args[:2] == ['secret', 'create'] and args[-2] == 'db':
            return 125, '', 'disk full'
        return real(exe, args, data)

    fake.dispatch = flaky
    with pytest.raises(TurnkeyError, match='kept in secret %s' % _podman.pending_name('db')):
        manage(fake, name='db', data=SECRET + '2')
    assert fake.secrets[_podman.pending_name('db')]['data'] == (SECRET + '2').encode()
    fake.dispatch = real
    assert manage(fake, name='db', data=SECRET + '2')['secret']['action'] == 'created'
    assert list(fake.secrets) == ['db'] and fake.secrets['db']['data'] == (SECRET + '2').encode()


def test_list_form_reports_partial_failure(fake):
    fake.fail[(('secret', 'rm'), 'b')] = 'storage broken'
    manage(fake, secrets=[{'name': 'a', 'data': SECRET}, {'name': 'b', 'data': SECRET}])
    with pytest.raises(TurnkeyError, match='b: .*storage broken') as info:
        manage(fake, secrets=[{'name': 'a', 'data': SECRET + '1'}, {'name': 'b', 'data': SECRET + '1'}])
    assert [s['action'] for s in info.value.details['secrets']] == ['updated', 'failed']
    assert info.value.details['changed']


# ------------------------------------------------------------------ podman >= 4.7

def test_showsecret_compares_values_and_replaces_in_place(fake):
    fake.version = '4.9.4'
    fake.add_secret('db', SECRET.encode())
    result = manage(fake, name='db', data=SECRET)
    assert result['verify_method'] == 'showsecret' and result['secret']['action'] == 'unchanged'
    fake.calls[:] = []
    result = manage(fake, name='db', data=SECRET + '2')
    assert result['secret']['changes'] == ['data']
    assert fake.mutations() == [['secret', 'create', '--replace', 'db', '-']]
    assert _podman.DIGEST_LABEL not in fake.secrets['db']['labels']


def test_showsecret_replace_in_use(fake):
    fake.version = '5.0.0'
    fake.add_secret('db', SECRET.encode())
    fake.add_container('web', _run('web', '--secret', 'db'))
    real = fake.dispatch

    def in_use_while_web_exists(exe, args, data):
        if '--replace' in args and 'web' in fake.containers:
            return 125, '', 'secret db is in use by a container'
        return real(exe, args, data)

    fake.dispatch = in_use_while_web_exists
    with pytest.raises(TurnkeyError, match='in use .*left unchanged'):
        manage(fake, name='db', data=SECRET + '2')
    assert fake.secrets['db']['data'] == SECRET.encode()
    result = manage(fake, name='db', data=SECRET + '2', recreate_consumers=True)
    assert result['recreated'] == [{'name': 'web', 'action': 'recreated'}] and 'web' in fake.containers


# ------------------------------------------------------------------ consumers

def _run(name, *secret_args, verb='run'):
    return ['podman', '--log-level=warn', verb, '--name', name] + list(secret_args) + ['img', 'sleep', 'inf']


def test_consumers_reported_and_recreated(fake):
    manage(fake, name='db', data=SECRET)
    fake.add_container('web', _run('web', '--secret', 'db'))
    fake.add_container('worker', _run('worker', '--secret', 'db,type=env,target=DB', verb='create'), status='exited')
    fake.add_container('job', _run('job', '--secret', 'db'), status='exited')
    fake.add_container('quadlet', _run('systemd-q', '--secret', 'db'), labels={'PODMAN_SYSTEMD_UNIT': 'q.service'})
    fake.add_container('other', _run('other'))
    warnings = []
    check = manage(fake, check_mode=True, name='db', data=SECRET + '2', recreate_consumers=True)
    assert check['consumers'] == {'db': ['job', 'quadlet', 'web', 'worker']} and check['recreated'] == []
    result = manage(fake, warnings=warnings, name='db', data=SECRET + '2', recreate_consumers=True)
    actions = dict((r['name'], r['action']) for r in result['recreated'])
    assert actions == {'job': 'skipped', 'quadlet': 'restarted', 'web': 'recreated', 'worker': 'recreated'}
    assert ['systemctl', 'try-restart', 'q.service'][1:] == [c for c in fake.calls if 'q.service' in c][0][-2:]
    assert fake.containers['web']['status'] == 'running' and fake.containers['worker']['status'] == 'created'
    web = fake.containers['web']['command']
    assert web[:5] == ['podman', '--log-level=warn', 'run', '--name', 'web'] and '--detach' in web
    assert not [n for n in fake.containers if 'turnkey-old' in n]
    assert any('job was not recreated' in w for w in warnings)


def test_failed_recreation_puts_the_old_container_back(fake):
    manage(fake, name='db', data=SECRET)
    fake.add_container('web', _run('web', '--secret', 'db'))
    real = fake.dispatch

    def broken_run(exe, args, data):
        if 'run' in args:
            return 125, '', 'port already in use'
        return real(exe, args, data)

    fake.dispatch = broken_run
    with pytest.raises(TurnkeyError, match='recreating container web failed: .*port already in use'):
        manage(fake, name='db', data=SECRET + '2', recreate_consumers=True)
    assert list(fake.containers) == ['web'] and fake.containers['web']['status'] == 'running'
    assert fake.secrets['db']['data'] == (SECRET + '2').encode()


def test_secret_in_use_is_refused_cleanly_or_consumers_are_taken_down(fake):
    manage(fake, name='db', data=SECRET)
    fake.add_container('web', _run('web', '--secret', 'db'))
    fake.fail[(('secret', 'rm'), 'db')] = 'secret db is in use by container web'
    with pytest.raises(TurnkeyError, match='in use .*left unchanged.*recreate_consumers'):
        manage(fake, name='db', data=SECRET + '2')
    assert fake.secrets['db']['data'] == SECRET.encode() and _podman.pending_name('db') not in fake.secrets

    real = fake.dispatch

    def in_use_while_web_exists(exe, args, data):
        if args[:2] == ['secret', 'rm'] and args[-1] == 'db' and 'web' in fake.containers:
            return 125, '', 'secret db is in use'
        return real(exe, args, data)

    fake.fail.clear()
    fake.dispatch = in_use_while_web_exists
    result = manage(fake, name='db', data=SECRET + '2', recreate_consumers=True)
    assert result['recreated'] == [{'name': 'web', 'action': 'recreated'}]
    assert fake.containers['web']['status'] == 'running' and fake.secrets['db']['data'] == (SECRET + '2').encode()


def test_recreate_args():
    container = {'name': 'web', 'create_command': ['/usr/bin/podman', 'container', 'create', '-e', 'A=1', 'img']}
    assert _podman.recreate_args(container) == ('create', ['container', 'create', '--name', 'web', '-e', 'A=1', 'img'])
    assert _podman.recreate_args({'name': 'x', 'create_command': []}) is None


def test_info_lists_without_values(fake):
    manage(fake, name='db', data=SECRET, labels={'a': '1'})
    fake.add_secret('byhand', b'old')
    fake.add_container('web', _run('web', '--secret', 'db'))
    result = _podman.info({'name': ['db', 'byhand', 'nope']}, runner=fake)
    assert [(s['name'], s['verifiable'], s['consumers'], s['labels']) for s in result['secrets']] == [
        ('byhand', False, [], {}), ('db', True, ['web'], {'a': '1'})]
    assert result['missing'] == ['nope'] and SECRET not in json.dumps(result)


def test_info_showsecret_returns_values_on_podman_47():
    fake = FakePodman('4.9.3')
    fake.add_secret('db', SECRET.encode())
    result = _podman.info({'name': ['db'], 'showsecret': True}, runner=fake)
    assert result['secrets'][0]['SecretData'] == SECRET
    with pytest.raises(InputError, match='binary'):
        _podman._text_value('bin', b'\xff\xfe')
    assert 'SecretData' not in _podman.info({'name': ['db']}, runner=fake)['secrets'][0]


def test_info_showsecret_fails_on_old_podman_before_reading(fake):
    fake.add_secret('db', SECRET.encode())
    with pytest.raises(InputError, match='showsecret needs podman 4.7 or later.*has podman 4.3.1'):
        _podman.info({'showsecret': True}, runner=fake)
    assert not [c for c in fake.calls if c[:2] == ['secret', 'inspect']]


# ------------------------------------------------------------------ hardening (issue 12)

def test_path_refuses_a_planted_symlink_and_special_files(tmp_path):
    import os
    private = tmp_path / 'private'
    private.mkdir(mode=0o700)
    victim = private / 'shadow'
    victim.write_bytes(os.urandom(16))
    victim.chmod(0o600)
    link = tmp_path / 'secret.bin'
    link.symlink_to(victim)
    with pytest.raises(InputError, match='secret a: .*symbolic link'):
        _podman.normalize({'name': 'a', 'path': str(link)})
    os.mkfifo(tmp_path / 'fifo')
    with pytest.raises(InputError, match='not a regular file'):
        _podman.normalize({'name': 'a', 'path': str(tmp_path / 'fifo')})


def test_data_with_nul_is_refused_but_binary_path_is_kept(tmp_path):
    value = SECRET + '\0'
    with pytest.raises(InputError, match='NUL.*through path') as info:
        _podman.normalize({'name': 'a', 'data': value})
    assert SECRET not in info.value.msg
    blob = tmp_path / 'blob'
    blob.write_bytes(b'key\x00')
    assert _podman.normalize({'name': 'a', 'path': str(blob)})[0].data == b'key\x00'


@pytest.mark.parametrize('labels, message', [
    ({1: 'x'}, 'is a int, not a string'),
    ({True: 'x'}, 'is a bool, not a string'),
    ({None: 'x'}, 'is a NoneType, not a string'),
    ({'True': 'x'}, 'unquoted YAML'),
    ({'None': 'x'}, 'unquoted YAML'),
])
def test_non_string_and_yaml_boolean_keys_are_refused(labels, message):
    with pytest.raises(InputError, match=message):
        _podman.normalize({'name': 'a', 'data': SECRET, 'labels': labels})
    with pytest.raises(InputError, match=message):
        _podman.normalize({'name': 'a', 'data': SECRET, 'driver_opts': labels})
    assert _podman.normalize({'name': 'a', 'data': SECRET, 'labels': {'1': 2}})[0].labels == {'1': '2'}


def test_env_advice_never_recommends_the_environment_keyword(monkeypatch):
    monkeypatch.delenv('TK_UNSET', raising=False)
    with pytest.raises(InputError) as info:
        _podman.normalize({'name': 'a', 'env': 'TK_UNSET'})
    assert 'do not set it with the environment keyword' in info.value.msg and 'data' in info.value.msg
    # containers.podman.podman_secret's wording comes first: playbooks and its tests match it.
    assert info.value.msg.startswith('Environment variable TK_UNSET is not set')
