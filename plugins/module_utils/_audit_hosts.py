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

from ansible_collections.turnkey.secrets.plugins.module_utils._atomic import parse_mode
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


def check_host_files(audit, files):
    """Mode (at most), owner and group of secret files on this host; globs are expanded."""
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
        path = os.path.expanduser(path)
        if glob.has_magic(path):
            paths = sorted(glob.glob(path))
        else:
            paths = [path]
            if not os.path.lexists(path):
                audit.add('secret-file-missing', path, 'secret file listed for this host does not exist')
                continue
        for found in paths:
            try:
                st = os.stat(found)
            except OSError as exc:
                audit.add('secret-file-missing', found, 'cannot stat the secret file: %s' % (exc.strerror or exc))
                continue
            checked += 1
            mode = stat.S_IMODE(st.st_mode)
            extra = mode & ~max_mode
            if extra:
                audit.add('secret-file-mode', found,
                          'mode %04o is wider than %04o; chmod %04o it' % (mode, max_mode, mode & max_mode),
                          severity='critical' if extra & 0o007 else 'high')
            owner, group = spec.get('owner'), spec.get('group')
            if owner not in (None, '') and str(owner) not in (_owner_name(st.st_uid), str(st.st_uid)):
                audit.add('secret-file-owner', found,
                          'owned by %s, expected %s' % (_owner_name(st.st_uid), owner))
            if group not in (None, '') and str(group) not in (_group_name(st.st_gid), str(st.st_gid)):
                audit.add('secret-file-owner', found,
                          'group is %s, expected %s' % (_group_name(st.st_gid), group), dedup='group')
    return checked
