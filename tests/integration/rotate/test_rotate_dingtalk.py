"""DingTalk robot rotation through rotate.yml, against the local receiver that enforces DingTalk's rules."""

import secrets

import pytest

from dingtalk_receiver import DingTalkReceiver
from harness import run_playbook

PUBLIC = 'https://oapi.dingtalk.com/robot/send?access_token='


def _pair():
    return secrets.token_hex(32), 'SEC' + secrets.token_hex(32)


@pytest.fixture
def robot_env(demo_env):
    token, secret = _pair()
    with DingTalkReceiver(token=token, secret=secret) as receiver:
        values = demo_env.vault()
        values.update(vault_dingtalk_webhook_url=PUBLIC + token, vault_dingtalk_secret=secret)
        demo_env.set_vault(values)
        demo_env.add_secrets('zz-dingtalk.yml', {'dingtalk': {'kind': 'dingtalk', 'api_url': receiver.api_url}})
        demo_env.receiver = receiver
        demo_env.old_pair = (token, secret)
        yield demo_env


def _rotate(env, tmp_path, new_pair=None, expect_rc=0):
    secret_vars = None
    if new_pair:
        secret_vars = {'dingtalk_new_url': PUBLIC + new_pair[0], 'dingtalk_new_secret': new_pair[1]}
    return run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=env.inventory, secret_vars=secret_vars,
                        args=env.vault_args + ['--tags', 'dingtalk', '-e', 'rotate_force=true'], expect_rc=expect_rc,
                        leak_check=list(env.old_pair) + env.secret_values())


def test_due_robot_waits_for_a_person_then_rotates(robot_env, tmp_path):
    env = robot_env
    waiting = _rotate(env, tmp_path)
    assert 'regenerate the robot in the DingTalk group settings' in waiting.task('Report the plan')['result']['msg']
    assert env.vault()['vault_dingtalk_secret'] == env.old_pair[1]

    new = _pair()
    env.receiver.token, env.receiver.secret = new  # a person regenerated the robot
    _rotate(env, tmp_path, new)
    vault = env.vault()
    assert vault['vault_dingtalk_webhook_url'] == PUBLIC + new[0] and vault['vault_dingtalk_secret'] == new[1]
    assert 'turnkey_rotation_journal' not in vault
    assert len(env.receiver.messages) == 1 and 'dingtalk' in env.rotation()


def test_wrong_new_secret_is_rolled_back(robot_env, tmp_path):
    env = robot_env
    new_token, new_secret = _pair()
    env.receiver.token, env.receiver.secret = new_token, new_secret
    typo = 'SEC' + secrets.token_hex(32)
    result = _rotate(env, tmp_path, (new_token, typo), expect_rc=2)
    msg = result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    assert 'services keep the current credential' in msg
    assert typo not in result.output and new_token not in result.output
    vault = env.vault()
    assert vault['vault_dingtalk_secret'] == env.old_pair[1]
    assert 'turnkey_rotation_journal' not in vault
    assert env.receiver.answers and env.receiver.answers[-1][0] == 310000


def test_rollback_alerts_the_dingtalk_group(robot_env, tmp_path, nginx_factory):
    env = robot_env
    decoy = tmp_path / 'decoy-htpasswd'
    decoy.write_text('')
    nginx = nginx_factory(decoy)  # serves another file: it refuses the new password
    robot = {'kind': 'htpasswd', 'user': 'admin', 'verify_url': nginx.url, 'path': str(tmp_path / 'htpasswd')}
    env.add_secrets('zz-dingtalk.yml', {'dashboard_password': robot},
                    turnkey_dingtalk_alerts=True, turnkey_dingtalk_api_url=env.receiver.api_url)
    result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=env.inventory,
                          args=env.vault_args + ['--tags', 'htpasswd', '-e', 'rotate_force=true'], expect_rc=2,
                          leak_check=list(env.old_pair) + env.secret_values())
    assert 'services keep the current credential' in result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    alerts = env.receiver.messages
    assert len(alerts) == 1 and 'dashboard_password' in alerts[0]['markdown']['title']
    assert not [v for v in env.secret_values() if v in str(alerts)]


def test_two_robots_due_at_once_each_get_their_own_pair(demo_env, tmp_path):
    env = demo_env
    olds, news = [_pair(), _pair()], [_pair(), _pair()]
    with DingTalkReceiver(token=news[0][0], secret=news[0][1]) as alerts, \
            DingTalkReceiver(token=news[1][0], secret=news[1][1]) as ops:
        values = env.vault()
        values.update(vault_alerts_webhook_url=PUBLIC + olds[0][0], vault_alerts_secret=olds[0][1],
                      vault_ops_webhook_url=PUBLIC + olds[1][0], vault_ops_secret=olds[1][1])
        env.set_vault(values)
        env.add_secrets('zz-dingtalk.yml', {'alerts': {'kind': 'dingtalk', 'api_url': alerts.api_url},
                                            'ops': {'kind': 'dingtalk', 'api_url': ops.api_url}})
        new_pairs = {'dingtalk_new': {'alerts': {'url': PUBLIC + news[0][0], 'secret': news[0][1]},
                                      'ops': {'url': PUBLIC + news[1][0], 'secret': news[1][1]}}}
        run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=env.inventory, secret_vars=new_pairs,
                     args=env.vault_args + ['--tags', 'dingtalk', '-e', 'rotate_force=true'],
                     leak_check=[v for pair in olds for v in pair])
        vault = env.vault()
        assert (vault['vault_alerts_webhook_url'], vault['vault_alerts_secret']) == (PUBLIC + news[0][0], news[0][1])
        assert (vault['vault_ops_webhook_url'], vault['vault_ops_secret']) == (PUBLIC + news[1][0], news[1][1])
        # Each robot got one signed test message, with its own pair (the receivers refuse any other).
        assert len(alerts.messages) == 1 and len(ops.messages) == 1
        assert 'turnkey_rotation_journal' not in vault
        assert {'alerts', 'ops'} <= set(env.rotation())
