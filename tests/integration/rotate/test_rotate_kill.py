"""Kill a rotation right after each journal transition, four ways; the next plain run converges.

The engine's test hook (``_engine.checkpoint``) stops the run right after the named
journal write; the test then kills it:

* ``tree``: SIGKILL of ansible-playbook and every process below it, setsid() workers too;
* ``main``: SIGKILL of the main process only: the worker paused at the checkpoint lives on
  (an orphan) until the lock's watchdog kills it;
* ``int`` / ``term``: SIGINT / SIGTERM of the main process (Ctrl-C, a CI timeout).

The full matrix runs with TURNKEY_FULL_MATRIX=1 (whatever TURNKEY_KILL_MATRIX says); the default stage runs every transition
with ``tree`` and ``main`` and one with ``int``/``term``; TURNKEY_KILL_MATRIX=quick (the
compat stage under the oldest and newest ansible-core) every transition with ``tree`` and one
with ``main``; TURNKEY_KILL_MATRIX=smoke (the compat stage under the versions between them)
one kill before any service changed and one orphaned worker after the promote.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import yaml

from harness import ROOT, ansible_env, assert_no_secret, run_playbook
from invariants import assert_converged, assert_logged_once_per_step

TRANSITIONS = ['create', 'promote', 'deployed', 'dated', 'finish']
MODES = ['tree', 'main', 'int', 'term']
MATRIX = 'full' if os.environ.get('TURNKEY_FULL_MATRIX') == '1' else os.environ.get('TURNKEY_KILL_MATRIX') or 'default'
WANTED = {
    'full': lambda t, m: True,
    'default': lambda t, m: m in ('tree', 'main') or t == 'promote',
    'quick': lambda t, m: m == 'tree' or (t, m) == ('promote', 'main'),
    'smoke': lambda t, m: (t, m) in (('create', 'tree'), ('promote', 'main')),
}[MATRIX]
CASES = [(t, m) for t in TRANSITIONS for m in MODES if WANTED(t, m)]


def _descendants(root):
    table = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    table[int(entry)] = int(handle.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                pass
    found, parents = set(), {root}
    while parents:
        level = {pid for pid, ppid in table.items() if ppid in parents and pid not in found}
        found |= level
        parents = level
    return found


def _kill(proc, mode):
    if mode == 'tree':
        for pid in [proc.pid] + sorted(_descendants(proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    else:
        os.kill(proc.pid, {'main': signal.SIGKILL, 'int': signal.SIGINT, 'term': signal.SIGTERM}[mode])


@pytest.mark.parametrize('transition,mode', CASES)
def test_killed_after_a_transition_converges(demo_env, tmp_path, transition, mode):
    before = demo_env.vault()
    marker = str(tmp_path / 'paused')
    env = ansible_env({'_TURNKEY_ROTATION_TEST_PAUSE': transition, '_TURNKEY_ROTATION_TEST_MARKER': marker})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', demo_env.inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true'] + demo_env.vault_args
    out = open(str(tmp_path / 'killed.log'), 'wb')
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(marker), 'the run never reached %s:\n%s' % (transition, open(out.name).read()[-3000:])
    _kill(proc, mode)
    # SIGINT lets ansible finish its worker: under load that can take a while.
    proc.wait(120)
    out.close()
    # The next plain run (the demo is overdue) finishes what was cut off, whatever is left running.
    run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=demo_env.inventory,
                 args=demo_env.vault_args, leak_check=[v for v in before.values() if isinstance(v, str)])
    after = assert_converged(demo_env)
    killed = open(out.name, errors='replace').read()
    assert_no_secret(killed, [v for v in after.values() if isinstance(v, str)], 'output of the killed run')
    # Nothing lost: each old key is current or kept as a fallback.
    assert before['vault_secret_key'] in [after['vault_secret_key']] + after.get('vault_secret_key_fallbacks', [])
    assert before['vault_field_encryption_key'] in (
        [after['vault_field_encryption_key']] + after.get('vault_field_encryption_key_previous', []))
    # No process of the killed run is left.
    assert not _descendants(proc.pid)
    # The audit log: each step of each secret once over both runs, no value in any form.
    log = assert_logged_once_per_step(demo_env, runs=2)
    secrets = [v for d in (before, after) for v in d.values() if isinstance(v, str)]
    secrets += [v for d in (before, after) for kept in d.values() if isinstance(kept, list) for v in kept]
    assert_no_secret(log, secrets, 'audit log')
    if (transition, mode) == ('promote', 'tree'):
        _audit_reads_the_log(demo_env, tmp_path, secrets)


def _audit_reads_the_log(env, tmp_path, secrets):
    """audit.yml reports a rotation that failed afterwards and a secret rotation.yml calls
    fresh that no logged run rotated, and appends its own line."""
    path = os.path.join(env.inventory, '.state', 'audit.log')
    lines = open(path).read().splitlines()
    first = json.loads(lines[0])
    old = dict(first, time='2025-01-01T00:00:00Z')  # the log reaches back over a year
    failed = dict(json.loads(lines[-1]), step='test', secret='dashboard_password', host='localhost',
                  outcome='failed: test: Check the new password on nginx: HTTP 401')
    failed.pop('outstanding', None)
    failed.pop('in_flight', None)
    with open(path, 'w') as handle:
        handle.write('\n'.join([json.dumps(old)] + lines + [json.dumps(failed)]) + '\n')
    rotation = env.rotation()
    # Hand-edited rotation.yml: says rotated yesterday, the log knows better.
    rotation['legacy_token'] = {'rotated_at': rotation['secret_key']['rotated_at'], 'max_age_days': 30}
    with open(env.rotation_file, 'w') as handle:
        yaml.safe_dump({'turnkey_rotation': rotation}, handle)
    report_path = str(tmp_path / 'report.json')
    result = run_playbook(tmp_path, playbook='turnkey.secrets.audit', inventory=env.inventory, args=env.vault_args,
                          extra_vars={'audit_hosts': 'none', 'audit_git_history': False, 'audit_fail_on': 'never',
                                      'audit_report_path': report_path}, leak_check=secrets)
    with open(report_path) as handle:
        found = {(f['rule'], f['message'].split(':')[0]) for f in json.load(handle)['findings']}
    assert ('rotation-failed', 'dashboard_password') in found, found
    assert ('rotation-not-logged', 'legacy_token') in found, found
    assert not {f for f in found if f[0].startswith('rotation-') and f[1] in ('secret_key', 'field_encryption_key')}
    last = json.loads(open(path).read().splitlines()[-1])
    assert last['step'] == 'audit' and last['playbook'] == 'audit' and last['outcome'] == 'passed', last
    assert_no_secret(open(path).read() + result.output, secrets, 'audit log after audit.yml')
