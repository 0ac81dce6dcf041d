"""A DingTalk robot stand-in (tests/dingtalk_receiver.py) on a free loopback port per test."""

import hashlib
import os
import secrets
import tempfile

import pytest
from dingtalk_receiver import DingTalkReceiver


def robot_secret():
    return 'SEC' + secrets.token_hex(32)


def robot_token():
    return secrets.token_hex(32)


@pytest.fixture
def receiver():
    with DingTalkReceiver(token=robot_token(), secret=robot_secret()) as server:
        # Tests append the other tokens they send with.
        server.tokens_used = [server.token]
        yield server
    # The module keeps per-robot rate-limit state (RateLimiter): one file per token.
    for token in server.tokens_used:
        name = 'turnkey-dingtalk-%s-%d.rate' % (hashlib.sha256(token.encode()).hexdigest()[:16], os.getuid())
        try:
            os.unlink(os.path.join(tempfile.gettempdir(), name))
        except FileNotFoundError:
            pass


@pytest.fixture
def robot(receiver):
    """Secret vars for a playbook (url on loopback http), and every credential to leak-check."""
    return {
        'vars': {'dt_url': receiver.url, 'dt_secret': receiver.secret,
                 # The same token behind a realistic https URL; api_url sends it to the receiver.
                 'dt_https_url': 'https://oapi.dingtalk.com/robot/send?access_token=' + receiver.token},
        'leak_check': [receiver.token, receiver.secret],
    }
