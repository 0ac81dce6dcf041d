"""The collection's execution-environment definition: ansible-builder create accepts it and
the build context holds the collection's Python and system requirements (no image build:
no registry here)."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from harness import ROOT

BIN = os.path.dirname(sys.executable)


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, 'ansible-builder')), reason='ansible-builder not installed')
def test_ansible_builder_create(tmp_path):
    # The definition names its files relative to the collection root, as ansible-builder's
    # introspection of an installed collection reads them.
    with open(os.path.join(ROOT, 'meta', 'execution-environment.yml')) as handle:
        definition = yaml.safe_load(handle)
    assert definition['version'] == 3
    for name in (definition['dependencies']['python'], definition['dependencies']['system']):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    shutil.copy(os.path.join(ROOT, 'meta', 'execution-environment.yml'), tmp_path / 'execution-environment.yml')
    proc = subprocess.run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', 'execution-environment.yml', '-c', 'ctx'],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = tmp_path / 'ctx' / '_build'
    assert 'cryptography' in (build / 'requirements.txt').read_text()
    bindep = (build / 'bindep.txt').read_text()
    for package in ('git', 'podman', 'apache2-utils'):
        assert package in bindep
    assert (tmp_path / 'ctx' / 'Containerfile').exists()
    # bindep parses it (the EE build runs the same check).
    parsed = subprocess.run([os.path.join(BIN, 'bindep'), '-f', str(build / 'bindep.txt'), '-l', 'newline'],
                            capture_output=True, text=True, check=False)
    assert parsed.returncode in (0, 1), parsed.stderr
