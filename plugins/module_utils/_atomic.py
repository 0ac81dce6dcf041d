# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection writes files that hold secrets.

The temporary file is created in the target directory with ``O_EXCL`` and mode 0600,
given its final owner, group and mode while nobody else can open it, fsynced, then
renamed over the target; the directory is fsynced too.  A reader sees the old file or
the new one, never a mix, and the data is never briefly world-readable.

Against a user who can write next to the secret (the app user, www-data):

* a symlink at the final path component is refused (``lstat``, ``O_NOFOLLOW``) unless the
  caller passes ``follow=True``, which resolves it first and works on the real file;
* a parent directory that someone other than its owner can write (group/other write bit
  without the sticky bit) or that belongs to another non-root user is refused unless the
  caller passes ``allow_shared_parent=True``: whoever can write the directory can swap
  the file between our checks and our rename;
* the directory is opened once, walking down from ``/`` with ``O_NOFOLLOW`` (``Target``);
  the lock, read, backup, temp file and rename are relative to that fd, so a directory
  swapped for a link meanwhile cannot send the data elsewhere;
* an existing file owned by anyone but root or us gives the new file neither its owner
  nor its mode (see ``Target.attributes``), and backups are always ours and 0600;
* ``read_bytes(path, follow=False)`` opens with ``O_NOFOLLOW`` and only reads regular files,
  so a planted symlink cannot make a root-run module disclose a root-only file.

``file_lock(path)`` serialises read-modify-write cycles of one file between processes with
``flock`` on a sidecar ``<dir>/.<basename>.lock`` (kept, never deleted: deleting lock files
races); a lock file that is a link, not a regular file or another user's is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import re
import stat
import time

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError

DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_BACKUP_KEEP = 3


def _uid(owner):
    if owner is None or owner == '':
        return -1
    if isinstance(owner, int) or str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise InputError('owner %r does not exist on this host' % owner) from None


def _gid(group):
    if group is None or group == '':
        return -1
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise InputError('group %r does not exist on this host' % group) from None


# --------------------------------------------------------------------------- modes

_WHO = {'u': 0o4700, 'g': 0o2070, 'o': 0o1007}
_SYMBOLIC_RE = re.compile(r'(?P<who>[ugoa]*)(?P<ops>(?:[-+=][rwxXst]*)+)\Z')
_OP_RE = re.compile(r'([-+=])([rwxXst]*)')


def _perm_bits(who, perms, current, is_dir):
    bits = 0
    for char in who:
        mask = _WHO[char]
        for perm in perms:
            if perm == 'r':
                bits |= mask & 0o444
            elif perm == 'w':
                bits |= mask & 0o222
            elif perm == 'x' or (perm == 'X' and (is_dir or current & 0o111)):
                bits |= mask & 0o111
            elif perm == 's' and char in 'ug':
                bits |= mask & 0o6000
            elif perm == 't' and char == 'o':
                bits |= 0o1000
    return bits


def symbolic_mode(text, current=0o600, is_dir=False):
    """``chmod``-style symbolic mode (``u=rw,go=``, ``g+r``, ``a-x``) applied to ``current``.

    As ansible's file modules do, a clause without ``u``/``g``/``o`` applies to all three
    (the umask is not consulted).  InputError for anything else.
    """
    mode = current & 0o7777
    for clause in str(text).split(','):
        match = _SYMBOLIC_RE.match(clause.strip())
        if not match:
            raise InputError('mode %r is neither an octal number such as "0640" nor a symbolic mode such as '
                             '"u=rw,g=r,o="' % (text,))
        who = match.group('who').replace('a', 'ugo') or 'ugo'
        for op, perms in _OP_RE.findall(match.group('ops')):
            bits = _perm_bits(who, perms, mode, is_dir)
            if op == '+':
                mode |= bits
            elif op == '-':
                mode &= ~bits
            else:
                clear = 0
                for char in who:
                    clear |= _WHO[char] & ~(0o1000 if char != 'o' else 0)
                mode = (mode & ~clear) | bits
    return mode & 0o7777


