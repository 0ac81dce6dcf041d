#!/usr/bin/env bash
# Every test: ruff, ansible-lint, ansible-test sanity, unit, integration (real podman,
# nginx, PostgreSQL, Redis, DingTalk receiver, SSH hosts), molecule, collection build.
#   scripts/test.sh                 everything
#   scripts/test.sh unit sanity     only those stages
# The lint stage runs ansible-lint and antsibull-docs lint-collection-docs --plugin-docs.
# The compat stage runs sanity, antsibull-docs lint and the rotation integration tests under the oldest and
# the newest ansible-core that meta/runtime.yml admits (.venv-2.16, .venv-2.21):
#   TURNKEY_COMPAT_VENVS=".venv-2.16"   only those virtualenvs (default: both)
#   TURNKEY_COMPAT_ROTATE=strict        rotate test failures fail the stage (default)
#                         xfail         run them and report, but do not fail the stage
#                         skip          do not run them
#   TURNKEY_COMPAT_PYTEST="-n 2"        pytest options for the rotate tests (default: 2 workers)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh" test || exit 1
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
cd "$ROOT" || exit 1

all_stages="ruff lint sanity unit integration compat molecule build"
stages=("$@")
# shellcheck disable=SC2206 # one word per stage
[ ${#stages[@]} -eq 0 ] && stages=($all_stages)

# Plugin and role documentation as the docsite renders it (schema, markup, role
# argument_specs); antsibull-docs calls the ansible-doc found first on PATH.
docs_lint() {
  antsibull-docs lint-collection-docs --plugin-docs "$ROOT"
}

compat() {
  local venv rc=0 rotate=${TURNKEY_COMPAT_ROTATE:-strict} pytest_opts
  read -ra pytest_opts <<< "${TURNKEY_COMPAT_PYTEST--n 2}"
  # The rotation end to end, its failure paths and one kill per journal transition (the SSH
  # hosts and DingTalk files cost 10 minutes more under two venvs; the whole directory with
  # TURNKEY_COMPAT_TESTS=tests/integration/rotate).
  local compat_tests
  read -ra compat_tests <<< "${TURNKEY_COMPAT_TESTS:-tests/integration/rotate/test_rotate_demo.py tests/integration/rotate/test_rotate_kill.py}"
  case "$rotate" in
    strict|xfail|skip) ;;
    *) echo "TURNKEY_COMPAT_ROTATE=$rotate: want strict, xfail or skip"; return 1 ;;
  esac
  for venv in ${TURNKEY_COMPAT_VENVS:-.venv-2.16 .venv-2.21}; do
    [ -x "$venv/bin/ansible" ] || { echo "---- $venv: no ansible-core there (scripts/setup.sh test makes it)"; rc=1; continue; }
    echo "---- $venv: ansible-core $("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)'), $("$venv/bin/python" -V)"
    scripts/sanity.sh --venv "$venv" || { echo "---- $venv: sanity FAILED"; rc=1; }
    PATH="$(cd "$venv/bin" && pwd):$PATH" docs_lint || { echo "---- $venv: antsibull-docs lint FAILED"; rc=1; }
    if [ "$rotate" = skip ]; then
      echo "---- $venv: rotate tests skipped (TURNKEY_COMPAT_ROTATE=skip)"
      continue
    fi
    # The tests run ansible-playbook and ansible-vault from next to sys.executable.
    if PATH="$(cd "$venv/bin" && pwd):$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "${pytest_opts[@]+"${pytest_opts[@]}"}" "${compat_tests[@]}"; then
      echo "---- $venv: rotate tests passed"
    elif [ "$rotate" = xfail ]; then
      echo "---- $venv: rotate tests FAILED (expected: TURNKEY_COMPAT_ROTATE=xfail)"
    else
      echo "---- $venv: rotate tests FAILED (TURNKEY_COMPAT_ROTATE=xfail or skip to accept)"
      rc=1
    fi
  done
  return $rc
}

declare -A took
failed=()
for stage in "${stages[@]}"; do
  echo
  echo "======== $stage ========"
  start=$(date +%s)
  case "$stage" in
    ruff)        ruff check . ;;
    lint)        ansible-lint --offline -q && docs_lint ;;
    sanity)      scripts/sanity.sh ;;
    unit)        pytest -q -p no:cacheprovider tests/unit ;;
    integration) pytest -q -p no:cacheprovider -n 2 --durations=15 tests/integration ;;
    compat)      compat ;;
    molecule)    scripts/molecule.sh ;;
    build)       scripts/build-check.sh ;;
    *) echo "unknown stage $stage ($all_stages)"; false ;;
  esac
  rc=$?
  # ansible's password lookup writes its file atomically: pointed at /dev/null, it turns
  # the device into a regular file and breaks everything after it.  Catch that here.
  if [ ! -c /dev/null ]; then
    echo "stage $stage replaced /dev/null with a regular file; restoring it"
    rm -f /dev/null && mknod -m 666 /dev/null c 1 3
    rc=1
  fi
  # A task that "creates" /tmp with a mode would break every later user of it.
  if [ "$(stat -c %a /tmp)" != 1777 ]; then
    echo "stage $stage changed the mode of /tmp to $(stat -c %a /tmp); restoring 1777"
    chmod 1777 /tmp
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
