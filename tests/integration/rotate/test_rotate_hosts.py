"""rotate.yml over real SSH hosts (network namespaces) with real PostgreSQL, Redis and nginx.

Inventory: the controller (localhost) is the web, db and redis host (nginx, PostgreSQL
and Redis on loopback); th1 and th2 are app hosts reached over SSH, each with its own
env file.  The environment's vault is created for the test with fresh random values.
"""

import hashlib
import os
import secrets
import subprocess
import sys
import threading
import time

import bcrypt
import pytest
import yaml

from dingtalk_receiver import DingTalkReceiver
from harness import ROOT, VaultedInventory, ansible_env, assert_no_secret, new_secret, run_playbook
from invariants import env_values
from sshhosts import SSHHosts


@pytest.fixture(scope='module')
def ssh_hosts(tmp_path_factory):
    hosts = SSHHosts(str(tmp_path_factory.mktemp('ssh')), 2).start()
    yield hosts
    hosts.stop()


class Stack(VaultedInventory):
    """One environment: inventory, vault, nginx, a PostgreSQL role, a Redis ACL user."""

    def __init__(self, base, ssh_hosts, postgres, redis_server, nginx_factory):
        super().__init__(base, 'it')
        self.ssh = ssh_hosts
        self.postgres = postgres
        self.redis = redis_server
        self.role = 'app_' + new_secret(4).lower().replace('-', '').replace('_', '')
        self.htpasswd = os.path.join(self.base, 'htpasswd')
        self.old = {
            'vault_dashboard_password': new_secret(),
            'vault_db_password': new_secret(),
            'vault_redis_password': new_secret(),
            'vault_secret_key': new_secret(30),
            'vault_db_admin_password': postgres.admin_password,
            'vault_redis_admin_password': redis_server.admin_password,
        }
        # Services start with the old values.
        with open(self.htpasswd, 'w') as handle:
            hashed = bcrypt.hashpw(self.old['vault_dashboard_password'].encode(), bcrypt.gensalt(5)).decode()
            handle.write('admin:%s\n' % hashed.replace('$2b$', '$2y$', 1))
        postgres.sql('CREATE ROLE %s LOGIN' % self.role)
        self._set_pg_password(self.old['vault_db_password'])
        redis_server.client().execute_command('ACL', 'SETUSER', 'app', 'on', '>' + self.old['vault_redis_password'],
                                              '~*', '+@all')
        self.nginx = nginx_factory(self.htpasswd)
        self.write_vault(self.old)
        self.write_inventory()

    def _set_pg_password(self, password):
        from psycopg import sql

        from ansible_collections.turnkey.secrets.plugins.module_utils import _postgres
        query = sql.SQL('ALTER ROLE {} PASSWORD {}').format(sql.Identifier(self.role),
                                                            sql.Literal(_postgres.scram_verifier(password)))
        with self.postgres.connect() as conn:
            conn.execute(query)

    def write_inventory(self, ssh_options=None, extra_secrets=None):
        self.ssh.inventory(os.path.join(self.inventory, 'app_hosts'), group='app', ssh_options=ssh_options)
        with open(os.path.join(self.inventory, 'local.yml'), 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                            'ansible_python_interpreter': sys.executable}},
                                    'children': {g: {'hosts': {'localhost': None}} for g in ('web', 'db', 'redis')}}},
                           handle)
        main = {
            'turnkey_environment': 'it',
            'turnkey_vault_id': 'it',
            'turnkey_vault_password_file': self.password_file,
            'turnkey_secrets': {
                'dashboard_password': {'kind': 'htpasswd', 'path': self.htpasswd, 'user': 'admin', 'mode': '0600',
                                       'verify_url': self.nginx.url},
                'db_password': {'kind': 'postgres', 'role': self.role, 'login_host': '127.0.0.1',
                                'login_port': self.postgres.port, 'login_user': 'postgres',
                                'login_password': '{{ vault_db_admin_password }}'},
                'redis_password': {'kind': 'redis', 'user': 'app', 'login_host': '127.0.0.1',
                                   'login_port': self.redis.port, 'login_user': self.redis.admin_user,
                                   'login_password': '{{ vault_redis_admin_password }}', 'persist': 'acl_save'},
                'secret_key': {'kind': 'django_secret_key'},
            },
            'turnkey_env_files': [{'path': '{{ turnkey_host_root }}/app.env', 'mode': '0600', 'values': {
                'DB_PASSWORD': 'vault_db_password', 'REDIS_PASSWORD': 'vault_redis_password',
                'SECRET_KEY': 'vault_secret_key', 'SECRET_KEY_FALLBACKS': ['vault_secret_key_fallbacks']}}],
        }
        main['turnkey_secrets'].update(extra_secrets or {})
        with open(os.path.join(self.gv, 'main.yml'), 'w') as handle:
            yaml.safe_dump(main, handle)
        with open(self.rotation_file, 'w') as handle:
            yaml.safe_dump({'turnkey_rotation': {n: {'rotated_at': '2026-01-01T00:00:00Z', 'max_age_days': 90}
                                                 for n in main['turnkey_secrets']}}, handle)

    def rotate(self, tmp_path, *args, expect_rc=0, check=False, leak=(), env=None):
        values = [v for v in self.vault().values() if isinstance(v, str)]
        result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=self.inventory, check=check,
                              args=self.vault_args + list(args), expect_rc=expect_rc, env=env,
                              leak_check=values + list(self.old.values()) + list(leak), timeout=300)
        for value in [v for v in self.vault().values() if isinstance(v, str)]:
            assert_no_secret(result.output, [value], 'rotate.yml output (values after the run)')
        return result

    def app_env(self, host):
        root = next(h['root'] for h in self.ssh.hosts if h['name'] == host)
        return env_values(os.path.join(root, 'app.env'))

    def files_digest(self):
        paths = [self.vault_file, self.rotation_file, self.htpasswd] + [os.path.join(h['root'], 'app.env') for h in self.ssh.hosts]
        return {p: hashlib.sha256(open(p, 'rb').read()).hexdigest() for p in paths if os.path.exists(p)}

    def cleanup(self):
        for host in self.ssh.hosts:
            for name in os.listdir(host['root']):
                os.unlink(os.path.join(host['root'], name))


