"""The shared base: atomic writes, redaction, the command runner, the module edge."""

import os
import stat
import sys
import threading

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _command, _redact
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import CommandError, InputError, TurnkeyError


# ------------------------------------------------------------------ atomic writes

def test_atomic_write_creates_with_final_mode(tmp_path):
    target = tmp_path / 'secret.env'
    assert _atomic.atomic_write(str(target), b'A=1\n', mode='0640') is None
    assert target.read_bytes() == b'A=1\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_write_defaults_to_0600_and_keeps_existing_mode(tmp_path):
    target = tmp_path / 'f'
    _atomic.atomic_write(str(target), 'x')
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    os.chmod(target, 0o640)
    _atomic.atomic_write(str(target), 'y')
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_write_is_never_world_readable_midway(tmp_path, monkeypatch):
    """Every temp file seen while writing has no group/other bits before its final chmod."""
    seen = []
    real_fchmod = os.fchmod

    def spy(fd, mode):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fchmod(fd, mode)

    monkeypatch.setattr(os, 'fchmod', spy)
    _atomic.atomic_write(str(tmp_path / 'f'), 'data', mode=0o644)
    assert seen == [0o600]


def test_atomic_write_backup_keeps_old_content_privately(tmp_path):
    target = tmp_path / 'f'
    target.write_text('old')
    os.chmod(target, 0o600)
    backup = _atomic.atomic_write(str(target), 'new', backup=True)
    assert backup and open(backup).read() == 'old'
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert target.read_text() == 'new'


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / 'f'
    target.write_text('old')

    def boom(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'rename', boom)
    with pytest.raises(TurnkeyError, match='cannot write'):
        _atomic.atomic_write(str(target), 'new')
    assert target.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f']


def test_atomic_write_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match='does not exist'):
        _atomic.atomic_write(str(tmp_path / 'missing' / 'f'), 'x')
    with pytest.raises(InputError, match='octal'):
        _atomic.atomic_write(str(tmp_path / 'f'), 'x', mode='u+q')
    with pytest.raises(InputError, match='owner'):
        _atomic.atomic_write(str(tmp_path / 'f'), 'x', owner='no-such-user-here')
    assert not (tmp_path / 'f').exists()


def test_write_if_changed_is_idempotent_and_honours_check_mode(tmp_path):
    target = str(tmp_path / 'f')
    assert _atomic.write_if_changed(target, 'a', check_mode=True) == (True, None)
    assert not os.path.exists(target)
    assert _atomic.write_if_changed(target, 'a')[0]
    assert _atomic.write_if_changed(target, 'a') == (False, None)
    assert _atomic.write_if_changed(target, 'a', mode='0644')[0]
    assert _atomic.write_if_changed(target, 'a', mode='0644') == (False, None)


def test_concurrent_writers_never_expose_partial_content(tmp_path):
    target = str(tmp_path / 'f')
    big = [b'a' * 200000, b'b' * 200000]
    _atomic.atomic_write(target, big[0])
    stop = threading.Event()
    bad = []

    def reader():
        while not stop.is_set():
            data = open(target, 'rb').read()
            if data not in big:
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(30):
        _atomic.atomic_write(target, big[i % 2])
    stop.set()
    thread.join()
    assert not bad


# ------------------------------------------------------------------ redaction

def test_redact_replaces_plain_and_encoded_forms():
    secret = 'p@ss+word/=='
    text = 'a %s b %s c %s' % (secret, 'p%40ss%2Bword%2F%3D%3D', 'cEBzcyt3b3JkLz09')
    out = _redact.redact(text, [secret])
    assert secret not in out and 'p%40ss' not in out and 'cEBzcyt3b3JkLz09' not in out
    assert out.count(_redact.HIDDEN) == 3


def test_redact_ignores_tiny_values_and_handles_bytes():
    assert _redact.redact('on off 1', ['on', '1']) == 'on off 1'
    assert _redact.redact(b'xx-secret-xx', ['secret']) == b'xx-' + _redact.HIDDEN.encode() + b'-xx'


