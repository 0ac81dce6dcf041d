"""scripts/env.sh: sourced without a .venv it says what to run and returns 1, leaving the shell usable."""

import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _checkout(tmp_path, venv):
    os.makedirs(str(tmp_path / 'scripts'))
    shutil.copy(os.path.join(ROOT, 'scripts', 'env.sh'), str(tmp_path / 'scripts'))
    if venv:
        bin_dir = tmp_path / '.venv' / 'bin'
        os.makedirs(str(bin_dir))
        (bin_dir / 'ansible-playbook').write_text('#!/bin/sh\n')
        os.chmod(str(bin_dir / 'ansible-playbook'), 0o755)
    return str(tmp_path / 'scripts' / 'env.sh')


def _bash(script):
    env = {k: v for k, v in os.environ.items() if k not in ('ANSIBLE_CONFIG', 'ANSIBLE_COLLECTIONS_PATH')}
    return subprocess.run(['bash', '-c', script], capture_output=True, text=True, env=env, check=False)


def test_without_venv_it_names_setup_and_returns_to_the_shell(tmp_path):
    env_sh = _checkout(tmp_path, venv=False)
    proc = _bash('. %s; echo "rc=$?"; echo "config=${ANSIBLE_CONFIG:-unset}"' % env_sh)
    assert proc.stdout.splitlines() == ['rc=1', 'config=unset']
    assert 'scripts/setup.sh' in proc.stderr and '.venv' in proc.stderr


def test_run_instead_of_sourced_exits_1(tmp_path):
    proc = _bash('bash %s' % _checkout(tmp_path, venv=False))
    assert proc.returncode == 1 and 'scripts/setup.sh' in proc.stderr


def test_with_venv_it_sets_the_environment(tmp_path):
    env_sh = _checkout(tmp_path, venv=True)
    proc = _bash('. %s && echo "$ANSIBLE_CONFIG" && command -v ansible-playbook' % env_sh)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(tmp_path / 'ansible.cfg'), str(tmp_path / '.venv' / 'bin' / 'ansible-playbook')]
