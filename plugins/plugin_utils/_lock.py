# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment lock: one rotation of an environment at a time, on every controller.

* The lock appears complete: its JSON is written to a temporary file that is then
  ``link()``-ed to the lock path, which fails when a lock exists (also on NFS).  A reader
  never sees an empty or half-written lock.
* The lock's inode is ``flock``-ed from the moment it appears by a watchdog process
  (``_lock_watchdog.py``) that lives as long as the run: while the run's main process is
  alive it notes the run's worker processes (ansible-core 2.19 workers call ``setsid()``
  and survive a SIGKILL of ``ansible-playbook``); when the main process dies with the
  lock still held, the watchdog kills those workers, waits until they are gone and
  removes the lock.
* A lock is stale only when nobody holds its flock (no watchdog, hence no surviving
  worker it knew of) and its main process is gone (same host and boot, pid with the
  recorded start time).  It is broken while holding its flock, after checking that the
  path still names the inode judged stale, so two runs breaking one stale lock can never
  both acquire.  A lock taken on another host is never broken automatically.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError

WATCHDOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_lock_watchdog.py')
# How long a run waits for the watchdog of a dead run to finish killing its workers.
DEAD_RUN_GRACE_SECONDS = 30.0


def boot_id():
    try:
        with open('/proc/sys/kernel/random/boot_id') as handle:
            return handle.read().strip()
    except OSError:
        return ''


def start_time(pid):
    """Start time of ``pid`` in clock ticks since boot, or None when it does not exist."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return int(handle.read().rsplit(')', 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def run_id(pid):
    """Identity of the ansible-playbook run whose main process is ``pid``."""
    return '%s:%d:%s' % (socket.gethostname(), pid, start_time(pid))


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def read(path):
    """The lock's content, None when there is none, ``{'corrupt': True}`` when unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError('%s is a symbolic link; a rotation lock never is: remove it' % path) from None
        raise
    with os.fdopen(fd, 'rb') as handle:
        return _parse(handle.read())


def _parse(raw):
    try:
        info = json.loads(raw.decode('utf-8'))
    except ValueError:
        return {'corrupt': True}
    return info if isinstance(info, dict) else {'corrupt': True}


def _main_alive(info):
    """True, False, or None when it cannot be told from here (another host)."""
    if info.get('host') != socket.gethostname():
        return None
    if info.get('boot_id') and info.get('boot_id') != boot_id():
        return False
    pid = info.get('pid')
    return isinstance(pid, int) and start_time(pid) == info.get('pid_start')


def busy_error(path, held, environment=''):
    return TurnkeyError(
        'rotation in progress for environment %s: locked by pid %s on %s since %s (%s). Wait for it to finish; '
        'if that run is really gone (e.g. its controller died), run with -e rotate_break_lock=true'
        % (held.get('environment') or environment, held.get('pid'), held.get('host'), held.get('started'), path),
        lock=held)


def _try_flock(fd, wait):
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _break_if_stale(path, environment, force):
    """Remove the lock at ``path`` if it is stale (or ``force`` and its holder is elsewhere).

    Returns the reason it was broken, None when it vanished meanwhile; raises the busy
    error when its holder may be alive.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        held = _parse(os.read(fd, 1 << 16))
        alive = _main_alive(held)
        # A watchdog of a dead run may still be killing that run's workers: give it time.
        if not _try_flock(fd, DEAD_RUN_GRACE_SECONDS if alive is False else 0):
            raise busy_error(path, held, environment)
        try:
            if os.fstat(fd).st_ino != os.lstat(path).st_ino:
                return None  # replaced meanwhile: look again
        except FileNotFoundError:
            return None
        if held.get('corrupt'):
            reason = 'the lock file is unreadable and no process holds it'
        elif alive is None:
            if not force:
                raise busy_error(path, held, environment)
            reason = 'forced with rotate_break_lock (holder on another host)'
        elif alive:
            raise busy_error(path, held, environment)
        else:
            reason = 'process %s on this host is gone and left no worker running' % held.get('pid')
        os.unlink(path)
        return reason
    finally:
        os.close(fd)


def acquire(path, environment, owner_pid, watch=True, force=False):
    """Take the lock for the run whose main process is ``owner_pid``.

    Returns ``{'acquired': bool, 'broke': reason or None, 'run_id': ...}``;
    ``acquired`` is False when this run holds it already.  Raises the busy error naming
    the holder when another run may be alive.
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise InputError('cannot create the rotation lock %s: its directory does not exist' % path)
    me = run_id(owner_pid)
    held = read(path)
    if held and held.get('run_id') == me:
        return {'acquired': False, 'broke': None, 'run_id': me}
    info = {'host': socket.gethostname(), 'boot_id': boot_id(), 'pid': owner_pid, 'pid_start': start_time(owner_pid),
            'pgid': _pgid(owner_pid), 'run_id': me, 'environment': environment, 'started': _now()}
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    broke = None
    try:
        os.write(fd, json.dumps(info, sort_keys=True).encode('utf-8'))
        os.fsync(fd)
        # Locked before it is visible: nobody can judge it stale in between.
        fcntl.flock(fd, fcntl.LOCK_EX)
        for _attempt in range(5):
            try:
                os.link(tmp, path)
                break
            except FileExistsError:
                broke = _break_if_stale(path, environment, force) or broke
        else:
            raise TurnkeyError('could not take the rotation lock %s: other runs keep racing for it; try again' % path)
        _fsync_dir(directory)
        if watch:
            _start_watchdog(path, fd, owner_pid, info['pid_start'])
    finally:
        os.unlink(tmp)
        os.close(fd)
    return {'acquired': True, 'broke': broke, 'run_id': me}


def clear_stale(path, environment=''):
    """Remove a lock left by a run that is gone (a run with nothing to do). Returns the reason."""
    if read(path) is None:
        return None
    try:
        return _break_if_stale(path, environment, force=False)
    except TurnkeyError:
        return None  # a live run holds it: not ours to touch


def check_free(path, owner_pid, environment=''):
    """Raise the busy error when another run holds a live lock (check mode: look only)."""
    held = read(path)
    if not held or held.get('run_id') == run_id(owner_pid) or held.get('corrupt'):
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        free = _try_flock(fd, 0)
    finally:
        os.close(fd)
    if not free or _main_alive(held) is not False:
        raise busy_error(path, held, environment)


def release(path, owner_pid):
    """Remove the lock if this run holds it.  Returns True when removed."""
    held = read(path)
    if held is None:
        return False
    if held.get('run_id') != run_id(owner_pid):
        raise TurnkeyError('the rotation lock %s belongs to another run (pid %s on %s); not removing it'
                           % (path, held.get('pid'), held.get('host')))
    os.unlink(path)
    return True


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _fsync_dir(directory):
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _start_watchdog(path, fd, owner_pid, owner_start):
    # A fresh interpreter (not a fork of this worker) holding only the lock's descriptor:
    # it keeps the flock, and none of the worker's pipes, for as long as the run lives.
    subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, WATCHDOG, path, str(fd), str(owner_pid), str(owner_start)],
        pass_fds=(fd,), close_fds=True, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
