"""The local receiver enforces DingTalk's rules (so the module tests prove something)."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import quote

import requests


def signed(secret, timestamp=None):
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    raw = base64.b64encode(hmac.new(secret.encode(), ('%d\n%s' % (ts, secret)).encode(), hashlib.sha256).digest()).decode()
    return ts, raw


def post(receiver, token=None, ts=None, sign=None, body=None, content_type='application/json', raw_query=None):
    query = raw_query or 'access_token=%s&timestamp=%s&sign=%s' % (token or receiver.token, ts, sign)
    data = json.dumps(body if body is not None else {'msgtype': 'text', 'text': {'content': 'hello'}})
    answer = requests.post(receiver.api_url + '?' + query, data=data, headers={'Content-Type': content_type}, timeout=2)
    assert answer.status_code == 200  # DingTalk answers 200 to everything
    out = answer.json()
    return out['errcode'], out['errmsg']


def good(receiver, **kwargs):
    ts, raw = signed(receiver.secret)
    return post(receiver, ts=ts, sign=quote(raw, safe=''), **kwargs)


def test_accepts_a_correctly_signed_message_and_records_it(receiver):
    assert good(receiver) == (0, 'ok')
    assert receiver.messages == [{'msgtype': 'text', 'text': {'content': 'hello'}}]


def test_unknown_token(receiver):
    assert good(receiver, token=secrets.token_hex(32))[0] == 300001
    assert receiver.messages == []


def test_signature_rules(receiver):
    ts, raw = signed(receiver.secret)
    assert post(receiver, ts=ts, sign=quote(raw, safe=''))[0] == 0
    wrong_ts, wrong = signed('SEC' + secrets.token_hex(32))
    assert post(receiver, ts=wrong_ts, sign=quote(wrong, safe='')) == (310000, post(receiver, ts=ts, sign='x')[1])
    assert 'sign not match' in post(receiver, ts=ts, sign='x')[1]
    assert post(receiver, raw_query='access_token=%s' % receiver.token)[0] == 310000
    # The classic bugs: a raw '+' decodes to a space, a double encoding stays encoded.
    for timestamp in range(ts, ts + 200):
        timestamp, raw = signed(receiver.secret, timestamp)
        if '+' in raw:
            break
    assert '+' in raw
    assert post(receiver, ts=timestamp, sign=raw)[0] == 310000
    assert post(receiver, ts=timestamp, sign=quote(quote(raw, safe=''), safe=''))[0] == 310000
    assert post(receiver, ts=timestamp, sign=quote(raw, safe=''))[0] == 0


def test_timestamp_skew(receiver):
    now = int(time.time() * 1000)
    for skew, errcode in ((-3590 * 1000, 0), (-3610 * 1000, 310000), (3610 * 1000, 310000)):
        ts, raw = signed(receiver.secret, now + skew)
        assert post(receiver, ts=ts, sign=quote(raw, safe=''))[0] == errcode, skew
    ts, raw = signed(receiver.secret, now - 7200 * 1000)
    assert post(receiver, ts=ts, sign=quote(raw, safe='')) == (310000, 'invalid timestamp')


def test_keyword_and_body_checks(receiver):
    receiver.keyword = 'turnkey'
    assert good(receiver) == (310000, 'keywords not in content')
    assert good(receiver, body={'msgtype': 'markdown', 'markdown': {'title': 'turnkey', 'text': 'x'}})[0] == 0
    receiver.keyword = None
    assert good(receiver, body={'msgtype': 'text', 'text': {}})[0] == 40035
    assert good(receiver, body={'msgtype': 'actionCard', 'actionCard': {'title': 't', 'text': 'x'}})[0] == 40035
    assert good(receiver, content_type='text/plain')[0] == 43004


def test_rate_limit_21st_message_in_a_minute_is_throttled(receiver):
    answers = [good(receiver, body={'msgtype': 'text', 'text': {'content': str(i)}})[0] for i in range(21)]
    assert answers == [0] * 20 + [130101]
    assert good(receiver)[0] == 130101  # and stays throttled
    assert len(receiver.messages) == 20
    receiver.reset()
    assert good(receiver)[0] == 0


def test_msg_uuid_duplicates_are_dropped(receiver):
    body = {'msgtype': 'text', 'text': {'content': 'once'}, 'msgUuid': secrets.token_hex(16)}
    assert good(receiver, body=body)[0] == 0
    assert good(receiver, body=body)[0] == 0
    assert len(receiver.messages) == 1 and receiver.requests == 2


def test_robot_without_signing(receiver):
    receiver.secret = None
    assert post(receiver, raw_query='access_token=%s' % receiver.token)[0] == 0
