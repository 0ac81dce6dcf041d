#!/usr/bin/env bash
# The main job on the embedded demo environment: rotate every secret of inventory/demo
# on localhost.  Extra arguments go to ansible-playbook (e.g. --check, -e rotate_force=true).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh" demo
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
cd "$ROOT"
mkdir -p .state/demo
exec ansible-playbook playbooks/rotate.yml -i inventory/demo \
  --vault-id "demo@inventory/demo/.vault_pass_demo" "$@"
