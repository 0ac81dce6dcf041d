#!/usr/bin/env bash
# Run every molecule scenario under molecule/ (one per role at least).  Molecule 26
# looks under extensions/molecule/ inside a collection; MOLECULE_GLOB points it at the
# top-level molecule/ directory this project uses.  .config/molecule/config.yml (merged into
# every scenario) turns molecule's prerun off: it would install this collection into
# ~/.ansible/collections, shadowing other checkouts; ansible finds it through .collections.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export MOLECULE_GLOB='molecule/*/molecule.yml'
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for f in molecule/*/molecule.yml; do [ -f "$f" ] && scenarios+=("$(basename "$(dirname "$f")")"); done
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "no molecule scenarios"; exit 0; }
# Scenarios run in TURNKEY_MOLECULE_LANES lanes side by side (default 2: most of a scenario is
# ansible waiting on one core); each has its own directories and free loopback ports.
# shellcheck source=scripts/lanes.sh
. "$ROOT/scripts/lanes.sh"
scenario() {
  echo "---- molecule test -s $1"
  # Molecule looks for an optional shared-state scenario molecule/default and logs its
  # absence as CRITICAL on every run; this project has none (.config/molecule/config.yml).
  molecule test -s "$1" 2> >(grep -v "molecule/default/molecule.yml' glob failed" >&2) \
    || { echo "molecule scenario $1 FAILED"; return 1; }
}
lanes=${TURNKEY_MOLECULE_LANES:-2}
logs=$(mktemp -d /tmp/turnkey-molecule.XXXXXX)
trap 'rm -rf "$logs"' EXIT
pids=()
for ((first = 0; first < lanes; first++)); do
  mine=()
  for ((i = first; i < ${#scenarios[@]}; i += lanes)); do mine+=("${scenarios[i]}"); done
  lane "$logs" scenario "${mine[@]+"${mine[@]}"}" &
  pids+=($!)
done
lanes_wait "${pids[@]}"
