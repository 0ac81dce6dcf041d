# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted backups: the previous content of a secret file, encrypted before it is replaced.

Two formats, each readable by the stock tool alone:

* ``age`` to public recipients (``age -d -i KEY FILE`` restores); recipients are public
  keys, so they may go in argv; the content goes on stdin.
* GnuPG symmetric, AES256 (``gpg -d FILE`` restores, asking the passphrase); the passphrase
  goes through a pipe whose descriptor is ``--passphrase-fd``, never argv, and gpg runs with
  a throw-away home directory whose agent is stopped afterwards (no passphrase cache).

Backups are named ``NAME.YYYYmmddTHHMMSS.NNNNNNZ.age|gpg`` (UTC; no value in a name), written
0600 into the backup directory, and all but the newest ``keep`` of a file are deleted.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic
from ansible_collections.turnkey.secrets.plugins.module_utils._command import find_executable
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import CommandError, InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import redact

AGE_RECIPIENT_RE = re.compile(r'^(age1[02-9ac-hj-np-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( \S+)?)$')
TIMEOUT = 60


def check(spec):
    """``(format, tool path)``; InputError before anything changes."""
    recipients = spec.get('age_recipients') or []
    passphrase = spec.get('gpg_passphrase')
    if bool(recipients) == bool(passphrase):
        raise InputError('backup_encrypt needs exactly one of age_recipients (a non-empty list) and gpg_passphrase')
    if recipients:
        bad = [str(i) for i, r in enumerate(recipients) if not AGE_RECIPIENT_RE.match(str(r).strip())]
        if bad:
            raise InputError('backup_encrypt.age_recipients[%s] is not an age public key (age1...) or an ssh-ed25519/'
                             'ssh-rsa public key' % ', '.join(bad))
        return 'age', find_executable('age', spec.get('executable'))
    if any(c in passphrase for c in '\n\r\x00'):
        raise InputError('backup_encrypt.gpg_passphrase holds a line break or NUL, which --passphrase-fd cannot pass')
    return 'gpg', find_executable('gpg', spec.get('executable'))


def encrypt(data, spec):
    """The ciphertext of ``data`` (bytes) and its format (``age`` or ``gpg``)."""
    fmt, tool = check(spec)
    if fmt == 'age':
        argv = [tool, '--encrypt']
        for recipient in spec['age_recipients']:
            argv += ['-r', str(recipient).strip()]
        return _checked(_run(argv, data, 'age'), 'age', [data]), fmt
    home = tempfile.mkdtemp(prefix='.turnkey-gpg.')
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, spec['gpg_passphrase'].encode('utf-8') + b'\n')
        os.close(write_fd)
        write_fd = None
        argv = [tool, '--homedir', home, '--batch', '--yes', '--quiet', '--no-tty', '--pinentry-mode', 'loopback',
                '--passphrase-fd', str(read_fd), '--no-symkey-cache', '--symmetric', '--cipher-algo', 'AES256',
                '--output', '-']
        return _checked(_run(argv, data, 'gpg', pass_fds=(read_fd,)), 'gpg', [data, spec['gpg_passphrase']]), fmt
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)
        gpgconf = shutil.which('gpgconf')
        if gpgconf:
            try:
                # pass_fds and a throw-away home: the collection's _command.run takes neither.
                subprocess.run([gpgconf, '--homedir', home, '--kill', 'gpg-agent'],  # pylint: disable=ansible-bad-function
                               capture_output=True, check=False, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pass  # the home directory goes below; a hung agent has nothing left to serve
        shutil.rmtree(home, ignore_errors=True)


def _run(argv, data, tool, pass_fds=()):
    try:
        # The passphrase's pipe (pass_fds): the collection's _command.run takes no file descriptors.
        return subprocess.run(argv, input=data, capture_output=True,  # pylint: disable=ansible-bad-function
                              timeout=TIMEOUT, check=False, pass_fds=pass_fds)
    except subprocess.TimeoutExpired:
        raise CommandError('%s did not finish encrypting the backup within %d s; nothing was changed' % (tool, TIMEOUT)) from None


def _checked(proc, tool, secrets):
    if proc.returncode != 0 or not proc.stdout:
        text = proc.stderr.decode('utf-8', 'replace').strip()
        text = redact(text, [s.decode('utf-8', 'replace') if isinstance(s, bytes) else s for s in secrets])
        raise CommandError('%s could not encrypt the backup (rc %s): %s; nothing was changed'
                           % (tool, proc.returncode, text[-500:]), rc=proc.returncode)
    return proc.stdout


def stem(path, directory):
    """Backups in the file's own directory: ``NAME``; in a shared ``dir``: ``NAME.<path hash>``,
    so that two files of one name never prune each other's backups."""
    if os.path.abspath(directory) == os.path.dirname(os.path.abspath(path)):
        return os.path.basename(path)
    return '%s.%s' % (os.path.basename(path), hashlib.sha256(os.path.abspath(path).encode('utf-8')).hexdigest()[:8])


def pattern(path, directory=None):
    name = stem(path, directory) if directory else os.path.basename(path)
    return re.compile(re.escape(name) + r'\.\d{8}T\d{6}\.\d{6}Z\.(age|gpg)\Z')


def list_encrypted(path, directory):
    """Encrypted backups of ``path`` in ``directory``, oldest first."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = pattern(path, directory)
    return [os.path.join(directory, n) for n in sorted(n for n in names if found.match(n))
            if os.path.isfile(os.path.join(directory, n)) and not os.path.islink(os.path.join(directory, n))]


def backup(path, data, spec, keep):
    """Encrypt ``data`` (the content ``path`` had) into the backup directory; prune to ``keep``.

    Returns ``(backup_file, removed)``.  The directory is the file's own unless ``dir`` is
    given; it is created 0700 when missing.
    """
    ciphertext, fmt = encrypt(data, spec)
    directory = spec.get('dir') or os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')
    target = os.path.join(directory, '%s.%s.%s' % (stem(path, directory), stamp, fmt))
    with _atomic.Target(target) as handle:
        handle.write(ciphertext, mode=0o600)
    existing = [e for e in list_encrypted(path, directory) if e != target]
    # ``keep`` counts the new backup too (at least 1: the one just made is never deleted).
    removed = existing[:max(0, len(existing) - max(keep, 1) + 1)]
    for doomed in removed:
        os.unlink(doomed)
    return target, removed
