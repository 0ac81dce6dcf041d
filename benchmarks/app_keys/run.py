"""Benchmark: turnkey.secrets.env_file (one task for every key) against the usual
ansible.builtin.lineinfile loop (one task item per key), same keys, same run.

    python tests/integration/app_keys/bench_env_file.py [--keys 20] [--rounds 3]

Prints the wall time of a first write and an unchanged re-run for both, and the ratio.
Meant for benchmarks/app_keys/run.py; kept here until it moves.
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from harness import new_secret, run_playbook  # noqa: E402


def timed(tmp, tasks, values):
    start = time.monotonic()
    run_playbook(tmp, tasks=tasks, secret_vars=values, verbosity=0, diff=False)
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--keys', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    values = {'v%d' % i: new_secret() for i in range(args.keys)}
    ours = [{'name': 'env_file', 'turnkey.secrets.env_file': {
        'path': '{{ env_path }}', 'mode': '0600', 'values': {'KEY_%d' % i: '{{ v%d }}' % i for i in range(args.keys)}}}]
    peer = [{'name': 'lineinfile', 'no_log': True, 'ansible.builtin.lineinfile': {
        'path': '{{ env_path }}', 'mode': '0600', 'create': True, 'regexp': '^{{ item.key }}=',
        'line': '{{ item.key }}={{ item.value }}'},
        'loop': '{{ %s | dict2items }}' % ('{' + ', '.join("'KEY_%d': v%d" % (i, i) for i in range(args.keys)) + '}')}]
    totals = {'env_file': 0.0, 'lineinfile': 0.0}
    for _round in range(args.rounds):
        for name, tasks in (('env_file', ours), ('lineinfile', peer)):
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, 'app.env')
                for task in tasks:
                    task.setdefault('vars', {})['env_path'] = path
                totals[name] += timed(tmp, tasks, values) + timed(tmp, tasks, values)
    for name, total in totals.items():
        print('%-10s %d keys, write + unchanged re-run: %.2f s (mean of %d)' % (name, args.keys, total / args.rounds, args.rounds))
    print('ratio lineinfile / env_file: %.2fx' % (totals['lineinfile'] / totals['env_file']))


if __name__ == '__main__':
    main()
