# shellcheck shell=bash
# Sourced by the other scripts: the environment every command here runs in.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"
export CONTAINERS_CONF="$ROOT/.state/containers.conf"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
export PYTHONDONTWRITEBYTECODE=1
