"""Issue 12: 20 concurrent writers per module, real processes; every update is present."""

import os
import secrets

import pytest
from cryptography.fernet import Fernet, MultiFernet

from modrun import run_all

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _env_file, _htpasswd

WRITERS = 20


@pytest.fixture
def workdir(tmp_path):
    work = tmp_path / 'work'
    work.mkdir(mode=0o700)
    return work


def test_htpasswd_twenty_concurrent_writers(tmp_path, workdir):
    path = str(tmp_path / 'htpasswd')
    users = {'user%02d' % i: secrets.token_urlsafe(12) for i in range(WRITERS)}
    results = run_all('htpasswd', [{'path': path, 'name': name, 'password': pw, 'bcrypt_rounds': 4}
                                   for name, pw in users.items()], workdir)
    assert all(r.get('changed') and not r.get('failed') for r in results), [r.get('msg') for r in results]
    entries = {e.name: e.hashed for e in _htpasswd.parse(open(path).read(), path) if e.name}
    assert sorted(entries) == sorted(users)
    assert all(_htpasswd.verify(pw, entries[name]) for name, pw in users.items())
    for result in results:
        assert not any(pw in repr(result) for pw in users.values())


def test_env_file_twenty_concurrent_writers(tmp_path, workdir):
    path = str(tmp_path / 'app.env')
    values = {'KEY_%02d' % i: secrets.token_urlsafe(16) for i in range(WRITERS)}
    results = run_all('env_file', [{'path': path, 'values': {key: value}, 'backup': True, 'backup_keep': 2}
                                   for key, value in values.items()], workdir)
    assert all(r.get('changed') and not r.get('failed') for r in results), [r.get('msg') for r in results]
    assert _env_file.values_of(open(path).read()) == values
    assert len(_atomic.list_backups(path)) <= 2


def test_fernet_rotate_concurrent_with_appending_writers(tmp_path, workdir):
    """10 rotations and 10 appenders (the app adding tokens under the same lock) at once."""
    old, new = Fernet.generate_key(), Fernet.generate_key()
    path = str(tmp_path / 'tokens.txt')
    plain = [secrets.token_bytes(8) for _dummy in range(5)]
    _atomic.atomic_write(path, '\n'.join(Fernet(old).encrypt(p).decode() for p in plain) + '\n')
    appended = [secrets.token_bytes(8) for _dummy in range(WRITERS // 2)]
    pids = []
    for value in appended:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                with _atomic.file_lock(path):
                    text = _atomic.read_bytes(path, follow=False).decode()
                    _atomic.atomic_write(path, text + Fernet(old).encrypt(value).decode() + '\n')
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    keys = [new.decode(), old.decode()]
    results = run_all('fernet_rotate', [{'path': path, 'keys': keys}] * (WRITERS // 2), workdir)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    assert not any(r.get('failed') for r in results), [r.get('msg') for r in results]
    multi = MultiFernet([Fernet(new), Fernet(old)])
    found = [multi.decrypt(line.encode()) for line in open(path).read().split('\n') if line.strip()]
    assert sorted(found) == sorted(plain + appended)


def _vault_writer(path, password, key, value, barrier):
    from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars
    barrier.wait()
    _vault_vars.update_vault_file(path, password, vault_id='it', values={key: value})


def test_vault_secret_twenty_concurrent_writers(tmp_path):
    import multiprocessing
    from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars
    from ansible_collections.turnkey.secrets.plugins.module_utils import _vault
    path, password = str(tmp_path / 'vault.yml'), secrets.token_urlsafe(16).encode()
    _vault_vars.update_vault_file(path, password, vault_id='it', values={'first': 'x'}, create=True)
    values = {'vault_k%02d' % i: secrets.token_urlsafe(12) for i in range(WRITERS)}
    ctx = multiprocessing.get_context('fork')
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_vault_writer, args=(path, password, k, v, barrier)) for k, v in values.items()]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * WRITERS
    text, blobs = _vault.find_blobs(open(path, 'rb').read(), path, inline=False)
    assert blobs[0].open([password]) is not None
    stored = _vault_vars.parse_values(blobs[0].plaintext.decode(), path)
    assert {k: stored[k] for k in values} == values
