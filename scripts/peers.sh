#!/usr/bin/env bash
# The peers the benchmarks compare against, in their own virtualenv: containers.podman and
# community.general from the `ansible` package on PyPI (Galaxy is not reachable), with
# ansible-core as that package pins it, passlib and bcrypt 4.0.1 (the newest bcrypt
# passlib 1.7 works with).  Idempotent; a second run takes well under a second.
#   scripts/peers.sh            prints the directory holding venv/ and collections/
# The sdist (it also holds the collections' own integration tests) is kept in
# TURNKEY_TEST_CACHE (default ~/.cache/turnkey-secrets): pip needs minutes to prepare it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPEC='ansible==12.*'
DEST="$ROOT/.state/peers"
PY=$ROOT/.venv/bin/python

stamp="$DEST/.ready-$(echo "$SPEC" | sha256sum | cut -c1-16)"
# Two test workers may ask at once: the second waits for the first to finish building.
mkdir -p "$ROOT/.state"
exec 9>"$ROOT/.state/peers.lock"
flock 9
if [ -f "$stamp" ]; then echo "$DEST"; exit 0; fi

# The same cached sdist as the drop-in parity tests (tests/integration/upstream.py).
tarball=$("$PY" "$ROOT/tests/integration/upstream.py")
top=$(basename "$tarball" .tar.gz)
core=$(tar -xzOf "$tarball" "$top/PKG-INFO" | sed -n 's/^Requires-Dist: \(ansible-core.*\)$/\1/p' | head -n 1)

# Built in place (a venv's scripts name their own path); the stamp marks it complete.
rm -rf "$DEST"
mkdir -p "$DEST/collections"
tar -xzf "$tarball" -C "$DEST/collections" --strip-components=1 \
  "$top/ansible_collections/containers/podman" "$top/ansible_collections/community/general"
echo "==> peers venv: ${core:-ansible-core}, passlib, bcrypt==4.0.1" >&2
"${PYTHON:-python3}" -m venv "$DEST/venv"
"$DEST/venv/bin/python" -m pip install -q "${core:-ansible-core}" passlib 'bcrypt==4.0.1' \
  2> >(grep -v "is ignored: it is neither" >&2) >&2
touch "$stamp"
echo "$DEST"
