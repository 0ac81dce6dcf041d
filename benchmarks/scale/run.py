"""How rotate.yml's cost grows with secrets and hosts (issue 16).

* secrets: a forced rotation of N generic secrets (10, 50, 200) deployed to one env file on
  localhost, then the same with every secret also in a podman secret;
* hosts: a forced rotation of 10 secrets deployed to an env file on each of H SSH hosts
  (1, 3, 6; network-namespace sshd hosts from tests/integration/sshhosts.py), against a
  one-task playbook (``ping``) on the same hosts, which is the connection cost;
* nothing due: rotate.yml at the largest N against a one-task playbook on localhost.

Every environment is made for the run (deploy.yml generates its values) and removed after.
Prints seconds, the slope per extra secret and per extra host, and the ratios the issue
sets goals for; never exits 1 because of a figure.

    python benchmarks/scale/run.py [--secrets 10,50,200] [--hosts 1,3,6] [--repeat 1]
"""

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from harness import ansible_env, remove_podman_secrets  # noqa: E402


class Env(object):
    """One environment: inventory, vault password, catalogue of ``count`` generic secrets."""

    def __init__(self, base, label, count, podman_prefix=None, ssh=None):
        self.dir = os.path.join(base, label)
        self.inventory = os.path.join(self.dir, 'inventory', 'scale')
        gv = os.path.join(self.inventory, 'group_vars', 'all')
        os.makedirs(gv)
        self.password_file = os.path.join(self.inventory, '.vault_pass')
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_urlsafe(24).encode())
        os.close(fd)
        local_root = os.path.join(self.dir, 'localhost')
        os.makedirs(local_root)
        local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                 'turnkey_host_root': local_root}
        groups = {g: {'hosts': {'localhost': None}} for g in ('web', 'db', 'redis')}
        if ssh is None:
            groups['app'] = {'hosts': {'localhost': None}}
        else:
            ssh.inventory(os.path.join(self.inventory, 'app_hosts'), group='app')
        with open(os.path.join(self.inventory, 'local.yml'), 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': local}, 'children': groups}}, handle)
        names = ['tok%03d' % i for i in range(count)]
        main = {
            'turnkey_environment': 'scale',
            'turnkey_vault_id': 'scale',
            'turnkey_vault_password_file': self.password_file,
            'turnkey_secrets': dict((n, {'kind': 'generic'}) for n in names),
            'turnkey_env_files': [{'path': '{{ turnkey_host_root }}/app.env', 'mode': '0600',
                                   'values': dict((n.upper(), 'vault_' + n) for n in names)}],
            'turnkey_podman_secrets': [{'name': podman_prefix + n, 'var': 'vault_' + n} for n in names]
            if podman_prefix else [],
        }
        with open(os.path.join(gv, 'main.yml'), 'w') as handle:
            yaml.safe_dump(main, handle)
        self.one_task = os.path.join(self.dir, 'one.yml')
        with open(self.one_task, 'w') as handle:
            yaml.safe_dump([{'name': 'One task', 'hosts': 'localhost', 'gather_facts': False,
                             'tasks': [{'name': 'Hello', 'ansible.builtin.debug': {'msg': 'hello'}}]}], handle)
        self.ping = os.path.join(self.dir, 'ping.yml')
        with open(self.ping, 'w') as handle:
            yaml.safe_dump([{'name': 'One task per app host', 'hosts': 'app', 'gather_facts': False,
                             'tasks': [{'name': 'Ping', 'ansible.builtin.ping': {}}]}], handle)

    def run(self, playbook, *extra):
        start = time.monotonic()
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', self.inventory,
                               playbook, '--vault-id', 'scale@' + self.password_file] + list(extra),
                              cwd=self.dir, env=ansible_env(), capture_output=True, check=False)
        took = time.monotonic() - start
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout.decode('utf-8', 'replace')[-4000:])
            raise SystemExit('%s on %s failed (rc=%d)' % (playbook, self.dir, proc.returncode))
        return took

    def best(self, repeat, playbook, *extra):
        return min(self.run(playbook, *extra) for _attempt in range(repeat))


