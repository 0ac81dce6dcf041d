"""Run a collection module as its own process, the way AnsiballZ runs it (args file, JSON out)."""

import json
import os
import secrets
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def module_env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.path.join(ROOT, '.collections')
    return env


def start(module, args, workdir, prefix=()):
    """Popen of ``module`` with ``args`` (written to a 0600 file in ``workdir``), run under ``prefix``
    (e.g. strace) when given."""
    path = os.path.join(str(workdir), 'args-%s.json' % secrets.token_hex(6))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    return subprocess.Popen(list(prefix) + [sys.executable, os.path.join(ROOT, 'plugins', 'modules', module + '.py'), path],
                            env=module_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    try:
        return json.loads(out.decode('utf-8').strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError('module printed no JSON (rc %s): %s' % (proc.returncode, err.decode()[-2000:])) from None


def run_all(module, arg_list, workdir):
    """Start every invocation at once, then collect every result."""
    procs = [start(module, args, workdir) for args in arg_list]
    return [finish(p) for p in procs]
