"""nginx whose workers run as www-data, for the htpasswd tests (see htpasswd_helpers.py for the rest)."""

import os
import shutil
import tempfile

import pytest

from harness import Nginx


@pytest.fixture
def www_nginx():
    """``www_nginx(name)`` -> (htpasswd path, Nginx) with workers as www-data, in a directory they can enter."""
    root = tempfile.mkdtemp(prefix='turnkey-htpasswd.')
    os.chmod(root, 0o711)
    started = []

    def start(name='htpasswd'):
        path = os.path.join(root, name)
        server = Nginx(os.path.join(root, 'nginx%d' % len(started)), path, user='www-data').start()
        started.append(server)
        return path, server

    yield start
    for server in started:
        server.stop()
    shutil.rmtree(root, ignore_errors=True)
