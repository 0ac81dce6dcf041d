"""After converge: only the new password works, also after a restart; files hold hashes only."""

import os
import socket
import time

import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry


@pytest.fixture(scope='module')
def state():
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'redis-state.yml')) as handle:
        return yaml.safe_load(handle)


def login(state, password):
    # No retries: redis-py retries a refused login (an AuthenticationError) with backoff by default.
    try:
        return redis.Redis(host='127.0.0.1', port=state['molecule_redis_port'], username=state['molecule_redis_user'],
                           password=password, socket_timeout=5, retry=Retry(NoBackoff(), 0)).ping()
    except redis.AuthenticationError:
        return False


def test_only_the_new_password_works(state):
    assert login(state, state['molecule_redis_new'])
    assert not login(state, state['molecule_redis_old'])


def test_acl_file_holds_the_new_hash_and_no_plaintext(host, state):
    acl = host.file(os.path.join(state['molecule_redis_dir'], 'users.acl')).content_string
    assert state['molecule_redis_new'] not in acl and state['molecule_redis_old'] not in acl
    assert 'user trading on #' in acl and '~app:*' in acl, 'the permissions must be kept'


def test_survives_a_restart(host, state):
    admin = redis.Redis(host='127.0.0.1', port=state['molecule_redis_port'], username='admin',
                        password=state['molecule_redis_admin_password'], socket_timeout=5,
                        retry=Retry(NoBackoff(), 0))
    pidfile = os.path.join(state['molecule_redis_dir'], 'redis.pid')
    old_pid = int(host.file(pidfile).content_string)
    try:
        admin.shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    for _attempt in range(100):
        if not host.file('/proc/%d' % old_pid).exists:
            break
        time.sleep(0.05)
    host.check_output('redis-server %s', os.path.join(state['molecule_redis_dir'], 'redis.conf'))
    for _attempt in range(100):
        try:
            socket.create_connection(('127.0.0.1', state['molecule_redis_port']), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    assert int(host.file(pidfile).content_string) != old_pid, 'the server must have been restarted'
    assert login(state, state['molecule_redis_new'])
    assert not login(state, state['molecule_redis_old'])
