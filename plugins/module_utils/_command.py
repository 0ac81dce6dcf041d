# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection runs external commands.

Secrets go to the child on stdin, never in argv (argv is world-readable in /proc and
lands in process accounting and audit logs).  ``run()`` refuses an argv that contains a
known secret, and redacts known secrets from whatever the command prints before it
reaches a result or an error message.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import CommandError, InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import redact, variants


class Result(object):
    __slots__ = ('rc', 'stdout', 'stderr', 'argv')

    def __init__(self, rc, stdout, stderr, argv):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.argv = argv


def find_executable(name, explicit=None):
    """Absolute path of ``explicit`` or ``name`` on PATH; InputError telling how to fix it."""
    candidate = explicit or name
    if os.path.sep in candidate:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
        raise InputError('%s is not an executable file; set the executable option to a valid path' % candidate)
    found = shutil.which(candidate)
    if not found:
        raise InputError('%s was not found on PATH; install it or set the executable option' % candidate)
    return found


def run(argv, data=None, secrets=(), check=True, env=None, timeout=None, cwd=None, text=True):
    """Run ``argv`` (a list, no shell) with ``data`` on stdin.

    ``secrets`` lists values to keep out of argv and out of the returned/raised output;
    ``data`` is always treated as one of them.
    """
    argv = [str(a) for a in argv]
    secret_values = [s for s in secrets if s is not None]
    if data is not None:
        secret_values.append(data)
    for arg in argv:
        for value in secret_values:
            if any(form and form in arg for form in variants(value)):
                raise InputError('refusing to run %s: a secret value would be visible in its argument list'
                                 % os.path.basename(argv[0]))
    if isinstance(data, str):
        data = data.encode('utf-8')
    try:
        # This is the collection's run_command (argv check, redaction) and takes no AnsibleModule.
        proc = subprocess.run(argv, input=data if data is not None else b'', capture_output=True,  # pylint: disable=ansible-bad-function
                              env=env, timeout=timeout, cwd=cwd, check=False)
    except FileNotFoundError:
        raise InputError('%s was not found; install it or set the executable option' % argv[0]) from None
    except PermissionError:
        raise InputError('%s is not executable by this user' % argv[0]) from None
    except subprocess.TimeoutExpired:
        raise CommandError('%s did not finish within %s seconds' % (' '.join(argv[:3]), timeout)) from None
    out, err = proc.stdout, proc.stderr
    if text:
        out = out.decode('utf-8', 'replace')
        err = err.decode('utf-8', 'replace')
    out = redact(out, secret_values)
    err = redact(err, secret_values)
    if check and proc.returncode != 0:
        detail = (err if text else err.decode('utf-8', 'replace')).strip() or '(no output)'
        raise CommandError('%s failed (rc=%d): %s' % (' '.join(argv[:3]), proc.returncode, detail),
                           rc=proc.returncode, stdout=out if text else '', stderr=detail)
    return Result(proc.returncode, out, err, argv)
