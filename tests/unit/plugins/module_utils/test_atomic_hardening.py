"""_atomic against a local attacker: symlinks, shared parents, locks, modes, backups."""

import multiprocessing
import os
import pwd
import stat
import time

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError


@pytest.fixture
def victim(tmp_path):
    """A root-only file outside the directory the attacker controls."""
    private = tmp_path / 'private'
    private.mkdir(mode=0o700)
    target = private / 'shadow'
    target.write_bytes(os.urandom(16).hex().encode())
    target.chmod(0o600)
    return target


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# ------------------------------------------------------------------ symlinks

@pytest.mark.parametrize('call', ['atomic_write', 'write_if_changed'])
def test_writers_refuse_a_symlink_at_the_final_component(tmp_path, victim, call):
    link = tmp_path / 'app.env'
    link.symlink_to(victim)
    before = victim.read_bytes()
    with pytest.raises(InputError, match=r'app\.env is a symbolic link.*follow: true'):
        getattr(_atomic, call)(str(link), 'A=1\n', mode='0644', backup=True)
    assert victim.read_bytes() == before
    assert _mode(victim) == 0o600
    assert os.path.islink(link)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['app.env', 'private']


def test_follow_true_writes_the_link_target(tmp_path):
    real = tmp_path / 'real'
    real.write_text('old')
    real.chmod(0o640)
    link = tmp_path / 'link'
    link.symlink_to(real)
    assert _atomic.write_if_changed(str(link), 'new', follow=True) == (True, None)
    assert os.path.islink(link)
    assert real.read_text() == 'new'
    assert _mode(real) == 0o640
    backup = _atomic.atomic_write(str(link), 'newer', follow=True, backup=True)
    assert backup.startswith(str(real) + '.') and open(backup).read() == 'new'


def test_read_bytes_no_follow_refuses_links_and_special_files(tmp_path, victim):
    link = tmp_path / 'htpasswd'
    link.symlink_to(victim)
    with pytest.raises(InputError, match='symbolic link'):
        _atomic.read_bytes(str(link), follow=False)
    assert _atomic.read_bytes(str(link)) == victim.read_bytes()   # default kept for compatibility
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    with pytest.raises(InputError, match='not a regular file'):
        _atomic.read_bytes(str(fifo), follow=False)
    with pytest.raises(InputError, match='directory'):
        _atomic.read_bytes(str(tmp_path), follow=False)
    assert _atomic.read_bytes(str(tmp_path / 'missing'), follow=False) is None


# ------------------------------------------------------------------ shared parents

@pytest.mark.parametrize('dir_mode', [0o775, 0o757, 0o777])
def test_a_parent_others_can_write_is_refused_unless_allowed(tmp_path, dir_mode):
    shared = tmp_path / 'shared'
    shared.mkdir()
    shared.chmod(dir_mode)
    target = str(shared / 'f')
    with pytest.raises(InputError, match=r'writable by its group or by others.*allow_shared_parent: true'):
        _atomic.atomic_write(target, 'x')
    with pytest.raises(InputError, match='allow_shared_parent'):
        _atomic.write_if_changed(target, 'x', check_mode=True)
    assert not os.path.exists(target)
    _atomic.atomic_write(target, 'x', allow_shared_parent=True)
    assert _mode(target) == 0o600


def test_a_sticky_world_writable_parent_is_accepted(tmp_path):
    sticky = tmp_path / 'sticky'
    sticky.mkdir()
    sticky.chmod(0o1777)
    _atomic.atomic_write(str(sticky / 'f'), 'x')


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to chown')
def test_a_parent_owned_by_another_user_is_refused(tmp_path):
    theirs = tmp_path / 'theirs'
    theirs.mkdir(mode=0o755)
    os.chown(theirs, pwd.getpwnam('nobody').pw_uid, -1)
    with pytest.raises(InputError, match='belongs to user nobody'):
        _atomic.atomic_write(str(theirs / 'f'), 'x')
    _atomic.atomic_write(str(theirs / 'f'), 'x', allow_shared_parent=True)


