"""rotate.yml against per-item loops, and a run with nothing due against a one-task playbook.

A copy of inventory/demo gets 20 htpasswd users and 20 podman secrets.  Both sides use
the same modules, bcrypt cost and vault; the loop side is what a playbook written from
per-item loops does (one vault edit, one htpasswd call, one podman call per secret).
Prints both ratios; exits 1 when rotate.yml is not --min-ratio times faster than the loops.

    python benchmarks/rotate/run.py [--count 20] [--repeat 3] [--min-ratio 1]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from harness import ansible_env, remove_podman_secrets  # noqa: E402


def run(args, cwd):
    start = time.monotonic()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')] + args,
                          cwd=cwd, env=ansible_env(), capture_output=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout.decode()[-3000:])
        raise SystemExit('ansible-playbook %s failed' % ' '.join(args[:2]))
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=20, help='htpasswd users, and as many podman secrets')
    parser.add_argument('--repeat', type=int, default=3, help='runs of the nothing-due and one-task playbooks')
    parser.add_argument('--min-ratio', type=float, default=1.0)
    args = parser.parse_args()
    N = args.count  # noqa: N806 - the size the text below talks about
    base = tempfile.mkdtemp(prefix='turnkey-bench-rotate.')
    prefix = 'tkbench%d_' % os.getpid()
    try:
        inv = os.path.join(base, 'inventory', 'demo')
        shutil.copytree(os.path.join(ROOT, 'inventory', 'demo'), inv)
        os.chmod(os.path.join(inv, '.vault_pass_demo'), 0o600)
        state = os.path.join(base, '.state', 'demo')
        os.makedirs(state)
        os.unlink(os.path.join(inv, 'group_vars', 'all', 'vault.yml'))
        os.unlink(os.path.join(inv, 'group_vars', 'all', 'rotation.yml'))
        secrets = {'user%02d' % i: {'kind': 'htpasswd', 'path': os.path.join(state, 'htpasswd'), 'user': 'user%02d' % i,
                                    'mode': '0600'} for i in range(N)}
        secrets.update({'token%02d' % i: {'kind': 'generic'} for i in range(N)})
        with open(os.path.join(inv, 'group_vars', 'all', 'zz-bench.yml'), 'w') as handle:
            yaml.safe_dump({'turnkey_secrets': secrets, 'turnkey_env_files': [],
                            'turnkey_podman_secrets': [{'name': prefix + 'token%02d' % i, 'var': 'vault_token%02d' % i}
                                                       for i in range(N)]}, handle)
        vault = ['--vault-id', 'demo@' + os.path.join(inv, '.vault_pass_demo')]
        run(['turnkey.secrets.deploy', '-i', inv] + vault, base)

        loop_play = [{'name': 'Rotate with per-item loops', 'hosts': 'all', 'gather_facts': False, 'tasks': [
            {'name': 'New value in the vault, one edit per secret', 'turnkey.secrets.vault_secret': {
                'path': os.path.join(inv, 'group_vars', 'all', 'vault.yml'),
                'vault_password_file': os.path.join(inv, '.vault_pass_demo'),
                'generate': "{{ {'vault_' ~ item: 'urlsafe:24'} }}", 'regenerate': ['vault_{{ item }}'], 'return_values': True},
             'loop': ['user%02d' % i for i in range(N)] + ['token%02d' % i for i in range(N)],
             'register': 'new', 'no_log': True, 'delegate_to': 'localhost', 'run_once': True},
            {'name': 'One htpasswd call per user', 'turnkey.secrets.htpasswd': {
                'path': os.path.join(state, 'htpasswd'), 'name': "{{ item.item }}",
                'password': "{{ item['values']['vault_' ~ item.item] }}", 'mode': '0600'},
             'loop': "{{ new.results[:%d] }}" % N, 'no_log': True},
            {'name': 'One podman call per secret', 'turnkey.secrets.podman_secret': {
                'name': prefix + "{{ item.item }}", 'data': "{{ item['values']['vault_' ~ item.item] }}"},
             'loop': "{{ new.results[%d:] }}" % N, 'no_log': True},
        ]}]
        loop_path = os.path.join(base, 'loops.yml')
        with open(loop_path, 'w') as handle:
            yaml.safe_dump(loop_play, handle, sort_keys=False)
        one_path = os.path.join(base, 'one.yml')
        with open(one_path, 'w') as handle:
            yaml.safe_dump([{'name': 'One task', 'hosts': 'all', 'gather_facts': False,
                             'tasks': [{'name': 'Hello', 'ansible.builtin.debug': {'msg': 'hello'}}]}], handle)

        rotate = run(['turnkey.secrets.rotate', '-i', inv, '-e', 'rotate_force=true'] + vault, base)
        loops = run([loop_path, '-i', inv] + vault, base)
        idle = min(run(['turnkey.secrets.rotate', '-i', inv] + vault, base) for _attempt in range(args.repeat))
        one = min(run([one_path, '-i', inv] + vault, base) for _attempt in range(args.repeat))
        print('rotate.yml, %d htpasswd users + %d podman secrets: %.2f s' % (N, N, rotate))
        print('per-item loops, same work:                      %.2f s' % loops)
        print('ratio loops / rotate.yml: %.2fx' % (loops / rotate))
        print('nothing due: rotate.yml %.2f s, one-task playbook %.2f s, ratio %.2fx (target <= ~2)' % (idle, one, idle / one))
        return 0 if loops >= args.min_ratio * rotate else 1
    finally:
        remove_podman_secrets(prefix)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
