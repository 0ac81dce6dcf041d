"""Review of issue 12, as www-data against every writer (htpasswd, env_file, fernet_rotate,
vault_secret) run by root:

1. a target file www-data owns (planted in a sticky directory) must not stay theirs, nor
   readable by them, once it holds the new secret; backups neither;
2. with ``follow: true``, a directory of the resolved path swapped for a link while the
   writer waits must not send the read or the write into another directory;
3. a lock file www-data planted (theirs, a link, a FIFO) is refused, naming the file.
"""

import multiprocessing
import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import tempfile
import time

import pytest
from cryptography.fernet import Fernet

from harness import new_secret
from modrun import finish, start

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _vault
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars

ATTACKER = 'www-data'
WRITERS = ('htpasswd', 'env_file', 'fernet_rotate', 'vault_secret')
NAMES = {'htpasswd': 'htpasswd', 'env_file': 'app.env', 'fernet_rotate': 'tokens.txt', 'vault_secret': 'vault.yml'}


def as_attacker(*cmd, data=None, check=True):
    return subprocess.run(['runuser', '-u', ATTACKER, '--'] + list(cmd), input=data, check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def attacker_reads(path):
    return as_attacker('cat', str(path), check=False).returncode == 0


@pytest.fixture
def base():
    if os.geteuid() != 0:
        pytest.skip('needs root to act as another user')
    # pytest's tmp_path lies under a 0700 directory the attacker cannot enter; /tmp's own mode is
    # not ours to rely on on a shared machine.
    path = pathlib.Path(tempfile.mkdtemp(prefix='tk-review-', dir='/var/tmp'))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def keys():
    return {'old': Fernet.generate_key(), 'new': Fernet.generate_key(), 'vault': new_secret().encode(),
            'pw': new_secret(), 'made': {}}


def content(writer, keys, marker='old'):
    """A valid file for ``writer`` holding ``marker`` (the same bytes on every call of a test)."""
    if (writer, marker) not in keys['made']:
        if writer == 'htpasswd':
            data = ('%s:$apr1$abcdefgh$0123456789012345678901\n' % marker).encode()
        elif writer == 'env_file':
            data = ('OTHER=%s\n' % marker).encode()
        elif writer == 'fernet_rotate':
            data = Fernet(keys['old']).encrypt(marker.encode()) + b'\n'
        else:
            data = _vault.seal(('---\nvault_other: %s\n' % marker).encode(), keys['vault'], None).encode()
        keys['made'][writer, marker] = data
    return keys['made'][writer, marker]


def module_args(writer, path, keys, **extra):
    if writer == 'htpasswd':
        args = {'path': str(path), 'name': 'u', 'password': keys['pw'], 'bcrypt_rounds': 4}
    elif writer == 'env_file':
        args = {'path': str(path), 'values': {'A': keys['pw']}}
    elif writer == 'fernet_rotate':
        args = {'path': str(path), 'keys': [keys['new'].decode(), keys['old'].decode()]}
    else:
        args = {'path': str(path), 'values': {'vault_x': keys['pw']}}
    args.update(extra)
    return args


def _vault_child(args, password, queue):
    try:
        queue.put(_vault_vars.update_vault_file(args.pop('path'), password, **args))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as the module would
        queue.put({'failed': True, 'msg': getattr(exc, 'msg', repr(exc))})


class Run:
    """One writer run by root in its own process (vault_secret: its controller code, forked)."""

    def __init__(self, writer, args, keys, workdir):
        self.writer = writer
        if writer == 'vault_secret':
            ctx = multiprocessing.get_context('fork')
            self.queue = ctx.Queue()
            self.proc = ctx.Process(target=_vault_child, args=(dict(args), keys['vault'], self.queue))
            self.proc.start()
        else:
            self.proc = start(writer, args, workdir)

    def holds_open(self, path):
        """Whether the run opened ``path`` itself (a forked child also has the parent's fd of it)."""
        fds = '/proc/%d/fd' % self.proc.pid
        count = 0
        for fd in os.listdir(fds):
            try:
                count += os.readlink(os.path.join(fds, fd)) == str(path)
            except OSError:
                pass
        return count >= (2 if self.writer == 'vault_secret' else 1)

    def running(self):
        return self.proc.exitcode is None if self.writer == 'vault_secret' else self.proc.poll() is None

    def result(self):
        if self.writer == 'vault_secret':
            self.proc.join(60)
            return self.queue.get(timeout=5)
        return finish(self.proc)


@pytest.fixture
def workdir(base):
    work = base / 'work'
    work.mkdir(mode=0o700)
    return work


# ------------------------------------------------------------------ 1. the attacker's own file

def test_a_file_the_attacker_owns_is_taken_over_and_its_backup_is_private(base, keys, playbook):
    drop = base / 'drop'
    drop.mkdir()
    drop.chmod(0o1777)   # sticky and world-writable: accepted without allow_shared_parent
    for writer in WRITERS:
        # umask 0: the attacker's files are 0666, theirs to chmod.
        as_attacker('sh', '-c', 'umask 0; cat > "$0"', str(drop / NAMES[writer]), data=content(writer, keys))
    password_file = base / 'vault_pass'
    password_file.write_bytes(keys['vault'] + b'\n')
    password_file.chmod(0o600)
    secret_vars = {'pw': keys['pw'], 'key_new': keys['new'].decode(), 'key_old': keys['old'].decode()}
    tasks = [
        {'name': 'htpasswd', 'turnkey.secrets.htpasswd': {
            'path': str(drop / 'htpasswd'), 'name': 'u', 'password': '{{ pw }}', 'bcrypt_rounds': 4, 'backup': True}},
        {'name': 'env_file', 'turnkey.secrets.env_file': {
            'path': str(drop / 'app.env'), 'values': {'A': '{{ pw }}'}, 'backup': True}},
        {'name': 'fernet_rotate', 'turnkey.secrets.fernet_rotate': {
            'path': str(drop / 'tokens.txt'), 'keys': ['{{ key_new }}', '{{ key_old }}'], 'backup': True}},
        {'name': 'vault_secret', 'turnkey.secrets.vault_secret': {
            'path': str(drop / 'vault.yml'), 'vault_password_file': str(password_file),
            'values': {'vault_x': '{{ pw }}'}, 'backup': True}},
    ]
    result = playbook(tasks=tasks, secret_vars=secret_vars)
    for writer in WRITERS:
        outcome = result.task(writer)['result']
        assert outcome['changed'], (writer, outcome.get('msg'))
        path = drop / NAMES[writer]
        backups = _atomic.list_backups(str(path))
        assert len(backups) == 1, (writer, backups)
        for made in [path] + [pathlib.Path(b) for b in backups]:
            st = made.stat()
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), (writer, made, oct(st.st_mode))
            assert not attacker_reads(made), made
            assert as_attacker('chmod', '0666', str(made), check=False).returncode != 0, made