# ------------------------------------------------------------------ modes

@pytest.mark.parametrize('spec, current, want', [
    ('u=rw,go=', 0o644, 0o600),
    ('u=rw,g=r,o=', 0o600, 0o640),
    ('g+r', 0o600, 0o640),
    ('go-rwx', 0o755, 0o700),
    ('a+X', 0o600, 0o600),
    ('a+X', 0o700, 0o711),
    ('=r', 0o777, 0o444),
    ('u+s', 0o755, 0o4755),
    ('0640', 0o600, 0o640),
    ('640', 0o600, 0o640),
    (0o640, 0o600, 0o640),
])
def test_parse_mode_octal_and_symbolic(spec, current, want):
    assert _atomic.parse_mode(spec, current, current) == want


@pytest.mark.parametrize('bad', ['u+q', 'rw', '0999', '9', 'x=r', '', 'u=rw;go=', 0o17777, True])
def test_parse_mode_rejects_garbage(bad):
    with pytest.raises(InputError, match='mode'):
        _atomic.parse_mode(bad, 0o600)


def test_symbolic_mode_is_set_on_the_temp_file_before_data(tmp_path, monkeypatch):
    target = tmp_path / 'f'
    target.write_text('old')
    target.chmod(0o644)
    seen = []
    real_fchmod = os.fchmod

    def spy(fd, mode):
        seen.append((os.fstat(fd).st_size, mode))
        return real_fchmod(fd, mode)
    monkeypatch.setattr(os, 'fchmod', spy)
    assert _atomic.write_if_changed(str(target), 'new', mode='u=rw,go=')[0]
    assert seen == [(0, 0o600)]
    assert _mode(target) == 0o600
    assert _atomic.write_if_changed(str(target), 'new', mode='u=rw,go=') == (False, None)


# ------------------------------------------------------------------ backups

def test_private_backups_and_retention(tmp_path, monkeypatch):
    target = tmp_path / 'app.env'
    target.write_text('v0')
    target.chmod(0o640)
    stamps = iter('2026-01-01@00:00:%02d' % i for i in range(10))
    monkeypatch.setattr(_atomic, 'backup_path', lambda p: '%s.%d.%s~' % (p, 4242, next(stamps)))
    (tmp_path / 'app.env.old~').write_text('not ours')
    made = []
    for i in range(1, 6):
        made.append(_atomic.atomic_write(str(target), 'v%d' % i, backup=True, backup_keep=3))
    left = _atomic.list_backups(str(target))
    assert left == made[-3:]
    assert [open(p).read() for p in left] == ['v2', 'v3', 'v4']
    assert all(_mode(p) == 0o600 for p in left)
    assert (tmp_path / 'app.env.old~').exists()
    assert _mode(target) == 0o640


# ------------------------------------------------------------------ file_lock

def test_file_lock_creates_a_private_sidecar_and_times_out(tmp_path):
    target = str(tmp_path / 'htpasswd')
    with _atomic.file_lock(target) as lockfile:
        assert lockfile == str(tmp_path / '.htpasswd.lock')
        assert _mode(lockfile) == 0o600
        started = time.monotonic()
        ctx = multiprocessing.get_context('fork')
        queue = ctx.Queue()
        proc = ctx.Process(target=_try_lock, args=(target, 0.3, queue))
        proc.start()
        proc.join(10)
        assert queue.get(timeout=1) == '%s is busy: another writer holds %s; try again' % (target, lockfile)
        assert time.monotonic() - started < 5
    # released: another process gets it at once
    proc = ctx.Process(target=_try_lock, args=(target, 0.3, queue))
    proc.start()
    proc.join(10)
    assert queue.get(timeout=1) == 'ok'


