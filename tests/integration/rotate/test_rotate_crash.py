"""Kill ansible-playbook at many points of a rotation; the next run must converge and lose nothing.

test_rotate_kill.py kills at every journal transition; this test kills between them, after
a task banner.  The default suite takes four banners spread over the run;
TURNKEY_FULL_MATRIX=1 takes all twelve.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import ROOT, ansible_env, assert_no_secret, run_playbook
from invariants import assert_converged

# Task banners after which the run is killed: spread over create, set, test, finish,
# consumers and unlock (the full run shows about 30 banners).
KILL_AFTER = [2, 5, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26]
if os.environ.get('TURNKEY_FULL_MATRIX') != '1':
    KILL_AFTER = [5, 12, 18, 24]


def _run_until_killed(env, banners, tmp_path):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', env.inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true'] + env.vault_args
    proc = subprocess.Popen(cmd, env=ansible_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen, output = 0, []
    for raw in proc.stdout:
        line = raw.decode('utf-8', 'replace')
        output.append(line)
        if line.startswith('TASK ['):
            seen += 1
            if seen == banners:
                # A crash: SIGKILL the whole process group, no clean-up runs.
                time.sleep(0.05 * (banners % 4))
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    return seen == banners, ''.join(output)


@pytest.mark.parametrize('banners', KILL_AFTER)
def test_killed_rotation_converges_on_the_next_run(demo_env, tmp_path, banners):
    before = demo_env.vault()
    killed, partial = _run_until_killed(demo_env, banners, tmp_path)
    assert killed, 'the run ended before task banner %d' % banners
    # The next plain run (the demo is due by age) finishes or redoes what was cut off.
    run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=demo_env.inventory,
                 args=demo_env.vault_args, leak_check=list(before.values()))
    after = assert_converged(demo_env)
    for value in [v for v in after.values() if isinstance(v, str)]:
        assert_no_secret(partial, [value], 'output of the killed run')
    # Nothing lost: every old key is either current or kept as a fallback.
    assert before['vault_secret_key'] in [after['vault_secret_key']] + after.get('vault_secret_key_fallbacks', [])
    assert before['vault_field_encryption_key'] in (
        [after['vault_field_encryption_key']] + after.get('vault_field_encryption_key_previous', []))
