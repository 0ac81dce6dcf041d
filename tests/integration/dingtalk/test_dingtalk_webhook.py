"""turnkey.secrets.dingtalk_webhook against the local receiver enforcing DingTalk's rules.

Playbooks run at -vvvv through the ``playbook`` fixture: neither the access token nor the
secret may show in the output or the task results, on success and failure paths alike.
"""

import secrets
import time

MODULE = 'turnkey.secrets.dingtalk_webhook'
ROBOT = {'url': '{{ dt_url }}', 'secret': '{{ dt_secret }}'}


def robot_secret():
    return 'SEC' + secrets.token_hex(32)


def robot_token():
    return secrets.token_hex(32)


def task(name, check=False, ignore_errors=False, **args):
    out = {'name': name, MODULE: dict(ROBOT, **args)}
    if check:
        out['check_mode'] = True
    if ignore_errors:
        out['ignore_errors'] = True
    return out


def test_every_message_type_check_then_send(playbook, robot, receiver):
    card = {'title': 'Rotation due', 'text': 'The robot secret is **90 days** old', 'msgtype': 'actionCard'}
    result = playbook(secret_vars=robot['vars'], leak_check=robot['leak_check'], diff=True, tasks=[
        task('check text', check=True, content='risk alert'),
        task('check list', check=True, messages=[{'content': 'a'}, {'content': 'b'}]),
        task('text', content='risk alert', at_mobiles=['13800000000'], at_all=True),
        task('markdown', msgtype='markdown', title='Risk', text='### Risk\nlimit breached', at_mobiles=['13800000000']),
        task('card one button', buttons=[{'title': 'Runbook', 'url': 'https://wiki.example.com/r'}], **card),
        task('card two buttons', btn_orientation='horizontal', buttons=[
            {'title': 'Runbook', 'url': 'https://wiki.example.com/r'}, {'title': 'Dashboard', 'url': 'https://d.example.com/'}],
            **card),
        task('link', msgtype='link', title='Report', text='Nightly report', message_url='https://r.example.com/'),
        task('list', messages=[{'content': 'first'}, {'msgtype': 'markdown', 'title': 'Second', 'text': 'second'}]),
    ])
    for name in ('check text', 'check list'):
        assert result.task(name)['changed'] is True
        assert result.task(name)['result']['sent'] == 0
    assert 'post a text message (msgUuid' in result.output
    assert result.task('check list')['result']['msg_uuids'][0] != result.task('check list')['result']['msg_uuids'][1]
    for name in ('text', 'markdown', 'card one button', 'card two buttons', 'link', 'list'):
        res = result.task(name)['result']
        assert result.task(name)['changed'] is True
        assert (res['errcode'], res['errmsg']) == (0, 'ok')
        assert res['endpoint'] == receiver.api_url
    assert result.task('list')['result']['sent'] == 2
    got = receiver.messages
    assert [m['msgtype'] for m in got] == ['text', 'markdown', 'actionCard', 'actionCard', 'link', 'text', 'markdown']
    assert got[0]['at'] == {'atMobiles': ['13800000000'], 'atUserIds': [], 'isAtAll': True}
    assert got[1]['markdown']['text'].endswith('@13800000000')
    assert got[2]['actionCard']['singleURL'] == 'https://wiki.example.com/r'
    assert [b['title'] for b in got[3]['actionCard']['btns']] == ['Runbook', 'Dashboard']
    assert got[3]['actionCard']['btnOrientation'] == '1'
    assert got[4]['link']['messageUrl'] == 'https://r.example.com/'
    assert len({m['msgUuid'] for m in got}) == 7
    assert receiver.answers == [(0, 'ok')] * 7


def test_verified_checks_shapes_then_sends_one_test_message(playbook, robot, receiver):
    verify = {'url': '{{ dt_https_url }}', 'secret': '{{ dt_secret }}', 'api_url': receiver.api_url, 'state': 'verified'}
    result = playbook(secret_vars=dict(robot['vars'], bad_secret='SEC' + robot_token()[:40]), leak_check=robot['leak_check'],
                      tasks=[
        {'name': 'check verify', MODULE: verify, 'check_mode': True},
        {'name': 'verify', MODULE: verify},
        {'name': 'plain http', MODULE: dict(verify, url='{{ dt_url }}', api_url=None), 'ignore_errors': True},
        {'name': 'bad secret', MODULE: dict(verify, secret='{{ bad_secret }}'), 'ignore_errors': True},
        {'name': 'no token', MODULE: dict(verify, url='https://oapi.dingtalk.com/robot/send'), 'ignore_errors': True},
        {'name': 'no secret', MODULE: dict(verify, secret=None), 'ignore_errors': True},
    ])
    check = result.task('check verify')
    assert check['changed'] is False and not check['failed'] and check['result']['sent'] == 0
    ok = result.task('verify')
    assert ok['changed'] is False and ok['result']['verified'] is True and ok['result']['errcode'] == 0
    assert ok['result']['endpoint'] == receiver.api_url
    for name, words in (('plain http', 'must use https'), ('bad secret', '64 hexadecimal'),
                        ('no token', 'access_token'), ('no secret', 'needs secret')):
        assert result.task(name)['failed'], name
        assert words in result.task(name)['result']['msg'], name
    # Only the one real verification reached the receiver.
    assert len(receiver.messages) == 1 and 'verified' in receiver.messages[0]['text']['content']


