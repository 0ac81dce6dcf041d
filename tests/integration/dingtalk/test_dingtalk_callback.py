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
    # Nothing happens in this run: only notify_on=always posts.
    env = dict(CALLBACKS, TURNKEY_DINGTALK_MSGTYPE='actionCard', TURNKEY_DINGTALK_DASHBOARD_URL='https://dashboard.example.com/',
               TURNKEY_DINGTALK_NOTIFY_ON='always')
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
    tasks = [{'name': 'Work', 'ansible.builtin.command': 'true', 'changed_when': True}]
    env = dict(CALLBACKS, TURNKEY_DINGTALK_WEBHOOK_URL=receiver.url, TURNKEY_DINGTALK_SECRET=wrong)
    result = playbook(playbook=play(tasks), inventory=inventory(tmp_path), env=env,
                      leak_check=[receiver.token, receiver.secret, wrong])
    assert result.rc == 0
    assert '[WARNING]: turnkey.secrets.dingtalk: the run summary was not posted: signature rejected' in result.output
    assert receiver.messages == []
    result = playbook(playbook=play(tasks), inventory=inventory(tmp_path), env=CALLBACKS)
    assert result.rc == 0 and 'no webhook configured' in result.output


QUIET_TASKS = [
    {'name': 'Look', 'ansible.builtin.command': 'true', 'changed_when': False},
    {'name': 'Nothing due', 'ansible.builtin.set_stats': {'data': {'turnkey_rotated': []}}, 'run_once': True},
    {'name': 'A failure that is ignored', 'ansible.builtin.fail': {'msg': 'ignored'}, 'ignore_errors': True},
    {'name': 'A failure that is rescued', 'block': [{'ansible.builtin.fail': {'msg': 'rescued'}}],
     'rescue': [{'ansible.builtin.debug': {'msg': 'rescued'}}]},
]


def _robot_env(receiver, **extra):
    return dict(CALLBACKS, TURNKEY_DINGTALK_WEBHOOK_URL=receiver.url, TURNKEY_DINGTALK_SECRET=receiver.secret, **extra)


def test_by_default_a_run_where_nothing_happened_posts_nothing(playbook, receiver, tmp_path):
    leak = [receiver.token, receiver.secret]
    result = playbook(playbook=play(QUIET_TASKS), inventory=inventory(tmp_path), env=_robot_env(receiver), leak_check=leak)
    assert result.rc == 0 and not result.changed
    assert receiver.messages == []
    assert 'nothing changed or failed in this run, no summary posted (notify_on=changes)' in result.output
    assert 'WARNING' not in result.output

    # Asked for: every run posts.
    playbook(playbook=play(QUIET_TASKS), inventory=inventory(tmp_path),
             env=_robot_env(receiver, TURNKEY_DINGTALK_NOTIFY_ON='always'), leak_check=leak)
    assert len(receiver.messages) == 1 and receiver.messages[0]['markdown']['title'].endswith('succeeded')


def test_a_changed_task_or_a_rotated_secret_posts_by_default(playbook, receiver, tmp_path):
    leak = [receiver.token, receiver.secret]
    changed = [{'name': 'Apply', 'ansible.builtin.command': 'true', 'changed_when': True, 'run_once': True}]
    playbook(playbook=play(changed), inventory=inventory(tmp_path), env=_robot_env(receiver), leak_check=leak)
    assert len(receiver.messages) == 1
    assert 'changed 1' in receiver.messages[0]['markdown']['text']
    rotated = [{'name': 'Report', 'ansible.builtin.set_stats': {'data': {'turnkey_rotated': ['db_password']}}}]
    playbook(playbook=play(rotated), inventory=inventory(tmp_path), env=_robot_env(receiver), leak_check=leak)
    assert len(receiver.messages) == 2 and '**Rotated**: db_password' in receiver.messages[1]['markdown']['text']
    # notify_on=failures: a change alone stays quiet.
    playbook(playbook=play(changed), inventory=inventory(tmp_path),
             env=_robot_env(receiver, TURNKEY_DINGTALK_NOTIFY_ON='failures'), leak_check=leak)
    assert len(receiver.messages) == 2


def test_an_unreachable_host_posts_by_default(playbook, receiver, tmp_path):
    from harness import free_port
    path = tmp_path / 'unreachable.ini'
    # Nothing listens on this loopback port: the SSH connection is refused at once.
    path.write_text('gone ansible_host=127.0.0.1 ansible_port=%d ansible_connection=ssh ansible_user=root '
                    "ansible_ssh_common_args='-o ConnectTimeout=3'\n" % free_port())
    tasks = [{'name': 'Look', 'ansible.builtin.command': 'true', 'changed_when': False}]
    for notify_on in ('changes', 'failures'):
        result = playbook(playbook=play(tasks), inventory=str(path), env=_robot_env(receiver, TURNKEY_DINGTALK_NOTIFY_ON=notify_on),
                          expect_rc=4, leak_check=[receiver.token, receiver.secret])
        assert result.rc == 4
    assert len(receiver.messages) == 2
    for message in receiver.messages:
        assert 'unreachable 1' in message['markdown']['text'] and 'gone' in message['markdown']['text']
