"""Helpers for the vault tests: a mixed tree of vault blobs, checks with the stock CLI, kills.

Blobs are made with ansible-core's own VaultLib and checked with the stock
``ansible-vault`` command, never with the code under test.  Every value and password is
generated at run time.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import sys
import time

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from harness import ROOT, ansible_env, new_secret

ANSIBLE_VAULT = os.path.join(os.path.dirname(sys.executable), 'ansible-vault')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def password_file(path, password):
    write(path, password + '\n', 0o600)
    return path


def encrypt(plaintext, password, label):
    return VaultLib().encrypt(plaintext, VaultSecret(password.encode()), vault_id=label).decode()


def inline(key, envelope, indent):
    return '%s: !vault |\n' % key + ''.join(indent + line + '\n' for line in envelope.rstrip('\n').split('\n'))


class _VaultTextLoader(yaml.SafeLoader):
    pass


_VaultTextLoader.add_constructor('!vault', lambda loader, node: loader.construct_scalar(node))


class MixedTree(object):
    """An inventory with whole vault files, YAML with several inline values and comments
    (LF and CRLF), plain YAML, a binary file and a backup file."""

    WHOLE = ('group_vars/all/vault.yml', 'host_vars/web1.yml')
    INLINE = {  # file -> keys (dotted paths) of its inline values
        'group_vars/all/main.yml': ('api_token', 'nested.inner.redis_password', 'smtp_password'),
        'group_vars/app.yaml': ('keys.0', 'keys.2'),
        'host_vars/db1': ('db_password',),
        'group_vars/windows.yml': ('crlf_secret',),
    }

    def __init__(self, root, password, label='staging'):
        self.root = str(root)
        self.values = {}
        v = self.value
        write(self.path('group_vars/all/vault.yml'), encrypt(('vault_db_password: %s\n' % v('vault.yml')).encode(), password, label), 0o640)
        os.chown(self.path('group_vars/all/vault.yml'), pwd.getpwnam('nobody').pw_uid, -1)
        write(self.path('host_vars/web1.yml'), encrypt(v('web1.yml').encode(), password, label), 0o600)
        write(self.path('group_vars/all/main.yml'), (
            '---\n# Settings of every host.\nhttp_port: 8080   # not secret\n'
            + inline('api_token', encrypt(v('main.yml:api_token').encode(), password, label), ' ' * 10)
            + '\n# Redis lives here.\nnested:\n  inner:\n'
            + inline('    redis_password', encrypt(v('main.yml:nested.inner.redis_password').encode(), password, label), ' ' * 6)
            + '    redis_port: 6379\n'
            + inline('smtp_password', encrypt(v('main.yml:smtp_password').encode(), password, label), '  ')
            + '# trailing comment\n'))
        write(self.path('group_vars/app.yaml'), 'keys:\n  - !vault |\n'
              + ''.join('      ' + line + '\n' for line in encrypt(v('app.yaml:keys.0').encode(), password, label).rstrip().split('\n'))
              + '  - plain entry\n  - !vault |\n'
              + ''.join('      ' + line + '\n' for line in encrypt(v('app.yaml:keys.2').encode(), password, label).rstrip().split('\n')))
        write(self.path('host_vars/db1'), 'ansible_host: 10.0.0.5\n'
              + inline('db_password', encrypt(v('db1:db_password').encode(), password, label), '  ').rstrip('\n'))
        crlf = encrypt(v('windows.yml:crlf_secret').encode(), password, label)
        write(self.path('group_vars/windows.yml'), ('a: 1\n' + inline('crlf_secret', crlf, '  ') + 'b: 2\n').replace('\n', '\r\n'))
        write(self.path('group_vars/plain.yml'), 'plain: true\nlist: [1, 2]\n')
        write(self.path('files/logo.bin'), os.urandom(2048) + b'!vault |\n$ANSIBLE_VAULT;' + os.urandom(64))
        write(self.path('group_vars/all/vault.yml.4242.2024-01-01@00:00:00~'), encrypt(b'old: backup\n', new_secret(), label))

    def value(self, name):
        self.values[name] = new_secret()
        return self.values[name]

    def path(self, rel):
        return os.path.join(self.root, rel)

    @property
    def secrets(self):
        return list(self.values.values())

    def snapshot(self):
        out = {}
        for root, _dirs, files in os.walk(self.root):
            for name in files:
                path = os.path.join(root, name)
                st = os.stat(path)
                with open(path, 'rb') as handle:
                    out[os.path.relpath(path, self.root)] = (handle.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        return out

    def blobs(self):
        """name -> envelope text of every blob, read with a plain YAML parser."""
        out = {}
        for rel in self.WHOLE:
            with open(self.path(rel)) as handle:
                out[os.path.basename(rel)] = handle.read()
        for rel, keys in self.INLINE.items():
            with open(self.path(rel), newline='') as handle:
                data = yaml.load(handle.read(), Loader=_VaultTextLoader)
            for key in keys:
                node = data
                for part in key.split('.'):
                    node = node[int(part)] if part.isdigit() else node[part]
                out['%s:%s' % (os.path.basename(rel), key)] = node
        return out

    def decrypt_with_cli(self, tmp_path, *vault_ids):
        """Every blob decrypted by one run of the stock ``ansible-vault decrypt``."""
        work = os.path.join(str(tmp_path), 'cli-%s' % new_secret(4))
        os.makedirs(work)
        names, paths = [], []
        for index, (name, envelope) in enumerate(sorted(self.blobs().items())):
            paths.append(os.path.join(work, 'blob%d' % index))
            names.append(name)
            write(paths[-1], envelope, 0o600)
        argv = [ANSIBLE_VAULT, 'decrypt']
        for vault_id in vault_ids:
            argv += ['--vault-id', vault_id]
        proc = subprocess.run(argv + paths, env=ansible_env(), capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        out = {}
        for name, path in zip(names, paths):
            with open(path) as handle:
                out[name] = handle.read()
        return {name: value.split(': ', 1)[1].rstrip('\n') if name == 'vault.yml' else value for name, value in out.items()}

    def labels(self):
        return {name: envelope.split('\n', 1)[0].split(';')[3:] for name, envelope in self.blobs().items()}


def outside_blobs(data):
    """Lines of a file that are not part of a vault blob: a rekey must leave them as they were."""
    return [line for line in data.decode('utf-8', 'replace').split('\n')
            if not line.strip().startswith('$ANSIBLE_VAULT;')
            and not (line.strip() and len(line.strip()) <= 80 and set(line.strip()) <= set('0123456789abcdef'))]


def run_until_paused(tmp_path, playbook, point, extra_vars_file=None, timeout=90):
    """Start ansible-playbook, wait until the vault test hook pauses it at ``point``, SIGKILL it.

    Returns the output so far.  Only this process group is killed.
    """
    marker = os.path.join(str(tmp_path), 'paused-%s' % new_secret(4))
    inventory = os.path.join(str(tmp_path), 'inventory-local.ini')
    with open(inventory, 'w') as handle:
        handle.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    argv = [ANSIBLE_PLAYBOOK, '-i', inventory, playbook, '-vvvv']
    if extra_vars_file:
        argv += ['-e', '@' + extra_vars_file]
    log = os.path.join(str(tmp_path), 'killed-run-%s.log' % new_secret(4))
    with open(log, 'wb') as out:
        proc = subprocess.Popen(argv, env=ansible_env({'_TURNKEY_VAULT_TEST_PAUSE': point, '_TURNKEY_VAULT_TEST_MARKER': marker}),
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not os.path.exists(marker):
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                with open(log) as handle:
                    raise AssertionError('the run never paused at %s:\n%s' % (point, handle.read()[-4000:]))
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with open(log, errors='replace') as handle:
        return handle.read()