def parse_mode(mode, default=None, current=None):
    """Mode from an int, an octal string such as '0640' / '640', or a symbolic string such
    as 'u=rw,go=' computed against ``current`` (the existing file's mode; ``default`` or
    0600 for a new file).  None keeps ``default``.  InputError for anything invalid, so
    callers can validate before they change anything."""
    if mode is None:
        return default
    if isinstance(mode, bool):
        raise InputError('mode %r is not a file mode; give a quoted octal string such as "0640"' % (mode,))
    if isinstance(mode, int):
        if mode < 0 or mode > 0o7777:
            raise InputError('mode %r is out of range' % (mode,))
        return mode
    text = str(mode).strip()
    if text and all(ch in '01234567' for ch in text):
        value = int(text, 8)
        if value > 0o7777:
            raise InputError('mode %r is out of range' % (mode,))
        return value
    if text and text[0].isdigit():
        raise InputError('mode %r is not an octal number such as "0640"' % (mode,))
    base = current if current is not None else (default if default is not None else 0o600)
    return symbolic_mode(text, base)


# --------------------------------------------------------------------------- safety checks

_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
# O_PATH walks through a directory without needing read permission on it (as a lookup does).
_WALK = getattr(os, 'O_PATH', os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC


def _symlink_error(path):
    return InputError('%s is a symbolic link; refusing to follow it (whoever can write its directory could point it '
                      'at another file). Replace the link by the real file, point path at the link target, or set '
                      'follow: true if you own the link' % path)


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _lstat_at(name, dir_fd):
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None


def resolve(path, follow=False):
    """Absolute path to work on: the link target when ``follow``, else ``path`` itself,
    refused when it is a symlink."""
    path = os.path.abspath(path)
    if follow:
        return os.path.realpath(path)
    if os.path.islink(path):
        raise _symlink_error(path)
    return path


def _check_dir(st, directory, allow_shared_parent):
    if not stat.S_ISDIR(st.st_mode):
        raise InputError('%s is not a directory' % directory)
    if allow_shared_parent:
        return
    shared = st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX
    if shared:
        raise InputError('directory %s is writable by its group or by others (mode %04o), who could swap the file '
                         'while it is written: remove the group/other write bit (chmod go-w %s), or set '
                         'allow_shared_parent: true if you trust them' % (directory, stat.S_IMODE(st.st_mode), directory))
    if st.st_uid not in (0, os.geteuid()):
        raise InputError('directory %s belongs to user %s, who could swap the file while it is written: make it '
                         'owned by root (chown root %s), or set allow_shared_parent: true if you trust that user'
                         % (directory, _user(st.st_uid), directory))


def check_parent(directory, allow_shared_parent=False):
    """InputError unless ``directory`` exists and only its owner (root or us) can write it."""
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        raise InputError('directory %s does not exist; create it first' % directory) from None
    _check_dir(st, directory, allow_shared_parent)


def _open_dir(directory, resolved=False):
    """Read-only fd of ``directory``, reached from ``/`` one component at a time with
    ``O_NOFOLLOW``.  Links in ``directory`` are resolved first unless it is ``resolved``
    already (resolving it again would follow a link swapped in meanwhile): a component
    swapped for a link after that fails the walk instead of leading elsewhere."""
    parts = [part for part in (directory if resolved else os.path.realpath(directory)).split(os.sep) if part]
    fd = os.open(os.sep, _WALK if parts else os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        for index, part in enumerate(parts):
            flags = _WALK if index < len(parts) - 1 else os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                raise InputError('directory %s does not exist; create it first' % directory) from None
            except OSError as exc:
                where = os.sep + os.sep.join(parts[:index + 1])
                st = _lstat_at(part, fd) if exc.errno in (errno.ELOOP, errno.ENOTDIR) else None
                if st is not None and stat.S_ISLNK(st.st_mode):
                    raise TurnkeyError('%s was replaced by a symbolic link while the file in it was being written '
                                       '(someone who can write %s is swapping directories); nothing was changed'
                                       % (where, os.path.dirname(where))) from None
                if st is not None:
                    raise InputError('%s is not a directory' % where) from None
                raise TurnkeyError('cannot open directory %s: %s' % (where, exc.strerror or exc)) from None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


# --------------------------------------------------------------------------- reading

def _read(name, shown, follow, limit, dir_fd=None):
    flags = os.O_RDONLY | _CLOEXEC | getattr(os, 'O_NOCTTY', 0) | os.O_NONBLOCK
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError('%s is a directory, not a file' % shown) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise _symlink_error(shown) from None
        raise InputError('cannot read %s: %s' % (shown, exc.strerror or exc)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError('%s is a directory, not a file' % shown)
        if not stat.S_ISREG(st.st_mode):
            raise InputError('%s is not a regular file; refusing to read it' % shown)
        # Back to blocking reads (O_NONBLOCK only kept a FIFO from hanging the open).
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with os.fdopen(fd, 'rb') as handle:
            fd = None
            return handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise InputError('cannot read %s: %s' % (shown, exc.strerror or exc)) from None
    finally:
        if fd is not None:
            os.close(fd)


def read_bytes(path, follow=True, limit=None):
    """Content of ``path`` (at most ``limit`` bytes when given) or None when it does not
    exist; InputError when unreadable.

    With ``follow=False`` (what readers of secret paths pass) a symlink at ``path`` is
    refused (``O_NOFOLLOW``) and only a regular file is read; the default ``True`` keeps
    the historical behaviour for callers reading files they chose themselves.
    """
    return _read(path, os.path.abspath(path), follow, limit)


# --------------------------------------------------------------------------- locking

def lock_path(path):
    path = os.path.abspath(path)
    return os.path.join(os.path.dirname(path), '.%s.lock' % os.path.basename(path))


def _check_lock(st, lockfile):
    remove = ('; remove it (rm %s): the collection creates its own, owned by root (or the user running it) '
              'and mode 0600' % lockfile)
    if stat.S_ISLNK(st.st_mode):
        raise InputError('lock file %s is a symbolic link' % lockfile + remove)
    if not stat.S_ISREG(st.st_mode):
        raise InputError('lock file %s is not a regular file' % lockfile + remove)
    if st.st_uid not in (0, os.geteuid()):
        # Its owner could hold the lock forever, or hand it to writers it wants to race.
        raise InputError('lock file %s belongs to user %s, not to root or the user running this' % (
            lockfile, _user(st.st_uid)) + remove)


@contextlib.contextmanager
def _lock(dir_fd, path, timeout):
    directory, name = os.path.split(path)
    lockname = '.%s.lock' % name
    lockfile = os.path.join(directory, lockname)
    st = _lstat_at(lockname, dir_fd)
    if st is not None:
        _check_lock(st, lockfile)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | _CLOEXEC | os.O_NONBLOCK | getattr(os, 'O_NOCTTY', 0)
    try:
        fd = os.open(lockname, flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError('lock file %s is a symbolic link; remove it (rm %s): the collection creates its own'
                             % (lockfile, lockfile)) from None
        raise TurnkeyError('cannot open lock file %s: %s' % (lockfile, exc.strerror or exc)) from None
    try:
        # Again on the open file: it may have been swapped between the lstat and the open.
        _check_lock(os.fstat(fd), lockfile)
        deadline = time.monotonic() + max(0.0, float(timeout))
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise TurnkeyError('cannot lock %s: %s' % (lockfile, exc.strerror or exc)) from None
            now = time.monotonic()
            if now >= deadline:
                raise TurnkeyError('%s is busy: another writer holds %s; try again' % (path, lockfile))
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 0.2)
        try:
            yield lockfile
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(path, timeout=DEFAULT_LOCK_TIMEOUT):
    """Exclusive ``flock`` on ``<dir>/.<basename>.lock`` for a read-modify-write of ``path``.

    The lock file is created 0600, never through a symlink, and kept afterwards; an existing
    one that is a link, not a regular file, or owned by another non-root user is refused.
    Waits at most ``timeout`` seconds, then raises TurnkeyError naming the lock file.
    """
    path = os.path.abspath(path)
    dir_fd = _open_dir(os.path.dirname(path))
    try:
        with _lock(dir_fd, path, timeout) as lockfile:
            yield lockfile
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------- backups

def backup_path(path):
    # Same naming scheme as AnsibleModule.backup_local, so users find backups where they expect.
    return '%s.%d.%s~' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S', time.localtime()))


def backup_pattern(path):
    """Regex matching the names ``backup_path`` gives backups of ``path`` (basename only)."""
    return re.compile(re.escape(os.path.basename(path)) + r'\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~\Z')


def _backups(dir_fd, path):
    name = os.path.basename(path)
    pattern = backup_pattern(path)
    found = []
    for entry in os.listdir(dir_fd):
        st = _lstat_at(entry, dir_fd) if pattern.match(entry) else None
        if st is not None and stat.S_ISREG(st.st_mode):
            # The name holds the date to the second; the mtime orders backups of one second.
            found.append((entry[len(name):].split('.', 2)[2], st.st_mtime_ns, entry))
    return [entry for _stamp, _mtime, entry in sorted(found)]


def list_backups(path):
    """Backups of ``path`` made by this collection (regular files, not links), oldest first."""
    path = os.path.abspath(path)
    try:
        dir_fd = _open_dir(os.path.dirname(path))
    except TurnkeyError:
        return []
    try:
        return [os.path.join(os.path.dirname(path), entry) for entry in _backups(dir_fd, path)]
    finally:
        os.close(dir_fd)


def _set_attrs(fd, uid, gid, mode):
    if uid != -1 or gid != -1:
        try:
            os.fchown(fd, uid, gid)
        except PermissionError:
            raise InputError('not permitted to set owner/group on the new file; run with become or drop owner/group') from None
    os.fchmod(fd, mode)


# --------------------------------------------------------------------------- writing

class Target:
    """A file to rewrite, its directory opened once (``O_NOFOLLOW`` all the way down) and
    checked: the lock, the read, the backup, the temp file and the rename all happen
    relative to that directory, so the file lands in the directory that was checked, whatever
    is swapped above it meanwhile.  ``follow`` works on a symlink's target instead of
    refusing it; ``allow_shared_parent`` accepts a directory others can write.  A context
    manager (closes the directory)."""

    def __init__(self, path, follow=False, allow_shared_parent=False):
        self.path = resolve(path, follow)
        self.directory, self.name = os.path.split(self.path)
        self.fd = _open_dir(self.directory, resolved=follow)
        try:
            self.dir_stat = os.fstat(self.fd)
            _check_dir(self.dir_stat, self.directory, allow_shared_parent)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def lock(self, timeout=DEFAULT_LOCK_TIMEOUT):
        """``file_lock`` of this file, taken in the opened directory."""
        return _lock(self.fd, self.path, timeout)

    def read(self, limit=None):
        """Content (never through a link, regular files only), or None when missing."""
        return _read(self.name, self.path, False, limit, self.fd)

    def stat(self):
        """lstat of the file or None when missing; InputError for a link or a non-regular file."""
        st = _lstat_at(self.name, self.fd)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise _symlink_error(self.path)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise InputError('%s exists and is not a regular file' % self.path)
        return st

    def attributes(self, current, mode=None, owner=None, group=None):
        """``(mode, uid, gid)`` of the new file (-1: ours) replacing ``current`` (an lstat or None).

        Only the owner of a file (and root) can choose its group and mode, so an existing
        file's owner, group and mode are inherited only when its owner is root, us, or the
        ``owner`` asked for.  Anyone else's file (planted in a sticky or allowed shared
        directory, or the app user's) is replaced as a new file would be: our own, ``mode`` or
        0600 (symbolic modes apply to 0600); its group is kept only when the new mode gives
        that group nothing the old file did not, so members keep no more than they had.
        """
        uid, gid = _uid(owner), _gid(group)
        if current is None:
            return parse_mode(mode, 0o600), uid, gid
        old = stat.S_IMODE(current.st_mode)
        trusted = current.st_uid in (0, os.geteuid(), uid)
        new = parse_mode(mode, old, old) if trusted else parse_mode(mode, 0o600)
        if uid == -1 and trusted:
            uid = current.st_uid
        if gid == -1 and (trusted or not (new & 0o070) & ~(old & 0o070)):
            gid = current.st_gid
        return new, uid, gid

    def _effective(self, uid, gid):
        if uid == -1:
            uid = os.geteuid()
        if gid == -1:
            gid = self.dir_stat.st_gid if self.dir_stat.st_mode & stat.S_ISGID else os.getegid()
        return uid, gid

    def _create(self, name=None):
        """``(fd, name)`` of a new empty 0600 file in the directory (``O_EXCL``, never through a link)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
        for _attempt in range(100):
            candidate = name or '.%s.%s.tmp' % (self.name, os.urandom(6).hex())
            try:
                return os.open(candidate, flags, 0o600, dir_fd=self.fd), candidate
            except FileExistsError:
                if name:
                    raise
        raise TurnkeyError('cannot create a temporary file in %s' % self.directory)

    def _put(self, name, data, uid, gid, mode):
        """Write ``data`` to the new file ``name`` with its attributes set before the first byte."""
        fd, name = self._create(name)
        try:
            _set_attrs(fd, uid, gid, mode)
            with os.fdopen(fd, 'wb') as handle:
                fd = None
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            if fd is not None:
                os.close(fd)
            self._unlink(name)
            raise
        return name

    def _unlink(self, name):
        try:
            os.unlink(name, dir_fd=self.fd)
        except OSError:
            pass

    def write(self, data, mode=None, owner=None, group=None, backup=False, backup_keep=None):
        """Replace the file with ``data`` (bytes or str) atomically; attributes as ``attributes``.

        ``backup`` first copies the file next to it (``FILE.PID.DATE~``), always 0600 and owned
        by us: it keeps old secrets, and whoever owned the file must not own the copy.
        ``backup_keep`` then deletes all but that many newest backups.  Returns the backup
        path when one was made, else None.
        """
        if isinstance(data, str):
            data = data.encode('utf-8')
        current = self.stat()
        mode, uid, gid = self.attributes(current, mode, owner, group)
        backup_file = None
        if backup and current is not None:
            old = self.read()
            backup_file = os.path.join(self.directory, self._put(os.path.basename(backup_path(self.path)), old,
                                                                 -1, -1, 0o600))
        tmp = None
        try:
            tmp = self._put(None, data, uid, gid, mode)
            # rename() replaces a symlink planted meanwhile instead of following it.
            os.rename(tmp, self.name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            tmp = None
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
                raise TurnkeyError('cannot write %s: %s' % (self.path, exc.strerror)) from None
            raise
        finally:
            if tmp is not None:
                self._unlink(tmp)
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        if backup and backup_keep is not None:
            self.prune_backups(backup_keep)
        return backup_file

    def prune_backups(self, keep=DEFAULT_BACKUP_KEEP):
        """Delete all but the ``keep`` newest backups of the file; returns the deleted paths."""
        if keep < 0:
            raise InputError('backup_keep must be 0 or more (got %d)' % keep)
        backups = _backups(self.fd, self.path)
        doomed = backups[:max(0, len(backups) - keep)]
        for name in doomed:
            self._unlink(name)
        return [os.path.join(self.directory, name) for name in doomed]

    def write_if_changed(self, data, mode=None, owner=None, group=None, backup=False, check_mode=False,
                         backup_keep=None):
        """``write`` only when content or attributes differ.  Returns ``(changed, backup_file)``;
        the checks (mode syntax, owner, group) run in check mode too."""
        if isinstance(data, str):
            data = data.encode('utf-8')
        old = self.read()
        current = self.stat() if old is not None else None
        want_mode, uid, gid = self.attributes(current, mode, owner, group)
        changed = old != data
        if current is not None:
            have = (stat.S_IMODE(current.st_mode), current.st_uid, current.st_gid)
            changed = changed or (want_mode,) + self._effective(uid, gid) != have
        if not changed or check_mode:
            return changed, None
        return True, self.write(data, mode=mode, owner=owner, group=group, backup=backup and old is not None,
                                backup_keep=backup_keep)


def atomic_write(path, data, mode=None, owner=None, group=None, backup=False, follow=False,
                 allow_shared_parent=False, backup_keep=None):
    """``Target(path, follow, allow_shared_parent).write(...)``: replace ``path`` with ``data``."""
    with Target(path, follow, allow_shared_parent) as target:
        return target.write(data, mode=mode, owner=owner, group=group, backup=backup, backup_keep=backup_keep)


def write_if_changed(path, data, mode=None, owner=None, group=None, backup=False, check_mode=False,
                     follow=False, allow_shared_parent=False, backup_keep=None):
    """``Target(path, follow, allow_shared_parent).write_if_changed(...)``."""
    with Target(path, follow, allow_shared_parent) as target:
        return target.write_if_changed(data, mode=mode, owner=owner, group=group, backup=backup,
                                       check_mode=check_mode, backup_keep=backup_keep)
