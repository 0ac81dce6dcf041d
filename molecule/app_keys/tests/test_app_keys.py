"""After converge: the app reads the rotated keys, and what the old keys made still works."""

import json
import os
import sys

import pytest
import yaml

APP_DIR = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'app_keys')
ENV_FILE = os.path.join(APP_DIR, 'app.env')


@pytest.fixture(scope='module')
def keys():
    with open(os.path.join(APP_DIR, 'keys.yml')) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope='module')
def app_env(host):
    """The environment the app gets from its env file, read by a shell."""
    out = host.check_output("bash -c 'set -a; . \"$0\"; exec \"$1\" -c \"import json, os; print(json.dumps(dict(os.environ)))\"' %s %s",
                            ENV_FILE, sys.executable)
    return json.loads(out)


def test_env_file_is_private(host):
    env_file = host.file(ENV_FILE)
    assert env_file.mode == 0o600 and env_file.user == 'root'


def test_new_keys_first_old_kept(app_env, keys):
    assert app_env['SECRET_KEY'] == keys['molecule_secret_new']
    assert app_env['SECRET_KEY_FALLBACKS'] == keys['molecule_secret_old']
    assert app_env['FIELD_ENCRYPTION_KEY'] == keys['molecule_fernet_new']
    assert app_env['FIELD_ENCRYPTION_KEYS'] == '%s,%s' % (keys['molecule_fernet_new'], keys['molecule_fernet_old'])


def test_old_signature_verifies_through_fallbacks(app_env, keys):
    from django.conf import settings
    from django.core import signing
    settings.configure(SECRET_KEY=app_env['SECRET_KEY'], SECRET_KEY_FALLBACKS=app_env['SECRET_KEY_FALLBACKS'].split(','))
    signed = signing.dumps('session', key=keys['molecule_secret_old'], salt='molecule')
    assert signing.loads(signed, salt='molecule') == 'session'


def test_token_was_reencrypted_under_the_new_key(keys):
    from cryptography.fernet import Fernet
    with open(os.path.join(APP_DIR, 'oauth.tokens')) as handle:
        token = handle.read().strip()
    assert token != keys['molecule_token']
    assert Fernet(keys['molecule_fernet_new']).decrypt(token.encode()) == b'broker oauth token'
