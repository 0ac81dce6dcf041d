# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watchdog of one rotation run, started by ``_lock.acquire`` (see there).

Run as ``python _lock_watchdog.py LOCK FD PID START``: it inherits the lock's flocked
descriptor FD and holds it while the run's main process PID (with start time START)
lives.  Meanwhile it notes the processes the run forks (workers, and what they start),
because killing ``ansible-playbook`` leaves them running.  If the main process dies
while the lock is still its own, it SIGKILLs those processes, waits until they are gone,
then removes the lock; the flock goes with this process.  No ansible imports: it must
start fast and depend on nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import time

POLL_SECONDS = 0.1


def start_time(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return int(handle.read().rsplit(')', 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(root):
    """{pid: start time} of every process below ``root``, from one pass over /proc."""
    table = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), int(fields[19]))
    found, parents = {}, {root}
    while parents:
        level = {pid: start for pid, (ppid, start) in table.items() if ppid in parents and pid not in found}
        found.update(level)
        parents = set(level)
    return found


def still_ours(path, fd):
    try:
        return os.lstat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def kill(processes):
    for pid, started in processes.items():
        if start_time(pid) != started:
            continue
        try:
            # ansible-core 2.19 workers lead their own process group: take their children too.
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(start_time(p) == s for p, s in processes.items()):
        time.sleep(POLL_SECONDS)


def main(argv):
    path, fd, pid, started = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    seen = {}
    while still_ours(path, fd):
        if start_time(pid) != started:
            # The main process died holding the lock: nothing it started may go on writing.
            kill(seen)
            if still_ours(path, fd):
                os.unlink(path)
            return 0
        # Workers, and what they run (ssh clients, modules on the local connection).
        current = descendants(pid)
        seen = {p: s for p, s in seen.items() if p in current or start_time(p) == s}
        seen.update(current)
        seen.pop(os.getpid(), None)
        time.sleep(POLL_SECONDS)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
