"""Every tag docs/rotation-runbook.md names is a tag of rotate.yml and deploy.yml, and selects the kinds it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import docsteps
from harness import ROOT, ansible_env

from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS


def _runbook_tags():
    """{tag: {kinds}} from the runbook's table."""
    tags = {}
    for tag_cell, kinds_cell in docsteps.table_after('rotation-runbook.md', 'Tags select kinds'):
        kinds = {k for k in docsteps.code_names(kinds_cell) if k in KINDS}
        for tag in docsteps.code_names(tag_cell):
            tags[tag] = kinds
    return tags


def _listed_tags(playbook):
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--list-tags', '-i',
                          os.path.join(ROOT, 'skeletons', 'staging'), 'turnkey.secrets.' + playbook],
                         env=ansible_env(), cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {tag.strip() for found in re.findall(r'TASK TAGS: \[(.*?)\]', out) for tag in found.split(',') if tag.strip()}


def test_the_runbook_table_is_the_kinds_registry():
    documented = _runbook_tags()
    registry = {}
    for kind in KINDS.values():
        for tag in kind.tags:
            registry.setdefault(tag, set()).add(kind.name)
    assert documented == registry


def test_every_tag_the_docs_name_is_listed_by_rotate():
    documented = set(_runbook_tags())
    # `--tags a|b|c` and `--tags x` in any doc's commands.
    for name in os.listdir(os.path.join(ROOT, 'docs')):
        for found in re.findall(r'--tags ([\w|,]+)', docsteps.read(name)):
            documented.update(re.split(r'[|,]', found))
    assert documented - _listed_tags('rotate') == set()


def test_every_kind_tag_is_listed_by_deploy():
    assert set(_runbook_tags()) - _listed_tags('deploy') == set()
