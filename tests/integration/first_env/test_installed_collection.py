"""The README's section for users of the installed collection, followed as written: build the
collection, install it into a project's ./collections, run its playbook by FQCN against the
shipped staging skeleton. Nothing of the checkout (scripts/, .venv's ansible.cfg, .collections)
is used once the tarball is built."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import docsteps
from harness import ROOT


def _section():
    text = docsteps.read('README.md')
    start = text.index('## Using the installed collection')
    end = text.index('\n## ', start + 1)
    return text[start:end]


def _user_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'TURNKEY_'))}
    # A fresh HOME: no collection installed under ~/.ansible/collections can stand in for this one.
    env.update(HOME=home, PATH=os.path.dirname(sys.executable) + os.pathsep + '/usr/bin:/bin', ANSIBLE_NOCOLOR='1')
    return env


def test_the_installed_section_needs_no_checkout_script():
    section = _section()
    assert not re.search(r'\./scripts/|scripts/(env|setup|demo|test)\.sh|make (demo|test)', section), section


def test_install_from_a_tarball_and_list_the_tags(tmp_path):
    steps = docsteps.steps('README.md', marker='installed')
    project = tmp_path / 'project'
    project.mkdir()
    env = _user_env(str(tmp_path / 'home'))

    def sh(script):
        proc = subprocess.run(['bash', '-euo', 'pipefail', '-c', script], cwd=str(project), env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, 'step failed:\n%s\n%s%s' % (script, proc.stdout[-3000:], proc.stderr[-3000:])
        return proc.stdout

    language, cfg = steps[1]
    assert language == 'ini'
    (project / 'ansible.cfg').write_text(cfg)
    # "a release tarball (or one you built ... in a checkout)"
    sh('ansible-galaxy collection build --output-path . %s >/dev/null' % ROOT)
    sh(steps[2][1])
    installed = project / 'collections' / 'ansible_collections' / 'turnkey' / 'secrets'
    assert (installed / 'MANIFEST.json').is_file() and not (installed / 'scripts').exists()
    # Step 3 installs requirements.txt with pip: the test only checks the path it names (the
    # shared virtualenv already has them).
    requirements, = re.findall(r'pip install -r (\S+)', steps[3][1])
    with open(str(project / requirements)) as shipped, open(os.path.join(ROOT, 'requirements.txt')) as ours:
        assert shipped.read() == ours.read()
    out = sh(steps[4][1])
    assert 'playbook: %s' % (installed / 'playbooks' / 'rotate.yml') in out, out
    for tag in ('htpasswd', 'postgres', 'redis', 'app_keys', 'dingtalk', 'vault'):
        assert re.search(r'TASK TAGS: \[[^]]*\b%s\b' % tag, out), tag
    assert (project / 'inventory' / 'staging' / 'group_vars' / 'all' / 'main.yml').is_file()
