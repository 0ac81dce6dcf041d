"""The environment lock with real processes: races, stale locks, the watchdog."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock

CTX = multiprocessing.get_context('fork')


def _racer(path, barrier, results, done):
    barrier.wait()
    try:
        outcome = _lock.acquire(path, 'race', os.getpid(), watch=False)
        results.put(('won', outcome['broke']))
    except TurnkeyError:
        results.put(('busy', None))
    # A winner stays alive (holding) until every racer has reported.
    done.wait(20)


def _race(path, racers=2):
    barrier = CTX.Barrier(racers)
    results, done = CTX.Queue(), CTX.Event()
    procs = [CTX.Process(target=_racer, args=(path, barrier, results, done)) for _racer_index in range(racers)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=20) for _proc in procs]
    done.set()
    for proc in procs:
        proc.join(10)
    return [outcome for outcome, _reason in outcomes].count('won')


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_lock_is_complete_when_it_appears(tmp_path):
    path = str(tmp_path / '.rotate.lock')
    outcome = _lock.acquire(path, 'staging', os.getpid(), watch=False)
    info = json.loads(open(path).read())
    assert outcome['acquired'] and info['run_id'] == outcome['run_id']
    for key in ('host', 'boot_id', 'pid', 'pid_start', 'pgid', 'environment', 'started'):
        assert info[key] not in (None, ''), key
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert os.listdir(str(tmp_path)) == ['.rotate.lock']
    # The same run again: a no-op; another live run: busy, named.
    assert _lock.acquire(path, 'staging', os.getpid(), watch=False)['acquired'] is False
    holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        with pytest.raises(TurnkeyError, match='rotation in progress for environment staging: locked by pid %d' % os.getpid()):
            _lock.acquire(path, 'staging', holder.pid, watch=False)
        with pytest.raises(TurnkeyError):
            _lock.check_free(path, holder.pid)
        with pytest.raises(TurnkeyError, match='belongs to another run'):
            _lock.release(path, holder.pid)
    finally:
        holder.kill()
    assert _lock.release(path, os.getpid()) and not os.path.exists(path)


def test_two_processes_racing_never_both_acquire(tmp_path):
    doubles = 0
    for trial in range(200):
        path = str(tmp_path / ('lock%d' % trial))
        won = _race(path)
        doubles += won > 1
        assert won >= 1
    assert doubles == 0


def test_racing_to_break_one_stale_lock_lets_exactly_one_in(tmp_path):
    dead = _dead_pid()
    for trial in range(40):
        path = str(tmp_path / ('stale%d' % trial))
        with open(path, 'w') as handle:
            json.dump({'host': os.uname()[1], 'boot_id': _lock.boot_id(), 'pid': dead, 'pid_start': 1,
                       'run_id': 'dead', 'environment': 'race'}, handle)
        assert _race(path, racers=3) == 1


def test_a_lock_from_another_host_is_only_broken_when_forced(tmp_path):
    path = str(tmp_path / 'lock')
    with open(path, 'w') as handle:
        json.dump({'host': 'elsewhere.invalid', 'pid': 1, 'run_id': 'x', 'environment': 'prod'}, handle)
    with pytest.raises(TurnkeyError, match='rotate_break_lock'):
        _lock.acquire(path, 'prod', os.getpid(), watch=False)
    outcome = _lock.acquire(path, 'prod', os.getpid(), watch=False, force=True)
    assert 'another host' in outcome['broke']


def test_a_planted_symlink_is_refused(tmp_path):
    path = str(tmp_path / 'lock')
    os.symlink('/etc/passwd', path)
    with pytest.raises(Exception, match='symbolic link'):
        _lock.acquire(path, 'x', os.getpid(), watch=False)


MAIN = textwrap.dedent('''
    import os, sys, time
    sys.path.insert(0, {collections!r})
    from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
    _lock.acquire({path!r}, 'demo', os.getpid())
    worker = os.fork()
    if worker == 0:
        os.setsid()  # as ansible-core 2.19 workers do
        time.sleep(120)
        os._exit(0)
    print(worker, flush=True)
    time.sleep(120)
''')


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def test_watchdog_kills_the_orphan_workers_then_frees_the_lock(tmp_path):
    path = str(tmp_path / 'lock')
    collections = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(_lock.__file__))))
    collections = os.path.dirname(os.path.dirname(collections))
    main = subprocess.Popen([sys.executable, '-c', MAIN.format(collections=collections, path=path)],
                            stdout=subprocess.PIPE)
    worker = int(main.stdout.readline())
    time.sleep(0.5)  # the watchdog has seen the worker
    assert os.path.exists(path)
    with pytest.raises(TurnkeyError):
        _lock.acquire(path, 'demo', os.getpid(), watch=False)
    os.kill(main.pid, signal.SIGKILL)  # the main process only: the worker is orphaned
    main.wait()
    deadline = time.monotonic() + 10
    while (os.path.exists(path) or _alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), 'the orphan worker survived'
    assert not os.path.exists(path), 'the lock of the dead run was not removed'
    assert _lock.acquire(path, 'demo', os.getpid(), watch=False)['acquired']


def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
            return handle.read()
    except OSError:
        return b''


def test_watchdog_goes_away_when_the_run_releases(tmp_path):
    path = str(tmp_path / 'lock')
    _lock.acquire(path, 'demo', os.getpid())
    # A loaded machine may take a while to start the watchdog.
    deadline = time.monotonic() + 10
    watchdogs = []
    while not watchdogs and time.monotonic() < deadline:
        time.sleep(0.05)
        watchdogs = [p for p in os.listdir('/proc') if p.isdigit() and path.encode() in _cmdline(p)]
    assert len(watchdogs) == 1
    _lock.release(path, os.getpid())
    deadline = time.monotonic() + 5
    while _alive(int(watchdogs[0])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(watchdogs[0]))
