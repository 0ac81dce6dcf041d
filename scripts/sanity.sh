#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/turnkey/secrets inside
# a git repository; run it on a throw-away copy of the tracked and untracked-not-ignored files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test downloads get-pip.py from the internet; serve it from a pip wheel instead.
cache=~/.ansible/test/cache
pipver=$(python - <<'PY'
import re, ansible_test._internal.python_requirements as r
print(re.search(r"pip='([0-9.]+)'", open(r.__file__).read()).group(1))
PY
)
getpip="$cache/get_pip_${pipver//./_}.py"
if [ ! -f "$getpip" ]; then
  mkdir -p "$cache"
  pip download -q --no-deps -d "$cache" "pip==$pipver"
  cat > "$getpip" <<PY
import glob, os, sys
sys.path.insert(0, glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pip-$pipver-*.whl'))[0])
from pip._internal.cli.main import main
sys.exit(main(['install', '--upgrade', '--force-reinstall'] + [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]))
PY
fi

work=$(mktemp -d /tmp/turnkey-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/turnkey/secrets"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
git init -q && git add -A && git -c user.email=ci@invalid -c user.name=ci commit -qm sanity
ansible-test sanity --python "$py" --color no "$@"
