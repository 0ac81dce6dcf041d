"""DingTalk robot protocol (module_utils/_dingtalk.py): signing, bodies, answers, retries, rate limit."""

import json
import os
import random
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from dingtalkchatbot.chatbot import DingtalkChatbot

from ansible_collections.turnkey.secrets.plugins.module_utils import _dingtalk
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

# DingTalk's public documentation example (not a credential; see DESIGN.md).
DOC_SECRET = 'SECthisisatestsecret'
DOC_TIMESTAMP = 1577262236757
DOC_SIGN = '+45BbdYeIL6Hiwg8RYufAcMyZIpJWd9cJnqtn6xmmrw='


def new_secret():
    return 'SEC' + secrets.token_hex(32)


def new_token():
    return secrets.token_hex(32)


def webhook_url(token, base='https://oapi.dingtalk.com/robot/send'):
    return '%s?access_token=%s' % (base, token)


# --------------------------------------------------------------------------- signing

def test_sign_matches_the_documented_vector():
    out = _dingtalk.sign(DOC_SECRET, DOC_TIMESTAMP)
    assert out['timestamp'] == DOC_TIMESTAMP
    assert out['sign'] == DOC_SIGN
    # The '+' and '=' of the base64 are URL-encoded once: %2B, %3D, never '+' nor %252B.
    assert out['query'] == 'timestamp=1577262236757&sign=%2B45BbdYeIL6Hiwg8RYufAcMyZIpJWd9cJnqtn6xmmrw%3D'
    assert parse_qs(out['query'])['sign'] == [DOC_SIGN]


def _chatbot_signature(secret, timestamp):
    bot = DingtalkChatbot(webhook_url('x'), secret=secret)
    bot.start_time = timestamp / 1000.0
    bot.update_webhook()
    return parse_qs(urlsplit(bot.webhook).query)


def test_sign_matches_an_independent_implementation_for_random_inputs():
    rng = random.Random(os.urandom(8))
    for dummy in range(200):
        secret = new_secret()
        timestamp = rng.randrange(1_000_000_000_000, 4_000_000_000_000)
        theirs = _chatbot_signature(secret, timestamp)
        ours = _dingtalk.sign(secret, timestamp)
        assert theirs['timestamp'] == [str(timestamp)]
        assert theirs['sign'] == [ours['sign']]
        assert parse_qs(ours['query']) == {k: theirs[k] for k in ('timestamp', 'sign')}


def test_sign_encodes_every_special_base64_character_once():
    secret = new_secret()
    seen = set()
    for timestamp in range(1_700_000_000_000, 1_700_000_000_400):
        out = _dingtalk.sign(secret, timestamp)
        sig = out['query'].split('sign=', 1)[1]
        assert not set(sig) & set('+/=')
        assert parse_qs(out['query'])['sign'] == [out['sign']]
        seen |= set(out['sign']) & set('+/')
    assert seen == {'+', '/'}


def test_sign_defaults_to_now_and_checks_its_input(monkeypatch):
    monkeypatch.setattr(_dingtalk.time, 'time', lambda: 1700000000.1234)
    assert _dingtalk.sign(new_secret())['timestamp'] == 1700000000123
    assert _dingtalk.sign(new_secret(), '1700000000999')['timestamp'] == 1700000000999
    for bad in ('soon', -5, 0, None):
        if bad is None:
            with pytest.raises(InputError, match='secret is empty'):
                _dingtalk.sign('', 1)
            continue
        with pytest.raises(InputError, match='epoch milliseconds'):
            _dingtalk.sign(new_secret(), bad)


# --------------------------------------------------------------------------- incoming callbacks

def _callback_headers(secret, timestamp):
    return {'timestamp': str(timestamp), 'sign': _dingtalk.sign(secret, timestamp)['sign']}


def test_verify_callback_accepts_a_fresh_signature_in_any_header_case():
    app_secret = secrets.token_urlsafe(32)
    now = 1700000000.0
    headers = _callback_headers(app_secret, int(now * 1000) - 5000)
    assert _dingtalk.verify_callback(headers, app_secret, now=now)
    assert _dingtalk.verify_callback({'Timestamp': headers['timestamp'], 'SIGN': headers['sign']}, app_secret, now=now)
    assert _dingtalk.verify_callback({k: [v] for k, v in headers.items()}, app_secret, now=now)


