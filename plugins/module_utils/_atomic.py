# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection writes files that hold secrets.

The temporary file is created in the target directory with ``O_EXCL`` and mode 0600,
given its final owner, group and mode while nobody else can open it, fsynced, then
renamed over the target; the directory is fsynced too.  A reader sees the old file or
the new one, never a mix, and the data is never briefly world-readable.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import shutil
import stat
import tempfile
import time

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError


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


def parse_mode(mode, default=None):
    """Octal mode from an int or a string such as '0640' / '640'; None keeps ``default``."""
    if mode is None:
        return default
    if isinstance(mode, int):
        return mode & 0o7777
    text = str(mode).strip()
    try:
        value = int(text, 8)
    except ValueError:
        raise InputError('mode %r is not an octal number such as "0640"; symbolic modes are not supported here' % (mode,)) from None
    if value < 0 or value > 0o7777:
        raise InputError('mode %r is out of range' % (mode,))
    return value


def read_bytes(path):
    """Content of ``path`` or None when it does not exist; InputError when unreadable."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError('%s is a directory, not a file' % path) from None
    except OSError as exc:
        raise InputError('cannot read %s: %s' % (path, exc.strerror or exc)) from None


def backup_path(path):
    # Same naming scheme as AnsibleModule.backup_local, so users find backups where they expect.
    return '%s.%d.%s~' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S', time.localtime()))


def make_backup(path):
    """Copy ``path`` next to itself keeping mode and owner; return the copy's path or None."""
    if not os.path.exists(path):
        return None
    dest = backup_path(path)
    st = os.stat(path)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'wb') as out, open(path, 'rb') as src:
            shutil.copyfileobj(src, out)
            out.flush()
            _set_attrs(out.fileno(), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
            os.fsync(out.fileno())
    except BaseException:
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


def atomic_write(path, data, mode=None, owner=None, group=None, backup=False):
    """Replace ``path`` with ``data`` (bytes or str) atomically.

    ``mode``/``owner``/``group`` default to the existing file's, else 0600 and the
    current user.  Returns the backup path when ``backup`` made one, else None.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise InputError('directory %s does not exist; create it first' % directory)
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise InputError('%s exists and is not a regular file' % path)
    final_mode = parse_mode(mode, stat.S_IMODE(current.st_mode) if current else 0o600)
    uid = _uid(owner) if owner not in (None, '') else (current.st_uid if current else -1)
    gid = _gid(group) if group not in (None, '') else (current.st_gid if current else -1)
    if current is None and uid == os.getuid():
        uid = -1

    backup_file = make_backup(path) if backup and current is not None else None
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        # mkstemp already creates the file 0600; attributes are set before any data lands.
        _set_attrs(fd, uid, gid, final_mode)
        with os.fdopen(fd, 'wb') as handle:
            fd = None
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
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
    return backup_file


def write_if_changed(path, data, mode=None, owner=None, group=None, backup=False, check_mode=False):
    """Write only when content or attributes differ. Returns ``(changed, backup_file)``."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    old = read_bytes(path)
    changed = old != data
    if not changed:
        st = os.stat(path)
        want_mode = parse_mode(mode, stat.S_IMODE(st.st_mode))
        want_uid = _uid(owner) if owner not in (None, '') else st.st_uid
        want_gid = _gid(group) if group not in (None, '') else st.st_gid
        changed = (want_mode, want_uid, want_gid) != (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if not changed or check_mode:
        return changed, None
    return True, atomic_write(path, data, mode=mode, owner=owner, group=group, backup=backup and old is not None)
