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


def audit_log(env):
    """The lines of the environment's audit log (its default place, beside the inventory)."""
    with open(os.path.join(env.inventory, '.state', 'audit.log')) as handle:
        return [json.loads(line) for line in handle]


def assert_logged_once_per_step(env, runs):
    """Each secret of the demo went through each of its steps once, over ``runs`` runs
    (a killed one and the one that finished it), and the log holds no value."""
    path = os.path.join(env.inventory, '.state', 'audit.log')
    assert os.stat(path).st_mode & 0o777 == 0o600
    lines = audit_log(env)
    assert len({line['run'] for line in lines}) == runs, lines
    assert all(line['environment'] == 'demo' and line['user'] and line['controller'] and line['time'].endswith('Z')
               for line in lines)
    steps = {}
    for line in lines:
        if line.get('secret') and line['step'] != 'resume':
            key = (line['secret'], line['step'], line.get('host'), line['outcome'])
            steps[key] = steps.get(key, 0) + 1
    expected = {('dashboard_password', 'create', None, 'created'), ('dashboard_password', 'set', 'localhost', 'set'),
                ('dashboard_password', 'test', 'localhost', 'tested'),
                ('dashboard_password', 'promote', None, 'promoted'), ('dashboard_password', 'finish', None, 'retired')}
    for name in ('secret_key', 'field_encryption_key'):
        expected |= {(name, 'create', None, 'created'), (name, 'promote', None, 'promoted'),
                     (name, 'deploy', 'localhost', 'deployed to localhost'), (name, 'finish', None, 'retired')}
    assert steps == dict.fromkeys(expected, 1), sorted(steps.items())
    ends = [line for line in lines if line['step'] == 'end']
    assert len(ends) == 1 and ends[0]['outstanding'] == [] and ends[0]['in_flight'] == {}
    with open(path) as handle:
        return handle.read()


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