def test_verify_callback_rejects_forgeries_and_stale_requests():
    app_secret = secrets.token_urlsafe(32)
    now = 1700000000.0
    now_ms = int(now * 1000)
    assert not _dingtalk.verify_callback(_callback_headers(secrets.token_urlsafe(32), now_ms), app_secret, now=now)
    # One hour is accepted, a millisecond more is not (both directions).
    assert _dingtalk.verify_callback(_callback_headers(app_secret, now_ms - 3600 * 1000), app_secret, now=now)
    assert not _dingtalk.verify_callback(_callback_headers(app_secret, now_ms - 3600 * 1000 - 1), app_secret, now=now)
    assert not _dingtalk.verify_callback(_callback_headers(app_secret, now_ms + 3600 * 1000 + 1), app_secret, now=now)
    assert not _dingtalk.verify_callback(_callback_headers(app_secret, now_ms - 61000), app_secret, max_skew=60, now=now)
    headers = _callback_headers(app_secret, now_ms)
    assert not _dingtalk.verify_callback({'timestamp': headers['timestamp']}, app_secret, now=now)
    assert not _dingtalk.verify_callback({'sign': headers['sign']}, app_secret, now=now)
    assert not _dingtalk.verify_callback(dict(headers, timestamp='yesterday'), app_secret, now=now)
    # Callbacks carry the raw base64: a URL-encoded signature is not DingTalk's.
    encoded = _dingtalk.sign(app_secret, now_ms)['query'].split('sign=')[1]
    if encoded != headers['sign']:
        assert not _dingtalk.verify_callback(dict(headers, sign=encoded), app_secret, now=now)
    with pytest.raises(InputError):
        _dingtalk.verify_callback(headers, '', now=now)
    with pytest.raises(InputError):
        _dingtalk.verify_callback(headers, app_secret, max_skew=-1, now=now)


def test_verify_callback_compares_in_constant_time(monkeypatch):
    calls = []
    real = _dingtalk.hmac.compare_digest
    monkeypatch.setattr(_dingtalk.hmac, 'compare_digest', lambda a, b: calls.append((a, b)) or real(a, b))
    app_secret = secrets.token_urlsafe(32)
    assert _dingtalk.verify_callback(_callback_headers(app_secret, 1700000000000), app_secret, now=1700000000.0)
    assert len(calls) == 1


# --------------------------------------------------------------------------- shapes

def test_check_secret_accepts_only_sec_and_64_hex():
    good = new_secret()
    assert _dingtalk.check_secret(good) == good
    assert _dingtalk.check_secret(' %s\n' % good) == good
    for bad in (good[:-1], good + 'a', good[3:], 'sec' + good[3:], good[:-1] + 'g', '', None):
        with pytest.raises(InputError, match='64 hexadecimal') as info:
            _dingtalk.check_secret(bad)
        assert not bad or bad[3:] not in info.value.msg


def test_parse_webhook_keeps_the_token_out_of_the_endpoint():
    token = new_token()
    hook = _dingtalk.parse_webhook(webhook_url(token) + '&timestamp=1&sign=old&lang=en')
    assert hook.token == token
    assert hook.endpoint == 'https://oapi.dingtalk.com/robot/send'
    query = parse_qs(urlsplit(hook.url()).query)
    assert query == {'access_token': [token], 'lang': ['en']}
    secret = new_secret()
    query = parse_qs(urlsplit(hook.url(secret, DOC_TIMESTAMP)).query)
    assert query['sign'] == [_dingtalk.sign(secret, DOC_TIMESTAMP)['sign']]
    assert query['timestamp'] == [str(DOC_TIMESTAMP)]


def test_parse_webhook_http_rules():
    token = new_token()
    for host in ('127.0.0.1:8080', 'localhost', '[::1]:9', '127.3.4.5'):
        assert _dingtalk.parse_webhook(webhook_url(token, 'http://%s/robot/send' % host)).token == token
    with pytest.raises(InputError, match='not loopback') as info:
        _dingtalk.parse_webhook(webhook_url(token, 'http://oapi.dingtalk.com/robot/send'))
    assert token not in info.value.msg
    with pytest.raises(InputError, match='must use https'):
        _dingtalk.parse_webhook(webhook_url(token, 'http://127.0.0.1:1/robot/send'), require_https=True)
    hook = _dingtalk.parse_webhook(webhook_url(token), api_url='http://10.0.0.5:8080/gw/robot/send', require_https=True)
    assert hook.endpoint == 'http://10.0.0.5:8080/gw/robot/send'
    assert hook.url().startswith('http://10.0.0.5:8080/gw/robot/send?access_token=%s' % token)


