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

import os

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _rotation, _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars

JOURNAL = 'turnkey_rotation_journal'


class VaultFile(object):
    def __init__(self, vault_file, rotation_file, passwords, vault_id=None):
        self.path = os.path.abspath(os.path.expanduser(vault_file))
        self.rotation_file = os.path.abspath(os.path.expanduser(rotation_file))
        self.passwords = [p for p in passwords if p]
        self.vault_id = vault_id
        self.text = None
        self.password = None
        self.label = vault_id
        self.exists = False
        self.raw = None
        self.base = None

    def load(self):
        """``(values, journal)``: the vault's variables (journal removed) and the journal."""
        _vault.require_libraries()
        data = self.raw = _atomic.read_bytes(self.path)
        if data is None:
            self.text, self.exists = '---\n', False
            self.password = self.passwords[0] if self.passwords else None
            return {}, {}
        self.exists = True
        text, blobs = _vault.find_blobs(data, self.path, inline=False)
        if not blobs:
            raise InputError('%s is not an ansible-vault encrypted file: encrypt it (ansible-vault encrypt) before rotating'
                             % self.path)
        used = blobs[0].open(self.passwords)
        if used is None:
            raise InputError('%s: the vault password does not decrypt it (wrong password file or vault-id)' % self.path)
        self.password = self.passwords[used]
        self.label = self.vault_id or blobs[0].label
        try:
            self.text = blobs[0].plaintext.decode('utf-8')
        except UnicodeDecodeError:
            raise InputError('%s does not hold UTF-8 text once decrypted' % self.path) from None
        values = dict(_vault_vars.parse_values(self.text, self.path))
        journal = values.pop(JOURNAL, None) or {}
        if not isinstance(journal, dict):
            raise InputError('%s: %s is not a mapping; restore the file from git' % (self.path, JOURNAL))
        self.base = journal.pop('_base', None)
        return values, journal

    def save(self, updates=None, removals=(), journal=None):
        """One atomic write of the vault: ``updates`` set, ``removals`` gone, the journal
        replaced (removed when empty)."""
        if self.password is None:
            raise InputError('no vault password to encrypt %s with: give turnkey_vault_password_file' % self.path)
        updates = dict(updates or {})
        removals = list(removals)
        base = self.base if self.base is not None else (self.raw.decode('utf-8') if self.exists else None)
        if journal:
            updates[JOURNAL] = dict(journal, _base=base) if base else journal
        else:
            removals.append(JOURNAL)
        new_text = _vault_vars.edit_text(self.text, self.path, _vault_vars.plain(updates),
                                         [k for k in removals if k not in updates])
        envelope = self._unchanged(base, new_text) if not journal else None
        envelope = envelope or _vault.seal(new_text.encode('utf-8'), self.password, self.label)
        with _atomic.file_lock(self.path):
            # Another writer (vault_secret, ansible-vault edit) changed it since it was read:
            # never overwrite that; the next run reads it afresh.
            if _atomic.read_bytes(self.path) != self.raw:
                raise TurnkeyError('%s was changed by someone else during the rotation; nothing was written by this '
                                   'step. Run the same command again' % self.path)
            _atomic.atomic_write(self.path, envelope, mode=None if self.exists else 0o600)
        self.exists, self.text, self.raw = True, new_text, envelope.encode('utf-8')

    def _unchanged(self, base, text):
        """``base`` when it holds exactly ``text``, else None."""
        if not base:
            return None
        _text, blobs = _vault.find_blobs(base.encode('utf-8'), self.path, inline=False)
        if len(blobs) != 1 or blobs[0].open([self.password]) is None:
            return None
        return base if blobs[0].plaintext == text.encode('utf-8') else None

    def dates(self):
        data = _rotation.read_table(self.rotation_file)
        return data.get('turnkey_rotation') or {}

    def record_dates(self, stamps, defaults):
        """``stamps``: {name: rotated_at}; ``defaults``: {name: max_age_days} for new rows."""
        return _rotation.stamp(self.rotation_file, stamps, defaults)
