"""Issue 12: a module handling a secret, SIGKILLed while it runs (blocked on the file lock the
test holds), leaves no form of the secret in any file under local_tmp, remote_tmp or /tmp."""

import base64
import os
import signal
import subprocess
import sys
import time

import yaml

from harness import ROOT, ansible_env, new_secret

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import variants

MAX_SCAN = 4 * 1024 * 1024
# Set TK_TEST_UNPIPELINED=1 to see the test catch the AnsiballZ file of an unpipelined run.
EXTRA_ENV = {'ANSIBLE_PIPELINING': 'False'} if os.environ.get('TK_TEST_UNPIPELINED') else {}


def forms(secret):
    """``variants()`` plus the secret base64-encoded at each of the 3 offsets inside a longer stream."""
    out = set(variants(secret))
    raw = secret.encode()
    for pad in (1, 2):
        encoded = base64.b64encode(b'\0' * pad + raw).decode()
        out.add(encoded[4:-4])
    return {f.encode() for f in out if len(f) >= 8}


def scan(roots, needles, skip=()):
    hits = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > MAX_SCAN:
                        continue
                    with open(path, 'rb') as handle:
                        data = handle.read()
                except OSError:
                    continue
                if any(n in data for n in needles):
                    hits.append(path)
    return hits


def descendants(pid):
    """Every process whose parent chain leads to ``pid`` (ansible workers call setsid())."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parents[int(entry)] = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        children = [p for p, parent in parents.items() if parent == current and p not in found]
        found.update(children)
        todo.extend(children)
    return found


def holders(path):
    """Pids of processes (other than us) with ``path`` open."""
    out = set()
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            for fd in os.listdir('/proc/%s/fd' % entry):
                if os.readlink('/proc/%s/fd/%s' % (entry, fd)) == path:
                    out.add(int(entry))
        except OSError:
            continue
    return out


def test_sigkilled_module_leaves_no_plaintext(tmp_path):
    secret = new_secret(24)
    env_path = tmp_path / 'app.env'
    env_path.write_text('OTHER=1\n')
    env_path.chmod(0o600)
    playbook = tmp_path / 'kill.yml'
    playbook.write_text(yaml.safe_dump([{'hosts': 'all', 'gather_facts': False, 'tasks': [{
        'name': 'write a secret', 'turnkey.secrets.env_file': {
            'path': str(env_path), 'values': {'API_TOKEN': "{{ lookup('env', 'TK_KILL_SECRET') }}"}}}]}]))
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    env = ansible_env({'TK_KILL_SECRET': secret, **EXTRA_ENV})
    local_tmp = env['ANSIBLE_LOCAL_TEMP']
    remote_tmp = os.path.expanduser(env.get('ANSIBLE_REMOTE_TEMP', '~/.ansible/tmp'))
    roots = [d for d in (local_tmp, remote_tmp, '/tmp') if os.path.isdir(d)]
    needles = forms(secret)
    lockfile = _atomic.lock_path(str(env_path))

    with _atomic.file_lock(str(env_path)):
        proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-vvvv',
                                 '-i', str(inventory), str(playbook)], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not holders(lockfile) - {proc.pid}:
                assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
                assert time.monotonic() < deadline, 'the module never reached its file lock'
                time.sleep(0.05)
            # The module runs and waits for the lock: its arguments are somewhere now, if anywhere.
            during = scan(roots, needles)
            tree = descendants(proc.pid) | {proc.pid}
            for pid in tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=30)
            output = proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    deadline = time.monotonic() + 10
    while holders(lockfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not holders(lockfile), 'a module process survived SIGKILL'
    after = scan(roots, needles)
    assert during == [] and after == [], 'secret found in %s' % sorted(set(during + after))
    assert not any(n in output for n in needles)
    assert env_path.read_text() == 'OTHER=1\n'
