"""Fixtures for the vault tests (helpers in vault_helpers.py)."""

import pytest

from vault_helpers import MixedTree


@pytest.fixture
def mixed_tree(tmp_path):
    """``mixed_tree(password, label='staging', name='inventory')`` -> a MixedTree under tmp_path."""
    def make(password, label='staging', name='inventory'):
        return MixedTree(tmp_path / name, password, label)
    return make
