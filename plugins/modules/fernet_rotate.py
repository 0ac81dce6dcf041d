# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: fernet_rotate
short_description: Re-encrypt Fernet tokens kept in files or PostgreSQL columns under the newest key
version_added: 0.1.0
description:
  - After a Fernet key rotation (new key first in the MultiFernet list, old keys kept for
    decryption), re-encrypts the tokens stored in files or in PostgreSQL columns with the new primary key using
    C(MultiFernet.rotate), so the old keys can later be retired.
  - 'File format: one token per line. Blank lines and lines starting with C(#) are kept as they are.'
  - A token the primary key already decrypts is left untouched, so a second run reports no change.
    C(MultiFernet.rotate) keeps each token's original timestamp (TTL checks behave as before).
  - When a token cannot be decrypted by any key, the task fails naming the line numbers and no
    file is changed.
  - Files are replaced atomically keeping their owner, group and mode, except a file of a user other than
    root and the one running the module, which becomes the latter's and V('0600') (see C(docs/security.md)).
  - Each file is locked (exclusive lock on C(.NAME.lock) next to it, created V('0600') and kept) from
    its read to its write, so concurrent writers do not lose updates; a run that waits more than
    10 seconds for a lock fails with a "busy" message and changes nothing.
  - 'Tokens in PostgreSQL (for example the fields of django-fernet-fields or django-encrypted-model-fields):
    O(columns) names C(table), C(column) and its C(primary_key). Rows are read in batches of O(batch_size)
    by keyset pagination on the primary key (the table is never loaded whole), and each batch is
    re-encrypted in its own transaction; a run killed in the middle leaves every row readable with the key
    list (a batch is committed whole or not at all) and the next run finishes the work.'
  - An UPDATE only replaces a token that is still the one it read, so a value the application writes
    meanwhile is never overwritten; such a row is counted in RV(columns[].under_old_keys) and the next run
    handles it.
  - In check mode the columns are read (in the same batches) and RV(rows_under_old_keys) counts the rows a
    run would re-encrypt; nothing is written. After a run each column is read once more and
    RV(rows_under_old_keys) counts the rows still under an old key then, including rows an application
    still on the old key list wrote behind the batches (0 when the old keys can be retired).
  - 'Checked before a row or a file is written: every file exists and every token in it opens; every column
    exists, is text, varchar or bytea, and login_user may SELECT and UPDATE it; the key is one column,
    NOT NULL, unique without a WHERE clause, of a type that compares exactly (integers, numeric, text,
    uuid, bytea, date, timestamp; not real or double precision) and a collation that tells its values apart;
    the table has no inheritance children (list each child instead; a partitioned table is fine) and no
    row-level security active for login_user (it would hide rows from the count). Empty values are skipped
    like NULL.'
  - Errors name the constraint, table or column and the SQLSTATE; a message that could quote a value of the
    row (a trigger's RAISE, an input syntax error, the server's DETAIL line) is not passed on.
  - Rows that no key decrypts are left alone and make the task fail (after the other rows are re-encrypted),
    with their count per column; values and primary keys never appear in the result.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
requirements:
  - cryptography
  - psycopg (psycopg 3), only with O(columns)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - turnkey.secrets.postgres
options:
  keys:
    description:
      - The Fernet keys, primary (newest) first, then the older ones still needed to decrypt.
      - The same list the application gets, for example its C(FIELD_ENCRYPTION_KEYS).
    type: list
    elements: str
    required: true
  path:
    description: A file of tokens. At least one of O(path), O(paths) and O(columns) is required.
    type: path
  paths:
    description: Several files of tokens, all handled in one task; when one fails, none is changed.
    type: list
    elements: path
  columns:
    description:
      - PostgreSQL columns holding Fernet tokens, in the database O(login_db) of the server the connection
        options name. Checked (tables, columns, types, keys) before any row changes.
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      table:
        description: The table, C(NAME) (schema C(public)) or C(SCHEMA.NAME).
        type: str
        required: true
      column:
        description: The column of tokens (C(text), C(varchar) or C(bytea)); C(NULL) values are skipped.
        type: str
        required: true
      primary_key:
        description: The table's primary key (or a unique, NOT NULL single-column key without a WHERE clause), the order of the batches.
        type: str
        default: id
  batch_size:
    description: Rows per batch (and per transaction) of O(columns).
    type: int
    default: 1000
    version_added: 0.3.0
  backup:
    description: Keep a copy of each changed file next to it (C(PATH.PID.DATE~)), mode V('0600'), owned by the user running the module.
    type: bool
    default: false
  follow:
    description:
      - When a file of O(path) or O(paths) is a symbolic link, work on the file it points to.
      - With V(false) (the default) a symbolic link fails the task and no file is changed.
    type: bool
    default: false
  allow_shared_parent:
    description:
      - Accept a directory that users other than its owner can write (group or other write bit without the
        sticky bit) or that belongs to a user other than root and the user running the module.
      - Such a user can swap a file between the module's checks and its write; only set V(true) when you
        trust every user who can write that directory.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: One C(line N=<changed>) entry per re-encrypted token; old tokens show as C(********).
  platform:
    platforms: posix
