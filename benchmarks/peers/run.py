"""Our list forms against the peers' loops, as a user would compare them (issue 16).

One playbook per side creates, re-runs (same values) and rotates (new values) N podman
secrets and N htpasswd users at bcrypt cost 12:

* ours: ``turnkey.secrets.podman_secret`` with ``secrets:`` and ``turnkey.secrets.htpasswd``
  with ``users:``, one task each per phase;
* peers: ``containers.podman.podman_secret`` and ``community.general.htpasswd`` in loops,
  from the ``ansible`` package on PyPI, in their own virtualenv with passlib and bcrypt
  4.0.1 (``scripts/peers.sh`` builds it).  On podman < 4.7 podman_secret cannot compare
  data, so rotating needs ``force: true``: the peers' loop sets it in every phase.

Both sides: local connection, pipelining, this machine, wall time of ``ansible-playbook``
(start-up included), rounds alternating which side goes first.  Prints every round, the
median of the per-round ratios ours/peers, and where our time goes.  Exits 1 when a side
reports a wrong ``changed``, never because of the ratio.

    python benchmarks/peers/run.py [--count 20] [--rounds 3] [--bcrypt-cost 12] [--no-profile]
"""

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration')]

from harness import remove_podman_secrets  # noqa: E402

PHASES = (('create', 'a'), ('rerun', 'a'), ('rotate', 'b'))


def playbook(side, cost, podman_exe=None):
    tasks = []
    for phase, values in PHASES:
        if side == 'ours':
            secret_args = {'secrets': '{{ secrets_%s }}' % values}
            if podman_exe:
                secret_args['executable'] = podman_exe
            tasks += [
                {'name': 'podman %s' % phase, 'turnkey.secrets.podman_secret': secret_args, 'no_log': True},
                {'name': 'htpasswd %s' % phase, 'turnkey.secrets.htpasswd': {
                    'path': '{{ htpasswd_path }}', 'users': '{{ users_%s }}' % values, 'hash_scheme': 'bcrypt',
                    'bcrypt_rounds': cost}, 'no_log': True},
            ]
        else:
            tasks += [
                {'name': 'podman %s' % phase, 'containers.podman.podman_secret': {
                    'name': '{{ item.name }}', 'data': '{{ item.data }}', 'force': True},
                 'loop': '{{ secrets_%s }}' % values, 'no_log': True},
                # passlib's bcrypt default cost is 12; the benchmark refuses another cost for the peers.
                {'name': 'htpasswd %s' % phase, 'community.general.htpasswd': {
                    'path': '{{ htpasswd_path }}', 'name': '{{ item.name }}', 'password': '{{ item.password }}',
                    'hash_scheme': 'bcrypt'},
                 'loop': '{{ users_%s }}' % values, 'no_log': True},
            ]
    return [{'name': 'benchmark %s' % side, 'hosts': 'all', 'gather_facts': False, 'tasks': tasks}]


def expected_changed(side, task):
    phase = task.split()[1]
    if phase == 'rerun':
        # The peers' podman_secret replaces every secret again: it cannot compare on podman < 4.7.
        return side == 'peers' and task.startswith('podman')
    return True


