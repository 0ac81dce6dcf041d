"""rotate.yml with a fernet_key entry whose PostgreSQL column holds tokens: retire
re-encrypts the rows under the new key and the old key leaves vault_<name>_previous (and
the app's list) only when no row is under it.  Real PostgreSQL, localhost as db and app.
"""

import json
import os
import secrets
import subprocess
import sys
import time

import pytest
import yaml
from cryptography.fernet import Fernet, InvalidToken

from harness import ROOT, VaultedInventory, ansible_env, assert_no_secret, run_playbook
from invariants import env_values
from test_rotate_kill import _descendants, _kill

ROWS = 300


def fkey():
    return Fernet.generate_key().decode()


class FernetEnv(VaultedInventory):
    def __init__(self, base, postgres):
        super().__init__(base, 'fk')
        self.postgres = postgres
        self.table = 'tk_fk_' + secrets.token_hex(4)
        self.env_file = os.path.join(self.base, 'app.env')
        self.old = fkey()
        self.older = fkey()
        self.plain = ['oauth-%s' % secrets.token_hex(8) for dummy in range(ROWS)]
        with postgres.connect() as conn:
            conn.execute('CREATE TABLE %s (id bigint PRIMARY KEY, token text)' % self.table)
            with conn.cursor().copy('COPY %s (id, token) FROM STDIN' % self.table) as copy:
                for i, p in enumerate(self.plain):
                    # Most rows under the current key, every tenth under the one before it.
                    f = Fernet(self.older if i % 10 == 0 else self.old)
                    copy.write_row((i + 1, f.encrypt(p.encode()).decode()))
        self.write_vault({'vault_fek': self.old, 'vault_fek_previous': [self.older],
                          'vault_db_admin_password': postgres.admin_password})
        with open(os.path.join(self.inventory, 'local.yml'), 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                            'ansible_python_interpreter': sys.executable}},
                                    'children': {g: {'hosts': {'localhost': None}} for g in ('db', 'app')}}}, handle)
        with open(os.path.join(self.gv, 'main.yml'), 'w') as handle:
            yaml.safe_dump({
                'turnkey_environment': 'fk', 'turnkey_vault_id': 'fk', 'turnkey_vault_password_file': self.password_file,
                'turnkey_secrets': {'fek': {
                    'kind': 'fernet_key', 'keep': 1, 'batch_size': 64, 'columns': [{'table': self.table, 'column': 'token'}],
                    'login_host': postgres.host, 'login_port': postgres.port, 'login_user': postgres.admin_user,
                    'login_password': '{{ vault_db_admin_password }}'}},
                'turnkey_env_files': [{'path': self.env_file, 'values': {
                    'FIELD_ENCRYPTION_KEYS': ['vault_fek', 'vault_fek_previous']}}],
            }, handle)
        with open(self.rotation_file, 'w') as handle:
            yaml.safe_dump({'turnkey_rotation': {'fek': {'rotated_at': '2026-01-01T00:00:00Z', 'max_age_days': 365}}}, handle)
        self.keys = [self.old, self.older, postgres.admin_password]

    def rotate(self, tmp_path, *args, expect_rc=0, check=False, force=True):
        result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=self.inventory, check=check,
                              args=self.vault_args + (['-e', 'rotate_force=true'] if force else []) + list(args),
                              expect_rc=expect_rc, leak_check=self.all_keys(), timeout=300)
        assert_no_secret(result.output, self.all_keys(), 'rotate.yml output (keys after the run)')
        return result

    def all_keys(self):
        vault = self.vault()
        found = [vault.get('vault_fek')] + list(vault.get('vault_fek_previous') or [])
        pending = ((vault.get('turnkey_rotation_journal') or {}).get('secrets') or {}).get('fek', {}).get('new') or {}
        self.keys += [k for k in found + list(pending.values()) if k and k not in self.keys]
        return list(self.keys)

    def rows(self):
        with self.postgres.connect() as conn:
            return conn.execute('SELECT id, token FROM %s ORDER BY id' % self.table).fetchall()

    def under(self, key):
        f, n = Fernet(key), 0
        for _id, token in self.rows():
            try:
                f.decrypt(token.encode())
                n += 1
            except InvalidToken:
                pass
        return n

    def audit(self):
        path = os.path.join(self.inventory, '.state', 'audit.log')
        text = open(path).read()
        assert_no_secret(text, self.all_keys(), 'audit log')
        return [json.loads(line) for line in text.splitlines()]

    def assert_finished(self):
        vault = self.vault()
        new = vault['vault_fek']
        assert new not in (self.old, self.older)
        assert 'turnkey_rotation_journal' not in vault
        # Every row decrypts with the new key alone, to its plaintext.
        f = Fernet(new)
        assert [f.decrypt(t.encode()).decode() for _id, t in self.rows()] == self.plain
        # Trimmed to keep (1) only now: the key just replaced stays, the older one is gone,
        # from the vault and from the app's list.
        assert vault['vault_fek_previous'] == [self.old]
        assert env_values(self.env_file)['FIELD_ENCRYPTION_KEYS'] == '%s,%s' % (new, self.old)
        retired = [line for line in self.audit() if line.get('secret') == 'fek' and line['step'] == 'retire'
                   and line['outcome'] == 'retired']
        assert retired and retired[-1]['rows_under_old_keys'] == 0, retired
        return new


