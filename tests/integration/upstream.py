"""Other collections' own integration targets, to run against ours (drop-in parity tests).

The targets come from the sdist of the ``ansible`` package on PyPI (its wheel has no
tests): ``pip download --no-deps --no-binary :all: ansible==12.*``, once per machine,
kept in ``$TURNKEY_TEST_CACHE/upstream`` (default ``~/.cache/turnkey-secrets``), extracted at
test time into a temporary directory.  Nothing of it is committed.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import subprocess
import sys

ANSIBLE_SPEC = 'ansible==12.*'
CACHE = os.path.join(os.environ.get('TURNKEY_TEST_CACHE') or os.path.expanduser('~/.cache/turnkey-secrets'), 'upstream')


def ansible_sdist():
    """Path of the cached ansible sdist, downloaded on first use (about 4 minutes: pip builds its metadata)."""
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.download.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers and other checkouts share the cache
        found = sorted(glob.glob(os.path.join(CACHE, 'ansible-12.*.tar.gz')))
        if not found:
            staging = os.path.join(CACHE, '.download.%d' % os.getpid())
            subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--no-binary', ':all:',
                            '-d', staging, ANSIBLE_SPEC], check=True, capture_output=True)
            for path in glob.glob(os.path.join(staging, 'ansible-*.tar.gz')):
                os.rename(path, os.path.join(CACHE, os.path.basename(path)))
            os.rmdir(staging)
            found = sorted(glob.glob(os.path.join(CACHE, 'ansible-12.*.tar.gz')))
        return found[-1]


def extract(dest, *paths):
    """Extract ``ansible_collections/<paths>`` of the sdist under ``dest``; returns ``dest/ansible_collections``."""
    sdist = ansible_sdist()
    top = os.path.basename(sdist)[:-len('.tar.gz')]
    os.makedirs(dest, exist_ok=True)
    subprocess.run(['tar', '-xzf', sdist, '-C', dest, '--strip-components=1']
                   + ['%s/ansible_collections/%s' % (top, p) for p in paths], check=True)
    return os.path.join(dest, 'ansible_collections')


def retarget(text, collection, modules):
    """The target's tasks with ``collection.<module>`` replaced by ``turnkey.secrets.<module>``."""
    pattern = r'\b%s\.(%s):' % (re.escape(collection), '|'.join(re.escape(m) for m in modules))
    return re.sub(pattern, r'turnkey.secrets.\1:', text)
