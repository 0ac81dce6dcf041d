# shellcheck shell=bash
# Sourced by the other scripts: the environment every command here runs in.
# `. scripts/env.sh` in an interactive shell: without a .venv it changes nothing, says what
# to run and returns 1 (return, not exit: the shell that sourced it stays open).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
if [ ! -x "$ROOT/.venv/bin/ansible-playbook" ]; then
  echo "env.sh: $ROOT/.venv is missing or incomplete: run $ROOT/scripts/setup.sh test (or setup.sh demo) first" >&2
  # shellcheck disable=SC2317 # exit: run as a script rather than sourced
  return 1 2>/dev/null || exit 1
fi
export PATH="$ROOT/.venv/bin:$PATH"
export CONTAINERS_CONF="$ROOT/.state/containers.conf"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
export PYTHONDONTWRITEBYTECODE=1
