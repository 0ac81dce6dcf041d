"""community.general's own htpasswd integration target, run against turnkey.secrets.htpasswd.

The target comes from the peers' download (scripts/peers.sh: the `ansible` sdist on PyPI
holds every collection's tests); only the module name is changed.  It pip-installs and
removes passlib on the interpreter that runs the modules, so that interpreter is a
throw-away virtualenv.
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from harness import ROOT, ansible_env

TARGETS = os.path.join('collections', 'ansible_collections', 'community', 'general', 'tests', 'integration', 'targets')


@pytest.fixture(scope='module')
def peers():
    proc = subprocess.run([os.path.join(ROOT, 'scripts', 'peers.sh')], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail('scripts/peers.sh failed: %s' % proc.stderr[-2000:])
    return proc.stdout.strip().splitlines()[-1]


def test_community_general_htpasswd_target_passes_with_only_the_module_name_changed(tmp_path, peers):
    roles = tmp_path / 'roles'
    for target in ('htpasswd', 'setup_remote_tmp_dir'):
        shutil.copytree(os.path.join(peers, TARGETS, target), roles / target)
    renamed = 0
    for path in (roles / 'htpasswd').rglob('*.yml'):
        text = path.read_text()
        renamed += text.count('community.general.htpasswd:')
        path.write_text(text.replace('community.general.htpasswd:', 'turnkey.secrets.htpasswd:'))
    assert renamed >= 9, 'the upstream target changed shape: %d htpasswd tasks' % renamed
    assert 'community.general.' not in ''.join(p.read_text() for p in (roles / 'htpasswd').rglob('*.yml'))

    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    play = tmp_path / 'target.yml'
    play.write_text(yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': True, 'roles': ['htpasswd']}]))
    inventory = tmp_path / 'hosts.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % (venv / 'bin' / 'python'))
    env = ansible_env({'ANSIBLE_ROLES_PATH': str(roles)})
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
                           str(play)], cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert 'failed=0' in proc.stdout and 'did not set no_log' not in proc.stdout + proc.stderr
    # Every assertion of the target ran (an `assert` task that is skipped would prove nothing).
    assert proc.stdout.count('All assertions passed') == 2, proc.stdout[-3000:]
