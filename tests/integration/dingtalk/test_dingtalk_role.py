"""Role turnkey.secrets.dingtalk: verify the configured robot, send alerts, fail with the cause."""

import secrets


def role(tasks_from='main', **variables):
    out = {'name': 'dingtalk %s' % tasks_from, 'ansible.builtin.include_role': {'name': 'turnkey.secrets.dingtalk'}}
    if tasks_from != 'main':
        out['ansible.builtin.include_role']['tasks_from'] = tasks_from
    if variables:
        out['vars'] = variables
    return out


def rescued(name, task):
    return {'name': name, 'block': [task],
            'rescue': [{'name': 'keep %s' % name, 'ansible.builtin.set_fact': {name: '{{ ansible_failed_result.msg }}'}}]}


def test_role_verifies_alerts_and_explains_failures(playbook, receiver):
    wrong = 'SEC' + secrets.token_hex(32)
    secret_vars = {'vault_dingtalk_webhook_url': 'https://oapi.dingtalk.com/robot/send?access_token=' + receiver.token,
                   'vault_dingtalk_secret': receiver.secret, 'wrong_secret': wrong}
    result = playbook(secret_vars=secret_vars, leak_check=[receiver.token], tasks=[
        {'name': 'use the receiver', 'ansible.builtin.set_fact': {'dingtalk_api_url': receiver.api_url}},
        role(),
        role('alert', dingtalk_alert_title='Rotation failed', dingtalk_alert_text='db_password: **restored**'),
        rescued('wrong_secret_msg', role(dingtalk_secret='{{ wrong_secret }}')),
        rescued('no_url_msg', role(dingtalk_webhook_url='')),
        rescued('no_text_msg', role('alert')),
        role('alert', dingtalk_secret='{{ wrong_secret }}', dingtalk_alert_text='x', dingtalk_alert_required=False),
        {'name': 'check', 'ansible.builtin.assert': {'that': [
            "wrong_secret_msg.startswith('webhook not verified: signature rejected')",
            "'set vault_dingtalk_webhook_url' in no_url_msg",
            "'dingtalk_alert_text is empty' in no_text_msg",
            "'signature rejected' in dingtalk_alert_result.msg"]}},
    ])
    assert not result.task('check')['failed']
    assert 'DingTalk alert not delivered (dingtalk_alert_required is false)' in result.output
    verify, alert = receiver.messages
    assert verify['msgtype'] == 'text' and 'verified' in verify['text']['content']
    assert alert['markdown'] == {'title': 'Rotation failed', 'text': 'db_password: **restored**'}