def _try_lock(target, timeout, queue):
    try:
        with _atomic.file_lock(target, timeout=timeout):
            queue.put('ok')
    except TurnkeyError as exc:
        queue.put(exc.msg)


def test_file_lock_never_follows_a_symlink(tmp_path, victim):
    (tmp_path / '.f.lock').symlink_to(victim)
    before = victim.read_bytes()
    with pytest.raises(InputError, match='lock file .* symbolic link'):
        with _atomic.file_lock(str(tmp_path / 'f')):
            pass
    assert victim.read_bytes() == before


def test_file_lock_needs_the_directory(tmp_path):
    with pytest.raises(InputError, match='does not exist'):
        with _atomic.file_lock(str(tmp_path / 'missing' / 'f')):
            pass


# ------------------------------------------------------------------ another user's file (review finding 1)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to chown')


def _theirs(path, mode, content='old'):
    """``path`` as a file of user nobody (planted in a sticky directory, or the app user's)."""
    path.write_text(content)
    nobody = pwd.getpwnam('nobody')
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    path.chmod(mode)
    return nobody


@needs_root
@pytest.mark.parametrize('old_mode, mode, want_mode, keeps_group', [
    (0o666, None, 0o600, True),        # nothing asked: like a new file
    (0o644, 'g+r', 0o640, True),       # symbolic modes apply to 0600, not to their mode
    (0o640, '0640', 0o640, True),      # the group reads no more than it did
    (0o600, '0640', 0o640, False),     # the group would read more: not kept
    (0o604, 'u=rw,g=r,o=', 0o640, False),
])
def test_another_users_file_gives_neither_owner_nor_mode(tmp_path, old_mode, mode, want_mode, keeps_group):
    target = tmp_path / 'app.env'
    nobody = _theirs(target, old_mode)
    backup = _atomic.atomic_write(str(target), 'A=new', mode=mode, backup=True)
    st = target.stat()
    assert (st.st_uid, _mode(target)) == (0, want_mode)
    assert st.st_gid == (nobody.pw_gid if keeps_group else os.getegid())
    assert os.stat(backup).st_uid == 0 and _mode(backup) == 0o600
    assert open(backup).read() == 'old'


@needs_root
def test_another_users_file_is_kept_theirs_only_when_asked(tmp_path):
    target = tmp_path / 'app.env'
    nobody = _theirs(target, 0o640)
    assert _atomic.write_if_changed(str(target), 'old', owner='nobody') == (False, None)
    assert _atomic.write_if_changed(str(target), 'new', owner='nobody')[0]
    st = target.stat()
    assert (st.st_uid, st.st_gid, _mode(target)) == (nobody.pw_uid, nobody.pw_gid, 0o640)


@needs_root
def test_taking_over_another_users_file_is_a_change_once(tmp_path):
    target = tmp_path / 'htpasswd'
    _theirs(target, 0o644, 'u:x\n')
    assert _atomic.write_if_changed(str(target), 'u:x\n', check_mode=True) == (True, None)
    assert target.stat().st_uid != 0
    assert _atomic.write_if_changed(str(target), 'u:x\n')[0]
    assert (target.stat().st_uid, _mode(target)) == (0, 0o600)
    assert _atomic.write_if_changed(str(target), 'u:x\n') == (False, None)


def test_backups_are_private_whatever_the_files_mode(tmp_path):
    target = tmp_path / 'htpasswd'
    target.write_text('old')
    target.chmod(0o644)
    backup = _atomic.atomic_write(str(target), 'new', backup=True)
    assert _mode(backup) == 0o600 and _mode(target) == 0o644


# ------------------------------------------------------------------ directory swapped under a follow (finding 2)

