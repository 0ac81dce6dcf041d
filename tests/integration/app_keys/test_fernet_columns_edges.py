"""turnkey.secrets.fernet_rotate on PostgreSQL columns: the tables whose rows batches could
miss, and the failures that must not quote a row.  Each case would have let a row stay under
the old key while the count said 0 (so retire trims the key and the row is lost), or leaked.
"""

import secrets

from cryptography.fernet import Fernet, InvalidToken
from keygen import fernet_key

TASK = 'rotate'


def _task(postgres, table, column='token', primary_key='id', **extra):
    args = dict(keys=['{{ new_key }}', '{{ old_key }}'],
                columns=[{'table': table, 'column': column, 'primary_key': primary_key}],
                login_host=postgres.host, login_port=postgres.port, login_user=postgres.admin_user,
                login_password='{{ admin_password }}', batch_size=3)
    args.update(extra)
    return {'name': TASK, 'turnkey.secrets.fernet_rotate': args, 'ignore_errors': True}


def _keys(postgres):
    return {'new_key': fernet_key(), 'old_key': fernet_key(), 'admin_password': postgres.admin_password}


def _under(postgres, query, key):
    """Rows of ``query`` (one token column) that ``key`` does not open."""
    count = 0
    for (value,) in postgres.sql(query):
        if value in (None, ''):
            continue
        try:
            Fernet(key).decrypt(value.encode() if isinstance(value, str) else bytes(value))
        except InvalidToken:
            count += 1
    return count


def _name():
    return 'tk_edge_' + secrets.token_hex(4)


def _mail_table(postgres, keys, *guards):
    """(table, email): one row under the old key beside an email the errors must not quote,
    then ``guards`` (SQL, ``{t}`` the table) that make its UPDATE fail."""
    table, email = _name(), 'mail-' + secrets.token_hex(12)
    with postgres.connect() as conn:
        conn.execute('CREATE TABLE %s (id int PRIMARY KEY, token text, email text)' % table)
        conn.execute('INSERT INTO %s VALUES (1, %%s, %%s)' % table, (Fernet(keys['old_key']).encrypt(b'a').decode(), email))
        for guard in guards:
            conn.execute(guard.format(t=table))
    return table, email


def test_keys_that_do_not_tell_rows_apart_are_refused(postgres, playbook):
    keys = _keys(postgres)
    old = Fernet(keys['old_key'])
    partial, parent, floating = _name(), _name(), _name()
    with postgres.connect() as conn:
        conn.execute('CREATE TABLE %s (code int NOT NULL, active bool, token text)' % partial)
        conn.execute('CREATE UNIQUE INDEX ON %s (code) WHERE active' % partial)
        conn.execute('CREATE TABLE %s (id int PRIMARY KEY, token text)' % parent)
        conn.execute('CREATE TABLE %s_child () INHERITS (%s)' % (parent, parent))
        conn.execute('CREATE TABLE %s (id real PRIMARY KEY, token text)' % floating)
        for i in range(1, 7):
            token = old.encrypt(b'row %d' % i).decode()
            conn.execute('INSERT INTO %s VALUES (%%s, %%s, %%s)' % partial, (i, True, token))
            conn.execute('INSERT INTO %s VALUES (%%s, %%s, %%s)' % partial, (i, False, token))
            conn.execute('INSERT INTO %s VALUES (%%s, %%s)' % parent, (i, token))
            conn.execute('INSERT INTO %s_child VALUES (%%s, %%s)' % parent, (i, token))
            conn.execute('INSERT INTO %s VALUES (%%s, %%s)' % floating, (i / 10.0, token))
    # A key under a nondeterministic collation, unique under another: ORDER BY and ">" call
    # 'a' and 'A' equal, the index keeps them apart.
    folded = _name()
    with postgres.connect() as conn:
        conn.execute("CREATE COLLATION IF NOT EXISTS tk_ci (provider = icu, locale = 'und-u-ks-level2', "
                     "deterministic = false)")
        conn.execute('CREATE TABLE %s (code text COLLATE tk_ci NOT NULL, token text)' % folded)
        conn.execute('CREATE UNIQUE INDEX ON %s (code COLLATE "C")' % folded)
        for code in 'aAbBcC':
            conn.execute('INSERT INTO %s VALUES (%%s, %%s)' % folded, (code, old.encrypt(b'x').decode()))
    tables = {'partial index': (partial, 'code', 'WHERE clause'), 'inheritance': (parent, 'id', 'inheritance children'),
              'float key': (floating, 'id', 'exactly comparable'), 'collation': (folded, 'code', 'WHERE clause')}
    for label, (table, primary_key, expected) in tables.items():
        for check in (True, False):
            task = _task(postgres, table, primary_key=primary_key)
            result = playbook(secret_vars=keys, check=check, tasks=[task]).task(TASK)
            assert result['failed'], (label, result)
            assert expected in result['result']['msg'], (label, result['result']['msg'])
            assert 'Nothing was changed' in result['result']['msg']
        assert _under(postgres, 'SELECT token FROM ONLY %s' % table, keys['new_key']) == (12 if label == 'partial index' else 6)