def test_redact_obj_walks_structures():
    out = _redact.redact_obj({'k-secret': ['secret', ('secret',)], 'n': 3}, ['secret'])
    assert 'secret' not in repr(out) and out['n'] == 3


def test_kdf_digest_is_salted_and_verifies():
    a = _redact.kdf_digest('value', iterations=1000)
    b = _redact.kdf_digest('value', iterations=1000)
    assert a != b
    assert _redact.kdf_verify('value', a) and _redact.kdf_verify('value', b)
    assert not _redact.kdf_verify('other', a)
    for broken in ('', 'garbage', 'pbkdf2-sha256$1$AA==$AA==', 'md5$1000$AA==$AA==', None):
        assert not _redact.kdf_verify('value', broken)


def test_kdf_hashlib_fallback_gives_the_same_digest(monkeypatch):
    made = _redact.kdf_digest('value', iterations=1000)
    monkeypatch.setattr(_redact, '_PBKDF2HMAC', None)
    assert _redact.kdf_verify('value', made)
    fallback = _redact.kdf_digest('value', salt=b'0' * 16, iterations=1000)
    monkeypatch.undo()
    assert _redact.kdf_digest('value', salt=b'0' * 16, iterations=1000) == fallback


def test_fingerprint_is_stable_within_a_run_only():
    assert _redact.fingerprint('x') == _redact.fingerprint('x') != _redact.fingerprint('y')
    assert 'x' not in _redact.fingerprint('x')


# ------------------------------------------------------------------ commands

def test_run_passes_data_on_stdin_and_redacts_output():
    secret = 'hunter2-is-the-secret'
    res = _command.run([sys.executable, '-c', 'import sys; d = sys.stdin.read(); print("got " + d)'], data=secret)
    assert res.rc == 0 and secret not in res.stdout and _redact.HIDDEN in res.stdout


def test_run_refuses_secret_in_argv():
    with pytest.raises(InputError, match='argument list'):
        _command.run(['echo', 'token=abcdef123'], secrets=['abcdef123'])


def test_run_failure_is_a_redacted_command_error():
    secret = 'leaky-secret-value'
    with pytest.raises(CommandError) as info:
        _command.run([sys.executable, '-c', 'import sys; sys.stderr.write(sys.stdin.read()); sys.exit(3)'],
                     data=secret)
    assert info.value.rc == 3 and secret not in info.value.msg and 'rc=3' in info.value.msg


def test_run_missing_binary_is_an_input_error():
    with pytest.raises(InputError, match='not found'):
        _command.run(['/nonexistent/turnkey-binary'])
    with pytest.raises(InputError, match='not found on PATH'):
        _command.find_executable('turnkey-no-such-binary')


# ------------------------------------------------------------------ module edge

class FakeModule(object):
    def __init__(self, secrets=()):
        self.no_log_values = set(secrets)
        self.exited = None

    def fail_json(self, **kwargs):
        self.exited = ('fail', kwargs)
        raise SystemExit(1)

    def exit_json(self, **kwargs):
        self.exited = ('exit', kwargs)
        raise SystemExit(0)


def test_run_module_converts_domain_errors_and_redacts():
    module = FakeModule(['topsecret-value'])

    def main(m):
        raise InputError('bad thing near topsecret-value', path='/x')

    with pytest.raises(SystemExit):
        run_module(module, main)
    kind, kwargs = module.exited
    assert kind == 'fail' and 'topsecret-value' not in kwargs['msg'] and kwargs['path'] == '/x'


def test_run_module_turns_a_bug_into_a_message_not_a_crash():
    module = FakeModule(['topsecret-value'])

    def main(m):
        raise KeyError('topsecret-value')

    with pytest.raises(SystemExit):
        run_module(module, main)
    kind, kwargs = module.exited
    assert kind == 'fail' and kwargs['msg'].startswith('unexpected KeyError')
    assert 'topsecret-value' not in kwargs['msg'] + kwargs['exception']