def test_wrong_secret_or_token_fails_naming_the_cause(playbook, robot, receiver):
    other_secret, other_token = robot_secret(), robot_token()
    receiver.tokens_used.append(other_token)
    secret_vars = dict(robot['vars'], other_secret=other_secret,
                       other_url=receiver.api_url + '?access_token=' + other_token)
    result = playbook(secret_vars=secret_vars, leak_check=robot['leak_check'] + [other_token], tasks=[
        task('wrong secret', ignore_errors=True, secret='{{ other_secret }}', content='x'),
        task('wrong token', ignore_errors=True, url='{{ other_url }}', content='x'),
        task('verify wrong secret', ignore_errors=True, secret='{{ other_secret }}', state='verified',
             url='{{ dt_https_url }}', api_url=receiver.api_url),
    ])
    wrong = result.task('wrong secret')['result']
    assert result.task('wrong secret')['failed'] and wrong['errcode'] == 310000
    assert 'signature rejected' in wrong['msg'] and 'secret' in wrong['msg']
    assert wrong['attempts'] == 1  # a refusal is not retried
    token = result.task('wrong token')['result']
    assert token['errcode'] == 300001 and 'access_token in url is unknown' in token['msg']
    verify = result.task('verify wrong secret')['result']
    assert verify['msg'].startswith('webhook not verified: signature rejected')
    assert receiver.messages == []


def test_keyword_robot(playbook, robot, receiver):
    receiver.keyword = 'turnkey'
    result = playbook(secret_vars=robot['vars'], leak_check=robot['leak_check'], tasks=[
        task('without keyword', ignore_errors=True, content='disk full'),
        task('with keyword', content='turnkey: disk full'),
    ])
    assert 'custom keywords' in result.task('without keyword')['result']['msg']
    assert [m['text']['content'] for m in receiver.messages] == ['turnkey: disk full']


def test_throttled_once_then_delivered_once(playbook, robot, receiver):
    receiver.throttle_next(1)
    result = playbook(secret_vars=robot['vars'], leak_check=robot['leak_check'], tasks=[
        task('send', content='after a throttle', retries=1, throttle_delay=0.2),
    ])
    res = result.task('send')['result']
    assert res['errcode'] == 0 and res['attempts'] == 2
    assert [a[0] for a in receiver.answers] == [130101, 0]
    assert len(receiver.messages) == 1 and receiver.messages[0]['msgUuid'] == res['msg_uuids'][0]


def test_lost_answer_is_retried_without_a_duplicate(playbook, robot, receiver):
    receiver.delay_next(1.5)  # the first message is delivered but its answer comes too late
    result = playbook(secret_vars=robot['vars'], leak_check=robot['leak_check'], tasks=[
        task('send', content='exactly once', timeout=0.5, retries=1, retry_delay=0.1),
    ])
    assert result.task('send')['result']['attempts'] == 2
    assert receiver.requests == 2 and len(receiver.messages) == 1


def test_timeouts_fail_clearly_in_bounded_time(playbook, robot, receiver):
    receiver.delay = 30
    started = time.monotonic()
    result = playbook(secret_vars=robot['vars'], leak_check=robot['leak_check'], expect_rc=2, tasks=[
        task('send', content='nobody answers', timeout=0.5, retries=1, retry_delay=0.1),
    ])
    elapsed = time.monotonic() - started
    res = result.task('send')
    assert res['failed'] and res['changed'] is False
    assert 'timed out (timeout 0.5s); gave up after 2 attempts' in res['result']['msg']
    assert 'POST %s failed' % receiver.api_url in res['result']['msg']
    assert elapsed < 15, elapsed  # 2 x 0.5 s + 0.1 s plus ansible's start, not 2 x 30 s
    assert receiver.requests == 2


def test_sign_filter_builds_a_url_dingtalk_accepts(playbook, robot, receiver):
    playbook(secret_vars=robot['vars'], leak_check=robot['leak_check'], tasks=[
        {'name': 'post with uri', 'no_log': True, 'register': 'posted',
         'ansible.builtin.uri': {'url': "{{ dt_url }}&{{ (dt_secret | turnkey.secrets.dingtalk_sign).query }}",
                                 'method': 'POST', 'body_format': 'json',
                                 'body': {'msgtype': 'text', 'text': {'content': 'signed by the filter'}}}},
        {'name': 'accepted', 'ansible.builtin.assert': {'that': ['posted.json.errcode == 0']}},
        {'name': 'verify a callback', 'ansible.builtin.assert': {'that': [
            "{'timestamp': (s.timestamp | string), 'sign': s.sign} | turnkey.secrets.dingtalk_verify(dt_secret)",
            "not ({'timestamp': '1577262236757', 'sign': s.sign} | turnkey.secrets.dingtalk_verify(dt_secret))"]},
         'vars': {'s': '{{ dt_secret | turnkey.secrets.dingtalk_sign }}'}, 'no_log': True},
    ])
    assert [m['text']['content'] for m in receiver.messages] == ['signed by the filter']
