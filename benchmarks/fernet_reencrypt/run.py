"""Benchmark: re-encrypting Fernet columns on PostgreSQL (turnkey.secrets.fernet_rotate's backend) against
the usual hand-written loop (read the whole table, MultiFernet.rotate, one UPDATE per row, one transaction).

    python benchmarks/fernet_reencrypt/run.py [--rows 100000] [--batch-size 1000]

Starts its own PostgreSQL 15 on loopback (as the tests do), fills a table with --rows tokens under the old
key, and prints rows/second of both and the ratio.  The peer holds the whole table in memory; ours holds one
batch and commits each, so a kill loses at most one batch of work.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from cryptography.fernet import Fernet, MultiFernet  # noqa: E402

from harness import Postgres  # noqa: E402

from ansible_collections.turnkey.secrets.plugins.module_utils import _fernet, _postgres  # noqa: E402


def fill(server, table, rows, key):
    f = Fernet(key)
    with server.connect() as conn:
        conn.execute('DROP TABLE IF EXISTS %s' % table)
        conn.execute('CREATE TABLE %s (id bigint PRIMARY KEY, token text)' % table)
        with conn.cursor().copy('COPY %s (id, token) FROM STDIN' % table) as copy:
            for i in range(rows):
                copy.write_row((i + 1, f.encrypt(b'oauth-token-%d' % i).decode()))


def ours(server, table, keys, batch_size):
    conn = _postgres.connect({'login_host': server.host, 'login_port': server.port}, server.admin_user,
                             server.admin_password)
    try:
        stats = _fernet.rotate_columns(conn, [{'table': table, 'column': 'token'}], keys, batch_size)
    finally:
        conn.close()
    return stats[0]['rotated']


def peer(server, table, keys):
    multi = MultiFernet([Fernet(k) for k in keys])
    conn = server.connect()
    conn.autocommit = False
    try:
        rows = conn.execute('SELECT id, token FROM %s ORDER BY id' % table).fetchall()
        with conn.cursor() as cur:
            for key, token in rows:
                cur.execute('UPDATE %s SET token = %%s WHERE id = %%s' % table, (multi.rotate(token.encode()).decode(), key))
        conn.commit()
    finally:
        conn.close()
    return len(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--rows', type=int, default=100000)
    parser.add_argument('--batch-size', type=int, default=1000)
    args = parser.parse_args()
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    server = Postgres().start()
    try:
        rates = {}
        for name, call in (('fernet_rotate', lambda t: ours(server, t, [new, old], args.batch_size)),
                           ('row-by-row loop', lambda t: peer(server, t, [new, old]))):
            table = 'bench_tokens'
            fill(server, table, args.rows, old)
            start = time.monotonic()
            done = call(table)
            elapsed = time.monotonic() - start
            assert done == args.rows, (name, done)
            rates[name] = args.rows / elapsed
            print('%-16s %d rows in %.2f s: %.0f rows/s' % (name, args.rows, elapsed, rates[name]))
        print('ratio fernet_rotate / row-by-row loop: %.2fx' % (rates['fernet_rotate'] / rates['row-by-row loop']))
    finally:
        server.stop()


if __name__ == '__main__':
    main()