seealso:
  - module: turnkey.secrets.env_file
'''

EXAMPLES = r'''
- name: Re-encrypt the stored OAuth tokens under the new Fernet key
  turnkey.secrets.fernet_rotate:
    path: /srv/app/data/oauth_tokens.txt
    keys: "{{ [vault_field_encryption_key] + vault_field_encryption_key_previous }}"
    backup: true

- name: Several files in one task
  turnkey.secrets.fernet_rotate:
    paths:
      - /srv/app/data/a.tokens
      - /srv/app/data/b.tokens
    keys: "{{ app_fernet_keys }}"

- name: Count the OAuth tokens still under an old key (check mode reads, never writes)
  turnkey.secrets.fernet_rotate:
    keys: "{{ [vault_field_encryption_key] + vault_field_encryption_key_previous }}"
    columns:
      - {table: broker_oauthtoken, column: access_token}
      - {table: broker_oauthtoken, column: refresh_token}
    login_host: db.internal
    login_user: app_owner
    login_password: "{{ vault_db_owner_password }}"
    login_db: trading
  check_mode: true
  register: fernet_left

- name: Re-encrypt them under the new primary key
  turnkey.secrets.fernet_rotate:
    keys: "{{ [vault_field_encryption_key] + vault_field_encryption_key_previous }}"
    columns: "{{ app_fernet_columns }}"
    batch_size: 2000
    login_host: db.internal
    login_user: app_owner
    login_password: "{{ vault_db_owner_password }}"
    login_db: trading
'''

RETURN = r'''
files:
  description: One entry per file.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the file.
      type: str
      returned: always
    tokens:
      description: Number of tokens in the file.
      type: int
      returned: always
    rotated:
      description: Line numbers of the tokens re-encrypted under the primary key.
      type: list
      elements: int
      returned: always
    backup_file:
      description: The copy of the previous file.
      type: str
      returned: when O(backup=true) and the file changed
rotated:
  description: Total number of tokens re-encrypted (files and columns); in check mode, that would be.
  returned: always
  type: int
columns:
  description: One entry per item of O(columns).
  returned: when O(columns) is set
  type: list
  elements: dict
  contains:
    table:
      description: C(SCHEMA.NAME) of the table.
      type: str
      returned: always
    column:
      description: The column.
      type: str
      returned: always
    primary_key:
      description: Its primary key.
      type: str
      returned: always
    rows:
      description: Rows read (non-null tokens).
      type: int
      returned: always
    rotated:
      description: Rows re-encrypted by this run (0 in check mode).
      type: int
      returned: always
    under_old_keys:
      description: Rows under an old key after this run (counted again once the column is done); in check mode, the rows a run would re-encrypt.
      type: int
      returned: always
    undecryptable:
      description: Rows no key of O(keys) decrypts.
      type: int
      returned: always
rows_under_old_keys:
  description: Sum of RV(columns[].under_old_keys) and RV(columns[].undecryptable); 0 when the old keys can be retired.
  returned: when O(columns) is set
  type: int