def test_rotation_reencrypts_then_trims(tmp_path, postgres):
    env = FernetEnv(tmp_path, postgres)
    before = env.rows()
    started = time.monotonic()
    checked = env.rotate(tmp_path / 'check', check=True)
    assert 'fek' in checked.output
    assert env.rows() == before and env.vault()['vault_fek'] == env.old and not os.path.exists(env.env_file)
    env.rotate(tmp_path / 'run')
    env.assert_finished()
    # Again, not forced: nothing due, nothing changed.
    rows = env.rows()
    env.rotate(tmp_path / 'again', force=False)
    assert env.rows() == rows
    assert time.monotonic() - started < 120


def test_corrupt_row_keeps_the_old_keys_until_fixed(tmp_path, postgres):
    env = FernetEnv(tmp_path, postgres)
    stranger = Fernet(fkey())
    postgres.sql('UPDATE %s SET token = %%s WHERE id = 7' % env.table, (stranger.encrypt(b'lost').decode(),))
    failed = env.rotate(tmp_path / 'fail', expect_rc=2)
    assert 'none of the keys decrypts' in failed.output and 'not retired' in failed.output
    vault = env.vault()
    new = vault['vault_fek']
    # Nothing trimmed: the old keys stay for the app; the rest of the rows are under the new key.
    assert vault['vault_fek_previous'] == [env.old, env.older]
    assert env_values(env.env_file)['FIELD_ENCRYPTION_KEYS'] == ','.join([new, env.old, env.older])
    entry = vault['turnkey_rotation_journal']['secrets']['fek']
    assert entry['state'] == 'deployed' and entry['rows_under_old_keys'] == 1, entry
    assert env.under(new) == ROWS - 1
    lines = [line for line in env.audit() if line.get('step') == 'retire']
    assert lines[-1]['outcome'].startswith('failed') and lines[-1]['rows_under_old_keys'] == 1, lines
    # The operator restores the row (here: under the current key); the next plain run finishes.
    postgres.sql('UPDATE %s SET token = %%s WHERE id = 7' % env.table,
                 (Fernet(env.old).encrypt(env.plain[6].encode()).decode(),))
    env.rotate(tmp_path / 'fixed', force=False)
    assert env.assert_finished() == new


# Around the step that re-encrypts the columns (retire): right before it and right after its
# journal write, killing the whole process tree or the main process only (an orphaned worker).
KILLS = [('deployed', 'tree'), ('retired', 'main')]
if os.environ.get('TURNKEY_FULL_MATRIX') == '1':
    KILLS += [('deployed', 'main'), ('retired', 'tree')]


@pytest.mark.parametrize('transition,mode', KILLS)
def test_killed_around_retire_converges(tmp_path, postgres, transition, mode):
    env = FernetEnv(tmp_path, postgres)
    marker = str(tmp_path / 'paused')
    run_env = ansible_env({'_TURNKEY_ROTATION_TEST_PAUSE': transition, '_TURNKEY_ROTATION_TEST_MARKER': marker})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', env.inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true'] + env.vault_args
    out = open(str(tmp_path / 'killed.log'), 'wb')
    proc = subprocess.Popen(cmd, env=run_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(marker), open(out.name).read()[-3000:]
    _kill(proc, mode)
    proc.wait(60)
    out.close()
    assert env.vault()['turnkey_rotation_journal']['secrets']['fek']['state'] == transition
    env.rotate(tmp_path / 'resume', force=False)
    env.assert_finished()
    assert not _descendants(proc.pid)
    assert_no_secret(open(out.name, errors='replace').read(), env.all_keys(), 'output of the killed run')
