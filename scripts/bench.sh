#!/usr/bin/env bash
# Run every benchmark under benchmarks/ (each prints its ratio against the peer approach).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh" test
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
cd "$ROOT"
for b in benchmarks/*/run.py; do
  [ -f "$b" ] || continue
  echo "==== $b"
  python "$b" "$@"
done
