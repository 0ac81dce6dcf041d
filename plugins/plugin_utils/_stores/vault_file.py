# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vault_file store: values and the rotation journal in one ansible-vault file.

The journal is the top-level variable ``turnkey_rotation_journal`` of the encrypted
``vault.yml``: every change of state is written together with the values it describes,
in one atomic replacement of that file.  Dates live in the plain ``rotation.yml``; the
journal keeps an entry until its date is written there, so the two never disagree for
longer than a run.  The lock is a file beside the inventory (``_lock.py``).

While a journal exists it also keeps the file as it was before (``_base``, ciphertext):
when the journal empties and the values are what they were (a deploy that generated
nothing, a rotation dropped on failure), those bytes are put back, so git shows no change
where nothing changed.
"""

from __future__ import annotations

import copy
import os

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _rotation, _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars

JOURNAL = 'turnkey_rotation_journal'


class VaultFile(object):
    def __init__(self, vault_file, rotation_file, passwords, vault_id=None, vault_format=None):
        self.path = os.path.abspath(os.path.expanduser(vault_file))
        self.rotation_file = os.path.abspath(os.path.expanduser(rotation_file))
        self.passwords = [p for p in passwords if p]
        self.vault_id = vault_id
        # Only for a new file: an existing one keeps its format (convert with vault_secret's format).
        self.format = _vault_vars.check_format(vault_format, 'turnkey_vault_format') or 'file'
        self.doc = None
        self.exists = False
        self.raw = None
        self.base = None

    def load(self):
        """``(values, journal)``: the vault's variables (journal removed) and the journal."""
        _vault.require_libraries()
        data = self.raw = _atomic.read_bytes(self.path)
        if data is None:
            self.exists = False
            self.doc = _vault_vars.VaultDoc.empty(self.path, self.format, self.passwords[0] if self.passwords else None,
                                                  self.vault_id)
            return {}, {}
        self.exists = True
        if not self.passwords:
            raise InputError('%s: no vault password: run the playbook with the vault-id of the environment (--vault-id '
                             '<label>@prompt, a password file or a client script, or --ask-vault-pass) or give '
                             'turnkey_vault_password_file' % self.path)
        self.doc = _vault_vars.VaultDoc.open(data, self.passwords, self.path)
        if self.doc.password is None:
            raise InputError('%s holds no encrypted value: encrypt it (ansible-vault encrypt) before rotating' % self.path)
        if self.vault_id:
            self.doc.label = self.vault_id
        # The engine edits what it is given in place: the document keeps its own copy to
        # compare with.
        values = copy.deepcopy(self.doc.values)
        journal = values.pop(JOURNAL, None) or {}
        if not isinstance(journal, dict):
            raise InputError('%s: %s is not a mapping; restore the file from git' % (self.path, JOURNAL))
        self.base = journal.pop('_base', None)
        return values, journal

    def save(self, updates=None, removals=(), journal=None):
        """One atomic write of the vault: ``updates`` set, ``removals`` gone, the journal
        replaced (removed when empty)."""
        if self.doc.password is None:
            raise InputError('no vault password to encrypt %s with: run the playbook with the vault-id of the environment '
                             'or give turnkey_vault_password_file' % self.path)
        updates = dict(updates or {})
        removals = list(removals)
        base = self.base if self.base is not None else (self.raw.decode('utf-8') if self.exists else None)
        if journal:
            updates[JOURNAL] = dict(journal, _base=base) if base else journal
        else:
            removals.append(JOURNAL)
        updates = _vault_vars.plain(updates)
        new_text, envelope = self.doc.render(updates, [k for k in removals if k not in updates])
        if not journal:
            envelope = self._unchanged(base, new_text) or envelope
        with _atomic.file_lock(self.path):
            # Another writer (vault_secret, ansible-vault edit) changed it since it was read:
            # never overwrite that; the next run reads it afresh.
            if _atomic.read_bytes(self.path) != self.raw:
                raise TurnkeyError('%s was changed by someone else during the rotation; nothing was written by this '
                                   'step. Run the same command again' % self.path)
            if envelope != self.raw:
                _atomic.atomic_write(self.path, envelope, mode=None if self.exists else 0o600)
        values = dict(self.doc.values)
        values.update(copy.deepcopy(updates))
        for key in removals:
            values.pop(key, None)
        self.doc.text, self.doc.values, self.doc.format = new_text, values, self.doc.format
        self.exists, self.raw = True, envelope

    def _unchanged(self, base, text):
        """``base`` (bytes) when it is a whole-file vault holding exactly ``text``, else None.
        (An inline file needs none of this: its untouched values keep their ciphertext.)"""
        if not base or self.doc.format != 'file':
            return None
        _text, blobs = _vault.find_blobs(base.encode('utf-8'), self.path, inline=False)
        if len(blobs) != 1 or blobs[0].open([self.doc.password]) is None:
            return None
        return base.encode('utf-8') if blobs[0].plaintext == text.encode('utf-8') else None

    def files(self):
        """The files a person commits after a run."""
        return [self.path, self.rotation_file]

    def dates(self):
        data = _rotation.read_table(self.rotation_file)
        return data.get('turnkey_rotation') or {}

    def record_dates(self, stamps, defaults):
        """``stamps``: {name: rotated_at}; ``defaults``: {name: max_age_days} for new rows."""
        return _rotation.stamp(self.rotation_file, stamps, defaults)
