#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/turnkey/secrets inside
# a git repository; run it on a throw-away copy of the tracked and untracked-not-ignored files.
#   scripts/sanity.sh [--venv DIR] [ANSIBLE-TEST-SANITY-ARGS...]
# Prints one line when every test passes, ansible-test's whole output when one fails
# (TURNKEY_SANITY_VERBOSE=1 streams it always).
# --venv runs the ansible-test (and the Python) of that virtualenv, e.g. .venv-2.16;
# without it, those found on PATH (.venv's, through scripts/env.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ "${1:-}" = --venv ]; then
  venv=$(cd "$2" && pwd)
  shift 2
  # ansible-test looks its --python up on PATH: the venv's interpreter must come first.
  export PATH="$venv/bin:$PATH"
fi
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test downloads get-pip.py from the internet; serve it from a pip wheel instead.
# Each ansible-core pins its own pip (2.16: 23.1.2, 2.19: 24.2, 2.21: 25.2): ask it.
cache=~/.ansible/test/cache
pipver=$(python - "$py" <<'PY'
import sys, types
from ansible_test._internal import python_requirements as r
print(r.get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))['pip'])
PY
)
getpip="$cache/get_pip_${pipver//./_}.py"
if [ ! -f "$getpip" ] || ! compgen -G "$cache/pip-$pipver-*.whl" >/dev/null; then
  mkdir -p "$cache"
  python -m pip download -q --no-deps -d "$cache" "pip==$pipver" 2> >(grep -v "is ignored: it is neither" >&2)
  # Written under another name, then renamed: several checkouts share this cache.
  cat > "$getpip.$$" <<PY
import glob, os, sys
sys.path.insert(0, glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pip-$pipver-*.whl'))[0])
from pip._internal.cli.main import main
sys.exit(main(['install', '--upgrade', '--force-reinstall'] + [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]))
PY
  mv "$getpip.$$" "$getpip"
fi

work=$(mktemp -d /tmp/turnkey-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/turnkey/secrets"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
git init -q && git add -A && git -c user.email=ci@invalid -c user.name=ci commit -qm sanity
# Quiet on success (one line); the whole output when a test fails or with TURNKEY_SANITY_VERBOSE=1.
if [ -n "${TURNKEY_SANITY_VERBOSE:-}" ]; then
  exec ansible-test sanity --python "$py" --color no "$@"
fi
log="$work/sanity.log"
if ansible-test sanity --python "$py" --color no "$@" >"$log" 2>&1; then
  echo "sanity: $(grep -c '^Running sanity test' "$log") tests passed (ansible-core $(python -c 'import ansible.release as r; print(r.__version__)'), Python $py)"
else
  rc=$?
  cat "$log"
  exit $rc
fi
