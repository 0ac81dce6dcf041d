"""The openbao store against a fake hvac client (an in-memory KV version 2 with CAS, node
faults and policies): CAS conflicts, permission errors, the KV lock, retries across nodes.
The real cluster is in tests/integration/openbao."""

import copy
import datetime
import os
import secrets
import socket
import threading
import time
import types

import hvac.exceptions
import pytest
import requests

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores import openbao

PREFIX = 'turnkey/unit'
URLS = ['http://n1.test:8200', 'http://n2.test:8200', 'http://n3.test:8200']


class Server(object):
    """The cluster: every node answers from one KV (reads and writes are forwarded)."""

    def __init__(self):
        self.kv = {}          # path -> {'versions': [data, ...], 'custom': {}}
        self.down = set()     # urls refusing connections
        self.no_leader = set()  # urls answering 503 (a standby during an election)
        self.denied = set()   # (op, path) the token's policy refuses
        self.lost_replies = 0  # next writes land, then the connection drops
        self.delay = 0.0
        self.calls = []
        self.before_write = None  # hook(path): someone else writes first
        self.mutex = threading.Lock()

    def enter(self, url, op, path):
        with self.mutex:
            self.calls.append((url, op, path))
        if url in self.down:
            raise requests.exceptions.ConnectionError('connection refused')
        if url in self.no_leader:
            raise hvac.exceptions.VaultDown('local node not active but active cluster node not found')
        if (op, path) in self.denied:
            raise hvac.exceptions.Forbidden('1 error occurred: permission denied')
        if self.delay:
            time.sleep(self.delay)

    def put(self, path, data):
        entry = self.kv.setdefault(path, {'versions': [], 'custom': {}})
        entry['versions'].append(copy.deepcopy(data))
        return len(entry['versions'])

    def current(self, path):
        entry = self.kv.get(path)
        return copy.deepcopy(entry['versions'][-1]) if entry and entry['versions'] else None


class FakeKV(object):
    def __init__(self, server, client):
        self.server, self.client = server, client

    def read_secret_version(self, path, mount_point, raise_on_deleted_version=False):
        self.server.enter(self.client.url, 'read', path)
        entry = self.server.kv.get(path)
        if not entry or not entry['versions']:
            raise hvac.exceptions.InvalidPath()
        return {'data': {'data': copy.deepcopy(entry['versions'][-1]),
                         'metadata': {'version': len(entry['versions']), 'custom_metadata': dict(entry['custom'])}}}

    def read_secret_metadata(self, path, mount_point):
        self.server.enter(self.client.url, 'read', 'metadata/' + path)
        entry = self.server.kv.get(path)
        if not entry:
            raise hvac.exceptions.InvalidPath()
        return {'data': {'current_version': len(entry['versions']), 'custom_metadata': dict(entry['custom'])}}

    def create_or_update_secret(self, path, secret, cas, mount_point):
        self.server.enter(self.client.url, 'write', path)
        if self.server.before_write:
            hook, self.server.before_write = self.server.before_write, None
            hook(path)
        entry = self.server.kv.get(path)
        if (len(entry['versions']) if entry else 0) != cas:
            raise hvac.exceptions.InvalidRequest('check-and-set parameter did not match the current version',
                                                 errors=['check-and-set parameter did not match the current version'])
        version = self.server.put(path, secret)
        if self.server.lost_replies:
            self.server.lost_replies -= 1
            raise requests.exceptions.ConnectionError('connection reset by peer')
        return {'data': {'version': version}}

    def update_metadata(self, path, custom_metadata, mount_point):
        self.server.enter(self.client.url, 'write', 'metadata/' + path)
        self.server.kv.setdefault(path, {'versions': [], 'custom': {}})['custom'] = dict(custom_metadata)

    def list_secrets(self, path, mount_point):
        self.server.enter(self.client.url, 'list', path)
        keys = sorted({p[len(path) + 1:].split('/')[0] + ('/' if '/' in p[len(path) + 1:] else '')
                       for p in self.server.kv if p.startswith(path + '/')})
        if not keys:
            raise hvac.exceptions.InvalidPath()
        return {'data': {'keys': keys}}


