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
* ``read_bytes(path, follow=False)`` opens with ``O_NOFOLLOW`` and only reads regular files,
  so a planted symlink cannot make a root-run module disclose a root-only file.
  Intermediate directories are trusted: keep the directories above a secret writable by
  root (or its owner) only.

``file_lock(path)`` serialises read-modify-write cycles of one file between processes with
``flock`` on a sidecar ``<dir>/.<basename>.lock`` (kept, never deleted: deleting lock files
races).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import re
import shutil
import stat
import tempfile
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

def _symlink_error(path):
    return InputError('%s is a symbolic link; refusing to follow it (whoever can write its directory could point it '
                      'at another file). Replace the link by the real file, point path at the link target, or set '
                      'follow: true if you own the link' % path)


def resolve(path, follow=False):
    """Absolute path to work on: the link target when ``follow``, else ``path`` itself,
    refused when it is a symlink."""
    path = os.path.abspath(path)
    if follow:
        return os.path.realpath(path)
    if os.path.islink(path):
        raise _symlink_error(path)
    return path


def check_parent(directory, allow_shared_parent=False):
    """InputError unless ``directory`` exists and only its owner (root or us) can write it."""
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        raise InputError('directory %s does not exist; create it first' % directory) from None
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
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = str(st.st_uid)
        raise InputError('directory %s belongs to user %s, who could swap the file while it is written: make it '
                         'owned by root (chown root %s), or set allow_shared_parent: true if you trust that user'
                         % (directory, owner, directory))


# --------------------------------------------------------------------------- reading

