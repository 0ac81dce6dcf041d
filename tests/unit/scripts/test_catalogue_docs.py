"""docs/catalogue.md and the rotation role's argument spec say what the kind files say."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_catalogue_docs_are_generated_from_the_kinds():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'catalogue_docs.py'), '--check'],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_kind_option_is_documented():
    sys.path.insert(0, os.path.join(ROOT, 'scripts'))
    import catalogue_docs
    from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS
    for kind in KINDS.values():
        assert all(spec['description'] for _key, spec in catalogue_docs.kind_options(kind))