@pytest.fixture
def stack(tmp_path, ssh_hosts, postgres, redis_server, nginx_factory):
    s = Stack(tmp_path, ssh_hosts, postgres, redis_server, nginx_factory)
    yield s
    s.cleanup()
    postgres.sql('DROP ROLE IF EXISTS %s' % s.role)


def _check_services(stack, vault):
    assert stack.postgres.can_login(stack.role, vault['vault_db_password'])
    assert stack.redis.can_login('app', vault['vault_redis_password'])
    assert stack.nginx.status('admin', vault['vault_dashboard_password']) == 200
    for host in ('th1', 'th2'):
        env = stack.app_env(host)
        assert env['DB_PASSWORD'] == vault['vault_db_password']
        assert env['REDIS_PASSWORD'] == vault['vault_redis_password']
        assert env['SECRET_KEY'] == vault['vault_secret_key']


def test_rotate_everything_over_ssh_then_nothing_then_check(stack, tmp_path):
    old = stack.old
    first = stack.rotate(tmp_path)
    new = stack.vault()
    for key in ('vault_dashboard_password', 'vault_db_password', 'vault_redis_password', 'vault_secret_key'):
        assert new[key] != old[key], key
    _check_services(stack, new)
    # Old credentials are gone everywhere (Redis kept both only until every consumer had the new one).
    assert not stack.postgres.can_login(stack.role, old['vault_db_password'])
    assert not stack.redis.can_login('app', old['vault_redis_password'])
    assert stack.nginx.status('admin', old['vault_dashboard_password']) == 401
    assert stack.app_env('th1')['SECRET_KEY_FALLBACKS'] == old['vault_secret_key']
    log = stack.postgres.read_log()
    assert new['vault_db_password'] not in log
    assert first.changed

    again = stack.rotate(tmp_path)
    assert again.changed_tasks() == []

    before = stack.files_digest()
    stack.rotate(tmp_path, '-e', 'rotate_force=true', check=True)
    assert stack.files_digest() == before
    _check_services(stack, new)


def test_unreachable_app_host_keeps_old_redis_password_until_it_returns(stack, tmp_path):
    old = stack.old
    stack.ssh.set_reachable('th2', False)
    try:
        result = stack.rotate(tmp_path, expect_rc=None)
    finally:
        stack.ssh.set_reachable('th2', True)
    assert result.rc in (2, 4), result.output[-4000:]
    assert 'th2' in result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    assert 'th2' in ' '.join(result.task('Report the rotation')['result']['msg'])
    new = stack.vault()
    # Dual-valid state: Redis accepts both until th2 has the new password.
    assert stack.redis.can_login('app', new['vault_redis_password'])
    assert stack.redis.can_login('app', old['vault_redis_password'])
    assert stack.app_env('th1')['REDIS_PASSWORD'] == new['vault_redis_password']
    assert stack.vault()['turnkey_rotation_journal']['waiting'] == ['th2']
    # Redis keeps both until th2 has the new one: its rotation is not finished, not dated.
    assert stack.vault()['turnkey_rotation_journal']['secrets']['redis_password']['state'] == 'promoted'

    stack.rotate(tmp_path)  # nothing due, but th2 is outstanding
    _check_services(stack, new)
    assert not stack.redis.can_login('app', old['vault_redis_password'])
    assert 'turnkey_rotation_journal' not in stack.vault()