class Side(object):
    def __init__(self, name, venv, collections, work, count, cost):
        self.name, self.venv, self.collections, self.count, self.cost = name, venv, collections, count, cost
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.cfg = os.path.join(self.dir, 'ansible.cfg')
        with open(self.cfg, 'w') as handle:
            handle.write('[defaults]\ncollections_path = %s\nhost_key_checking = False\nretry_files_enabled = False\n'
                         'pipelining = True\n[connection]\npipelining = True\n' % collections)
        self.inventory = os.path.join(self.dir, 'hosts.ini')
        with open(self.inventory, 'w') as handle:
            handle.write('localhost ansible_connection=local ansible_python_interpreter=%s\n'
                         % os.path.join(venv, 'bin', 'python'))

    def env(self):
        env = dict(os.environ)
        env.update(ANSIBLE_CONFIG=self.cfg, ANSIBLE_COLLECTIONS_PATH=self.collections, ANSIBLE_NOCOLOR='1',
                   ANSIBLE_LOCAL_TEMP=os.path.join(self.dir, 'tmp'), PYTHONDONTWRITEBYTECODE='1',
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, 'tests', 'integration', 'callback_plugins'),
                   ANSIBLE_CALLBACKS_ENABLED='results_file')
        env.setdefault('CONTAINERS_CONF', os.path.join(ROOT, '.state', 'containers.conf'))
        env['PATH'] = os.path.join(self.venv, 'bin') + os.pathsep + env.get('PATH', '')
        return env

    def run(self, play, round_no, prefix):
        """Seconds of one ansible-playbook run and its task records; checks every task's changed."""
        rdir = os.path.join(self.dir, 'r%d' % round_no)
        os.makedirs(rdir)
        values = {}
        for tag in ('a', 'b'):
            values['secrets_' + tag] = [{'name': '%s%s_%02d' % (prefix, self.name, i), 'data': secrets.token_urlsafe(24)}
                                        for i in range(self.count)]
            values['users_' + tag] = [{'name': 'user%02d' % i, 'password': secrets.token_urlsafe(18)}
                                      for i in range(self.count)]
        values['htpasswd_path'] = os.path.join(rdir, 'htpasswd')
        vars_path = os.path.join(rdir, 'vars.yml')
        fd = os.open(vars_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as handle:
            yaml.safe_dump(values, handle)
        play_path = os.path.join(rdir, 'play.yml')
        with open(play_path, 'w') as handle:
            yaml.safe_dump(play, handle, sort_keys=False)
        env = self.env()
        env['TURNKEY_TEST_RESULTS'] = results = os.path.join(rdir, 'results.jsonl')
        start, cpu = time.monotonic(), _children_cpu()
        proc = subprocess.run([os.path.join(self.venv, 'bin', 'ansible-playbook'), '-i', self.inventory, play_path,
                               '-e', '@' + vars_path], cwd=self.dir, env=env, capture_output=True, check=False)
        took = time.monotonic() - start
        self.cpu = _children_cpu() - cpu
        out = proc.stdout.decode('utf-8', 'replace')
        leaked = [v for v in _leaves(values) if v in out or v in proc.stderr.decode('utf-8', 'replace')]
        if proc.returncode != 0 or leaked:
            sys.stderr.write(out[-4000:] + proc.stderr.decode('utf-8', 'replace')[-2000:])
            raise SystemExit('%s: ansible-playbook failed (rc=%d) or printed a secret (%d)'
                             % (self.name, proc.returncode, len(leaked)))
        with open(results) as handle:
            report = [json.loads(line) for line in handle]
        if len(report) != len(play[0]['tasks']):
            raise SystemExit('%s: %d task results for %d tasks' % (self.name, len(report), len(play[0]['tasks'])))
        for task in report:
            if task['changed'] != expected_changed(self.name, task['task']):
                raise SystemExit('%s: task %r reported changed=%s' % (self.name, task['task'], task['changed']))
        return took, report


def _children_cpu():
    # CPU seconds of every finished descendant (ansible's workers, the modules, podman): unlike
    # wall time, it does not grow when other jobs share the machine.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _leaves(values):
    return [v for key, items in values.items() if key != 'htpasswd_path' for item in items for v in item.values()
            if len(v) > 8 and not v.startswith(('user', 'tkpeer'))]


# --------------------------------------------------------------------------- profile

def _timed(func, repeat):
    start = time.perf_counter()
    for _dummy in range(repeat):
        func()
    return (time.perf_counter() - start) / repeat


def unit_costs(ours_python, cost):
    """Single-core seconds of one bcrypt operation, one PBKDF2 label, one podman start-up."""
    # CPU time (process_time), not wall time: the figures hold on a busy machine too.
    code = ('import time, sys, bcrypt\n'
            'sys.path.insert(0, %r)\n'
            'from ansible_collections.turnkey.secrets.plugins.module_utils import _redact\n'
            's = bcrypt.gensalt(%d); t = time.process_time(); bcrypt.hashpw(b"x" * 24, s); b = time.process_time() - t\n'
            't = time.process_time(); [_redact.kdf_digest(b"x" * 24) for _ in range(5)]; k = (time.process_time() - t) / 5\n'
            'print(b, k, _redact.KDF_ITERATIONS)\n' % (os.path.join(ROOT, '.collections'), cost))
    out = subprocess.run([ours_python, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    before = _children_cpu()
    _timed(lambda: subprocess.run(['podman', 'secret', 'ls', '-q'], capture_output=True, check=True), 5)
    podman = (_children_cpu() - before) / 5
    return float(out[0]), float(out[1]), int(out[2]), podman


def profile(ours, work, prefix, count, cost):
    """One more run of our side with podman behind a timing wrapper; prints where the time goes."""
    log = os.path.join(work, 'podman-calls.log')
    wrapper = os.path.join(work, 'podman-timed')
    with open(wrapper, 'w') as handle:
        handle.write('#!/bin/sh\nstart=$(date +%%s%%N)\n%s "$@"\nrc=$?\necho "$(( $(date +%%s%%N) - start )) $1 $2" >> %s\n'
                     'exit $rc\n' % (shutil.which('podman'), log))
    os.chmod(wrapper, 0o755)
    total, report = ours.run(playbook('ours', cost, wrapper), 99, prefix)
    tasks = dict((task['task'], task['ended'] - task['started']) for task in report)
    calls = []
    with open(log) as handle:
        for line in handle:
            nanos, verb, sub = line.split()
            calls.append((int(nanos) / 1e9, '%s %s' % (verb, sub)))
    bcrypt_s, kdf_s, iterations, podman_s = unit_costs(os.path.join(ours.venv, 'bin', 'python'), cost)
    cores = os.cpu_count() or 1
    # Operations the work needs (the same on both sides): create = 1 hash, re-run = 1 verify,
    # rotate = 1 verify + 1 hash, per user; PBKDF2 labels alike, per podman secret.
    ops = 4 * count
    in_tasks = sum(tasks.values())
    print('  profile of ours (%d secrets + %d users, one run, %.2f s wall, %.2f s CPU, %d cores):'
          % (count, count, total, ours.cpu, cores))
    print('    ansible-playbook outside the tasks (start-up, parsing, exit): %6.2f s' % (total - in_tasks))
    for name, seconds in tasks.items():
        print('    task %-16s %6.2f s' % (name, seconds))
    print('    bcrypt cost %d: %d operations x %.3f s = %.2f s of CPU (%.2f s on %d cores)'
          % (cost, ops, bcrypt_s, ops * bcrypt_s, ops * bcrypt_s / cores, cores))
    print('    PBKDF2-SHA256 labels (%d iterations): %d x %.3f s = %.2f s of CPU (%.2f s on %d cores)'
          % (iterations, ops, kdf_s, ops * kdf_s, ops * kdf_s / cores, cores))
    by_verb = {}
    for seconds, verb in calls:
        by_verb.setdefault(verb, []).append(seconds)
    print('    podman CLI: %d calls, %.2f s wall summed (start-up alone %.3f s of CPU each): %s'
          % (len(calls), sum(s for s, _v in calls), podman_s,
             ', '.join('%s x%d' % (verb, len(v)) for verb, v in sorted(by_verb.items()))))
    floor = ops * (bcrypt_s + kdf_s) / cores
    print('    CPU floor of the work (bcrypt + PBKDF2 on every core): %.2f s; in-task time above it: %.2f s'
          % (floor, in_tasks - floor))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3, help='0: only the profile of ours')
    parser.add_argument('--bcrypt-cost', type=int, default=12,
                        help='ours only; the peers use passlib\'s default, 12 (other values only for smoke runs)')
    parser.add_argument('--no-profile', action='store_true')
    args = parser.parse_args()
    peers_dir = subprocess.run([os.path.join(ROOT, 'scripts', 'peers.sh')], capture_output=True, text=True,
                               check=True).stdout.strip().splitlines()[-1]
    prefix = 'tkpeer%s_' % secrets.token_hex(3)
    work = tempfile.mkdtemp(prefix='turnkey-bench-peers.')
    try:
        ours = Side('ours', os.path.join(ROOT, '.venv'), os.path.join(ROOT, '.collections'), work, args.count,
                    args.bcrypt_cost)
        peers = Side('peers', os.path.join(peers_dir, 'venv'), os.path.join(peers_dir, 'collections'), work,
                     args.count, 12)
        print('peers: %d podman secrets + %d htpasswd users (bcrypt cost %d ours, 12 peers), create + re-run + rotate'
              % (args.count, args.count, args.bcrypt_cost))
        ratios, cpu_ratios = [], []
        for round_no in range(args.rounds):
            order = (ours, peers) if round_no % 2 == 0 else (peers, ours)
            took, cpu = {}, {}
            for side in order:
                took[side.name] = side.run(playbook(side.name, side.cost), round_no, prefix)[0]
                cpu[side.name] = side.cpu
                remove_podman_secrets(prefix)
            ratios.append(took['ours'] / took['peers'])
            cpu_ratios.append(cpu['ours'] / cpu['peers'])
            print('  round %d (%s first): ours %6.2f s (%.2f s CPU), peers %6.2f s (%.2f s CPU), ratio %.3f (CPU %.3f)'
                  % (round_no + 1, order[0].name, took['ours'], cpu['ours'], took['peers'], cpu['peers'],
                     ratios[-1], cpu_ratios[-1]))
        if ratios:
            print('  median ratio ours/peers: %.3f (target <= 0.25); of CPU time: %.3f; load average now %.1f'
                  % (statistics.median(ratios), statistics.median(cpu_ratios), os.getloadavg()[0]))
        if not args.no_profile:
            profile(ours, work, prefix, args.count, args.bcrypt_cost)
    finally:
        remove_podman_secrets(prefix)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
