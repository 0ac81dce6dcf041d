#!/usr/bin/env bash
# Every test: ruff, ansible-lint, ansible-test sanity, unit, integration (real podman,
# nginx, PostgreSQL, Redis, DingTalk receiver, SSH hosts), molecule, collection build.
#   scripts/test.sh                 everything
#   scripts/test.sh unit sanity     only those stages
# The lint stage runs ansible-lint and antsibull-docs lint-collection-docs --plugin-docs.
# The compat stage runs, under every ansible-core that meta/runtime.yml admits besides
# .venv's 2.19 (.venv-2.16 .venv-2.17 .venv-2.18 .venv-2.20 .venv-2.21), ansible-test sanity
# and the rotation's end-to-end tests with one kill per journal transition
# (TURNKEY_KILL_MATRIX=quick); sanity's pylint and pep8, whose findings come from pylint and
# pycodestyle rather than from ansible-core, and antsibull-docs lint run under the oldest
# and the newest only (and under 2.19 in the sanity and lint stages):
#   TURNKEY_COMPAT_VENVS=".venv-2.16"   only those virtualenvs (default: all five)
#   TURNKEY_COMPAT_TESTS="tests/integration/rotate"   those tests instead
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
  local venv rc=0 rotate=${TURNKEY_COMPAT_ROTATE:-strict} pytest_opts compat_tests edge sanity_opts
  read -ra pytest_opts <<< "${TURNKEY_COMPAT_PYTEST--n 2}"
  read -ra compat_tests <<< "${TURNKEY_COMPAT_TESTS:-tests/integration/rotate/test_rotate_demo.py tests/integration/rotate/test_rotate_kill.py}"
  case "$rotate" in
    strict|xfail|skip) ;;
    *) echo "TURNKEY_COMPAT_ROTATE=$rotate: want strict, xfail or skip"; return 1 ;;
  esac
  for venv in ${TURNKEY_COMPAT_VENVS:-.venv-2.16 .venv-2.17 .venv-2.18 .venv-2.20 .venv-2.21}; do
    [ -x "$venv/bin/ansible" ] || { echo "---- $venv: no ansible-core there (scripts/setup.sh test makes it)"; rc=1; continue; }
    echo "---- $venv: ansible-core $("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)'), $("$venv/bin/python" -V)"
    case "$venv" in *-2.16|*-2.21) edge=1; sanity_opts=() ;; *) edge=; sanity_opts=(--skip-test pylint --skip-test pep8) ;; esac
    scripts/sanity.sh --venv "$venv" "${sanity_opts[@]+"${sanity_opts[@]}"}" || { echo "---- $venv: sanity FAILED"; rc=1; }
    if [ -n "$edge" ]; then
      PATH="$(cd "$venv/bin" && pwd):$PATH" docs_lint || { echo "---- $venv: antsibull-docs lint FAILED"; rc=1; }
    fi
    if [ "$rotate" = skip ]; then
      echo "---- $venv: rotate tests skipped (TURNKEY_COMPAT_ROTATE=skip)"
      continue
    fi
    # The tests run ansible-playbook and ansible-vault from next to sys.executable.
    if PATH="$(cd "$venv/bin" && pwd):$PATH" TURNKEY_KILL_MATRIX=${TURNKEY_KILL_MATRIX:-quick} \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider \
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
