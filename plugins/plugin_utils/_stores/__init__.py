# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an environment's values, journal, dates and lock live (one file per backend)."""

from __future__ import annotations

import os

BACKENDS = ('vault_file', 'openbao')


class FileLock(object):
    """The vault_file store's lock: a file beside the inventory (``_lock.py``)."""

    def __init__(self, path):
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        self.where = self.path

    def acquire(self, environment, owner, force=False):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        return _lock.acquire(self.path, environment, owner, force=force)

    def renew(self, owner):
        """The watchdog keeps a file lock alive: nothing to renew."""

    def check_free(self, owner, environment):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        _lock.check_free(self.path, owner, environment)

    def clear_stale(self, environment):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        return _lock.clear_stale(self.path, environment)

    def release(self, owner):
        from ansible_collections.turnkey.secrets.plugins.plugin_utils import _lock
        held = _lock.read(self.path)
        if held and held.get('run_id') == _lock.run_id(owner):
            return _lock.release(self.path, owner)
        return False


def backend(config):
    name = (config or {}).get('backend') or 'vault_file'
    if name not in BACKENDS:
        from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
        raise InputError('turnkey_store.backend must be one of %s, not %r' % (', '.join(BACKENDS), name))
    return name


def open_store(config, vault_file=None, rotation_file=None, passwords=(), vault_id=None, lock_file=None, names=(),
               vault_format=None):
    """The store an environment's ``turnkey_store`` names; each has ``.lock`` and ``files()``."""
    if backend(config) == 'openbao':
        from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores.openbao import OpenBao
        return OpenBao(config, names)
    from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores.vault_file import VaultFile
    store = VaultFile(str(vault_file), str(rotation_file), list(passwords), vault_id, vault_format)
    store.lock = FileLock(lock_file) if lock_file else None
    return store