'''

import contextlib

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _fernet
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._connection import POSTGRES as CONNECTION_SPEC
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError


def work(module):
    p = module.params
    with contextlib.ExitStack() as stack:
        targets = {}
        for given in ([p['path']] if p['path'] else p['paths'] or []):
            target = stack.enter_context(_atomic.Target(given, p['follow'], p['allow_shared_parent']))
            targets.setdefault(target.path, target)
        if not module.check_mode:
            # Locks in sorted order, so two runs over overlapping file sets cannot deadlock.
            for path in sorted(targets):
                stack.enter_context(targets[path].lock())
        # Every file is read and re-encrypted in memory, and every column checked against the
        # catalogue, before a row or a file is written.
        planned = _plan(module, list(targets.values()))
        columns = _columns(module) if p['columns'] else None
        try:
            written = _write(module, planned)
        except TurnkeyError as exc:
            if columns and any(c['rotated'] for c in columns):
                exc.details.update(changed=True, columns=columns)
            raise
        return _with_columns(module, written, columns)


def _columns(module):
    from ansible_collections.turnkey.secrets.plugins.module_utils import _postgres
    if _postgres.IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib('psycopg (psycopg 3)'), exception=_postgres.IMPORT_ERROR)
    p = module.params
    secrets = [p['login_password']] + list(p['keys'])
    seen = {}
    conn = _postgres._admin(p, secrets, _postgres.connect)
    try:
        return _fernet.rotate_columns(conn, p['columns'], p['keys'], p['batch_size'], module.check_mode,
                                      progress=lambda stats: seen.__setitem__(id(stats), stats))
    except _postgres.psycopg.Error as exc:
        raise TurnkeyError('PostgreSQL failed while re-encrypting (batches committed so far stay; every row is '
                           'readable with the key list; run again to finish): %s (SQLSTATE %s)'
                           % (_postgres._clean_row_error(exc, secrets), exc.sqlstate or '?'),
                           changed=any(stats['rotated'] for stats in seen.values()), columns=list(seen.values())) from None
    finally:
        conn.close()


def _with_columns(module, result, columns):
    if columns is None:
        return result
    result['columns'] = columns
    result['rows_under_old_keys'] = sum(c['under_old_keys'] + c['undecryptable'] for c in columns)
    found = sum(c['under_old_keys'] if module.check_mode else c['rotated'] for c in columns)
    result['rotated'] += found
    result['changed'] = result['changed'] or found > 0
    bad = ['%s.%s: %d' % (c['table'], c['column'], c['undecryptable']) for c in columns if c['undecryptable']]
    if bad:
        raise TurnkeyError('rows that none of the keys decrypts (%s): add the key that encrypted them to keys (it may '
                           'have been retired too early) or fix those rows; the other rows were handled'
                           % ', '.join(bad), columns=columns, rows_under_old_keys=result['rows_under_old_keys'],
                           changed=result['changed'])
    return result


def _plan(module, targets):
    planned = []
    for target in targets:
        path = target.path
        raw = target.read()
        if raw is None:
            raise InputError('%s does not exist; nothing was changed' % path)
        try:
            text = raw.decode('ascii')
        except UnicodeDecodeError:
            raise InputError('%s holds non-ASCII bytes; Fernet tokens are url-safe base64, one per line' % path) from None
        new_text, rotated, count = _fernet.rotate_text(text, module.params['keys'], path)
        planned.append((target, new_text, rotated, count))
    return planned


def _write(module, planned):
    files, diff, total = [], [], 0
    for target, new_text, rotated, count in planned:
        path = target.path
        entry = {'path': path, 'tokens': count, 'rotated': rotated}
        if rotated and not module.check_mode:
            backup_file = target.write(new_text, backup=module.params['backup'])
            if backup_file:
                entry['backup_file'] = backup_file
        total += len(rotated)
        files.append(entry)
        if rotated:
            diff.append({'before_header': path, 'after_header': path,
                         'before': ''.join('line %d=********\n' % n for n in rotated),
                         'after': ''.join('line %d=<changed>\n' % n for n in rotated)})
    result = {'changed': total > 0, 'files': files, 'rotated': total}
    if module._diff:
        result['diff'] = diff
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            keys=dict(type='list', elements='str', required=True, no_log=True),
            path=dict(type='path'),
            paths=dict(type='list', elements='path'),
            backup=dict(type='bool', default=False),
            follow=dict(type='bool', default=False),
            allow_shared_parent=dict(type='bool', default=False),
            columns=dict(type='list', elements='dict', options=dict(
                table=dict(type='str', required=True),
                column=dict(type='str', required=True),
                primary_key=dict(type='str', default='id', no_log=False),
            )),
            batch_size=dict(type='int', default=1000),
            **CONNECTION_SPEC
        ),
        mutually_exclusive=[['path', 'paths']],
        required_one_of=[['path', 'paths', 'columns']],
        supports_check_mode=True,
    )
    if _fernet.IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=_fernet.IMPORT_ERROR)
    run_module(module, work)


if __name__ == '__main__':
    main()
