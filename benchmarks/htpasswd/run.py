"""Rotate N htpasswd users: one list-form task vs a loop of single-user tasks.

Both forms start from identical files (N bcrypt users), rotate every password, then run
again with the same passwords (nothing to change: one verification per user), in the
same play, timed inside it (ansible start-up is left out of both).  Prints the seconds
of each form and the ratio of the rotations; exits 1 if the list form is not at least
--min-ratio times faster.

    python benchmarks/htpasswd/run.py [--count 20] [--min-ratio 4] [--rounds 10]
"""

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from harness import new_secret, run_playbook  # noqa: E402

MODULE = 'turnkey.secrets.htpasswd'


def stamp(name):
    return {'name': name, 'ansible.builtin.set_fact': {name: "{{ now(utc=true, fmt='%s.%f') }}"}}


def tasks(count, rounds, files):
    def items(phase):
        return [{'name': 'user%02d' % i, 'password': '{{ %s_%d }}' % (phase, i)} for i in range(count)]

    def listed(title, path, phase):
        return {'name': title, MODULE: {'path': path, 'users': items(phase), 'bcrypt_rounds': rounds}, 'no_log': True}

    def loop(title, phase):
        return {'name': title, MODULE: {'path': files['loop'], 'name': '{{ item.name }}', 'password': '{{ item.password }}',
                                        'bcrypt_rounds': rounds},
                'loop': items(phase), 'no_log': True}

    return [listed('setup list', files['list'], 'old'), listed('setup loop', files['loop'], 'old'),
            stamp('t0'), listed('list rotate', files['list'], 'new'), stamp('t1'),
            listed('list again', files['list'], 'new'), stamp('t2'),
            loop('loop rotate', 'new'), stamp('t3'), loop('loop again', 'new'), stamp('t4')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=20)
    parser.add_argument('--min-ratio', type=float, default=4.0)
    parser.add_argument('--rounds', type=int, default=10, help='bcrypt cost, the same for both forms (module default 10)')
    args = parser.parse_args()
    values = {'%s_%d' % (phase, i): new_secret() for phase in ('old', 'new') for i in range(args.count)}
    with tempfile.TemporaryDirectory(prefix='turnkey-bench.') as tmp:
        files = {form: os.path.join(tmp, '%s.htpasswd' % form) for form in ('list', 'loop')}
        result = run_playbook(tmp, tasks=tasks(args.count, args.rounds, files), secret_vars=values,
                              verbosity=0, diff=False)
    for title, changed in (('list rotate', True), ('loop rotate', True), ('list again', False), ('loop again', False)):
        if result.task(title)['changed'] != changed:
            sys.exit('%s: changed is not %s' % (title, changed))
    t = [float(result.task(s)['result']['ansible_facts'][s]) for s in ('t0', 't1', 't2', 't3', 't4')]
    list_rotate, list_again, loop_rotate, loop_again = t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3]
    ratio = loop_rotate / list_rotate
    print('htpasswd: rotate %d users, bcrypt cost %d, %d CPU cores' % (args.count, args.rounds, os.cpu_count() or 1))
    print('  list form (1 task):            rotate %6.2f s   re-run %6.2f s' % (list_rotate, list_again))
    print('  loop of htpasswd (1 per user): rotate %6.2f s   re-run %6.2f s' % (loop_rotate, loop_again))
    print('  ratio loop/list: rotate %.1fx (target >= %.1fx), re-run %.1fx'
          % (ratio, args.min_ratio, loop_again / list_again))
    return 0 if ratio >= args.min_ratio else 1


if __name__ == '__main__':
    sys.exit(main())
