"""Kill a rotation right after each journal transition, four ways; the next plain run converges.

The engine's test hook (``_engine.checkpoint``) stops the run right after the named
journal write; the test then kills it:

* ``tree``: SIGKILL of ansible-playbook and every process below it, setsid() workers too;
* ``main``: SIGKILL of the main process only: the worker paused at the checkpoint lives on
  (an orphan) until the lock's watchdog kills it;
* ``int`` / ``term``: SIGINT / SIGTERM of the main process (Ctrl-C, a CI timeout).

The full matrix runs with TURNKEY_FULL_MATRIX=1 (scripts/test.sh crash); the default
stage runs every transition with ``tree`` and ``main`` and one with ``int``/``term``.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import ROOT, ansible_env, assert_no_secret, run_playbook
from invariants import assert_converged

TRANSITIONS = ['create', 'promote', 'deployed', 'dated', 'finish']
MODES = ['tree', 'main', 'int', 'term']
FULL = os.environ.get('TURNKEY_FULL_MATRIX') == '1'
CASES = [(t, m) for t in TRANSITIONS for m in MODES
         if FULL or m in ('tree', 'main') or t == 'promote']


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
    proc.wait(60)
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
