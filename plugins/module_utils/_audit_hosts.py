# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit of secret files on a host: mode (at most), owner and group, globs expanded."""

from __future__ import annotations

import glob
import grp
import os
import pwd
import stat

from ansible_collections.turnkey.secrets.plugins.module_utils._atomic import list_backups, parse_mode
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError


# --------------------------------------------------------------------------- hosts

def _owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# Copies editors and hand edits leave beside a file (the collection's own backups, named as
# ansible's backup: true names them, are found by _atomic.list_backups).
BACKUP_SUFFIXES = ('~', '.bak', '.old', '.orig', '.save')


def _backups(path):
    found = list_backups(path)
    for suffix in BACKUP_SUFFIXES:
        if os.path.isfile(path + suffix) and not os.path.islink(path + suffix):
            found.append(path + suffix)
    return found


def check_host_files(audit, files):
    """Mode (at most), owner and group of secret files on this host; globs are expanded.  With
    ``backups``, their backups too: as wide as the file at most, or 0600 (what backups get)."""
    checked = 0
    for index, spec in enumerate(files or []):
        path = spec.get('path')
        if not path:
            raise InputError('files[%d] needs a path' % index)
        mode_spec = spec.get('mode')
        if isinstance(mode_spec, str) and not mode_spec.strip().isdigit():
            # The most a file may have: a symbolic mode has no meaning without a file to apply it to.
            raise InputError('files[%d].mode %r is not an octal number such as "0640"' % (index, mode_spec))
        max_mode = parse_mode(mode_spec, 0o600)
        source = ' (%s)' % spec['source'] if spec.get('source') else ''
        path = os.path.expanduser(path)
        if glob.has_magic(path):
            paths = sorted(glob.glob(path))
        else:
            paths = [path]
            if not os.path.lexists(path):
                audit.add('secret-file-missing', path, 'secret file listed for this host does not exist%s' % source)
                continue
        paths = [(found, max_mode) for found in paths]
        if spec.get('encrypted_backups'):
            # Its copies are meant to be encrypted: a plaintext one holds old secrets in clear.
            for found, _mode in paths:
                for backup in _backups(found):
                    audit.add('plaintext-backup', backup, 'plaintext backup of %s, whose backups are encrypted '
                              '(backup_encrypt)%s; delete it (an encrypted copy is kept in the backup directory)'
                              % (found, source))
        if spec.get('backups'):
            paths += [(backup, max_mode | 0o600) for found, _mode in paths for backup in _backups(found)]
        for found, allowed in paths:
            try:
                st = os.stat(found)
            except OSError as exc:
                audit.add('secret-file-missing', found, 'cannot stat the secret file: %s' % (exc.strerror or exc))
                continue
            checked += 1
            mode = stat.S_IMODE(st.st_mode)
            extra = mode & ~allowed
            if extra:
                audit.add('secret-file-mode', found,
                          'mode %04o is wider than %04o%s; chmod %04o it' % (mode, allowed, source, mode & allowed),
                          severity='critical' if extra & 0o007 else 'high')
            owner, group = spec.get('owner'), spec.get('group')
            if owner not in (None, '') and str(owner) not in (_owner_name(st.st_uid), str(st.st_uid)):
                audit.add('secret-file-owner', found,
                          'owned by %s, expected %s%s' % (_owner_name(st.st_uid), owner, source), anchor='owner')
            if group not in (None, '') and str(group) not in (_group_name(st.st_gid), str(st.st_gid)):
                audit.add('secret-file-owner', found,
                          'group is %s, expected %s%s' % (_group_name(st.st_gid), group, source), dedup='group',
                          anchor='group')
    return checked