class FakeApprole(object):
    def __init__(self, server, client, secret_id):
        self.server, self.client, self.secret_id = server, client, secret_id

    def login(self, role_id, secret_id, mount_point, use_token):
        self.server.enter(self.client.url, 'write', 'auth/%s/login' % mount_point)
        if secret_id != self.secret_id:
            raise hvac.exceptions.InvalidRequest('invalid role or secret ID', errors=['invalid role or secret ID'])
        return {'auth': {'client_token': 'approle-' + secret_id}}


@pytest.fixture
def server(monkeypatch):
    server = Server()
    server.secret_id = secrets.token_hex(16)

    def client(url, verify=True, namespace=None, timeout=10):
        fake = types.SimpleNamespace(url=url, token=None)
        fake.secrets = types.SimpleNamespace(kv=types.SimpleNamespace(v2=FakeKV(server, fake)))
        fake.auth = types.SimpleNamespace(approle=FakeApprole(server, fake, server.secret_id))
        return fake

    monkeypatch.setattr(openbao.hvac, 'Client', client)
    server.token = secrets.token_urlsafe(24)
    monkeypatch.setenv('BAO_TOKEN', server.token)
    monkeypatch.delenv('VAULT_TOKEN', raising=False)
    return server


def _config(**extra):
    return dict({'backend': 'openbao', 'urls': list(URLS), 'prefix': PREFIX, 'retry_seconds': 2}, **extra)


def _path(name):
    return '%s/%s' % (PREFIX, name)


def _seed(server, **values):
    for name, value in values.items():
        server.put(_path(name), {'value': value})


# --------------------------------------------------------------------------- CAS

def test_cas_conflict_stops_and_the_next_run_does_what_the_message_says(server):
    old, new, edit = (secrets.token_hex(12) for _index in range(3))
    _seed(server, api_key=old)
    run = openbao.OpenBao(_config(), ['api_key'])
    values, journal = run.load()
    assert values == {'vault_api_key': old} and journal == {}

    # A person's `bao kv put` after this run read the secret, before its promote wrote it.
    server.before_write = lambda path: server.put(_path('api_key'), {'value': edit, 'note': 'by hand'})
    with pytest.raises(TurnkeyError) as caught:
        run.save({'vault_api_key': new}, journal={'secrets': {'api_key': {'state': 'promoted'}}})
    msg = caught.value.msg
    assert 'secret/data/%s was changed by someone else during this step: version 2 appeared after version 1' \
        % _path('api_key') in msg
    assert 'stopped without writing it' in msg
    assert 'the next run writes value over that edit as a new version' in msg and 'bao kv get -version=2' in msg
    for value in (old, new, edit, server.token):
        assert value not in msg
    assert server.current(_path('api_key')) == {'value': edit, 'note': 'by hand'}

    # The next run: the committed value wins, the edit's other keys stay, the edit stays in the history.
    again = openbao.OpenBao(_config(), ['api_key'])
    values, journal = again.load()
    assert values['vault_api_key'] == new
    again.save(journal=journal)
    assert server.current(_path('api_key')) == {'value': new, 'note': 'by hand'}
    assert server.kv[_path('api_key')]['versions'][1] == {'value': edit, 'note': 'by hand'}
    assert server.current(_path(openbao.JOURNAL)) == {'journal': journal}


def test_a_journal_changed_by_another_run_is_refused(server):
    first = openbao.OpenBao(_config())
    second = openbao.OpenBao(_config())
    first.load()
    second.load()
    first.save(journal={'waiting': ['app1']})
    with pytest.raises(TurnkeyError, match='changed by another run during this step.*nothing was written by this step'):
        second.save(journal={'waiting': ['app2']})
    assert server.current(_path(openbao.JOURNAL)) == {'journal': {'waiting': ['app1']}}


def test_a_write_that_landed_before_its_reply_was_lost_is_recognised(server):
    _seed(server, api_key=secrets.token_hex(8))
    store = openbao.OpenBao(_config(), ['api_key'])
    store.load()
    new = secrets.token_hex(8)
    server.lost_replies = 1  # the journal's commit lands, its answer does not
    store.save({'vault_api_key': new}, journal={})
    assert server.current(_path('api_key')) == {'value': new}
    assert server.current(_path(openbao.JOURNAL)) == {'journal': {}}
    assert len(server.kv[_path(openbao.JOURNAL)]['versions']) == 2  # commit, then without applying


