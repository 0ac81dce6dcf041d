"""Encrypted backups of two files of one name in one shared directory keep their own copies."""

import secrets
import shutil

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _backup_crypt


@pytest.mark.skipif(not shutil.which('gpg'), reason='gpg not installed')
def test_shared_dir_backups_do_not_prune_each_other(tmp_path):
    spec = {'gpg_passphrase': secrets.token_urlsafe(16), 'dir': str(tmp_path / 'backups')}
    a, b = tmp_path / 'a' / 'app.env', tmp_path / 'b' / 'app.env'
    first, removed = _backup_crypt.backup(str(a), b'A=1\n', spec, keep=1)
    assert removed == []
    second, removed = _backup_crypt.backup(str(b), b'B=1\n', spec, keep=1)
    assert removed == [] and first != second
    assert _backup_crypt.list_encrypted(str(a), spec['dir']) == [first]
    assert _backup_crypt.list_encrypted(str(b), spec['dir']) == [second]
    third, removed = _backup_crypt.backup(str(a), b'A=2\n', spec, keep=1)
    assert removed == [first] and _backup_crypt.list_encrypted(str(a), spec['dir']) == [third]
