# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-encrypt Fernet tokens kept in a file under the primary key of a MultiFernet list.

File format: one token per line; blank lines and lines starting with ``#`` are kept as
they are.  A token the primary key already decrypts is left byte for byte, so a second
run changes nothing.  ``MultiFernet.rotate`` keeps each token's original timestamp, so
TTL checks behave as before.
"""

from __future__ import annotations

import traceback

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

try:
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet
except ImportError:
    Fernet = InvalidToken = MultiFernet = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None


def load_keys(keys):
    """``(primary Fernet, MultiFernet)``; InputError naming the position of a bad key."""
    if not keys:
        raise InputError('keys is empty: give the key list, primary (newest) first')
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key if isinstance(key, bytes) else str(key).strip().encode('ascii')))
        except (ValueError, TypeError, UnicodeEncodeError):
            raise InputError('keys[%d] is not a Fernet key (32 url-safe base64-encoded bytes, as '
                             'Fernet.generate_key() makes)' % index) from None
    return fernets[0], MultiFernet(fernets)


def _is_token_line(line):
    stripped = line.strip()
    return stripped != '' and not stripped.startswith('#')


def _rotated(primary, multi, token):
    """``token`` under the primary key, or None when it already is; InvalidToken when no key opens it."""
    try:
        primary.decrypt(token)
        return None
    except InvalidToken:
        return multi.rotate(token)


def rotate_text(text, keys, path='the file'):
    """``(new_text, rotated_line_numbers, token_count)``.

    InputError, naming line numbers only, when some token no key can decrypt.
    """
    primary, multi = load_keys(keys)
    lines = text.split('\n')
    rotated, undecryptable, count = [], [], 0
    for index, line in enumerate(lines):
        if not _is_token_line(line):
            continue
        count += 1
        try:
            new = _rotated(primary, multi, line.strip().encode('ascii', 'replace'))
        except InvalidToken:
            undecryptable.append(index + 1)
            continue
        if new is not None:
            lines[index] = new.decode('ascii')
            rotated.append(index + 1)
    if undecryptable:
        shown = ', '.join(str(n) for n in undecryptable[:20]) + (' ...' if len(undecryptable) > 20 else '')
        raise InputError(
            '%d token(s) in %s cannot be decrypted by any of the keys (lines %s): add the key that encrypted '
            'them to keys (it may have been retired too early) or fix those lines; nothing was changed'
            % (len(undecryptable), path, shown), lines=undecryptable)
    return '\n'.join(lines), rotated, count


# ---------------------------------------------------------------- PostgreSQL columns
#
# Each batch is one transaction of at most ``batch_size`` rows fetched by keyset pagination
# (``WHERE pk > last ORDER BY pk LIMIT n``), so the table is never in memory and a kill loses
# at most the open batch, whose rows still hold their old tokens: every row stays readable
# with the key list at every instant, and the next run finishes the work.  An UPDATE only
# replaces a token that is still the one read (compare-and-swap), so a value the application
# rewrote meanwhile is never overwritten with a stale one.

TEXT_TYPES = ('text', 'character varying', 'character')
COLUMN_TYPES = TEXT_TYPES + ('bytea',)
# Key types whose values come back from psycopg exactly as PostgreSQL compares them: a float
# key sent back as float8 compares unequal to itself ("pk > last" would re-read the row).
KEY_TYPES = ('smallint', 'integer', 'bigint', 'numeric', 'text', 'character varying', 'character', 'uuid', 'bytea',
             'date', 'timestamp without time zone', 'timestamp with time zone')


def _split_table(table):
    parts = str(table).split('.')
    if len(parts) > 2 or not all(parts):
        raise InputError('columns: table %r must be NAME or SCHEMA.NAME' % (table,))
    return ('public', parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def describe_columns(conn, columns):
    """Check every ``{table, column, primary_key}`` against the catalogue before any change.

    Returns ``[(schema, table, column, primary_key, is_bytea)]``; InputError listing every problem.
    """
    problems, out, seen = [], [], set()
    for index, spec in enumerate(columns):
        where = 'columns[%d]' % index
        try:
            schema, table = _split_table(spec['table'])
        except InputError as exc:
            problems.append(exc.msg)
            continue
        column, pk = spec['column'], spec.get('primary_key') or 'id'
        key = (schema, table, column)
        if key in seen:
            problems.append('%s: %s.%s.%s is listed twice' % (where, schema, table, column))
        seen.add(key)
        rows = conn.execute(
            'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s',
            (schema, table)).fetchall()
        types = dict(rows)
        if not types:
            problems.append('%s: table %s.%s does not exist (or login_user cannot see it)' % (where, schema, table))
            continue
        if column not in types:
            problems.append('%s: table %s.%s has no column %s' % (where, schema, table, column))
        elif types[column] not in COLUMN_TYPES:
            problems.append('%s: column %s.%s.%s is %s; Fernet tokens are stored in text, varchar or bytea columns'
                            % (where, schema, table, column, types[column]))
        if pk not in types:
            problems.append('%s: table %s.%s has no column %s (primary_key)' % (where, schema, table, pk))
        elif pk == column:
            problems.append('%s: primary_key and column are both %s' % (where, pk))
        elif types[pk] not in KEY_TYPES:
            problems.append('%s: primary_key %s of %s.%s is %s; batches need an exactly comparable key (%s)'
                            % (where, pk, schema, table, types[pk], ', '.join(KEY_TYPES)))
        else:
            regclass = '"%s"."%s"' % (schema.replace('"', '""'), table.replace('"', '""'))
            unique = conn.execute(
                "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indnkeyatts = 1 AND a.attname = %s "
                # A partial or not yet valid index leaves duplicates, which "pk > last" skips at a
                # batch boundary; NULL keys sort last and match no "pk > last" either.
                "AND i.indpred IS NULL AND i.indisvalid AND a.attnotnull "
                # ORDER BY and ">" use the column's collation: a nondeterministic one calls
                # values equal that an index under another collation keeps apart.
                "AND (i.indcollation[0] = a.attcollation OR a.attcollation = 0 OR "
                "(SELECT collisdeterministic FROM pg_collation WHERE oid = a.attcollation))",
                (regclass, pk)).fetchone()
            if unique is None:
                problems.append('%s: %s is not the primary key (nor a unique, NOT NULL single-column key without a '
                                'WHERE clause, under the column\'s collation or a deterministic one) of %s.%s'
                                % (where, pk, schema, table))
            # The rows of inheritance children are read through their parent, but the parent's
            # key is unique in the parent only (a partitioned table's key is unique across it);
            # row-level security hides rows from the batches and from the count alike.
            inherited, hidden = conn.execute(
                "SELECT c.relkind <> 'p' AND EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = c.oid), "
                "row_security_active(c.oid) FROM pg_class c WHERE c.oid = %s::regclass", (regclass,)).fetchone()
            if inherited:
                problems.append('%s: %s.%s has inheritance children, whose rows its key does not tell apart; list '
                                'each child table instead' % (where, schema, table))
            if hidden:
                problems.append('%s: row-level security is active on %s.%s for login_user, which would see only some '
                                'rows; use a role with BYPASSRLS (or the owner, without FORCE ROW LEVEL SECURITY)'
                                % (where, schema, table))
            allowed = conn.execute(
                "SELECT has_column_privilege(%s::regclass, %s, 'SELECT') AND has_column_privilege(%s::regclass, %s, "
                "'UPDATE') AND has_column_privilege(%s::regclass, %s, 'SELECT')",
                (regclass, column, regclass, column, regclass, pk)).fetchone() if column in types else (True,)
            if not allowed[0]:
                problems.append('%s: login_user may not SELECT and UPDATE %s.%s.%s (and SELECT %s)'
                                % (where, schema, table, column, pk))
        out.append((schema, table, column, pk, types.get(column) == 'bytea'))
    if problems:
        raise InputError('; '.join(problems) + '. Nothing was changed.')
    return out


def _token_of(value):
    if isinstance(value, memoryview):
        value = value.tobytes()
    return value if isinstance(value, bytes) else str(value).strip().encode('ascii', 'replace')


def rotate_column(conn, described, primary, multi, batch_size=1000, check_mode=False, progress=None):
    """Re-encrypt one column; ``{table, column, primary_key, rows, rotated, under_old_keys, undecryptable}``.

    ``under_old_keys``: rows still under an old key when this returns (in check mode: the
    rows a run would re-encrypt); ``undecryptable``: rows no key decrypts (left alone).
    ``conn`` is in autocommit mode: each batch is its own ``conn.transaction()``.
    """
    from psycopg import sql  # only here: file-only runs need no psycopg

    schema, table, column, pk, is_bytea = described
    ident_table = sql.Identifier(schema, table)
    select = sql.SQL('SELECT {pk}, {col} FROM {tbl} WHERE {col} IS NOT NULL{after} ORDER BY {pk} LIMIT %s')
    first = select.format(pk=sql.Identifier(pk), col=sql.Identifier(column), tbl=ident_table, after=sql.SQL(''))
    nxt = select.format(pk=sql.Identifier(pk), col=sql.Identifier(column), tbl=ident_table,
                        after=sql.SQL(' AND {pk} > %s').format(pk=sql.Identifier(pk)))
    update = sql.SQL('UPDATE {tbl} SET {col} = %s WHERE {pk} = %s AND {col} = %s').format(
        tbl=ident_table, col=sql.Identifier(column), pk=sql.Identifier(pk))
    stats = {'table': '%s.%s' % (schema, table), 'column': column, 'primary_key': pk,
             'rows': 0, 'rotated': 0, 'under_old_keys': 0, 'undecryptable': 0}
    last = None
    while True:
        with conn.transaction():
            rows = (conn.execute(first, (batch_size,)) if last is None else conn.execute(nxt, (last, batch_size))).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            changes = []
            for key, stored in rows:
                token = _token_of(stored)
                if not token.strip():
                    continue  # an empty value holds nothing a key could open: like NULL
                try:
                    new = _rotated(primary, multi, token)
                except InvalidToken:
                    stats['undecryptable'] += 1
                    continue
                if new is None:
                    continue
                changes.append((new if is_bytea else new.decode('ascii'), key, stored))
            done = 0
            if changes and not check_mode:
                with conn.cursor() as cur:
                    cur.executemany(update, changes)
                    done = cur.rowcount if cur.rowcount is not None and cur.rowcount >= 0 else len(changes)
        # Counted once the batch is committed: a deferred constraint can still refuse it at commit.
        stats['rows'] += len(rows)
        # A row the application rewrote in between keeps its (newer) value: a later run sees it.
        stats['under_old_keys'] += len(changes) - done
        stats['rotated'] += done
        if progress:
            progress(stats)
        if len(rows) < batch_size:
            break
    return stats


def rotate_columns(conn, columns, keys, batch_size=1000, check_mode=False, progress=None):
    """Every column of ``columns``; the list of rotate_column results (checked before any change)."""
    if batch_size < 1:
        raise InputError('batch_size must be 1 or more')
    primary, multi = load_keys(keys)
    described = describe_columns(conn, columns)
    results = []
    for each in described:
        stats = rotate_column(conn, each, primary, multi, batch_size, check_mode, progress)
        if not check_mode:
            # What retire trusts is a recount, not this pass's tally: a writer still on the old
            # key list may have re-encrypted a row behind the batches (or added one).
            recount = rotate_column(conn, each, primary, multi, batch_size, True)
            stats.update(under_old_keys=recount['under_old_keys'], undecryptable=recount['undecryptable'])
        results.append(stats)
    return results
