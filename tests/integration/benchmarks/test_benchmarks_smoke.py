"""Every benchmark once at its smallest size, so none of them rots.

Benchmarks are not tests: their goals (ratios, slopes) are switched off here, and only a
crash, a wrong ``changed`` or a leaked secret fails.
"""

import os
import subprocess
import sys

import pytest

from harness import ROOT, ansible_env

SMALLEST = {
    'app_keys': ['--keys', '2', '--rounds', '1'],
    'fernet_reencrypt': ['--rows', '200', '--batch-size', '50'],
    'htpasswd': ['--count', '2', '--rounds', '4', '--min-ratio', '0'],
    'openbao': ['--nodes', '1', '--secrets', '2', '--reads', '2,4', '--repeat', '1', '--max-ratio', '1000',
                '--max-requests', '1000'],
    'podman_secrets': ['--count', '2', '--min-ratio', '0'],
    'rotate': ['--count', '2', '--repeat', '1', '--min-ratio', '0'],
    'vault_rekey': ['--files', '2', '--inline', '2', '--repeat', '1', '--sample', '1', '--max-floor-ratio', '1000'],
    'peers': ['--count', '1', '--rounds', '1', '--bcrypt-cost', '4', '--no-profile'],
    'scale': ['--secrets', '2', '--hosts', '1', '--host-secrets', '2', '--no-env-only'],
}


def test_every_benchmark_has_a_smallest_size():
    found = {d for d in os.listdir(os.path.join(ROOT, 'benchmarks'))
             if os.path.exists(os.path.join(ROOT, 'benchmarks', d, 'run.py'))}
    assert found == set(SMALLEST)


@pytest.mark.parametrize('name', sorted(SMALLEST))
def test_benchmark_runs_at_its_smallest_size(name):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', name, 'run.py')] + SMALLEST[name],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr and proc.stdout.strip()
