"""The vault_file store: a journal that empties with the values as they were puts the
original bytes back (no git change where nothing changed); real changes are re-sealed."""

import secrets

from ansible_collections.turnkey.secrets.plugins.module_utils import _vault
from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores.vault_file import VaultFile


def _store(tmp_path, password):
    return VaultFile(str(tmp_path / 'vault.yml'), str(tmp_path / 'rotation.yml'), [password], 'env')


def test_journal_round_trip_restores_the_bytes(tmp_path):
    password = secrets.token_bytes(16)
    (tmp_path / 'vault.yml').write_text(_vault.seal(b'---\nvault_a: "%s"\n' % secrets.token_hex(8).encode(), password, 'env'))
    original = (tmp_path / 'vault.yml').read_bytes()
    store = _store(tmp_path, password)
    store.load()
    store.save(journal={'waiting': ['app1']})
    assert (tmp_path / 'vault.yml').read_bytes() != original
    store = _store(tmp_path, password)
    values, journal = store.load()
    assert journal == {'waiting': ['app1']} and '_base' not in values
    store.save(journal={})
    assert (tmp_path / 'vault.yml').read_bytes() == original


def test_a_changed_value_is_sealed_anew(tmp_path):
    password = secrets.token_bytes(16)
    (tmp_path / 'vault.yml').write_text(_vault.seal(b'---\nvault_a: x\n', password, 'env'))
    original = (tmp_path / 'vault.yml').read_bytes()
    store = _store(tmp_path, password)
    store.load()
    store.save(journal={'secrets': {'a': {'state': 'pending'}}})
    store = _store(tmp_path, password)
    store.load()
    new = secrets.token_hex(8)
    store.save({'vault_a': new}, journal={})
    data = (tmp_path / 'vault.yml').read_bytes()
    assert data != original
    values, journal = _store(tmp_path, password).load()
    assert values == {'vault_a': new} and journal == {}
