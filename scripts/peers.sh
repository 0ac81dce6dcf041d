#!/usr/bin/env bash
# The peers the benchmarks compare against, in their own virtualenv: containers.podman and
# community.general from the `ansible` package on PyPI (Galaxy is not reachable), with
# ansible-core as that package pins it, passlib and bcrypt 4.0.1 (the newest bcrypt
# passlib 1.7 works with).  Idempotent; a second run takes well under a second.
#   scripts/peers.sh            prints the directory holding venv/ and collections/
# The sdist (it also holds the collections' own integration tests) is kept in
# TURNKEY_PEERS_CACHE (default ~/.cache/turnkey-secrets): pip needs minutes to prepare it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPEC=${TURNKEY_PEERS_ANSIBLE:-ansible==12.*}
CACHE=${TURNKEY_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/turnkey-secrets}
DEST="$ROOT/.state/peers"
PY=${PYTHON:-python3}

stamp="$DEST/.ready-$(echo "$SPEC" | sha256sum | cut -c1-16)"
# Two test workers may ask at once: the second waits for the first to finish building.
mkdir -p "$ROOT/.state"
exec 9>"$ROOT/.state/peers.lock"
flock 9
if [ -f "$stamp" ]; then echo "$DEST"; exit 0; fi

mkdir -p "$CACHE/sdist"
newest() { find "$CACHE/sdist" -maxdepth 1 -name 'ansible-*.tar.gz' | sort -V | tail -n 1; }
tarball=$(newest)
if [ -z "$tarball" ] || [ -n "${TURNKEY_PEERS_REFRESH:-}" ]; then
  echo "==> pip download $SPEC (sdist, once)" >&2
  python3 -m pip download -q --no-deps --no-binary :all: -d "$CACHE/sdist" "$SPEC" \
    2> >(grep -v "is ignored: it is neither" >&2) >&2
  tarball=$(newest)
fi
top=$(basename "$tarball" .tar.gz)
core=$(tar -xzOf "$tarball" "$top/PKG-INFO" | sed -n 's/^Requires-Dist: \(ansible-core.*\)$/\1/p' | head -n 1)

# Built in place (a venv's scripts name their own path); the stamp marks it complete.
rm -rf "$DEST"
mkdir -p "$DEST/collections"
tar -xzf "$tarball" -C "$DEST/collections" --strip-components=1 \
  "$top/ansible_collections/containers/podman" "$top/ansible_collections/community/general"
echo "==> peers venv: ${core:-ansible-core}, passlib, bcrypt==4.0.1" >&2
"$PY" -m venv "$DEST/venv"
"$DEST/venv/bin/python" -m pip install -q "${core:-ansible-core}" passlib 'bcrypt==4.0.1' \
  2> >(grep -v "is ignored: it is neither" >&2) >&2
touch "$stamp"
echo "$DEST"
