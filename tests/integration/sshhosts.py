"""Several real SSH hosts on this machine: network namespaces running sshd.

Per PLATFORM.md: a bridge on 10.203.N.1/24, one namespace per host with a veth into
it, and an sshd inside each namespace.  The hosts share this machine's filesystem and
process table, so each gets its own directory (``root``) for the files it manages.
Only these addresses are ever targeted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from harness import wait_for_port

# One bridge and subnet per test process, so two test runs on one machine do not take
# each other's hosts (10.203.N.0/24, only ever these addresses).
_N = os.getpid() % 250 + 1
BRIDGE = 'tkbr%d' % _N
SUBNET = '10.203.%d' % _N


def _ip(*args, check=True):
    return subprocess.run(['ip'] + list(args), capture_output=True, check=check)


class SSHHosts(object):
    def __init__(self, workdir, count=2):
        self.workdir = workdir
        self.count = count
        self.hosts = []  # dicts: name, address, ns, veth, root, pidfile, sshd_config
        self.key = os.path.join(workdir, 'id_ed25519')
        # ssh's ControlPath must fit a unix socket path (~104 bytes): keep it short.
        self.control_dir = tempfile.mkdtemp(prefix='tkcm', dir='/tmp')

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        os.makedirs('/run/sshd', exist_ok=True)
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', self.key], check=True)
        if _ip('link', 'show', BRIDGE, check=False).returncode != 0:
            _ip('link', 'add', BRIDGE, 'type', 'bridge')
            _ip('addr', 'add', SUBNET + '.1/24', 'dev', BRIDGE)
            _ip('link', 'set', BRIDGE, 'up')
        for i in range(1, self.count + 1):
            self.hosts.append(self._start_host(i))
        for host in self.hosts:
            wait_for_port(22, host=host['address'])
        return self

    def _start_host(self, i):
        name = 'th%d' % i
        ns, veth, peer = 'tk%d%s' % (_N, name), 'tkv%dh%d' % (_N, i), 'tkp%dh%d' % (_N, i)
        address = '%s.%d' % (SUBNET, 10 + i)
        self._remove_host(ns, veth)
        _ip('netns', 'add', ns)
        _ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', peer)
        _ip('link', 'set', peer, 'netns', ns)
        _ip('link', 'set', veth, 'master', BRIDGE)
        _ip('link', 'set', veth, 'up')
        _ip('-n', ns, 'addr', 'add', address + '/24', 'dev', peer)
        _ip('-n', ns, 'link', 'set', peer, 'up')
        _ip('-n', ns, 'link', 'set', 'lo', 'up')
        _ip('-n', ns, 'route', 'add', 'default', 'via', SUBNET + '.1')
        hostdir = os.path.join(self.workdir, name)
        root = os.path.join(hostdir, 'root')
        os.makedirs(root, exist_ok=True)
        hostkey = os.path.join(hostdir, 'ssh_host_ed25519_key')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostkey], check=True)
        authorized = os.path.join(hostdir, 'authorized_keys')
        shutil.copy(self.key + '.pub', authorized)
        pidfile = os.path.join(hostdir, 'sshd.pid')
        config = os.path.join(hostdir, 'sshd_config')
        with open(config, 'w') as handle:
            handle.write(textwrap.dedent('''\
                ListenAddress {address}
                HostKey {hostkey}
                PidFile {pidfile}
                AuthorizedKeysFile {authorized}
                PermitRootLogin prohibit-password
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                MaxStartups 50
                ''').format(address=address, hostkey=hostkey, pidfile=pidfile, authorized=authorized))
        subprocess.run(['ip', 'netns', 'exec', ns, '/usr/sbin/sshd', '-f', config], check=True)
        return {'name': name, 'address': address, 'ns': ns, 'veth': veth, 'root': root,
                'pidfile': pidfile, 'config': config}

    def inventory(self, path, group='app', host_vars=None, ssh_options=None):
        """Write an INI inventory for these hosts; returns its path.  ``ssh_options``
        replaces the test's short keepalive and connect timeouts."""
        ssh_options = ssh_options or '-o ConnectTimeout=3 -o ServerAliveInterval=1 -o ServerAliveCountMax=3'
        lines = ['[%s]' % group]
        for host in self.hosts:
            extra = ' '.join('%s=%s' % kv for kv in (host_vars or {}).get(host['name'], {}).items())
            lines.append('%s ansible_host=%s turnkey_host_root=%s %s' % (host['name'], host['address'], host['root'], extra))
        lines += ['', '[%s:vars]' % group, 'ansible_user=root',
                  'ansible_ssh_private_key_file=%s' % self.key,
                  "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null %s "
                  "-o ControlPath=%s/%%C'" % (ssh_options, self.control_dir),
                  'ansible_python_interpreter=%s' % sys.executable]
        with open(path, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        return path

    def vanish(self, name, gone=True):
        """The host's network goes away (or comes back) with its sshd still running: no
        reset reaches the controller, open SSH connections hang as with a crashed host."""
        host = next(h for h in self.hosts if h['name'] == name)
        _ip('link', 'set', host['veth'], 'down' if gone else 'up')
        if not gone:
            wait_for_port(22, host=host['address'])

    def set_reachable(self, name, reachable):
        """Cut a host off the network and stop its sshd (or bring both back)."""
        host = next(h for h in self.hosts if h['name'] == name)
        _ip('link', 'set', host['veth'], 'up' if reachable else 'down')
        if reachable:
            subprocess.run(['ip', 'netns', 'exec', host['ns'], '/usr/sbin/sshd', '-f', host['config']], check=True)
            wait_for_port(22, host=host['address'])
        else:
            # Existing SSH sessions (ansible keeps a master connection) die with their sshd.
            for pid in subprocess.run(['ip', 'netns', 'pids', host['ns']], capture_output=True, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass

    def _remove_host(self, ns, veth):
        pids = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip('link', 'del', veth, check=False)
        _ip('netns', 'del', ns, check=False)

    def stop(self):
        for host in self.hosts:
            self._remove_host(host['ns'], host['veth'])
        self.hosts = []
        time.sleep(0.05)
        _ip('link', 'del', BRIDGE, check=False)
        shutil.rmtree(self.control_dir, ignore_errors=True)
