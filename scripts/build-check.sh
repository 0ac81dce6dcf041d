#!/usr/bin/env bash
# The collection builds without tests and caches, installs, and ansible-doc lists it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/turnkey-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$ROOT"
ansible-galaxy collection build --force --output-path "$work" . >/dev/null
tarball=$(ls "$work"/turnkey-secrets-*.tar.gz)
# Nothing of the development tree, and of inventory/ only the demo (no environment's vault).
if tar -tzf "$tarball" | grep -E '^(tests|molecule|benchmarks|\.venv|\.state|\.collections|\.config)/|^inventory/[^/]' \
    | grep -vE '^inventory/demo(/|$)'; then
  echo "build contains files that build_ignore should exclude" >&2; exit 1
fi
# The execution-environment definition and the files it names (ansible-builder reads them).
tar -tzf "$tarball" > "$work/files.txt"
for f in meta/execution-environment.yml requirements.txt bindep.txt; do
  grep -qx "$f" "$work/files.txt" || { echo "build lacks $f (execution environment)" >&2; exit 1; }
done
ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-galaxy collection install -p "$work/installed" "$tarball" >/dev/null
ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-doc -l turnkey.secrets > "$work/doc.txt"
cat "$work/doc.txt"
modules=$(find plugins/modules -name '*.py' ! -name '_*' | wc -l)
listed=$(grep -c '^turnkey\.secrets\.' "$work/doc.txt" || true)
[ "$listed" -ge "$modules" ] || { echo "ansible-doc lists $listed modules, expected $modules" >&2; exit 1; }
echo "built $(basename "$tarball"): $(tar -tzf "$tarball" | wc -l) files, $listed modules documented"