# --------------------------------------------------------------------------- permissions

@pytest.mark.parametrize('op,path,capability,shown', [
    ('read', _path('api_key'), 'read', 'secret/data/%s' % _path('api_key')),
    ('list', PREFIX, 'list', 'secret/metadata/%s' % PREFIX),
])
def test_permission_denied_names_path_and_capability_never_the_token(server, op, path, capability, shown):
    _seed(server, api_key=secrets.token_hex(8))
    server.denied.add((op, path))
    with pytest.raises(TurnkeyError) as caught:
        openbao.OpenBao(_config()).load()
    msg = caught.value.msg
    assert msg.startswith('permission denied on %s at %s: the policy of this token lacks the %s capability'
                          % (shown, URLS[0], capability)), msg
    assert server.token not in msg + repr(caught.value) + repr(caught.value.details)


def test_a_refused_write_names_the_capability(server):
    store = openbao.OpenBao(_config(), ['api_key'])
    store.load()
    server.denied.add(('write', _path(openbao.JOURNAL)))
    with pytest.raises(TurnkeyError, match='permission denied on secret/data/%s/_turnkey/journal .* lacks the create '
                                           'and update capability' % PREFIX) as caught:
        store.save({'vault_api_key': secrets.token_hex(8)}, journal={})
    assert server.token not in caught.value.msg
    assert _path('api_key') not in server.kv  # refused at the commit point: nothing written


def test_approle_login_failure_never_shows_the_secret_id(server, tmp_path, monkeypatch):
    monkeypatch.delenv('BAO_TOKEN')
    wrong = secrets.token_hex(16)
    (tmp_path / 'sid').write_text(wrong)
    with pytest.raises(TurnkeyError, match='AppRole login failed .*refused auth/approle/login .*invalid role or secret ID') as caught:
        openbao.Client(_config(auth_method='approle', role_id='r', secret_id_file=str(tmp_path / 'sid')))
    assert wrong not in caught.value.msg and server.secret_id not in caught.value.msg
    (tmp_path / 'sid').write_text(server.secret_id)
    client = openbao.Client(_config(auth_method='approle', role_id='r', secret_id_file=str(tmp_path / 'sid')))
    assert all(c.token == 'approle-' + server.secret_id for c in client.clients)


# --------------------------------------------------------------------------- the lock

def _stamp(seconds):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _held_by_other(server, expires_in):
    server.put(_path(openbao.LOCK), {'host': 'ci-runner-7', 'pid': 4242, 'pid_start': 1, 'run_id': 'ci-runner-7:4242:1',
                                     'environment': 'staging', 'started': _stamp(-60), 'expires': _stamp(expires_in)})


def test_a_live_lock_of_another_controller_is_refused_naming_it(server):
    _held_by_other(server, 600)
    lock = openbao.OpenBao(_config()).lock
    with pytest.raises(TurnkeyError) as caught:
        lock.acquire('staging', os.getpid())
    msg = caught.value.msg
    assert 'rotation in progress for environment staging: locked by pid 4242 on ci-runner-7' in msg
    assert 'secret/data/%s/_turnkey/lock' % PREFIX in msg
    with pytest.raises(TurnkeyError):
        lock.check_free(os.getpid(), 'staging')
    assert lock.clear_stale('staging') is None
    assert server.current(_path(openbao.LOCK))['run_id'] == 'ci-runner-7:4242:1'
    # Broken on purpose.
    assert 'forced with rotate_break_lock' in lock.acquire('staging', os.getpid(), force=True)['broke']


def test_an_expired_lock_is_taken_over(server):
    _held_by_other(server, -5)
    lock = openbao.OpenBao(_config()).lock
    taken = lock.acquire('staging', os.getpid())
    assert taken['acquired'] and 'expired at' in taken['broke'] and 'ci-runner-7' in taken['broke']
    held = server.current(_path(openbao.LOCK))
    assert held['run_id'] == _lock.run_id(os.getpid()) and held['host'] == socket.gethostname()


