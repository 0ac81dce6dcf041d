"""Create then rotate N podman secrets: one list-form task vs a loop of single-secret tasks.

Both forms run in the same play against the real podman, on secrets with their own random
names, and are timed inside the play (ansible start-up is left out of both).  Prints the
seconds of each form and the ratio; exits 1 if the list form is not at least --min-ratio
times faster.

    python benchmarks/podman_secrets/run.py [--count 20] [--min-ratio 4]
"""

import argparse
import os
import secrets
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from harness import new_secret, remove_podman_secrets, run_playbook  # noqa: E402

MODULE = 'turnkey.secrets.podman_secret'


def stamp(name):
    return {'name': name, 'ansible.builtin.set_fact': {name: "{{ now(utc=true, fmt='%s.%f') }}"}}


def tasks(count):
    def items(form, phase):
        return [{'name': '%s%s_%d' % ('{{ prefix }}', form, i), 'data': '{{ %s_%d }}' % (phase, i),
                 'labels': {'bench': 'turnkey'}} for i in range(count)]

    def loop(phase):
        return {'name': 'loop %s' % phase, MODULE: {'name': '{{ item.name }}', 'data': '{{ item.data }}',
                                                    'labels': '{{ item.labels }}'},
                'loop': items('loop', phase), 'no_log': True}

    def listed(phase):
        return {'name': 'list %s' % phase, MODULE: {'secrets': items('list', phase)}, 'no_log': True}

    return [stamp('t0'), listed('create'), listed('rotate'), stamp('t1'),
            loop('create'), loop('rotate'), stamp('t2')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=20)
    parser.add_argument('--min-ratio', type=float, default=4.0)
    args = parser.parse_args()
    prefix = 'tkbench%s_' % secrets.token_hex(3)
    values = {'%s_%d' % (phase, i): new_secret() for phase in ('create', 'rotate') for i in range(args.count)}
    try:
        with tempfile.TemporaryDirectory(prefix='turnkey-bench.') as tmp:
            result = run_playbook(tmp, tasks=tasks(args.count), secret_vars=values, extra_vars={'prefix': prefix},
                                  verbosity=0, diff=False)
    finally:
        remove_podman_secrets(prefix)
    for form in ('list', 'loop'):
        for phase in ('create', 'rotate'):
            outcome = result.task('%s %s' % (form, phase))
            if not outcome['changed']:
                sys.exit('%s %s reported no change' % (form, phase))
    t = [float(result.task(s)['result']['ansible_facts'][s]) for s in ('t0', 't1', 't2')]
    listed, looped = t[1] - t[0], t[2] - t[1]
    ratio = looped / listed
    print('podman_secrets: create + rotate %d secrets' % args.count)
    print('  list form (1 task per phase):      %6.2f s' % listed)
    print('  loop of podman_secret (1 per item): %6.2f s' % looped)
    print('  ratio loop/list: %.1fx (target >= %.1fx)' % (ratio, args.min_ratio))
    return 0 if ratio >= args.min_ratio else 1


if __name__ == '__main__':
    sys.exit(main())
