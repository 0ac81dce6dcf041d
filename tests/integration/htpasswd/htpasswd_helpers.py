"""Apache's own tools and file checks for the htpasswd tests."""

import os
import subprocess


def apache_verify(path, user, password):
    """``htpasswd -vb``: Apache's own check of a stored hash (throw-away test passwords in argv)."""
    proc = subprocess.run(['htpasswd', '-vb', str(path), user, password], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def apache_add(path, user, password, *flags):
    subprocess.run(['htpasswd', '-b', *flags, str(path), user, password], capture_output=True, check=True)


def hashes(path):
    """The stored hashes, to check that none of them leaks into ansible's output."""
    with open(path) as handle:
        return [line.split(':', 1)[1].split(':')[0].strip() for line in handle if ':' in line and not line.startswith('#')]


def file_identity(path):
    st = os.stat(path)
    with open(path, 'rb') as handle:
        return st.st_ino, st.st_mtime_ns, handle.read()