def test_failed_retire_is_reported_and_finished_by_the_next_run(stack, tmp_path):
    """Redis refuses the admin login once every consumer has the new password: the old
    password cannot be retired.  The run says so and fails; the next run retires it."""
    old, marker, done = stack.old, str(tmp_path / 'paused'), {}
    env = {'_TURNKEY_ROTATION_TEST_PAUSE': 'deployed', '_TURNKEY_ROTATION_TEST_MARKER': marker}
    run = threading.Thread(target=lambda: done.update(result=stack.rotate(
        tmp_path, '--tags', 'redis', '-e', 'rotate_force=true', expect_rc=None, env=env)))
    run.start()
    other = new_secret()
    try:
        deadline = time.monotonic() + 240
        while not os.path.exists(marker) and run.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.exists(marker)
        stack.redis.client().execute_command('ACL', 'SETUSER', stack.redis.admin_user, 'resetpass', '>' + other)
        open(marker + '.go', 'w').close()
        run.join(300)
    finally:
        open(marker + '.go', 'w').close()
        run.join(300)
        stack.redis.client(password=other).execute_command('ACL', 'SETUSER', stack.redis.admin_user, 'resetpass',
                                                           '>' + stack.redis.admin_password)
    result = done['result']
    assert result.rc == 2, result.output[-4000:]
    report = ' '.join(result.task('Report the rotation')['result']['msg'])
    assert 'Old credential not retired (run again): redis_password (redis_password on localhost: ' in report
    assert 'old credential of redis_password was not retired' in \
        result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    new = stack.vault()
    assert new['turnkey_rotation_journal']['secrets']['redis_password']['state'] == 'deployed'
    assert stack.redis.can_login('app', new['vault_redis_password'])
    assert stack.redis.can_login('app', old['vault_redis_password'])

    stack.rotate(tmp_path, leak=[other])
    assert not stack.redis.can_login('app', old['vault_redis_password'])
    assert 'turnkey_rotation_journal' not in stack.vault()


def test_new_password_refused_by_nginx_is_rolled_back(stack, tmp_path):
    old = stack.old
    # nginx reads a different file than the one rotated: it will refuse the new password.
    decoy = os.path.join(stack.base, 'decoy-htpasswd')
    with open(stack.htpasswd) as src, open(decoy, 'w') as dst:
        dst.write(src.read())
    stack.nginx.stop()
    stack.nginx.htpasswd_path = decoy
    stack.nginx.start()
    stack.write_inventory()
    result = stack.rotate(tmp_path, '--tags', 'htpasswd', '-e', 'rotate_force=true', expect_rc=2)
    msg = result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    assert 'dashboard_password' in msg and 'services keep the current credential' in msg
    vault = stack.vault()
    assert vault['vault_dashboard_password'] == old['vault_dashboard_password']
    assert 'turnkey_rotation_journal' not in vault
    # The rotated file holds the old password again; nginx still lets the old one in.
    import invariants
    assert invariants.htpasswd_accepts(stack.htpasswd, 'admin', old['vault_dashboard_password'])
    assert stack.nginx.status('admin', old['vault_dashboard_password']) == 200


