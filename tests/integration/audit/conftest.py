"""Fixtures for the audit tests: a seeded git repository and real SSH hosts on loopback.

Every secret in the seeded tree is generated here at run time; nothing secret-looking is
committed to this repository.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

from harness import free_port, new_secret, wait_for_port


def _git(tree, *args):
    subprocess.run(['git', '-C', str(tree), '-c', 'user.email=audit@invalid', '-c', 'user.name=audit'] + list(args),
                   check=True, capture_output=True)


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)


class SeededTree(object):
    """A project repository with the mistakes the audit must find, one of each kind."""

    def __init__(self, root):
        self.root = str(root)
        self.inventory = os.path.join(self.root, 'inventory', 'test')
        self.vault_pass = new_secret()
        self.values = {
            'env_db_password': new_secret(),
            'dingtalk_secret': 'SEC' + secrets.token_hex(32),
            'old_token': secrets.token_hex(32),
            'inventory_password': new_secret(),
            'plain_vault_value': new_secret(),
        }
        self.vault_pass_file = os.path.join(self.inventory, '.vault_pass_test')

    def build(self):
        r, v = self.root, self.values
        os.makedirs(r, exist_ok=True)
        _git(r, 'init', '-q', '-b', 'main')
        # .gitignore covers only the state directory: .env, .htpasswd, *.gpg, vault passwords are not ignored.
        _write(os.path.join(r, '.gitignore'), '.state/\n')
        _write(os.path.join(r, 'old_alerts.py'),
               'WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=%s"\n' % v['old_token'])
        _write(os.path.join(r, '.env'), 'DB_PASSWORD=%s\nSTREAMLIT_PORT=8501\n' % v['env_db_password'], 0o600)
        _git(r, 'add', '-A')
        _git(r, 'commit', '-qm', 'first')
        _git(r, 'rm', '-q', 'old_alerts.py')
        _git(r, 'commit', '-qm', 'remove the hardcoded webhook (still in history)')
        _write(os.path.join(r, 'app', 'settings.py'),
               'import os\n\nDEBUG = False\nDINGTALK_SECRET = "%s"\nDB_PASSWORD = os.environ["DB_PASSWORD"]\n'
               % v['dingtalk_secret'])
        inv = self.inventory
        _write(os.path.join(inv, 'hosts.yml'),
               'all:\n  hosts:\n    localhost:\n      ansible_connection: local\n'
               '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n')
        _write(os.path.join(inv, 'group_vars', 'all', 'main.yml'),
               '---\nturnkey_environment: test\ndb_user: app\ndb_password: "%s"\n'
               'redis_password: "{{ vault_redis_password }}"\n' % v['inventory_password'])
        _write(os.path.join(inv, 'group_vars', 'all', 'rotation.yml'),
               '---\nturnkey_rotation:\n  db_password: {rotated_at: "2000-01-01T00:00:00Z", max_age_days: 180}\n'
               '  secret_key: {max_age_days: 180}\n')
        _write(os.path.join(inv, 'host_vars', 'localhost', 'vault.yml'),
               '---\nvault_plain_value: "%s"\n' % v['plain_vault_value'])
        _write(self.vault_pass_file, self.vault_pass + '\n', 0o644)
        # A real vault file, encrypted with the right password but another environment's label.
        vault_yml = os.path.join(inv, 'group_vars', 'all', 'vault.yml')
        _write(vault_yml, '---\nvault_redis_password: "%s"\n' % new_secret(), 0o600)
        subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-vault'), 'encrypt',
                        '--vault-id', 'staging@' + self.vault_pass_file, '--encrypt-vault-id', 'staging', vault_yml],
                       check=True, capture_output=True)
        _git(r, 'add', 'app', 'inventory/test/hosts.yml', 'inventory/test/group_vars')
        _git(r, 'commit', '-qm', 'app and inventory')
        return self

    def secret_values(self):
        return list(self.values.values()) + [self.vault_pass]


@pytest.fixture
def seeded_tree(tmp_path):
    return SeededTree(tmp_path / 'project').build()


class LoopbackSSHHosts(object):
    """sshd instances on 127.0.0.1 at free ports: real SSH hosts without touching the network setup."""

    def __init__(self, workdir, count=2):
        self.workdir = str(workdir)
        self.count = count
        self.key = os.path.join(self.workdir, 'id_ed25519')
        # ssh limits a ControlPath to 107 bytes: pytest's tmp paths are too long.
        self.control_dir = tempfile.mkdtemp(prefix='tkcm.')
        self.hosts = []

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        os.makedirs('/run/sshd', exist_ok=True)
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', self.key], check=True)
        for i in range(1, self.count + 1):
            hostdir = os.path.join(self.workdir, 'h%d' % i)
            os.makedirs(os.path.join(hostdir, 'root'))
            hostkey = os.path.join(hostdir, 'ssh_host_ed25519_key')
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostkey], check=True)
            shutil.copy(self.key + '.pub', os.path.join(hostdir, 'authorized_keys'))
            port = free_port()
            config = os.path.join(hostdir, 'sshd_config')
            with open(config, 'w') as handle:
                handle.write(textwrap.dedent('''\
                    ListenAddress 127.0.0.1:{port}
                    HostKey {d}/ssh_host_ed25519_key
                    PidFile {d}/sshd.pid
                    AuthorizedKeysFile {d}/authorized_keys
                    PermitRootLogin prohibit-password
                    PasswordAuthentication no
                    KbdInteractiveAuthentication no
                    UsePAM no
                    StrictModes no
                    ''').format(port=port, d=hostdir))
            subprocess.run(['/usr/sbin/sshd', '-f', config], check=True)
            self.hosts.append({'name': 'h%d' % i, 'port': port, 'root': os.path.join(hostdir, 'root'),
                               'pidfile': os.path.join(hostdir, 'sshd.pid')})
        for host in self.hosts:
            wait_for_port(host['port'])
        return self

    def host_vars(self, host):
        return {'ansible_host': '127.0.0.1', 'ansible_port': host['port'], 'ansible_user': 'root',
                'ansible_connection': 'ssh', 'ansible_ssh_private_key_file': self.key,
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
                                           '-o ConnectTimeout=3 -o ControlPath=%s/%%C' % self.control_dir,
                'ansible_python_interpreter': sys.executable}

    def stop(self):
        for host in self.hosts:
            try:
                with open(host['pidfile']) as handle:
                    os.kill(int(handle.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.control_dir, ignore_errors=True)


@pytest.fixture
def ssh_hosts(tmp_path):
    if not os.path.exists('/usr/sbin/sshd'):
        pytest.fail('openssh-server is not installed: run scripts/setup.sh test')
    hosts = LoopbackSSHHosts(tmp_path / 'ssh').start()
    yield hosts
    hosts.stop()
