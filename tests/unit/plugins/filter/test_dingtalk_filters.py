"""Filters turnkey.secrets.dingtalk_sign and dingtalk_verify (plugins/filter/dingtalk.py)."""

import secrets
import time

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.turnkey.secrets.plugins.filter.dingtalk import FilterModule, dingtalk_sign, dingtalk_verify


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'dingtalk_sign', 'dingtalk_verify'}


def test_dingtalk_sign_documented_vector():
    # DingTalk's public documentation example (not a credential).
    out = dingtalk_sign('SECthisisatestsecret', 1577262236757)
    assert out == {'timestamp': 1577262236757, 'sign': '+45BbdYeIL6Hiwg8RYufAcMyZIpJWd9cJnqtn6xmmrw=',
                   'query': 'timestamp=1577262236757&sign=%2B45BbdYeIL6Hiwg8RYufAcMyZIpJWd9cJnqtn6xmmrw%3D'}


def test_dingtalk_sign_now_and_errors():
    before = int(time.time() * 1000)
    out = dingtalk_sign('SEC' + secrets.token_hex(32))
    assert before <= out['timestamp'] <= int(time.time() * 1000)
    with pytest.raises(AnsibleFilterError, match='secret is empty'):
        dingtalk_sign(None)
    with pytest.raises(AnsibleFilterError, match='epoch milliseconds'):
        dingtalk_sign('SEC' + secrets.token_hex(32), 'noon')


def test_dingtalk_verify_round_trip_and_skew():
    app_secret = secrets.token_urlsafe(24)
    signed = dingtalk_sign(app_secret)
    headers = {'timestamp': str(signed['timestamp']), 'sign': signed['sign']}
    assert dingtalk_verify(headers, app_secret) is True
    assert dingtalk_verify(headers, app_secret + 'x') is False
    old = dingtalk_sign(app_secret, signed['timestamp'] - 7200 * 1000)
    stale = {'timestamp': str(old['timestamp']), 'sign': old['sign']}
    assert dingtalk_verify(stale, app_secret) is False
    assert dingtalk_verify(stale, app_secret, 8000) is True
    with pytest.raises(AnsibleFilterError, match='headers as a dict'):
        dingtalk_verify('timestamp=1', app_secret)
    with pytest.raises(AnsibleFilterError, match='app_secret is empty'):
        dingtalk_verify(headers, '')
