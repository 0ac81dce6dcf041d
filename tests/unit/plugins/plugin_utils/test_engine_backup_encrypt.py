"""backup_encrypt of turnkey_env_files: checked before anything changes, the passphrase named by its vault variable."""

import secrets

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _engine

KNOWN = {'vault_db_password', 'vault_backup_passphrase'}


def entry(**encrypt):
    return {'path': '/srv/app/.env', 'values': {'DB_PASSWORD': 'vault_db_password'}, 'backup_encrypt': encrypt}


def test_gpg_passphrase_is_resolved_from_the_vault():
    spec = {'env_files': [entry(gpg_passphrase='vault_backup_passphrase', dir='/srv/backups', keep=5)]}
    _engine.validate_consumers({'app1': spec}, KNOWN)
    values = {'vault_db_password': secrets.token_urlsafe(12), 'vault_backup_passphrase': secrets.token_urlsafe(12)}
    resolved = _engine.resolve_consumers(spec, values, set())['env_files'][0]
    assert resolved['backup_encrypt'] == {'gpg_passphrase': values['vault_backup_passphrase'], 'dir': '/srv/backups',
                                          'keep': 5}
    # The catalogue entry itself still names the variable, not the value.
    assert spec['env_files'][0]['backup_encrypt']['gpg_passphrase'] == 'vault_backup_passphrase'


@pytest.mark.parametrize('encrypt, words', [
    ({}, 'exactly one of'),
    ({'age_recipients': ['age1x'], 'gpg_passphrase': 'vault_backup_passphrase'}, 'exactly one of'),
    ({'gpg_passphrase': 'vault_backup_passphras'}, 'did you mean vault_backup_passphrase'),
    ({'age_recipients': ['age1x'], 'keep': 0}, 'keep must be 1 or more'),
    ({'age_recipients': ['age1x'], 'fetch_dir': 'rel'}, 'fetch_dir must be an absolute path'),
    ({'age_recipients': ['age1x'], 'kep': 2}, 'unknown key kep'),
])
def test_bad_backup_encrypt(encrypt, words):
    with pytest.raises(InputError, match=words):
        _engine.validate_consumers({'app1': {'env_files': [entry(**encrypt)]}}, KNOWN)
