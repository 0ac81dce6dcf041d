#!/usr/bin/env bash
# Every test: ruff, ansible-lint, ansible-test sanity, unit, integration (real podman,
# nginx, PostgreSQL, Redis, DingTalk receiver, SSH hosts), molecule, collection build.
#   scripts/test.sh                 everything
#   scripts/test.sh unit sanity     only those stages
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh" test || exit 1
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
cd "$ROOT" || exit 1

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(ruff lint sanity unit integration molecule build)

declare -A took
failed=()
for stage in "${stages[@]}"; do
  echo
  echo "======== $stage ========"
  start=$(date +%s)
  case "$stage" in
    ruff)        ruff check . ;;
    lint)        ansible-lint --offline -q ;;
    sanity)      scripts/sanity.sh ;;
    unit)        pytest -q -p no:cacheprovider tests/unit ;;
    integration) pytest -q -p no:cacheprovider tests/integration ;;
    molecule)    scripts/molecule.sh ;;
    build)       scripts/build-check.sh ;;
    *) echo "unknown stage $stage (ruff lint sanity unit integration molecule build)"; false ;;
  esac
  rc=$?
  # ansible's password lookup writes its file atomically: pointed at /dev/null, it turns
  # the device into a regular file and breaks everything after it.  Catch that here.
  if [ ! -c /dev/null ]; then
    echo "stage $stage replaced /dev/null with a regular file; restoring it"
    rm -f /dev/null && mknod -m 666 /dev/null c 1 3
    rc=1
  fi
  took[$stage]=$(( $(date +%s) - start ))
  [ $rc -eq 0 ] || failed+=("$stage")
done

echo
echo "======== summary ========"
for stage in "${stages[@]}"; do
  status=ok
  for f in "${failed[@]+"${failed[@]}"}"; do [ "$f" = "$stage" ] && status=FAILED; done
  printf '%-12s %-7s %4ss\n' "$stage" "$status" "${took[$stage]}"
done
[ ${#failed[@]} -eq 0 ]