def test_second_concurrent_run_fails_fast(stack, tmp_path):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', stack.inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true'] + stack.vault_args
    first = subprocess.Popen(cmd, env=ansible_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lock = os.path.join(stack.inventory, '.rotate.lock')
    deadline = time.monotonic() + 60
    while not os.path.exists(lock) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert os.path.exists(lock), 'the first run never took the lock'
    started = time.monotonic()
    second = subprocess.run(cmd, env=ansible_env(), cwd=ROOT, capture_output=True, check=False)
    elapsed = time.monotonic() - started
    out = second.stdout.decode()
    assert second.returncode != 0 and 'rotation in progress for environment it' in out
    assert elapsed < 15
    first_out = first.communicate(timeout=300)[0].decode()
    assert first.returncode == 0, first_out[-3000:]
    _check_services(stack, stack.vault())


def _shipped_ssh_options():
    with open(os.path.join(ROOT, 'skeletons', 'staging', 'group_vars', 'all', 'main.yml')) as handle:
        return yaml.safe_load(handle)['ansible_ssh_common_args']


def test_host_vanishing_mid_run_is_bounded_by_the_shipped_ssh_options(stack, tmp_path):
    """th2 answers at first, then its network goes away (sshd still running, no reset) while
    the run sits between promote and the consumers: with the staging inventory's keepalive
    and connect timeout the run ends within a minute or two, names th2, and the rerun after
    th2 is back converges."""
    stack.write_inventory(ssh_options=_shipped_ssh_options())
    marker = str(tmp_path / 'paused')
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', stack.inventory,
           'turnkey.secrets.rotate'] + stack.vault_args
    env = ansible_env({'_TURNKEY_ROTATION_TEST_PAUSE': 'promote', '_TURNKEY_ROTATION_TEST_MARKER': marker})
    with open(str(tmp_path / 'run.log'), 'wb') as log:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert os.path.exists(marker), open(str(tmp_path / 'run.log')).read()[-3000:]
            # An open master connection to th2, as a run that already talked to it has.
            ping = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), '-i', stack.inventory, 'th2',
                                   '-m', 'ansible.builtin.ping'] + stack.vault_args,
                                  env=ansible_env(), cwd=ROOT, capture_output=True, check=False)
            assert ping.returncode == 0, ping.stdout.decode()[-2000:]
            stack.ssh.vanish('th2')
            released = time.monotonic()
            open(marker + '.go', 'w').close()
            rc = proc.wait(timeout=300)
            took = time.monotonic() - released
        finally:
            if proc.poll() is None:
                proc.kill()
            stack.ssh.vanish('th2', gone=False)
    output = open(str(tmp_path / 'run.log')).read()
    print('run ended %.1f s after th2 vanished' % took)
    assert rc in (2, 4), output[-4000:]
    assert took < 150, 'the run hung %.0f s after th2 vanished' % took
    assert 'th2' in output.split('Report the rotation')[-1]
    for value in list(stack.old.values()) + [v for v in stack.vault().values() if isinstance(v, str)]:
        assert_no_secret(output, [value], 'rotate.yml output')
    assert stack.vault()['turnkey_rotation_journal']['waiting'] == ['th2']

    stack.rotate(tmp_path)
    _check_services(stack, stack.vault())
    assert 'turnkey_rotation_journal' not in stack.vault()


def test_dingtalk_verify_runs_on_the_controller_when_the_first_host_is_remote(stack, tmp_path):
    """The receiver listens on the controller's loopback, which th1 (the play's first host)
    cannot reach: the verify only passes when it is sent from the controller."""
    token, secret = secrets.token_hex(32), 'SEC' + secrets.token_hex(32)
    new_token, new_secret = secrets.token_hex(32), 'SEC' + secrets.token_hex(32)
    public = 'https://oapi.dingtalk.com/robot/send?access_token='
    with DingTalkReceiver(token=new_token, secret=new_secret) as receiver:
        values = dict(stack.old, vault_dingtalk_webhook_url=public + token, vault_dingtalk_secret=secret)
        stack.write_vault(values)
        stack.write_inventory(extra_secrets={'dingtalk': {'kind': 'dingtalk', 'api_url': receiver.api_url}})
        # Parsed first, this file makes th1 the first host of every play.
        with open(os.path.join(stack.inventory, '000_order.yml'), 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'th1': None, 'th2': None}}}, handle)
        order = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), '-i', stack.inventory,
                                'all:localhost', '--list-hosts'] + stack.vault_args,
                               env=ansible_env(), capture_output=True, check=True, text=True).stdout.split()
        assert order[2:] == ['th1', 'th2', 'localhost'], order
        result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=stack.inventory,
                              secret_vars={'dingtalk_new_url': public + new_token, 'dingtalk_new_secret': new_secret},
                              args=stack.vault_args + ['--tags', 'dingtalk', '-e', 'rotate_force=true'],
                              leak_check=[token, secret, new_token, new_secret] + list(stack.old.values()), timeout=300)
        first = result.task('Verify the DingTalk webhook with a signed test message')
        assert first['host'] == 'th1'  # run once, for the play's first host, and delegated to the controller
        assert len(receiver.messages) == 1, result.output[-3000:]
    vault = stack.vault()
    assert vault['vault_dingtalk_webhook_url'] == public + new_token and vault['vault_dingtalk_secret'] == new_secret