@pytest.fixture
def swap_scene(tmp_path, victim):
    """``link`` -> ``conf/real.env``; ``swap()`` moves ``conf`` away and puts a link to the
    root-only directory of ``victim`` in its place (what the owner of ``tmp_path`` can do)."""
    conf = tmp_path / 'conf'
    conf.mkdir()
    (conf / 'real.env').write_text('A=old\n')
    (conf / 'real.env').chmod(0o640)
    link = tmp_path / 'app.env'
    link.symlink_to(conf / 'real.env')
    moved = tmp_path / 'conf.moved'
    (victim.parent / 'real.env').write_text('root only\n')

    def swap():
        os.rename(conf, moved)
        os.symlink(victim.parent, conf)
    return {'link': link, 'moved': moved, 'swap': swap, 'private': victim.parent}


def _private_untouched(scene):
    assert sorted(os.listdir(scene['private'])) == ['real.env', 'shadow']
    assert (scene['private'] / 'real.env').read_text() == 'root only\n'


def test_follow_a_directory_swapped_after_resolving_is_refused(swap_scene, monkeypatch):
    real_resolve = _atomic.resolve

    def resolve_then_swap(path, follow=False):
        resolved = real_resolve(path, follow)
        swap_scene['swap']()
        return resolved
    monkeypatch.setattr(_atomic, 'resolve', resolve_then_swap)
    with pytest.raises(TurnkeyError, match='replaced by a symbolic link'):
        _atomic.atomic_write(str(swap_scene['link']), 'A=new\n', follow=True, backup=True)
    _private_untouched(swap_scene)
    assert (swap_scene['moved'] / 'real.env').read_text() == 'A=old\n'


def test_follow_a_directory_swapped_while_writing_lands_in_the_checked_one(swap_scene, monkeypatch):
    real_set_attrs = _atomic._set_attrs

    def set_attrs_then_swap(fd, uid, gid, mode):
        real_set_attrs(fd, uid, gid, mode)
        if not os.path.islink(swap_scene['link'].parent / 'conf'):
            swap_scene['swap']()
    monkeypatch.setattr(_atomic, '_set_attrs', set_attrs_then_swap)
    _atomic.atomic_write(str(swap_scene['link']), 'A=new\n', follow=True)
    _private_untouched(swap_scene)
    moved = swap_scene['moved'] / 'real.env'
    assert moved.read_text() == 'A=new\n' and _mode(moved) == 0o640
    assert sorted(os.listdir(swap_scene['moved'])) == ['real.env']


def test_read_and_write_of_one_target_use_one_directory(swap_scene):
    with _atomic.Target(str(swap_scene['link']), follow=True) as target:
        swap_scene['swap']()
        assert target.read() == b'A=old\n'
        assert target.write_if_changed('A=new\n')[0]
    _private_untouched(swap_scene)
    assert (swap_scene['moved'] / 'real.env').read_text() == 'A=new\n'


# ------------------------------------------------------------------ lock files planted by others (finding 3)

def _plant_lock(tmp_path, kind, victim):
    lock = tmp_path / '.f.lock'
    if kind == 'link':
        lock.symlink_to(victim)
    elif kind == 'fifo':
        os.mkfifo(lock)
    elif kind == 'directory':
        lock.mkdir()
    else:
        lock.touch()
        os.chown(lock, pwd.getpwnam('nobody').pw_uid, -1)
    return lock


@pytest.mark.parametrize('kind, message', [
    ('link', 'is a symbolic link'),
    ('fifo', 'is not a regular file'),
    ('directory', 'is not a regular file'),
    pytest.param('other-user', 'belongs to user nobody', marks=needs_root),
])
def test_a_planted_lock_file_is_refused_with_what_to_do(tmp_path, victim, kind, message):
    lock = _plant_lock(tmp_path, kind, victim)
    with pytest.raises(InputError, match=r'lock file %s %s.*remove it \(rm %s\)' % (lock, message, lock)):
        with _atomic.file_lock(str(tmp_path / 'f')):
            pass
    with pytest.raises(InputError, match=message):
        with _atomic.Target(str(tmp_path / 'f')) as target, target.lock():
            pass
    assert os.path.lexists(lock) and not (tmp_path / 'f').exists()