def slope(points):
    """Least-squares seconds per unit over ``[(x, seconds)]``."""
    n = len(points)
    if n < 2:
        return float('nan')
    mx = sum(x for x, _y in points) / n
    my = sum(y for _x, y in points) / n
    den = sum((x - mx) ** 2 for x, _y in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float('nan')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--secrets', default='10,50,200', help='secret counts (comma-separated)')
    parser.add_argument('--hosts', default='1,3,6', help='SSH host counts (comma-separated; empty: none)')
    parser.add_argument('--host-secrets', type=int, default=10, help='secrets rotated in the hosts series')
    parser.add_argument('--repeat', type=int, default=1, help='runs per point (the fastest counts)')
    parser.add_argument('--no-env-only', action='store_true',
                        help='skip the env-file-only series (the other one deploys to the env file too)')
    args = parser.parse_args()
    counts = [int(c) for c in args.secrets.split(',') if c]
    host_counts = [int(c) for c in args.hosts.split(',') if c]
    base = tempfile.mkdtemp(prefix='turnkey-bench-scale.')
    prefix = 'tkscale%s_' % secrets.token_hex(3)
    rotate, force = 'turnkey.secrets.rotate', ['-e', 'rotate_force=true']
    results = {}
    try:
        for podman in (True,) if args.no_env_only else (False, True):
            series = 'env file + podman secrets' if podman else 'env file'
            for count in counts:
                env = Env(base, '%s-%d' % ('podman' if podman else 'env', count), count, prefix if podman else None)
                env.run('turnkey.secrets.deploy')
                results[(series, count)] = env.best(args.repeat, rotate, *force)
                if podman and count == max(counts):
                    results['idle'] = env.best(max(args.repeat, 3) if args.repeat > 1 else 1, rotate)
                    results['one'] = env.best(max(args.repeat, 3) if args.repeat > 1 else 1, env.one_task)
                remove_podman_secrets(prefix)
                shutil.rmtree(env.dir, ignore_errors=True)
        print('scale: forced rotation of N generic secrets on localhost (%d CPU cores)' % (os.cpu_count() or 1))
        one = results['one']
        for series in ('env file', 'env file + podman secrets'):
            if (series, counts[0]) not in results:
                continue
            points = [(c, results[(series, c)]) for c in counts]
            per = slope(points)
            print('  %-26s %s   slope %.1f ms/secret = %.2f %% of a one-task playbook (goal < 2 %%)'
                  % (series + ':', '  '.join('N=%d %.2f s' % p for p in points), per * 1000, 100 * per / one))
        print('  nothing due at N=%d: %.2f s; one-task playbook %.2f s; ratio %.2fx (goal <= 2)'
              % (max(counts), results['idle'], one, results['idle'] / one))
        if host_counts:
            from sshhosts import SSHHosts
            hosts_points, ping_points = [], []
            for count in host_counts:
                ssh = SSHHosts(os.path.join(base, 'ssh%d' % count), count).start()
                try:
                    env = Env(base, 'hosts-%d' % count, args.host_secrets, ssh=ssh)
                    env.run('turnkey.secrets.deploy')
                    hosts_points.append((count, env.best(args.repeat, rotate, *force)))
                    ping_points.append((count, env.best(args.repeat, env.ping)))
                finally:
                    ssh.stop()
            per_host, per_ping = slope(hosts_points), slope(ping_points)
            print('scale: forced rotation of %d secrets into an env file on H SSH hosts' % args.host_secrets)
            print('  rotate.yml: %s   slope %.2f s/host' % ('  '.join('H=%d %.2f s' % p for p in hosts_points), per_host))
            print('  one ping task: %s   slope %.2f s/host (the connection cost)'
                  % ('  '.join('H=%d %.2f s' % p for p in ping_points), per_ping))
            print('  per extra host: rotate.yml %.2f s = %.1fx the connection cost' % (per_host, per_host / per_ping)
                  if per_ping > 0 else '  per extra host: rotate.yml %.2f s' % per_host)
    finally:
        remove_podman_secrets(prefix)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
