"""What must hold after a rotation run converged: every consumer holds what the vault says."""

import json
import os
import subprocess

import bcrypt

from harness import ansible_env
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import kdf_verify


def htpasswd_accepts(path, user, password):
    with open(path) as handle:
        for line in handle:
            name, hashed = line.rstrip('\n').split(':', 1) if ':' in line else (line, '')
            if name == user:
                hashed = hashed.replace('$2y$', '$2b$', 1)
                return bcrypt.checkpw(password.encode(), hashed.encode())
    return False


def env_values(path):
    out = {}
    with open(path) as handle:
        for line in handle:
            key, sep, value = line.rstrip('\n').partition('=')
            if sep:
                out[key] = value.strip("'\"")
    return out


def podman_secret_holds(name, value):
    proc = subprocess.run(['podman', 'secret', 'inspect', name], capture_output=True, env=ansible_env(), check=False)
    if proc.returncode != 0:
        return False
    labels = json.loads(proc.stdout)[0]['Spec'].get('Labels') or {}
    return kdf_verify(value, labels.get('turnkey.secrets.digest', ''))


def assert_converged(env):
    vault = env.vault()
    assert 'turnkey_rotation_journal' not in vault, 'rotation left in flight: %s' % vault.get('turnkey_rotation_journal')
    assert not os.path.exists(os.path.join(env.inventory, '.rotate.lock')), 'lock left behind'
    assert htpasswd_accepts(os.path.join(env.state, 'htpasswd'), 'admin', vault['vault_dashboard_password'])
    values = env_values(os.path.join(env.state, 'app.env'))
    assert values['SECRET_KEY'] == vault['vault_secret_key']
    assert values['FIELD_ENCRYPTION_KEY'] == vault['vault_field_encryption_key']
    assert values['FIELD_ENCRYPTION_KEYS'].split(',')[0] == vault['vault_field_encryption_key']
    assert podman_secret_holds(env.podman_prefix + 'secret_key', vault['vault_secret_key'])
    assert podman_secret_holds(env.podman_prefix + 'field_encryption_key', vault['vault_field_encryption_key'])
    return vault
