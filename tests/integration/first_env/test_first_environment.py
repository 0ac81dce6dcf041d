"""A staging environment built by following docs/first-environment.md as a new user would.

The shell commands are the page's own (blocks marked ``<!-- first-env: step N -->``), run in a
fresh project directory with a fresh HOME; the collection is installed there as the README's
section for installed-collection users says. What the page asks the user to do in an editor
(hosts.yml, main.yml, the clear vault) the test does to the copied files. The hosts: three
SSH hosts (network namespaces) as the app hosts, the controller as web, db and redis host
(nginx, PostgreSQL and Redis on loopback), the DingTalk stand-in as the robot.

Deploy once, deploy again (nothing changes), rotate (nothing due, nothing changes, no
DingTalk message), audit (no finding).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import docsteps
import pytest
import yaml
from dingtalk_receiver import DingTalkReceiver
from harness import HERE, ROOT, assert_no_secret
from sshhosts import SSHHosts

DOC = 'first-environment.md'


@pytest.fixture(scope='module')
def ssh_hosts(tmp_path_factory):
    hosts = SSHHosts(str(tmp_path_factory.mktemp('ssh')), 3).start()
    yield hosts
    hosts.stop()


class User(object):
    """A shell in the project directory, with its own HOME; every output is kept for the leak check."""

    def __init__(self, tmp_path, extra_env):
        self.project = tmp_path / 'project'
        self.project.mkdir()
        self.home = tmp_path / 'home'
        self.home.mkdir()
        self.results = str(tmp_path / 'results.jsonl')
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'TURNKEY_', 'PG', 'REDIS'))}
        self.env.update({
            'HOME': str(self.home), 'PATH': os.path.dirname(sys.executable) + os.pathsep + '/usr/bin:/bin:/usr/sbin:/sbin',
            'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_HOST_KEY_CHECKING': 'False',
            # The suite's result recorder and the DingTalk run summary (its webhook comes from the vault).
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'results_file,turnkey.secrets.dingtalk',
            'TURNKEY_TEST_RESULTS': self.results,
            'GIT_AUTHOR_NAME': 'ops', 'GIT_AUTHOR_EMAIL': 'ops@example.invalid',
            'GIT_COMMITTER_NAME': 'ops', 'GIT_COMMITTER_EMAIL': 'ops@example.invalid',
        })
        self.env.update(extra_env)
        self.outputs = []

    def sh(self, script, expect_rc=0, env=None):
        if os.path.exists(self.results):
            os.unlink(self.results)
        proc = subprocess.run(['bash', '-euo', 'pipefail', '-c', script], cwd=str(self.project), env=dict(self.env, **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
        self.outputs.append(proc.stdout)
        assert proc.returncode == expect_rc, 'exit %d:\n%s\n---\n%s' % (proc.returncode, script, proc.stdout[-6000:])
        return proc.stdout

    def step(self, steps, number, **kwargs):
        language, text = steps[number]
        assert language == 'sh', 'step %d is not a shell block' % number
        return self.sh(text, **kwargs)

    def changed_tasks(self):
        with open(self.results) as handle:
            return sorted({r['task'] for r in map(json.loads, handle) if r['changed']})

    def vault(self):
        out = self.sh('ansible-vault view --vault-id staging@~/.vault_pass_staging inventory/staging/group_vars/all/vault.yml')
        self.outputs.pop()  # the clear vault is what the leak check looks for
        return yaml.safe_load(out)


def env_values(path):
    with open(path) as handle:
        return dict((k, v.strip("'\"")) for k, sep, v in (line.rstrip('\n').partition('=') for line in handle) if sep)


def _edit(path, change):
    with open(path) as handle:
        data = yaml.safe_load(handle)
    change(data)
    with open(path, 'w') as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


def test_first_environment_from_the_docs(tmp_path, ssh_hosts, postgres, redis_server, nginx_factory):
    steps = docsteps.steps(DOC)
    readme = docsteps.steps('README.md', marker='installed')
    token, robot_secret = secrets.token_hex(32), 'SEC' + secrets.token_hex(32)
    with DingTalkReceiver(token=token, secret=robot_secret) as receiver:
        user = User(tmp_path, {'TURNKEY_DINGTALK_API_URL': receiver.api_url})
        project = user.project
        gv = project / 'inventory' / 'staging' / 'group_vars' / 'all'

        # The collection, installed into the project as the README says.
        (project / 'ansible.cfg').write_text(readme[1][1])
        user.sh('ansible-galaxy collection build --output-path . %s >/dev/null' % ROOT)
        user.sh(readme[2][1])
        user.sh('rm turnkey-secrets-*.tar.gz')

        user.step(steps, 1)
        assert (gv / 'main.yml').is_file() and (project / '.git').is_dir()

        # Step 2, in the editor: hosts.yml and main.yml for these hosts and services.
        htpasswd = tmp_path / 'web' / 'etc' / 'nginx' / '.htpasswd'
        nginx = nginx_factory(str(htpasswd))
        app_hosts = {h['name']: {'ansible_host': h['address'], 'turnkey_host_root': h['root']} for h in ssh_hosts.hosts}
        ssh_args = ('-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 '
                    '-o ControlPath=%s/%%C' % ssh_hosts.control_dir)
        app_vars = {'ansible_user': 'root', 'ansible_ssh_private_key_file': ssh_hosts.key, 'ansible_ssh_common_args': ssh_args}
        groups = {g: {'hosts': {'localhost': None}} for g in ('web', 'db', 'redis')}
        groups['app'] = {'hosts': app_hosts, 'vars': app_vars}
        hosts_yml = {'all': {'vars': {'ansible_python_interpreter': sys.executable}, 'children': groups,
                             'hosts': {'localhost': {'ansible_connection': 'local'}}}}
        with open(str(project / 'inventory' / 'staging' / 'hosts.yml'), 'w') as handle:
            yaml.safe_dump(hosts_yml, handle, sort_keys=False)

        def describe(main):
            catalogue = main['turnkey_secrets']
            catalogue['dashboard_password'].update(path=str(htpasswd), verify_url=nginx.url, group='root')
            catalogue['db_password'].update(login_port=postgres.port)
            catalogue['redis_password'].update(login_port=redis_server.port, login_host='127.0.0.1')
            catalogue['dingtalk']['api_url'] = receiver.api_url
            env_file, = main['turnkey_env_files']
            env_file.update(path='{{ turnkey_host_root }}/srv/app/.env', group='root')
            # These app hosts run no containers.
            del main['turnkey_podman_secrets']
        _edit(str(gv / 'main.yml'), describe)
        user.step(steps, 2)

        user.step(steps, 3)
        assert os.stat(str(user.home / '.vault_pass_staging')).st_mode & 0o777 == 0o600

        user.step(steps, 4)
        clear = '/dev/shm/vault-staging.yml'
        try:
            # The editor: what only the user knows; the other lines stay as the example has them (empty).
            given = {'vault_db_admin_password': postgres.admin_password,
                     'vault_redis_admin_password': redis_server.admin_password,
                     'vault_dingtalk_webhook_url': 'https://oapi.dingtalk.com/robot/send?access_token=' + token,
                     'vault_dingtalk_secret': robot_secret}

            def fill(values):
                values.update(given)
            assert os.stat(clear).st_mode & 0o777 == 0o600
            _edit(clear, fill)
            user.step(steps, 5)
            user.step(steps, 6)
        finally:
            if os.path.exists(clear):
                os.unlink(clear)
                raise AssertionError('step 5 left the clear vault in /dev/shm')

        redis_admin = {'REDISCLI_AUTH': redis_server.admin_password, 'REDIS_PORT': str(redis_server.port)}
        pg_admin = {'PGHOST': '127.0.0.1', 'PGPORT': str(postgres.port), 'PGUSER': 'postgres', 'PGDATABASE': 'postgres',
                    'PGPASSWORD': postgres.admin_password}
        assert 'not run by the test' in docsteps.read(DOC).split('first-env: step 7')[1].split('-->')[0]
        try:
            user.step(steps, 8, env=dict(pg_admin, **redis_admin))
            language, prepare = steps[9]
            assert language == 'yaml'
            (project / 'prepare-staging.yml').write_text(prepare)
            user.step(steps, 10)
            assert htpasswd.parent.is_dir()

            user.step(steps, 11)
            vault = user.vault()
            for key in ('vault_dashboard_password', 'vault_db_password', 'vault_redis_password', 'vault_secret_key',
                        'vault_field_encryption_key'):
                assert vault.get(key), key
            assert nginx.status('admin', vault['vault_dashboard_password']) == 200
            assert postgres.can_login('app', vault['vault_db_password'])
            assert redis_server.can_login('app', vault['vault_redis_password'])
            for host in ssh_hosts.hosts:
                env = env_values(os.path.join(host['root'], 'srv', 'app', '.env'))
                assert env['DB_PASSWORD'] == vault['vault_db_password'], host['name']
                assert env['DINGTALK_SECRET'] == robot_secret
            posted = len(receiver.messages)
            assert posted >= 1  # the run summary at least

            user.step(steps, 11)
            assert user.changed_tasks() == []
            assert len(receiver.messages) == posted, 'a deploy that changed nothing posted to DingTalk'

            user.step(steps, 12)
            user.step(steps, 13)
            assert user.changed_tasks() == []
            assert len(receiver.messages) == posted, 'a rotation with nothing due posted to DingTalk'

            user.step(steps, 14)
            with open(str(project / 'inventory' / 'staging' / '.state' / 'audit-report.json')) as handle:
                report = json.load(handle)
            assert report['findings'] == [] and report['passed'] and not report['unaudited_hosts'], report

            clear_values = [v for v in vault.values() if isinstance(v, str)] + [token]
            for index, output in enumerate(user.outputs):
                assert_no_secret(output, clear_values, 'output of command %d' % index)
            for path in _files(project, tmp_path):
                with open(path, 'rb') as handle:
                    assert_no_secret(handle.read().decode('utf-8', 'replace'), clear_values, path)
        finally:
            postgres.sql('DROP ROLE IF EXISTS app')


def _files(project, tmp_path):
    """Every file the run left in the project (the vault is encrypted), but the installed collection and git's objects."""
    skip = {str(project / 'collections'), str(project / '.git')}
    for top, dirs, files in os.walk(str(project)):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]
        for name in files:
            yield os.path.join(top, name)
