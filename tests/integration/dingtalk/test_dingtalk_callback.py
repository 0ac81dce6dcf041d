"""Callback turnkey.secrets.dingtalk: one summary per run at the receiver, never a secret."""

import secrets
import sys

CALLBACKS = {'ANSIBLE_CALLBACKS_ENABLED': 'results_file,turnkey.secrets.dingtalk'}


def inventory(tmp_path):
    path = tmp_path / 'two-hosts.ini'
    path.write_text(''.join('%s ansible_connection=local ansible_python_interpreter=%s\n' % (h, sys.executable)
                            for h in ('web1', 'db1')))
    return str(path)


def play(tasks):
    return [{'name': 'rotation', 'hosts': 'all', 'gather_facts': False, 'tasks': tasks}]


ROTATION_TASKS = [
    {'name': 'Keep the new password in memory', 'ansible.builtin.set_fact': {'new_password': '{{ app_password }}'},
     'no_log': True},
    {'name': 'Apply the new password', 'ansible.builtin.command': 'true', 'changed_when': True},
    {'name': 'Report what was rotated', 'ansible.builtin.set_stats': {'data': {'turnkey_rotated': ['db_password']}},
     'run_once': True},
    {'name': 'Test the new password', 'ansible.builtin.fail': {'msg': 'login failed'},
     'when': "inventory_hostname == 'web1'"},
    {'name': 'A failure that is ignored', 'ansible.builtin.fail': {'msg': 'ignored'}, 'ignore_errors': True},
]


def test_failing_play_posts_exactly_one_summary(playbook, receiver, tmp_path):
    app_password = secrets.token_urlsafe(18)
    env = dict(CALLBACKS, TURNKEY_DINGTALK_WEBHOOK_URL=receiver.url, TURNKEY_DINGTALK_SECRET=receiver.secret,
               TURNKEY_DINGTALK_DASHBOARD_URL='https://dashboard.example.com/', TURNKEY_DINGTALK_TITLE='staging')
    result = playbook(playbook=play(ROTATION_TASKS), inventory=inventory(tmp_path), env=env, expect_rc=2,
                      secret_vars={'app_password': app_password}, leak_check=[receiver.token, receiver.secret, receiver.url])
    assert result.task('Test the new password', 'web1')['failed']
    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert message['msgtype'] == 'markdown'
    text = message['markdown']['text']
    assert message['markdown']['title'].startswith('staging: playbook-') and 'FAILED on 1 host' in message['markdown']['title']
    assert '**Rotated**: db_password' in text
    assert '- **web1**: ok 3, changed 1, failed 1, unreachable 0' in text
    assert '- db1: ok 3, changed 1, failed 0, unreachable 0' in text
    assert '- web1: Test the new password' in text
    assert 'A failure that is ignored' not in text and 'login failed' not in text
    assert '[Open the dashboard](https://dashboard.example.com/)' in text
    assert app_password not in str(message)


def test_summary_from_vault_variables_as_action_card(playbook, receiver, tmp_path):
    env = dict(CALLBACKS, TURNKEY_DINGTALK_MSGTYPE='actionCard', TURNKEY_DINGTALK_DASHBOARD_URL='https://dashboard.example.com/')
    result = playbook(playbook=play([{'name': 'Nothing to rotate', 'ansible.builtin.set_stats': {'data': {'turnkey_rotated': []}}}]),
                      inventory=inventory(tmp_path), env=env,
                      secret_vars={'vault_dingtalk_webhook_url': receiver.url, 'vault_dingtalk_secret': receiver.secret},
                      leak_check=[receiver.token])
    assert result.rc == 0
    message, = receiver.messages
    card = message['actionCard']
    assert card['title'].endswith('succeeded') and '**Rotated**: nothing' in card['text']
    assert card['singleURL'] == 'https://dashboard.example.com/'


def test_failure_to_notify_is_a_warning(playbook, receiver, tmp_path):
    wrong = 'SEC' + secrets.token_hex(32)
    tasks = [{'name': 'Work', 'ansible.builtin.command': 'true', 'changed_when': False}]
    env = dict(CALLBACKS, TURNKEY_DINGTALK_WEBHOOK_URL=receiver.url, TURNKEY_DINGTALK_SECRET=wrong)
    result = playbook(playbook=play(tasks), inventory=inventory(tmp_path), env=env,
                      leak_check=[receiver.token, receiver.secret, wrong])
    assert result.rc == 0
    assert '[WARNING]: turnkey.secrets.dingtalk: the run summary was not posted: signature rejected' in result.output
    assert receiver.messages == []
    result = playbook(playbook=play(tasks), inventory=inventory(tmp_path), env=CALLBACKS)
    assert result.rc == 0 and 'no webhook configured' in result.output
