#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 (run as root): system packages, a virtualenv
# with the Python requirements, the collection made visible to ansible, and a podman
# configuration that works on hosts where crun cannot run.  A second run takes ~1 s.
#   scripts/setup.sh demo   what `make demo` needs
#   scripts/setup.sh test   what the whole test suite needs, including the virtualenvs
#                           .venv-2.16/2.17/2.18/2.20/2.21 for the compat stage
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${1:-test}
cd "$ROOT"

apt_demo="podman runc python3-venv git"
apt_test="$apt_demo nginx postgresql redis-server apache2-utils openssh-server iproute2 rsync strace inotify-tools shellcheck age gnupg"
case "$PROFILE" in
  demo) want=$apt_demo ;;
  test) want=$apt_test ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing packages:$missing (run as root or install them)" >&2; exit 1; fi
  echo "==> apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  # Debian starts these on install; tests run their own instances on loopback ports.
  for svc in nginx postgresql redis-server ssh; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=".venv/.requirements-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> pip install -r requirements-dev.txt"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1
  # The local mirror configuration makes pip print a warning per missing index entry.
  .venv/bin/python -m pip install -q -r requirements-dev.txt 2> >(grep -v "is ignored: it is neither" >&2)
  rm -f .venv/.requirements-*
  touch "$stamp"
fi

# The compat stage proves every ansible-core that meta/runtime.yml admits besides .venv's
# own (2.19): 2.16 (the floor), 2.17 and 2.18 on Python 3.11; 2.20 and 2.21 need
# Python >= 3.12 (pyenv's).
compat_venv() {  # DIR PYTHON ANSIBLE-CORE-SPEC
  local dir=$1 py=$2 spec=$3 stamp
  stamp="$dir/.requirements-$( (echo "$py $spec"; cat requirements.txt requirements-compat.txt) | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  if [ ! -x "$dir/bin/python" ]; then
    echo "==> creating $dir ($("$py" -V), $spec)"
    "$py" -m venv "$dir"
  fi
  echo "==> pip install $spec -r requirements-compat.txt into $dir"
  "$dir/bin/python" -m pip install -q "$spec" -r requirements-compat.txt 2> >(grep -v "is ignored: it is neither" >&2)
  rm -f "$dir"/.requirements-*
  touch "$stamp"
}
if [ "$PROFILE" = test ]; then
  py312=${PYTHON312:-}
  if [ -z "$py312" ]; then
    for py312 in ~/.pyenv/versions/3.12*/bin/python3.12 "$(command -v python3.12 || true)" ""; do
      [ -x "$py312" ] && break
    done
  fi
  if [ -z "$py312" ]; then echo "no Python 3.12 for .venv-2.20 and .venv-2.21 (set PYTHON312)" >&2; exit 1; fi
  compat_venv .venv-2.16 "$PY" 'ansible-core==2.16.*'
  compat_venv .venv-2.17 "$PY" 'ansible-core==2.17.*'
  compat_venv .venv-2.18 "$PY" 'ansible-core==2.18.*'
  compat_venv .venv-2.20 "$py312" 'ansible-core==2.20.*'
  compat_venv .venv-2.21 "$py312" 'ansible-core==2.21.*'
fi

# The demo vault password file is committed (demo only) and git does not keep modes:
# give it the mode every vault password file must have.
chmod 0600 inventory/demo/.vault_pass_demo

# ansible finds the collection through ansible.cfg's collections_path.
mkdir -p .collections/ansible_collections/turnkey
ln -sfn ../../.. .collections/ansible_collections/turnkey/secrets

# crun fails on these hosts (cgroups hybrid mode): runc, and ulimits within the hard limit.
mkdir -p .state
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=1048576
nofile=$(( hard < 20000 ? hard : 20000 ))
cat > .state/containers.conf.new <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
stop_timeout = 1
CONF
mv .state/containers.conf.new .state/containers.conf
