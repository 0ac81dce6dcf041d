# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rekey every vault blob under some paths, and rotate the password of an environment.

``rekey_tree`` works in three passes so a bad input changes nothing: (1) read every file
and locate its blobs, (2) open every blob with one of the accepted passwords, (3) seal
and write.  Any problem found by the first two passes is reported for all files at once
and nothing is written.  Blobs already under the new password and label are left alone,
so a rekey interrupted between files is finished by running it again.

``rotate_password_file`` is the crash-safe password rotation: once every blob is known to
open, the new password goes to ``FILE.new``, the blobs are rekeyed (old or new password
accepted), then the old file is copied to ``FILE.old`` and ``FILE.new`` renamed over
``FILE``.  Every step is
atomic and the state on disk says which step comes next, so a run killed anywhere is
finished by the next, and until the rename ``--vault-id ID@FILE --vault-id ID@FILE.new``
opens everything.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._generate import generate

# Never rekeyed: editor and ansible backups (``file.1234.2024-01-01@10:00:00~``) keep
# the old password on purpose, and version control internals are not ours.
SKIP_NAMES = ('*~', '*.swp', '.*.tmp', '.*.turnkey-next', '.*.turnkey-prev')
SKIP_DIRS = ('.git', '.hg', '.svn')
MAX_LISTED_ERRORS = 5


def load_password(path, vault_id, loader, option):
    """Password bytes from a file or an executable vault-id script, the way ansible reads them."""
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import get_file_vault_secret

    path = os.path.abspath(os.path.expanduser(path))
    try:
        secret = get_file_vault_secret(filename=path, vault_id=vault_id, loader=loader)
        secret.load()
    except AnsibleError as exc:
        raise InputError('%s: %s' % (option, getattr(exc, 'message', None) or exc)) from None
    return secret.bytes


def playbook_secrets(loader, vault_id=None):
    """The vault secrets ansible-playbook holds (``--vault-id label@prompt|file|script``,
    ``--ask-vault-pass``, ``ANSIBLE_VAULT_PASSWORD_FILE``), those labelled ``vault_id`` first."""
    secrets = getattr(getattr(loader, '_vault', None), 'secrets', None) or ()
    ordered = sorted(secrets, key=lambda item: 0 if vault_id and item[0] == vault_id else 1)
    out = []
    for _label, secret in ordered:
        value = getattr(secret, 'bytes', None)
        if value and value not in out:
            out.append(value)
    return out


def read_password_file(path):
    """Content of a plain password file as ansible reads it (whitespace stripped), or None."""
    data = _atomic.read_bytes(path)
    if data is None:
        return None
    return _vault.check_password(data.strip(), path)


def collect(paths, exclude=(), skip=()):
    """Regular files under ``paths`` as ``(shown, real, named directly)``, each real file once, sorted."""
    found, seen = [], set()
    skip = {os.path.realpath(p) for p in skip}

    def excluded(path, name):
        return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(path, pat) for pat in tuple(exclude) + SKIP_NAMES)

    def add(path, explicit):
        real = os.path.realpath(path)
        if real in seen or real in skip or not os.path.isfile(real):
            return
        seen.add(real)
        found.append((path, real, explicit))

    for given in paths:
        top = os.path.expanduser(str(given))
        if os.path.isdir(top):
            for root, dirs, files in os.walk(top):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not excluded(os.path.join(root, d), d))
                for name in sorted(files):
                    path = os.path.join(root, name)
                    if not excluded(path, name):
                        add(path, False)
        elif os.path.isfile(top):
            add(top, True)
        else:
            raise InputError('paths: %s does not exist (or is not a file or directory)' % top)
    return sorted(found)


def _summary(problems):
    shown = '; '.join(problems[:MAX_LISTED_ERRORS])
    more = len(problems) - MAX_LISTED_ERRORS
    return '%s%s' % (shown, ' (and %d more)' % more if more > 0 else '')