# ------------------------------------------------------------------ 2. a directory swapped under follow: true

def _swap_scene(base, writer, keys):
    """``etc/NAME`` (root's) -> ``app/conf/NAME``; ``app`` is the attacker's, so they can
    replace ``conf`` by a link to ``private`` (root-only) at any moment."""
    name = NAMES[writer]
    private = base / 'private'
    private.mkdir(mode=0o700)
    (private / name).write_bytes(content(writer, keys, 'rootonly'))
    (private / name).chmod(0o600)
    app = base / 'app'
    app.mkdir(mode=0o755)
    os.chown(app, pwd.getpwnam(ATTACKER).pw_uid, -1)
    conf = app / 'conf'
    conf.mkdir(mode=0o755)
    (conf / name).write_bytes(content(writer, keys))
    (conf / name).chmod(0o640)
    etc = base / 'etc'
    etc.mkdir(mode=0o755)
    (etc / name).symlink_to(conf / name)
    return etc / name, conf, private


@pytest.mark.parametrize('writer', WRITERS)
def test_a_directory_swapped_while_the_writer_waits_changes_nothing_elsewhere(base, workdir, keys, writer):
    link, conf, private = _swap_scene(base, writer, keys)
    name = NAMES[writer]
    before = (private / name).read_bytes()
    # A legitimate concurrent writer holds the lock, so the run waits after its checks.
    with _atomic.file_lock(str(conf / name)) as lockfile:
        run = Run(writer, module_args(writer, link, keys, follow=True), keys, workdir)
        deadline = time.monotonic() + 30
        while not run.holds_open(lockfile):
            assert run.running(), 'the run ended before waiting for the lock: %r' % (run.result(),)
            assert time.monotonic() < deadline, 'the run never opened %s' % lockfile
            time.sleep(0.02)
        as_attacker('mv', str(conf), str(conf.parent / 'conf.moved'))
        as_attacker('ln', '-s', str(private), str(conf))
    result = run.result()
    # The root-only directory is untouched: not read into the file, not written.
    assert (private / name).read_bytes() == before
    assert sorted(os.listdir(private)) == [name]
    moved = conf.parent / 'conf.moved' / name
    if result.get('failed'):
        assert 'symbolic link' in result['msg'], result['msg']
    else:
        assert result['changed'] and moved.read_bytes() != content(writer, keys)
        assert b'rootonly' not in moved.read_bytes() and stat.S_IMODE(moved.stat().st_mode) == 0o640
    assert keys['pw'] not in repr(result)


# ------------------------------------------------------------------ 3. lock files planted by the attacker

@pytest.mark.parametrize('kind', ['theirs', 'link', 'fifo'])
@pytest.mark.parametrize('writer', WRITERS)
def test_a_planted_lock_file_is_refused_and_nothing_changes(base, workdir, keys, writer, kind):
    drop = base / 'drop'
    drop.mkdir()
    drop.chmod(0o1777)
    victim = base / 'victim'
    victim.write_bytes(content(writer, keys, 'rootonly'))
    victim.chmod(0o600)
    path = drop / NAMES[writer]
    path.write_bytes(content(writer, keys))
    path.chmod(0o600)
    lock = drop / ('.%s.lock' % NAMES[writer])
    if kind == 'theirs':
        as_attacker('touch', str(lock))
    elif kind == 'link':
        as_attacker('ln', '-s', str(victim), str(lock))
    else:
        as_attacker('mkfifo', str(lock))
    result = Run(writer, module_args(writer, path, keys), keys, workdir).result()
    assert result.get('failed'), result
    expected = {'theirs': 'belongs to user %s' % ATTACKER, 'link': 'is a symbolic link',
                'fifo': 'is not a regular file'}[kind]
    assert result['msg'].startswith('lock file %s %s' % (lock, expected)), result['msg']
    assert 'remove it (rm %s)' % lock in result['msg']
    assert 'Traceback' not in result.get('exception', '') and keys['pw'] not in repr(result)
    assert path.read_bytes() == content(writer, keys) and victim.read_bytes() == content(writer, keys, 'rootonly')
    assert sorted(p.name for p in drop.iterdir()) == sorted([path.name, lock.name])
