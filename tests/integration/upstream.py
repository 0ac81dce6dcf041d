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
            found = _fetch_from_index()
        if not found:
            staging = os.path.join(CACHE, '.download.%d' % os.getpid())
            subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--no-binary', ':all:',
                            '-d', staging, ANSIBLE_SPEC], check=True, capture_output=True)
            for path in glob.glob(os.path.join(staging, 'ansible-*.tar.gz')):
                os.rename(path, os.path.join(CACHE, os.path.basename(path)))
            os.rmdir(staging)
            found = sorted(glob.glob(os.path.join(CACHE, 'ansible-12.*.tar.gz')))
        return found[-1]


def _version(filename):
    return tuple(int(p) for p in re.findall(r'\d+', filename))


def _fetch_from_index():
    """The newest ansible 12 sdist straight from the index's JSON API (under a second, where
    ``pip download`` spends minutes preparing its metadata), its sha256 checked; [] when
    the index cannot be asked, so pip is tried."""
    import hashlib
    import json
    import urllib.request
    index = (os.environ.get('PIP_INDEX_URL') or 'https://pypi.org/simple').rstrip('/')
    try:
        request = urllib.request.Request(index + '/ansible/', headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
        with urllib.request.urlopen(request, timeout=30) as response:
            files = json.load(response)['files']
        wanted = [f for f in files if re.match(r'^ansible-12\.\d+\.\d+\.tar\.gz$', f['filename'])
                  and not f.get('yanked') and f.get('hashes', {}).get('sha256')]
        if not wanted:
            return []
        newest = max(wanted, key=lambda f: _version(f['filename']))
        with urllib.request.urlopen(newest['url'], timeout=300) as response:
            body = response.read()
    except (OSError, ValueError, KeyError):
        return []
    if hashlib.sha256(body).hexdigest() != newest['hashes']['sha256']:
        return []
    path = os.path.join(CACHE, newest['filename'])
    partial = '%s.%d.part' % (path, os.getpid())
    with open(partial, 'wb') as handle:
        handle.write(body)
    os.rename(partial, path)
    return [path]


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


if __name__ == '__main__':
    # scripts/peers.sh takes the same sdist from here: one download per machine.
    print(ansible_sdist())