def test_a_dead_local_holder_is_reclaimed_at_once_and_an_expired_one_cleared(server):
    server.put(_path(openbao.LOCK), {'host': socket.gethostname(), 'boot_id': _lock.boot_id(), 'pid': os.getpid(),
                                     'pid_start': -1, 'run_id': 'gone', 'started': _stamp(-5), 'expires': _stamp(3000)})
    lock = openbao.OpenBao(_config()).lock
    assert 'process %d on this host is gone' % os.getpid() in lock.clear_stale('staging')
    assert 'run_id' not in server.current(_path(openbao.LOCK))
    _held_by_other(server, -1)
    assert 'expired' in lock.clear_stale('staging')


def test_renewal_pushes_the_expiry_and_notices_a_takeover(server):
    lock = openbao.OpenBao(_config(lock_ttl=60)).lock
    assert lock.acquire('staging', os.getpid())['acquired']
    first = server.current(_path(openbao.LOCK))
    first['expires'] = _stamp(5)  # as if the last renewal was long ago
    server.put(_path(openbao.LOCK), first)
    lock.renew(os.getpid())
    renewed = server.current(_path(openbao.LOCK))
    assert renewed['expires'] > first['expires'] and renewed['run_id'] == first['run_id']
    # The same run asking again: renewed, not taken anew.
    assert lock.acquire('staging', os.getpid()) == {'acquired': False, 'broke': None}
    _held_by_other(server, 600)
    with pytest.raises(TurnkeyError, match='no longer holds the rotation lock .*now pid 4242 on ci-runner-7'):
        lock.renew(os.getpid())
    assert not lock.release(os.getpid())
    assert server.current(_path(openbao.LOCK))['run_id'] == 'ci-runner-7:4242:1'


def test_two_controllers_racing_for_the_lock_one_wins(server):
    lock = openbao.OpenBao(_config()).lock
    server.before_write = lambda path: _held_by_other(server, 600)
    with pytest.raises(TurnkeyError, match='locked by pid 4242 on ci-runner-7'):
        lock.acquire('staging', os.getpid())


# --------------------------------------------------------------------------- nodes

def test_calls_move_to_the_next_node_while_one_is_down_or_has_no_leader(server):
    _seed(server, api_key='x' * 8)
    server.down.add(URLS[0])
    server.no_leader.add(URLS[1])
    client = openbao.Client(_config())
    assert client.read('api_key')[0] == {'value': 'x' * 8}
    assert client.current == 2
    assert [c[0] for c in server.calls] == URLS
    # Once moved, later calls go straight to the node that answers.
    client.read('api_key')
    assert server.calls[-1][0] == URLS[2] and len(server.calls) == 4


def test_no_node_answering_stops_within_the_bound_naming_the_nodes(server):
    server.down.update(URLS)
    client = openbao.Client(_config(retry_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(TurnkeyError) as caught:
        client.read('api_key')
    took = time.monotonic() - started
    assert 0.5 <= took < 2.0, took
    msg = caught.value.msg
    assert 'unreachable or has no leader (ConnectionError on secret/data/%s/api_key' % PREFIX in msg
    assert ', '.join(URLS) in msg and 'run again' in msg and server.token not in msg


def test_a_node_back_within_the_bound_finishes_the_call(server):
    _seed(server, api_key='y' * 8)
    server.down.update(URLS)
    client = openbao.Client(_config(retry_seconds=5))
    threading.Timer(0.4, lambda: server.down.discard(URLS[1])).start()
    started = time.monotonic()
    assert client.read('api_key')[0] == {'value': 'y' * 8}
    assert time.monotonic() - started < 3


def test_reads_are_one_request_per_secret_and_concurrent(server):
    names = ['s%02d' % i for i in range(24)]
    _seed(server, **{n: n * 4 for n in names})
    store = openbao.OpenBao(_config())
    server.calls.clear()
    server.delay = 0.05
    started = time.monotonic()
    values, _journal = store.load()
    took = time.monotonic() - started
    assert len(values) == len(names)
    reads = [c for c in server.calls if c[1] == 'read']
    assert sorted(c[2] for c in reads if 'journal' not in c[2]) == [_path(n) for n in names]
    # The list, each secret once, the journal (absent: its metadata too).
    assert len(server.calls) == 1 + len(names) + 2, server.calls
    assert took < len(names) * server.delay / 3, took
