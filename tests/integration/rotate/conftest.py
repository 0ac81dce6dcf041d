"""Environments for rotate.yml tests: copies of inventory/demo in a temporary tree."""

import os
import shutil
import subprocess

import pytest
import yaml

from harness import ROOT, ansible_env


class Env(object):
    """An inventory directory laid out like inventory/<env> in a scratch checkout."""

    def __init__(self, base, name='demo'):
        self.base = str(base)
        self.inventory = os.path.join(self.base, 'inventory', name)
        shutil.copytree(os.path.join(ROOT, 'inventory', 'demo'), self.inventory)
        os.chmod(os.path.join(self.inventory, '.vault_pass_demo'), 0o600)
        self.state = os.path.join(self.base, '.state', 'demo')
        os.makedirs(self.state, exist_ok=True)
        self.vault_file = os.path.join(self.inventory, 'group_vars', 'all', 'vault.yml')
        self.password_file = os.path.join(self.inventory, '.vault_pass_demo')
        self.rotation_file = os.path.join(self.inventory, 'group_vars', 'all', 'rotation.yml')
        # Whatever the checkout's demo went through (./scripts/demo.sh rewrites it), every
        # test starts from secrets that are overdue.
        with open(self.rotation_file, 'w') as handle:
            yaml.safe_dump({'turnkey_rotation': {name: {'rotated_at': '2026-01-01T00:00:00Z', 'max_age_days': 90}
                                                 for name in ('dashboard_password', 'secret_key', 'field_encryption_key')}},
                           handle)

    @property
    def vault_args(self):
        return ['--vault-id', 'demo@' + self.password_file]

    def vault(self):
        """The decrypted vault, read with stock ansible-vault."""
        out = subprocess.run(['ansible-vault', 'view', '--vault-id', 'demo@' + self.password_file, self.vault_file],
                             capture_output=True, check=True, env=ansible_env()).stdout
        return yaml.safe_load(out) or {}

    def set_vault(self, values):
        """Replace the vault's content (encrypted with stock ansible-vault)."""
        plain = os.path.join(self.base, 'vault-plain.yml')
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            yaml.safe_dump(values, handle)
        subprocess.run(['ansible-vault', 'encrypt', '--vault-id', 'demo@' + self.password_file, '--encrypt-vault-id',
                        'demo', '--output', self.vault_file, plain], check=True, capture_output=True, env=ansible_env())
        os.unlink(plain)

    def secret_values(self):
        values = []
        for value in self.vault().values():
            values.extend(value if isinstance(value, list) else [value])
        return [v for v in values if isinstance(v, str) and len(v) >= 4]

    def rotation(self):
        with open(self.rotation_file) as handle:
            return yaml.safe_load(handle)['turnkey_rotation']

    def add_secrets(self, name, secrets, **extra):
        """A vars file whose turnkey_secrets is the demo's catalogue plus ``secrets``."""
        with open(os.path.join(self.inventory, 'group_vars', 'all', 'main.yml')) as handle:
            catalogue = dict(yaml.safe_load(handle)['turnkey_secrets'])
        catalogue['dashboard_password'] = dict(catalogue['dashboard_password'], path=os.path.join(self.state, 'htpasswd'))
        catalogue.update(secrets)
        return self.write_vars(name, dict(extra, turnkey_secrets=catalogue))

    def write_vars(self, name, data):
        path = os.path.join(self.inventory, 'group_vars', 'all', name)
        with open(path, 'w') as handle:
            yaml.safe_dump(data, handle)
        return path


@pytest.fixture
def demo_env(tmp_path, podman):
    env = Env(tmp_path)
    prefix = podman.prefix + 'rot_'
    # Podman secrets of this test get a unique prefix so parallel runs do not collide.
    env.write_vars('test.yml', {'turnkey_podman_secrets': [
        {'name': prefix + 'secret_key', 'var': 'vault_secret_key'},
        {'name': prefix + 'field_encryption_key', 'var': 'vault_field_encryption_key'},
    ]})
    env.podman_prefix = prefix
    return env


@pytest.fixture
def demo_copy(tmp_path):
    """``demo_copy(name)`` -> an Env: a plain copy of inventory/demo (its own podman secret names) under ``name``."""
    return lambda name: Env(tmp_path / name)