def rekey_tree(paths, passwords, new_password, old_vault_id=None, new_vault_id=None, exclude=(), backup=False,
               check_mode=False, skip=(), checkpoint=None, before_write=None):
    """Rekey every blob under ``paths`` to ``new_password`` (and ``new_vault_id``).

    ``passwords`` are the passwords a blob may be under now (old first; the new one is
    always accepted too).  ``before_write()`` runs once every blob is known to open,
    before the first file is written (not in check mode).  Returns the result dict of
    the action plugin.
    """
    _vault.require_libraries()
    new_vault_id = _vault.check_label(new_vault_id, 'new_vault_id')
    old_vault_id = _vault.check_label(old_vault_id, 'old_vault_id')
    accepted = list(dict.fromkeys(list(passwords) + [new_password]))
    problems, files = [], []
    candidates = collect(paths, exclude, skip)

    # Pass 1: read and locate.  Inline values are looked for in variable files and in
    # every file named directly.
    for shown, real, explicit in candidates:
        data = _atomic.read_bytes(real)
        inline = explicit or os.path.splitext(real)[1].lower() in _vault.VARS_SUFFIXES
        try:
            text, blobs = _vault.find_blobs(data, shown, inline=inline)
        except InputError as exc:
            problems.append(exc.msg)
            continue
        for blob in blobs:
            if old_vault_id and blob.label not in (None, old_vault_id, new_vault_id):
                problems.append('%s: labelled with vault-id %r, not %r: a secret of another environment? Move it, '
                                'or set old_vault_id to its label' % (blob.where, blob.label, old_vault_id))
        if blobs:
            files.append((shown, real, text, blobs))
    blobs = [blob for entry in files for blob in entry[3]]
    if problems:
        raise InputError('nothing was changed: %s' % _summary(problems))

    # Pass 2: open every blob.  Starting each with the password that opened the previous
    # one saves a derivation per blob when resuming (runs of files already rekeyed).
    hint = [0]

    def open_blob(blob):
        used = blob.open(accepted, hint[0])
        if used is not None:
            hint[0] = used
        return used

    opened = _vault.parallel(open_blob, blobs)
    failed = [blob.where for blob, used in zip(blobs, opened) if used is None]
    if failed:
        if len(failed) == len(blobs):
            reason = 'the old vault password is wrong: it opens none of the %d vault blobs found (%s)' % (len(blobs), _summary(failed))
        else:
            reason = ('%d of %d vault blobs cannot be decrypted with the old or the new vault password (HMAC mismatch: '
                      'damaged, or encrypted with yet another password): %s' % (len(failed), len(blobs), _summary(failed)))
        raise InputError('nothing was changed: %s' % reason)

    # Pass 3: seal what is not yet under the new password and label, and write.
    new_index = accepted.index(new_password)

    def target_label(blob):
        return new_vault_id if new_vault_id is not None else blob.label

    todo = [blob for blob in blobs if blob.opened_with != new_index or blob.label != target_label(blob)]
    result = dict(changed=bool(todo), files_rekeyed=0, inline_rekeyed=0, changed_files=[], backup_files=[],
                  up_to_date=len(blobs) - len(todo), files_scanned=len(candidates), diff=[])
    todo_ids, changed = {id(blob) for blob in todo}, []
    for shown, real, text, file_blobs in files:
        mine = [blob for blob in file_blobs if id(blob) in todo_ids]
        if not mine:
            continue
        changed.append((real, text, mine))
        result['changed_files'].append(shown)
        if mine[0].inline:
            result['inline_rekeyed'] += len(mine)
        else:
            result['files_rekeyed'] += 1
        result['diff'].append(dict(
            before_header=shown, after_header=shown,
            before=''.join('%s: <vault-id %s, old password>\n' % (b.where, b.label or 'default') for b in mine),
            after=''.join('%s: <vault-id %s, new password>\n' % (b.where, target_label(b) or 'default') for b in mine)))
    if check_mode:
        return result
    if before_write:
        before_write()

    def seal_and_write(entry):
        real, text, mine = entry
        new_text = _vault.replace(text, [(blob, _vault.seal(blob.plaintext, new_password, target_label(blob))) for blob in mine])
        # Same owner, group and mode as before, also when another user owns the file: a tree of
        # ciphertext belongs to whoever checked it out, and a root-run rekey must not lock them out.
        return _atomic.atomic_write(real, new_text.encode('utf-8'), owner=os.stat(real).st_uid, backup=backup)

    if checkpoint:
        # The test hook counts files, so they are written one after the other.
        for count, entry in enumerate(changed, 1):
            result['backup_files'].append(seal_and_write(entry))
            checkpoint('file:%d' % count)
    else:
        # Files with many blobs first; an extra thread keeps the cores busy during fsyncs.
        changed.sort(key=lambda entry: -len(entry[2]))
        result['backup_files'] = _vault.parallel(seal_and_write, changed, extra=1)
    result['backup_files'] = sorted(path for path in result['backup_files'] if path)
    return result