def read_bytes(path, follow=True, limit=None):
    """Content of ``path`` (at most ``limit`` bytes when given) or None when it does not
    exist; InputError when unreadable.

    With ``follow=False`` (what readers of secret paths pass) a symlink at ``path`` is
    refused (``O_NOFOLLOW``) and only a regular file is read; the default ``True`` keeps
    the historical behaviour for callers reading files they chose themselves.
    """
    flags = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NOCTTY', 0) | os.O_NONBLOCK
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError('%s is a directory, not a file' % path) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise _symlink_error(os.path.abspath(path)) from None
        raise InputError('cannot read %s: %s' % (path, exc.strerror or exc)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError('%s is a directory, not a file' % path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError('%s is not a regular file; refusing to read it' % path)
        # Back to blocking reads (O_NONBLOCK only kept a FIFO from hanging the open).
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with os.fdopen(fd, 'rb') as handle:
            fd = None
            return handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise InputError('cannot read %s: %s' % (path, exc.strerror or exc)) from None
    finally:
        if fd is not None:
            os.close(fd)


# --------------------------------------------------------------------------- locking

def lock_path(path):
    path = os.path.abspath(path)
    return os.path.join(os.path.dirname(path), '.%s.lock' % os.path.basename(path))


@contextlib.contextmanager
def file_lock(path, timeout=DEFAULT_LOCK_TIMEOUT):
    """Exclusive ``flock`` on ``<dir>/.<basename>.lock`` for a read-modify-write of ``path``.

    The lock file is created 0600, never through a symlink, and kept afterwards.  Waits
    at most ``timeout`` seconds, then raises TurnkeyError naming the lock file.
    """
    lockfile = lock_path(path)
    directory = os.path.dirname(lockfile)
    if not os.path.isdir(directory):
        raise InputError('directory %s does not exist; create it first' % directory)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0) | os.O_NONBLOCK
    try:
        fd = os.open(lockfile, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError('lock file %s is a symbolic link; remove it (the collection creates it itself)'
                             % lockfile) from None
        raise TurnkeyError('cannot open lock file %s: %s' % (lockfile, exc.strerror or exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError('lock file %s is not a regular file; remove it' % lockfile)
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
                raise TurnkeyError('%s is busy: another writer holds %s; try again' % (os.path.abspath(path), lockfile))
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 0.2)
        try:
            yield lockfile
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- backups

def backup_path(path):
    # Same naming scheme as AnsibleModule.backup_local, so users find backups where they expect.
    return '%s.%d.%s~' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S', time.localtime()))


def backup_pattern(path):
    """Regex matching the names ``backup_path`` gives backups of ``path`` (basename only)."""
    return re.compile(re.escape(os.path.basename(path)) + r'\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~\Z')


def list_backups(path):
    """Backups of ``path`` made by this collection (regular files, not links), oldest first."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    pattern = backup_pattern(path)
    found = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if not pattern.match(name):
            continue
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            # The name holds the date to the second; the mtime orders backups of one second.
            stamp = name[len(os.path.basename(path)):].split('.', 2)[2]
            found.append((stamp, st.st_mtime_ns, full))
    return [full for _stamp, _mtime, full in sorted(found)]


def prune_backups(path, keep=DEFAULT_BACKUP_KEEP):
    """Delete all but the ``keep`` newest backups of ``path``; returns the deleted paths."""
    if keep is None:
        return []
    if keep < 0:
        raise InputError('backup_keep must be 0 or more (got %d)' % keep)
    backups = list_backups(path)
    doomed = backups[:max(0, len(backups) - keep)]
    for name in doomed:
        _unlink_quietly(name)
    return doomed


def make_backup(path, follow=False, mode=None):
    """Copy ``path`` next to itself keeping owner (and mode, unless ``mode`` is given, e.g.
    0o600 for private backups); return the copy's path or None when there is no file."""
    path = resolve(path, follow)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise InputError('%s exists and is not a regular file' % path)
    dest = backup_path(path)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, 'wb') as out:
            fd = None
            src_fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(src_fd, 'rb') as src:
                _set_attrs(out.fileno(), st.st_uid, st.st_gid,
                           stat.S_IMODE(st.st_mode) if mode is None else mode)
                shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        if fd is not None:
            os.close(fd)
        _unlink_quietly(dest)
        raise
    return dest


def _set_attrs(fd, uid, gid, mode):
    if uid != -1 or gid != -1:
        try:
            os.fchown(fd, uid, gid)
        except PermissionError:
            raise InputError('not permitted to set owner/group on the new file; run with become or drop owner/group') from None
    os.fchmod(fd, mode)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- writing

def atomic_write(path, data, mode=None, owner=None, group=None, backup=False, follow=False,
                 allow_shared_parent=False, backup_mode=None, backup_keep=None):
    """Replace ``path`` with ``data`` (bytes or str) atomically.

    ``mode`` (octal or symbolic) / ``owner`` / ``group`` default to the existing file's,
    else 0600 and the current user; they are set on the temp file before any data.
    ``follow`` works on a symlink's target instead of refusing it; ``allow_shared_parent``
    accepts a directory others can write.  ``backup_mode`` (e.g. 0o600) is the mode of
    the backup copy (default: the file's); ``backup_keep`` deletes all but that many
    newest backups of the file.  Returns the backup path when ``backup`` made one, else None.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    path = resolve(path, follow)
    directory = os.path.dirname(path)
    check_parent(directory, allow_shared_parent)
    try:
        current = os.lstat(path)
    except FileNotFoundError:
        current = None
    if current is not None and stat.S_ISLNK(current.st_mode):
        raise _symlink_error(path)
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise InputError('%s exists and is not a regular file' % path)
    final_mode = parse_mode(mode, stat.S_IMODE(current.st_mode) if current else 0o600,
                            stat.S_IMODE(current.st_mode) if current else None)
    uid = _uid(owner) if owner not in (None, '') else (current.st_uid if current else -1)
    gid = _gid(group) if group not in (None, '') else (current.st_gid if current else -1)
    if current is None and uid == os.getuid():
        uid = -1

    backup_file = make_backup(path, mode=backup_mode) if backup and current is not None else None
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        # mkstemp already creates the file 0600; attributes are set before any data lands.
        _set_attrs(fd, uid, gid, final_mode)
        with os.fdopen(fd, 'wb') as handle:
            fd = None
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # rename() replaces a symlink planted meanwhile instead of following it.
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
            raise TurnkeyError('cannot write %s: %s' % (path, exc.strerror)) from None
        raise
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            _unlink_quietly(tmp)
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    if backup and backup_keep is not None:
        prune_backups(path, backup_keep)
    return backup_file


def write_if_changed(path, data, mode=None, owner=None, group=None, backup=False, check_mode=False,
                     follow=False, allow_shared_parent=False, backup_mode=None, backup_keep=None):
    """Write only when content or attributes differ. Returns ``(changed, backup_file)``.

    The keyword arguments after ``check_mode`` are those of ``atomic_write``; the checks
    (symlink, shared parent, mode syntax) run in check mode too.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    path = resolve(path, follow)
    check_parent(os.path.dirname(path), allow_shared_parent)
    old = read_bytes(path, follow=False)
    changed = old != data
    if old is None:
        parse_mode(mode, 0o600)
    else:
        st = os.lstat(path)
        want_mode = parse_mode(mode, stat.S_IMODE(st.st_mode), stat.S_IMODE(st.st_mode))
        want_uid = _uid(owner) if owner not in (None, '') else st.st_uid
        want_gid = _gid(group) if group not in (None, '') else st.st_gid
        changed = changed or (want_mode, want_uid, want_gid) != (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if not changed or check_mode:
        return changed, None
    return True, atomic_write(path, data, mode=mode, owner=owner, group=group, backup=backup and old is not None,
                              allow_shared_parent=allow_shared_parent, backup_mode=backup_mode,
                              backup_keep=backup_keep)