def test_count_is_taken_again_after_the_run_and_empty_values_are_not_lost_rows(postgres, playbook):
    """A writer still on the old key list re-encrypts rows behind the batches: the result counts them."""
    keys = _keys(postgres)
    old = Fernet(keys['old_key'])
    table = _name()
    with postgres.connect() as conn:
        conn.execute('CREATE TABLE %s (id int PRIMARY KEY, token text)' % table)
        for i in range(10, 40):
            conn.execute('INSERT INTO %s VALUES (%%s, %%s)' % table, (i, old.encrypt(b'row').decode()))
        conn.execute("INSERT INTO %s VALUES (40, ''), (41, NULL)" % table)
        # The stale writer: a trigger re-encrypts row 10 under the old key whenever row 20 changes.
        conn.execute("CREATE FUNCTION %s_stale() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "UPDATE %s SET token = '%s' WHERE id = 10; RETURN NEW; END $$"
                     % (table, table, old.encrypt(b'stale').decode()))
        conn.execute('CREATE TRIGGER stale AFTER UPDATE ON %s FOR EACH ROW WHEN (NEW.id = 20) EXECUTE FUNCTION %s_stale()'
                     % (table, table))
    result = playbook(secret_vars=keys, tasks=[_task(postgres, table)]).task(TASK)['result']
    assert result['changed'] and not result.get('failed'), result
    column = result['columns'][0]
    assert column['undecryptable'] == 0, column
    assert column['under_old_keys'] == _under(postgres, 'SELECT token FROM %s' % table, keys['new_key']) == 1, column
    assert result['rows_under_old_keys'] == 1
    postgres.sql('DROP TRIGGER stale ON %s' % table)
    again = playbook(secret_vars=keys, tasks=[_task(postgres, table)]).task(TASK)['result']
    assert again['rows_under_old_keys'] == 0 and again['rotated'] == 1, again


def test_a_failed_update_quotes_no_row_and_a_missing_file_changes_no_row(postgres, playbook, tmp_path):
    keys = _keys(postgres)
    table, email = _mail_table(postgres, keys,
                               "ALTER TABLE {t} ADD CONSTRAINT no_mail CHECK (email NOT LIKE 'mail-%') NOT VALID")
    failed = playbook(secret_vars=keys, leak_check=[email], tasks=[_task(postgres, table)]).task(TASK)
    assert failed['failed'] and 'violates check constraint' in failed['result']['msg'], failed
    assert email not in str(failed) and 'SQLSTATE 23514' in failed['result']['msg']
    postgres.sql('ALTER TABLE %s DROP CONSTRAINT no_mail' % table)
    # A file that does not exist is found before any row is re-encrypted.
    missing = playbook(secret_vars=keys, tasks=[_task(postgres, table, path=str(tmp_path / 'missing.tokens'))]).task(TASK)
    assert missing['failed'] and 'does not exist' in missing['result']['msg'], missing
    assert not missing['result'].get('changed')
    assert _under(postgres, 'SELECT token FROM %s' % table, keys['new_key']) == 1


def test_row_level_security_is_refused(postgres, playbook):
    """A login_user that row-level security shows only some rows would count 0 over the rest."""
    keys = _keys(postgres)
    old = Fernet(keys['old_key'])
    table, role, password = _name(), 'tk_app_' + secrets.token_hex(3), secrets.token_urlsafe(18)
    with postgres.connect() as conn:
        conn.execute("CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, password))
        conn.execute('CREATE TABLE %s (id int PRIMARY KEY, tenant text, token text)' % table)
        for i in range(1, 7):
            conn.execute('INSERT INTO %s VALUES (%%s, %%s, %%s)' % table,
                         (i, role if i % 2 else 'other', old.encrypt(b'x').decode()))
        conn.execute('ALTER TABLE %s ENABLE ROW LEVEL SECURITY' % table)
        conn.execute('CREATE POLICY own ON %s USING (tenant = current_user)' % table)
        conn.execute('GRANT SELECT, UPDATE ON %s TO %s' % (table, role))
    result = playbook(secret_vars=dict(keys, admin_password=password), leak_check=[password], tasks=[
        _task(postgres, table, login_user=role)]).task(TASK)
    assert result['failed'] and 'row-level security' in result['result']['msg'], result
    assert _under(postgres, 'SELECT token FROM %s' % table, keys['new_key']) == 6


def test_a_trigger_that_quotes_the_row_is_not_quoted(postgres, playbook):
    keys = _keys(postgres)
    table, email = _mail_table(postgres, keys,
                               "CREATE FUNCTION {t}_locked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                               "RAISE EXCEPTION 'account % is locked', NEW.email; END $$",
                               'CREATE TRIGGER locked BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_locked()')
    failed = playbook(secret_vars=keys, leak_check=[email], tasks=[_task(postgres, table)]).task(TASK)
    assert failed['failed'] and 'SQLSTATE P0001' in failed['result']['msg'], failed
    assert email not in str(failed)
    assert not failed['result'].get('changed')