@pytest.mark.parametrize('url,api_url,match', [
    ('oapi.dingtalk.com/robot/send', None, 'not an http'),
    ('https://oapi.dingtalk.com/robot/send', None, 'access_token'),
    ('https://oapi.dingtalk.com/robot/send?access_token=', None, 'access_token'),
    ('https://oapi.dingtalk.com/robot/send?access_token=a&access_token=b', None, 'exactly one'),
    ('https://oapi.dingtalk.com/robot/send?access_token=a', 'ftp://gw/robot/send', 'api_url must be'),
    ('https://oapi.dingtalk.com/robot/send?access_token=a', 'https://gw/robot/send?access_token=b', 'query'),
    (None, None, 'not an http'),
])
def test_parse_webhook_rejects_bad_shapes(url, api_url, match):
    with pytest.raises(InputError, match=match):
        _dingtalk.parse_webhook(url, api_url)


# --------------------------------------------------------------------------- bodies

def test_build_message_bodies():
    text = _dingtalk.build_message('text', content='disk full', at_mobiles=['13800000000'], at_all=True, msg_uuid='u1')
    assert text == {'text': {'content': 'disk full'}, 'msgtype': 'text', 'msgUuid': 'u1',
                    'at': {'atMobiles': ['13800000000'], 'atUserIds': [], 'isAtAll': True}}
    md = _dingtalk.build_message('markdown', title='T', text='hello @13800000000', at_mobiles=['13800000000', '13900000000'],
                                 at_user_ids=['manager7'])
    assert md['markdown'] == {'title': 'T', 'text': 'hello @13800000000\n\n@13900000000 @manager7'}
    assert len(md['msgUuid']) == 32 and md['msgUuid'] != _dingtalk.build_message('text', content='x')['msgUuid']
    single = _dingtalk.build_message('actionCard', title='T', text='x', buttons=[{'title': 'Open', 'url': 'https://a'}])
    assert single['actionCard'] == {'title': 'T', 'text': 'x', 'btnOrientation': '0', 'singleTitle': 'Open',
                                    'singleURL': 'https://a'}
    several = _dingtalk.build_message('actionCard', title='T', text='x', btn_orientation='horizontal',
                                      buttons=[{'title': 'A', 'url': 'https://a'}, {'title': 'B', 'url': 'https://b'}])
    assert several['actionCard']['btns'] == [{'title': 'A', 'actionURL': 'https://a'}, {'title': 'B', 'actionURL': 'https://b'}]
    assert several['actionCard']['btnOrientation'] == '1'
    link = _dingtalk.build_message('link', title='T', text='x', message_url='https://m', pic_url='https://p')
    assert link['link'] == {'title': 'T', 'text': 'x', 'messageUrl': 'https://m', 'picUrl': 'https://p'}


@pytest.mark.parametrize('kwargs,match', [
    (dict(msgtype='text'), 'needs content'),
    (dict(msgtype='text', content='  '), 'needs content'),
    (dict(msgtype='markdown', text='x'), 'needs title'),
    (dict(msgtype='actionCard', title='T', text='x'), 'needs buttons'),
    (dict(msgtype='actionCard', title='T', text='x', buttons=[{'title': 'A'}]), r'buttons\[0\]'),
    (dict(msgtype='link', title='T', text='x'), 'needs message_url'),
    (dict(msgtype='link', title='T', text='x', message_url='https://m', at_all=True), 'only work with'),
    (dict(msgtype='feedCard'), 'msgtype must be'),
])
def test_build_message_names_what_is_missing(kwargs, match):
    with pytest.raises(InputError, match=match):
        _dingtalk.build_message(**kwargs)