NEXT, PREV = '.turnkey-next', '.turnkey-prev'


def _side(path, suffix):
    """``dir/.name<suffix>``: hidden and without a vars extension, so no vars loader reads it."""
    return os.path.join(os.path.dirname(path), '.' + os.path.basename(path) + suffix)


def loaded_at_start(real):
    """Whole-file vault blobs in vars files: ansible-playbook decrypts them when it loads
    the inventory, before any task can help, so they must open with the password file
    at every instant of a rotation."""
    return os.path.splitext(real)[1].lower() in _vault.VARS_SUFFIXES or not os.path.splitext(real)[1]


def rotate_password_file(password_file, paths, new_password=None, kind='urlsafe:32', old_vault_id=None,
                         new_vault_id=None, exclude=(), backup=False, check_mode=False, checkpoint=None,
                         switch_vars_files=False):
    """Rotate the vault password kept in ``password_file`` and rekey every blob under ``paths``.

    With ``switch_vars_files`` (rotate.yml: the run's own inventory is under ``paths``),
    whole encrypted vars files are rekeyed last, in a switch that keeps each loadable with
    whatever the password file holds at any instant: their rekeyed copies are written
    beside them (``.NAME.turnkey-next``), then they move aside (``.NAME.turnkey-prev``: a
    run started now loads none of them and finishes the switch, see ``finish_switch``),
    the password file is swapped, then the copies take their place.
    """
    path = os.path.abspath(os.path.expanduser(password_file))
    pending_path, previous_path = path + '.new', path + '.old'
    if switch_vars_files and not check_mode and finish_switch(paths, path):
        return dict(changed=True, password_file=path, password_rotated=True, resumed=True, files_rekeyed=0,
                    inline_rekeyed=0, changed_files=[], backup_files=[], up_to_date=0, files_scanned=0,
                    diff=[], previous_password_file=previous_path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError('rotate_password_file: %s does not exist; create it (mode 0600) with the current vault password' % path) from None
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111:
        raise InputError('rotate_password_file: %s must be a plain password file; a vault-id script cannot be rotated '
                         'here (use old_vault_password_file and new_vault_password_file)' % path)
    old = read_password_file(path)
    pending = read_password_file(pending_path)
    previous = read_password_file(previous_path)
    if new_password is not None:
        new_password = _vault.check_password(new_password, 'new_vault_password')
    resumed = pending is not None
    if resumed:
        if new_password is not None and new_password != pending:
            raise InputError('an interrupted rotation to another password is pending in %s: run again without '
                             'new_vault_password to finish it first (or delete that file if no blob uses it yet)' % pending_path)
        new = pending
    else:
        new = new_password or _vault.check_password(generate(kind), 'the generated password')
    rotating = new != old

    # Password files keep the old file's owner and are never more open than 0600.
    mode = (stat.S_IMODE(st.st_mode) & 0o600) or 0o600

    def write_pending():
        # Only once every blob is known to open: a wrong password leaves no trace.
        if rotating and not os.path.exists(pending_path):
            _atomic.atomic_write(pending_path, new + b'\n', mode=mode, owner=st.st_uid, group=st.st_gid)
            if checkpoint:
                checkpoint('new_password')

    candidates = [old] + [p for p in (pending, previous) if p is not None]
    skip = [path, pending_path, previous_path]
    switched = []
    if switch_vars_files:
        for _shown, real, _explicit in collect(paths, exclude, skip):
            data = _atomic.read_bytes(real)
            if loaded_at_start(real) and data and data.lstrip().startswith(b'$ANSIBLE_VAULT'):
                switched.append(real)
    result = rekey_tree(paths, candidates, new, old_vault_id, new_vault_id, exclude, backup, check_mode,
                        skip=skip + switched, checkpoint=checkpoint, before_write=write_pending)
    todo, written = [], len(result['changed_files'])
    if switched:
        preview = rekey_tree(switched, candidates, new, old_vault_id, new_vault_id, check_mode=True)
        todo = [f for f in switched if f in {os.path.realpath(c) for c in preview['changed_files']} or
                os.path.abspath(f) in preview['changed_files']]
        result['files_rekeyed'] += preview['files_rekeyed']
        result['changed_files'] += preview['changed_files']
        result['changed'] = result['changed'] or preview['changed']
    result.update(password_file=path, password_rotated=rotating, resumed=resumed, previous_password_file=None)
    result['changed'] = result['changed'] or rotating or resumed
    if check_mode:
        return result
    if rotating:
        write_pending()
        if checkpoint:
            checkpoint('rekeyed')
        for count, real in enumerate(todo, written + 1):
            _write_next(real, candidates, new, new_vault_id)
            if checkpoint:
                checkpoint('file:%d' % count)
        if todo and checkpoint:
            checkpoint('next')
        for real in todo:
            os.replace(real, _side(real, PREV))
            _fsync_dir(os.path.dirname(real))
        if todo and checkpoint:
            checkpoint('aside')
        _swap_password(path, pending_path, previous_path, mode, st, checkpoint)
        finish_switch(paths, path)
        result['previous_password_file'] = previous_path
    elif resumed:
        os.unlink(pending_path)
    return result


def _write_next(real, candidates, new, new_vault_id):
    data = _atomic.read_bytes(real)
    text, blobs = _vault.find_blobs(data, real, inline=False)
    for blob in blobs:
        if blob.open(list(candidates) + [new]) is None:
            raise InputError('%s no longer opens with the old or the new vault password; nothing more was changed' % real)
    sealed = _vault.replace(text, [(blob, _vault.seal(blob.plaintext, new, new_vault_id if new_vault_id is not None else blob.label))
                                   for blob in blobs])
    st = os.stat(real)
    _atomic.atomic_write(_side(real, NEXT), sealed.encode('utf-8'), mode=stat.S_IMODE(st.st_mode), owner=st.st_uid,
                         group=st.st_gid)


def _swap_password(path, pending_path, previous_path, mode, st, checkpoint):
    if not os.path.exists(pending_path):
        return
    _atomic.atomic_write(previous_path, _atomic.read_bytes(path), mode=mode, owner=st.st_uid, group=st.st_gid)
    if checkpoint:
        checkpoint('swap')
    os.replace(pending_path, path)
    _fsync_dir(os.path.dirname(path))
    if checkpoint:
        checkpoint('swapped')


def _side_files(paths, suffix):
    found = []
    for given in paths:
        top = os.path.expanduser(str(given))
        for root, dirs, files in os.walk(top) if os.path.isdir(top) else ():
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            found += [os.path.join(root, f) for f in files if f.startswith('.') and f.endswith(suffix)]
    return sorted(found)


def finish_switch(paths, password_file):
    """Finish the vars-file switch of an interrupted vault password rotation.

    The files on disk say how far it got: a ``.NAME.turnkey-next`` copy whose ``NAME`` is
    aside means the password file is swapped next (when ``.new`` is still there) and the
    copy takes its place; copies beside a ``NAME`` still in place are from before the
    switch and go; ``.turnkey-prev`` leftovers of a finished switch go.  Returns True when
    it had to put files back (the running ansible-playbook then loaded none of them).
    """
    nexts = _side_files(paths, NEXT)
    base = {n: os.path.join(os.path.dirname(n), os.path.basename(n)[1:-len(NEXT)]) for n in nexts}
    aside = [n for n in nexts if not os.path.exists(base[n])]
    if aside:
        path = os.path.abspath(os.path.expanduser(password_file))
        if os.path.exists(path + '.new'):
            st = os.stat(path)
            _swap_password(path, path + '.new', path + '.old', (stat.S_IMODE(st.st_mode) & 0o600) or 0o600, st, None)
        for n in aside:
            os.replace(n, base[n])
            _fsync_dir(os.path.dirname(n))
    for n in nexts:
        if n not in aside:
            os.unlink(n)
    for p in _side_files(paths, PREV):
        if os.path.exists(os.path.join(os.path.dirname(p), os.path.basename(p)[1:-len(PREV)])):
            os.unlink(p)
    return bool(aside)


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pause_from_environment():
    """Test hook: ``_TURNKEY_VAULT_TEST_PAUSE=<point>`` stops the run there for a kill.

    The integration tests kill ansible-playbook with SIGKILL while it waits here, to
    prove that a run interrupted at that point is finished by the next one.  Points:
    ``new_password``, ``file:N`` (after N files written), ``rekeyed``, ``next``, ``aside``,
    ``swap``, ``swapped``.
    """
    point = os.environ.get('_TURNKEY_VAULT_TEST_PAUSE')
    marker = os.environ.get('_TURNKEY_VAULT_TEST_MARKER')
    if not point or not marker:
        return None

    def checkpoint(name):
        if name != point:
            return
        with open(marker, 'w') as handle:
            handle.write(name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)

    return checkpoint
