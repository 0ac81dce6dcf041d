"""Redis servers: the shared ACL-file fixture, and one configured the old way (requirepass in redis.conf)."""

import hashlib
import os

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness import Redis, new_secret


def password_hash(password):
    return hashlib.sha256(password.encode()).hexdigest()


class RequirepassRedis(Redis):
    """No ACL file: the default user's password comes from ``requirepass`` in redis.conf."""

    def __init__(self, workdir):
        super().__init__(workdir)
        self.admin_user = 'default'

    def start(self, fresh=True):
        os.makedirs(self.workdir, exist_ok=True)
        if fresh:
            fd = os.open(self.conffile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as handle:
                handle.write('port %d\nbind 127.0.0.1\ndir %s\nrequirepass "%s"\nsave ""\nappendonly no\n'
                             'daemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\n'
                             % (self.port, self.workdir, self.admin_password, self.workdir, self.workdir))
        return super().start(fresh=False)


@pytest.fixture
def requirepass_redis(tmp_path):
    server = RequirepassRedis(str(tmp_path / 'redis-rp')).start()
    yield server
    server.stop()


@pytest.fixture
def acl_user(redis_server):
    """``acl_user(*passwords)`` -> the name of a new enabled ACL user holding those passwords (sent as hashes)."""
    def create(*passwords):
        name = 'tk_' + new_secret(4).replace('-', 'x').replace('_', 'y')
        redis_server.client().execute_command('ACL', 'SETUSER', name, 'on', '~*', '+@all',
                                              *['#' + password_hash(p) for p in passwords])
        return name
    return create


@pytest.fixture
def logs_in():
    """``logs_in(server, user, password)`` -> bool, without redis-py's retries.

    redis-py retries an AuthenticationError (a ConnectionError) with backoff by default,
    which makes every refused login take about 4 s (harness.Redis.can_login does).
    """
    def check(server, user, password):
        client = redis.Redis(host=server.host, port=server.port, username=user, password=password, socket_timeout=5,
                             retry=Retry(NoBackoff(), 0))
        try:
            return bool(client.ping())
        except (redis.AuthenticationError, redis.ResponseError):
            return False
        finally:
            client.close()
    return check
