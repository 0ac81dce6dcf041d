"""turnkey.secrets.fernet_rotate on PostgreSQL columns: batches, a SIGKILL in the middle, resume, check counts.

Real PostgreSQL (the session's, log_statement=all).  The default suite uses 4,000 rows (batches of 500: the kill still lands mid-table);
TURNKEY_FULL_MATRIX=1 uses the issue's 100,000.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from keygen import fernet_key

from harness import ROOT, assert_no_secret

FULL = os.environ.get('TURNKEY_FULL_MATRIX') == '1'
ROWS = 100000 if FULL else 4000
TASK = 'rotate columns'


def make_table(postgres, rows, keys):
    """A table ``tk_tokens_<random>`` (id, token text, blob bytea) of ``rows`` rows under ``keys`` (by row)."""
    table = 'tk_tokens_' + secrets.token_hex(4)
    plain = ['p-%s-%d' % (secrets.token_hex(6), i) for i in range(rows)]
    fernets = [Fernet(k) for k in keys]
    with postgres.connect() as conn:
        conn.execute('CREATE TABLE %s (id bigint PRIMARY KEY, token text, blob bytea, note text)' % table)
        with conn.cursor().copy('COPY %s (id, token, blob) FROM STDIN' % table) as copy:
            for i, p in enumerate(plain):
                f = fernets[i % len(fernets)]
                # Every tenth text token NULL: skipped, not counted.
                copy.write_row((i + 1, None if i % 10 == 9 else f.encrypt(p.encode()).decode(), f.encrypt(p.encode())))
    return table, plain


def read_all(postgres, table):
    with postgres.connect() as conn:
        return conn.execute('SELECT id, token, blob FROM %s ORDER BY id' % table).fetchall()


def count_under(postgres, table, key):
    """(text rows, bytea rows) that ``key`` alone decrypts."""
    f = Fernet(key)
    text = blob = 0
    for _id, token, data in read_all(postgres, table):
        for value, kind in ((token, 'text'), (data, 'blob')):
            if value is None:
                continue
            try:
                f.decrypt(value if isinstance(value, bytes) else bytes(value) if isinstance(value, memoryview)
                          else value.encode())
            except InvalidToken:
                continue
            if kind == 'text':
                text += 1
            else:
                blob += 1
    return text, blob


def columns(table):
    return [{'table': table, 'column': 'token'}, {'table': 'public.' + table, 'column': 'blob', 'primary_key': 'id'}]


def task(postgres, table, name=TASK, **extra):
    args = dict(keys=['{{ new_key }}', '{{ old_key }}'], columns=columns(table), login_host=postgres.host,
                login_port=postgres.port, login_user=postgres.admin_user, login_password='{{ admin_password }}')
    args.update(extra)
    return {'name': name, 'turnkey.secrets.fernet_rotate': args, 'ignore_errors': name != TASK}


KILLER = textwrap.dedent('''
    import json, os, sys
    sys.path.insert(0, os.path.join(sys.argv[1], '.collections'))
    from ansible_collections.turnkey.secrets.plugins.module_utils import _fernet, _postgres
    args = json.loads(sys.stdin.read())
    conn = _postgres.connect(args['conn'], args['user'], args['password'])
    def progress(stats):
        with open(args['marker'], 'a') as handle:
            handle.write('batch\\n')
    _fernet.rotate_columns(conn, args['columns'], args['keys'], args['batch_size'], progress=progress)
''')


def test_kill_in_the_middle_then_resume(tmp_path, postgres, playbook):
    keys = {'new_key': fernet_key(), 'old_key': fernet_key(), 'admin_password': postgres.admin_password}
    table, plain = make_table(postgres, ROWS, [keys['old_key'], keys['new_key']])
    under_old = (sum(1 for i in range(ROWS) if i % 2 == 0 and i % 10 != 9), (ROWS + 1) // 2)
    assert count_under(postgres, table, keys['old_key']) == under_old
    sample = plain[:20] + plain[-20:]
    before = read_all(postgres, table)

    checked = playbook(tasks=[task(postgres, table)], secret_vars=keys, check=True, leak_check=sample).task(TASK)
    assert checked['changed'] and checked['result']['rows_under_old_keys'] == sum(under_old)
    assert [c['under_old_keys'] for c in checked['result']['columns']] == list(under_old)
    assert read_all(postgres, table) == before

    # A plain process re-encrypting in batches of 500, SIGKILLed while a later batch is open.
    marker = tmp_path / 'batches'
    proc = subprocess.Popen([sys.executable, '-c', KILLER, ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    proc.stdin.write(json.dumps({
        'conn': {'login_host': postgres.host, 'login_port': postgres.port}, 'user': postgres.admin_user,
        'password': postgres.admin_password, 'marker': str(marker), 'batch_size': 500,
        'columns': columns(table), 'keys': [keys['new_key'], keys['old_key']]}).encode())
    proc.stdin.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not marker.exists() or marker.read_text().count('batch') < 3):
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = marker.read_text().count('batch')
    assert killed_at < 2 * ROWS / 500, 'the run finished before the kill'

    # Every row still decrypts with the key list; some moved, some did not.
    multi = MultiFernet([Fernet(keys['new_key']), Fernet(keys['old_key'])])
    rows = read_all(postgres, table)
    assert [multi.decrypt(bytes(r[2])).decode() for r in rows] == plain
    left = count_under(postgres, table, keys['old_key'])
    assert 0 < sum(left) < sum(under_old)

    # The next plain run finishes: check counts what is left, apply handles exactly that, then nothing.
    run = playbook(secret_vars=keys, leak_check=sample, tasks=[
        dict(task(postgres, table, 'count what is left'), check_mode=True),
        task(postgres, table, batch_size=700),
        dict(task(postgres, table, 'count again'), check_mode=True),
        task(postgres, table, 'apply again'),
    ])
    assert run.task('count what is left')['result']['rows_under_old_keys'] == sum(left)
    applied = run.task(TASK)
    assert applied['changed'] and applied['result']['rotated'] == sum(left)
    assert applied['result']['rows_under_old_keys'] == 0
    again = run.task('count again')
    assert not again['changed'] and again['result']['rows_under_old_keys'] == 0
    assert not run.task('apply again')['changed'] and not run.task('apply again')['failed']
    assert count_under(postgres, table, keys['old_key']) == (0, 0)
    new = Fernet(keys['new_key'])
    rows = read_all(postgres, table)
    assert [new.decrypt(bytes(r[2])).decode() for r in rows] == plain
    assert [new.decrypt(r[1].encode()).decode() for r in rows if r[1] is not None] == \
        [p for i, p in enumerate(plain) if i % 10 != 9]
    # Tokens are ciphertext; no key, password or plaintext reaches the server log.
    assert_no_secret(postgres.read_log(), [keys['new_key'], keys['old_key'], postgres.admin_password] + sample,
                     'PostgreSQL server log')


def test_bad_columns_and_undecryptable_rows(postgres, playbook):
    keys = {'new_key': fernet_key(), 'old_key': fernet_key(), 'lost_key': fernet_key(),
            'admin_password': postgres.admin_password}
    table, plain = make_table(postgres, 30, [keys['old_key']])
    with postgres.connect() as conn:
        conn.execute('CREATE TABLE %s_nopk (id int, token text)' % table)
        conn.execute('CREATE TABLE %s_nullkey (ext int UNIQUE, token text)' % table)
        conn.execute('UPDATE %s SET blob = %%s WHERE id = 5' % table, (Fernet(keys['lost_key']).encrypt(b'gone'),))
    before = read_all(postgres, table)
    result = playbook(secret_vars=keys, leak_check=plain, tasks=[
        task(postgres, table, 'no such table', columns=[{'table': table + '_missing', 'column': 'token'}]),
        task(postgres, table, 'no such column', columns=[{'table': table, 'column': 'tokn'}, {'table': 'a.b.c', 'column': 'x'}]),
        task(postgres, table, 'wrong type', columns=[{'table': table, 'column': 'id', 'primary_key': 'token'}]),
        task(postgres, table, 'not a key', columns=[{'table': table + '_nopk', 'column': 'token'}]),
        task(postgres, table, 'nullable key', columns=[{'table': table + '_nullkey', 'column': 'token',
                                                        'primary_key': 'ext'}]),
        task(postgres, table, 'bad key', keys=['{{ new_key }}', '{{ old_key[:-4] }}']),
        task(postgres, table, 'wrong password', login_password='{{ new_key }}'),
    ])
    assert 'does not exist' in result.task('no such table')['result']['msg']
    msg = result.task('no such column')['result']['msg']
    assert 'has no column tokn' in msg and 'SCHEMA.NAME' in msg
    assert 'bigint' in result.task('wrong type')['result']['msg']
    assert 'not the primary key' in result.task('not a key')['result']['msg']
    assert 'NOT NULL' in result.task('nullable key')['result']['msg']
    assert 'keys[1] is not a Fernet key' in result.task('bad key')['result']['msg']
    assert 'cannot connect' in result.task('wrong password')['result']['msg']
    assert all(result.task(n)['failed'] for n in ('no such table', 'no such column', 'wrong type',
                                                  'not a key', 'nullable key', 'bad key', 'wrong password'))
    assert read_all(postgres, table) == before

    # One row no key decrypts: the others are re-encrypted, the task fails naming the count only.
    failed = playbook(secret_vars=keys, leak_check=plain, tasks=[task(postgres, table, 'one lost row')]).task('one lost row')
    assert failed['failed'] and 'blob: 1' in failed['result']['msg']
    assert failed['result']['rows_under_old_keys'] == 1
    assert count_under(postgres, table, keys['old_key']) == (0, 0)