@pytest.mark.parametrize('errcode,errmsg,words', [
    (310000, 'sign not match, more: [https://ding-doc]', 'secret'),
    (310000, 'invalid timestamp', 'clock'),
    (310000, 'keywords not in content', 'keywords'),
    (310000, 'ip 1.2.3.4 not in whitelist', 'allow-list'),
    (310000, 'whatever', 'security settings'),
    (300001, 'token is not exist', 'access_token in url is unknown'),
    (300005, 'token is not exist', 'access_token in url is unknown'),
    (130101, 'send too fast, exceed 20 times per minute', 'throttled'),
    (410100, 'send too fast', 'throttled'),
    (400102, 'robot stopped', 'disabled'),
    (460101, 'message too long', '20000 bytes'),
    (999999, 'odd', 'refused'),
])
def test_explain_gives_an_actionable_cause(errcode, errmsg, words):
    text = _dingtalk.explain(errcode, errmsg)
    assert words in text and 'errcode %d' % errcode in text


# --------------------------------------------------------------------------- client

class Answer(object):
    def __init__(self, errcode=0, errmsg='ok', status=200, body=None):
        self.status_code = status
        self._body = body if body is not None else json.dumps({'errcode': errcode, 'errmsg': errmsg})

    def json(self):
        return json.loads(self._body)


