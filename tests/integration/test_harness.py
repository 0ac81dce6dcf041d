"""The harness itself: each real service starts, and the playbook runner catches leaks."""

import pytest

from harness import assert_no_secret, new_secret


def test_podman_runs_a_container_with_the_host_usr(podman):
    name = podman.prefix + 'harness'
    podman.run_container(name)
    assert podman.exec_(name, 'python3', '-c', 'print(6 * 7)').strip() == '42'


def test_postgres_scram_login(postgres):
    assert postgres.can_login(postgres.admin_user, postgres.admin_password)
    assert not postgres.can_login(postgres.admin_user, postgres.admin_password + 'x')


def test_redis_acl_login(redis_server):
    assert redis_server.can_login(redis_server.admin_user, redis_server.admin_password)
    assert not redis_server.can_login(redis_server.admin_user, 'wrong-' + redis_server.admin_password)


def test_nginx_auth_basic_answers_401_without_a_user(nginx_factory, tmp_path):
    htpasswd = tmp_path / 'htpasswd'
    htpasswd.write_text('')
    server = nginx_factory(htpasswd)
    assert server.status('nobody', 'nothing') == 401


def test_playbook_runner_reports_changed_and_catches_a_leak(playbook):
    secret = new_secret()
    result = playbook(tasks=[{'name': 'quiet', 'ansible.builtin.command': 'true', 'changed_when': True}],
                      secret_vars={'some_secret': secret})
    assert result.task('quiet')['changed']
    with pytest.raises(AssertionError, match='secret #0'):
        playbook(tasks=[{'name': 'leaky', 'ansible.builtin.debug': {'msg': '{{ some_secret }}'}}],
                 secret_vars={'some_secret': secret})


def test_assert_no_secret_sees_url_encoded_forms():
    with pytest.raises(AssertionError):
        assert_no_secret('sign=a%2Bb%2Fc%3D%3D', ['a+b/c=='])


def test_ssh_hosts_are_distinct_hosts(tmp_path):
    """Each namespace host answers over its own SSH connection (no shared ControlMaster)."""
    import os
    import re
    import subprocess

    from harness import ansible_env
    from sshhosts import SSHHosts

    hosts = SSHHosts(str(tmp_path / 'ssh'), 2).start()
    try:
        inventory = hosts.inventory(str(tmp_path / 'hosts.ini'))
        proc = subprocess.run([os.path.join(os.path.dirname(os.sys.executable), 'ansible'), '-i', inventory, 'all',
                               '-m', 'ansible.builtin.command', '-a', 'ip -br addr'],
                              capture_output=True, text=True, env=ansible_env(), check=True)
        blocks = dict(re.findall(r'^(th\d+) \| CHANGED \| rc=0 >>\n(.*?)(?=^th\d+ \||\Z)', proc.stdout, re.M | re.S))
        for host in hosts.hosts:
            assert host['address'] + '/24' in blocks[host['name']]
    finally:
        hosts.stop()


@pytest.mark.parametrize('before', ['', 'k', 'ke', '{"key": "'])
def test_assert_no_secret_sees_a_secret_inside_base64_of_a_larger_value(before):
    import base64
    import json
    secret = new_secret()
    blob = json.dumps({'auths': {'registry': {'auth': 'user:' + secret}}, 'x': before + secret + '"}'})
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        line = 'data: ' + encode(blob.encode()).decode().rstrip('=') + ' trailing'
        with pytest.raises(AssertionError, match='secret #1'):
            assert_no_secret(line, [new_secret(), secret])
    own = base64.b64encode(secret.encode()).decode()
    with pytest.raises(AssertionError):
        assert_no_secret('prefix' + own + 'suffix', [secret])
    with pytest.raises(AssertionError):
        assert_no_secret('token=' + own.replace('=', '%3D') + '&x=1', [secret])
    assert_no_secret(base64.b64encode(blob.replace(secret, new_secret()).encode()).decode(), [secret])


def test_kill_tree_kills_children_in_their_own_sessions(tmp_path):
    import subprocess
    import sys
    import time

    from harness import alive, descendants, kill_tree

    marker = tmp_path / 'started'
    # A grandchild in a new session, as pexpect (ansible-runner) starts ansible-playbook.
    code = ('import os, subprocess, sys, time\n'
            'subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)\n'
            'open(%r, "w").close()\ntime.sleep(60)\n' % str(marker))
    proc = subprocess.Popen([sys.executable, '-c', code], start_new_session=True)
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    tree = descendants(proc.pid)
    assert len(tree) == 1
    killed = kill_tree(proc.pid)
    proc.wait(5)
    assert killed == tree | {proc.pid}
    deadline = time.monotonic() + 5
    while alive(killed) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(killed)
