"""Fixtures for the app_keys tests: Fernet/Django keys made at run time, and the app probe."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def app(tmp_path):
    """``app(env_file, request)``: run the app probe with the keys of ``env_file``."""
    def call(env_file, **request):
        proc = subprocess.run(
            ['bash', '-c', 'set -a; . "$1"; exec "$2" "$3"', 'bash', str(env_file), sys.executable,
             os.path.join(HERE, 'app_probe.py')],
            input=json.dumps(request), capture_output=True, text=True, check=False,
            env={'PATH': os.environ['PATH']})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)
    return call