class FakeSession(object):
    """Answers from a script; an exception in the script is raised (with the URL in it, as requests does)."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls = []

    def post(self, url, data=None, timeout=None, headers=None):
        self.calls.append({'url': url, 'body': json.loads(data), 'timeout': timeout, 'headers': headers})
        item = self.script.pop(0)
        if isinstance(item, type) and issubclass(item, Exception):
            raise item("HTTPSConnectionPool(host='oapi.dingtalk.com', port=443): Max retries exceeded with url: "
                       "%s (Caused by NewConnectionError('[Errno 111] Connection refused'))" % url)
        return item


@pytest.fixture
def robot():
    token, secret = new_token(), new_secret()
    return token, secret, _dingtalk.parse_webhook(webhook_url(token))


def _client(robot, session, **kwargs):
    token, secret, hook = robot
    sleeps = []
    client = _dingtalk.Client(hook, secret, session=session, sleep=sleeps.append, **kwargs)
    return client, sleeps


def test_client_sends_signed_json_once(robot):
    session = FakeSession(Answer())
    client, sleeps = _client(robot, session)
    body = _dingtalk.build_message('text', content='hi', msg_uuid='m1')
    assert client.send(body) == {'errcode': 0, 'errmsg': 'ok', 'msg_uuid': 'm1', 'attempts': 1}
    call, = session.calls
    assert call['body'] == body and call['headers']['Content-Type'].startswith('application/json')
    query = parse_qs(urlsplit(call['url']).query)
    assert query['sign'] == [_dingtalk.sign(robot[1], int(query['timestamp'][0]))['sign']]
    assert sleeps == []


def test_client_retries_throttling_with_the_same_msg_uuid(robot):
    session = FakeSession(Answer(130101, 'send too fast, exceed 20 times per minute'), Answer())
    client, sleeps = _client(robot, session, retries=1, throttle_delay=7)
    out = client.send(_dingtalk.build_message('text', content='hi'))
    assert out['attempts'] == 2 and sleeps == [7]
    first, second = session.calls
    assert first['body']['msgUuid'] == second['body']['msgUuid'] == out['msg_uuid']


def test_client_does_not_retry_a_refusal_and_names_the_cause(robot):
    token, secret, hook = robot
    session = FakeSession(Answer(310000, 'sign not match'), Answer())
    client, sleeps = _client(robot, session, retries=3)
    with pytest.raises(_dingtalk.DingTalkError) as info:
        client.send(_dingtalk.build_message('text', content='hi'))
    assert 'signature rejected' in info.value.msg and 'secret' in info.value.msg
    assert info.value.details['errcode'] == 310000 and info.value.details['attempts'] == 1
    assert len(session.calls) == 1 and sleeps == []
    assert token not in repr(info.value.details) + info.value.msg and secret not in info.value.msg


def test_client_transport_errors_are_bounded_and_never_show_the_url(robot):
    token, secret, hook = robot
    session = FakeSession(requests.ConnectTimeout, requests.ConnectionError, requests.ReadTimeout)
    client, sleeps = _client(robot, session, retries=2, retry_delay=0.5, timeout=2)
    with pytest.raises(_dingtalk.DingTalkError) as info:
        client.send(_dingtalk.build_message('text', content='hi'))
    msg = info.value.msg
    assert 'gave up after 3 attempts' in msg and 'timed out' in msg and 'timeout 2' in msg
    assert 'POST https://oapi.dingtalk.com/robot/send' in msg
    assert token not in msg and 'sign=' not in msg and 'access_token' not in msg
    assert sleeps == [0.5, 1.0] and len(session.calls) == 3
    assert all(c['timeout'] == 2 for c in session.calls)
    # Every attempt is signed afresh (DingTalk rejects signatures older than an hour).
    assert all('sign=' in c['url'] for c in session.calls)


def test_client_connection_refused_reason(robot):
    client, sleeps = _client(robot, FakeSession(requests.ConnectionError), retries=0)
    with pytest.raises(_dingtalk.DingTalkError, match=r'\[Errno 111\] Connection refused \(timeout 10.0s\); gave up after 1 attempt$'):
        client.send(_dingtalk.build_message('text', content='hi'))


def test_client_http_status_handling(robot):
    client, sleeps = _client(robot, FakeSession(Answer(status=502, body='bad gateway'), Answer()), retries=1, retry_delay=0)
    assert client.send(_dingtalk.build_message('text', content='hi'))['attempts'] == 2
    client, sleeps = _client(robot, FakeSession(Answer(status=404, body='nope'), Answer()), retries=3)
    with pytest.raises(_dingtalk.DingTalkError, match='HTTP 404 .*path of url or api_url'):
        client.send(_dingtalk.build_message('text', content='hi'))
    client, sleeps = _client(robot, FakeSession(Answer(body='<html>login</html>')), retries=3)
    with pytest.raises(_dingtalk.DingTalkError, match='without DingTalk'):
        client.send(_dingtalk.build_message('text', content='hi'))


def test_client_throttled_to_the_end(robot):
    client, sleeps = _client(robot, FakeSession(*[Answer(130101, 'send too fast')] * 2), retries=1, throttle_delay=3)
    with pytest.raises(_dingtalk.DingTalkError) as info:
        client.send(_dingtalk.build_message('text', content='hi'))
    assert info.value.details['errcode'] == 130101 and 'gave up after 2 attempts' in info.value.msg
    assert sleeps == [3]


def test_client_rejects_bad_settings(robot):
    with pytest.raises(InputError):
        _client(robot, FakeSession(), timeout=0)
    with pytest.raises(InputError):
        _client(robot, FakeSession(), retries=-1)


# --------------------------------------------------------------------------- rate limit

class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleep_calls.append(seconds)
        self.now += seconds

    sleep_calls = None


def test_rate_limiter_spaces_the_21st_message(tmp_path):
    clock = Clock()
    clock.sleep_calls = []
    token = new_token()
    limiter = _dingtalk.RateLimiter(token, directory=str(tmp_path), clock=clock, sleep=clock.sleep)
    for dummy in range(20):
        limiter.acquire()
        clock.now += 0.5
    assert clock.sleep_calls == []
    limiter.acquire()
    assert clock.sleep_calls == [pytest.approx(50.0)]
    # A second process (another instance on the same state file) sees the same window.
    other = _dingtalk.RateLimiter(token, directory=str(tmp_path), clock=clock, sleep=clock.sleep)
    other.acquire()
    assert len(clock.sleep_calls) == 2
    name, = os.listdir(str(tmp_path))
    assert token not in name and token[:16] not in name
    assert oct(os.stat(os.path.join(str(tmp_path), name)).st_mode & 0o777) == '0o600'


def test_rate_limiter_falls_back_to_memory(tmp_path):
    clock = Clock()
    clock.sleep_calls = []
    limiter = _dingtalk.RateLimiter(new_token(), limit=2, directory=str(tmp_path / 'missing'), clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    limiter.acquire()
    assert clock.sleep_calls == [pytest.approx(60.0)]


# --------------------------------------------------------------------------- the module's logic

class RecordingClient(object):
    made = []

    def __init__(self, webhook, secret, **kwargs):
        self.webhook, self.secret, self.kwargs = webhook, secret, kwargs
        self.sent = []
        RecordingClient.made.append(self)

    def send(self, body):
        if body.get('text', {}).get('content') == 'fail':
            raise _dingtalk.DingTalkError('DingTalk refused', errcode=310000, errmsg='keywords not in content')
        self.sent.append(body)
        return {'errcode': 0, 'errmsg': 'ok', 'msg_uuid': body['msgUuid'], 'attempts': 1}


def _params(**kwargs):
    params = dict(url=webhook_url(new_token()), secret=new_secret(), state='sent', msgtype='text', at_all=False,
                  btn_orientation='vertical', timeout=10.0, retries=2, retry_delay=1.0, throttle_delay=60.0)
    params.update(kwargs)
    return params


def test_run_check_mode_validates_without_sending():
    RecordingClient.made = []
    out = _dingtalk.run(_params(content='hi'), check_mode=True, diff=True, client_factory=RecordingClient)
    assert out['changed'] is True and out['sent'] == 0 and RecordingClient.made == []
    assert out['diff']['after'].startswith('post a text message (msgUuid ')
    out = _dingtalk.run(_params(state='verified'), check_mode=True, client_factory=RecordingClient)
    assert out['changed'] is False and RecordingClient.made == []
    with pytest.raises(InputError, match='needs content'):
        _dingtalk.run(_params(), check_mode=True, client_factory=RecordingClient)


def test_run_verified():
    RecordingClient.made = []
    params = _params(state='verified')
    out = _dingtalk.run(params, client_factory=RecordingClient, limiter_factory=None)
    assert out['changed'] is False and out['verified'] is True and out['errcode'] == 0
    body, = RecordingClient.made[0].sent
    assert body['text']['content'] == _dingtalk.VERIFY_TEXT
    assert params['secret'] not in json.dumps(out) and _dingtalk.tokens_in(params['url'])[0] not in json.dumps(out)
    with pytest.raises(InputError, match='needs secret'):
        _dingtalk.run(_params(state='verified', secret=None), client_factory=RecordingClient)
    with pytest.raises(InputError, match='must use https'):
        _dingtalk.run(_params(state='verified', url=webhook_url(new_token(), 'http://127.0.0.1:9/robot/send')),
                      client_factory=RecordingClient)
    with pytest.raises(InputError, match='64 hexadecimal'):
        _dingtalk.run(_params(secret='SEC123'), client_factory=RecordingClient)


def test_run_message_list_reports_partial_delivery():
    RecordingClient.made = []
    out = _dingtalk.run(_params(messages=[{'content': 'a'}, {'msgtype': 'markdown', 'title': 'T', 'text': 'b'}]),
                        client_factory=RecordingClient, limiter_factory=None)
    assert out['sent'] == 2 and out['changed'] is True and len(out['results']) == 2
    assert [b['msgtype'] for b in RecordingClient.made[0].sent] == ['text', 'markdown']
    with pytest.raises(_dingtalk.DingTalkError) as info:
        _dingtalk.run(_params(messages=[{'content': 'a'}, {'content': 'fail'}, {'content': 'c'}]),
                      client_factory=RecordingClient, limiter_factory=None)
    assert info.value.msg.startswith('message 2 of 3: ')
    assert info.value.details['sent'] == 1 and info.value.details['changed'] is True


# --------------------------------------------------------------------------- run summaries

def test_summary_reports_hosts_failures_and_rotated_names_only():
    hosts = {'web1': {'ok': 5, 'changed': 2, 'failures': 1, 'unreachable': 0},
             'db1': {'ok': 3, 'changed': 1, 'failures': 0, 'unreachable': 0}}
    leaked = new_secret()
    body = _dingtalk.summary('rotate.yml', hosts, [{'host': 'web1', 'task': 'Test the new password'}],
                             ['db_password', 'redis_password', 'has a space ' + leaked], dashboard_url='https://dash.example.com/')
    assert body['msgtype'] == 'markdown'
    md = body['markdown']
    assert md['title'] == 'turnkey.secrets: rotate.yml FAILED on 1 host'
    assert '**Rotated**: db_password, redis_password' in md['text']
    assert '- **web1**: ok 5, changed 2, failed 1, unreachable 0' in md['text']
    assert '- db1: ok 3, changed 1, failed 0, unreachable 0' in md['text']
    assert '- web1: Test the new password' in md['text']
    assert '[Open the dashboard](https://dash.example.com/)' in md['text']
    assert leaked not in json.dumps(body) and '1 rotated entry not shown' in md['text']
    card = _dingtalk.summary('rotate.yml', {'db1': hosts['db1']}, [], None, dashboard_url='https://d/', msgtype='actionCard',
                             title_prefix='production')
    assert card['actionCard']['title'] == 'production: rotate.yml succeeded'
    assert card['actionCard']['singleURL'] == 'https://d/' and 'Rotated' not in card['actionCard']['text']
