#!/usr/bin/env bash
# Every test: ruff, ansible-lint, ansible-test sanity, unit, integration (real podman,
# nginx, PostgreSQL, Redis, DingTalk receiver, SSH hosts), molecule, collection build.
#   scripts/test.sh                 everything
#   scripts/test.sh unit sanity     only those stages
# The lint stage runs ansible-lint and antsibull-docs lint-collection-docs --plugin-docs.
# The compat stage runs, under every ansible-core that meta/runtime.yml admits besides
# .venv's 2.19, ansible-test sanity and the rotation's end-to-end tests (test_rotate_demo.py)
# with kills at journal transitions (test_rotate_kill.py), in lanes side by side (the rotate
# tests, and the sanity runs of each Python version).  The oldest and the newest (.venv-2.16,
# .venv-2.21) run everything: the whole sanity, antsibull-docs lint, a kill after every
# journal transition (TURNKEY_KILL_MATRIX=quick).  2.17, 2.18 and 2.20 run sanity without
# pylint, pep8, yamllint and changelog (their findings come from the linter versions
# ansible-test pins, not from ansible-core) and two kills (TURNKEY_KILL_MATRIX=smoke):
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
# shellcheck source=scripts/lanes.sh
. "$ROOT/scripts/lanes.sh"
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

# ansible-core 2.16 and 2.21 are the edges: they run everything; the versions between run
# sanity without the tests whose findings come from a linter ansible-test pins rather than
# from ansible-core (pylint, pep8, yamllint, changelog) and the rotation tests with two
# kills instead of one per journal transition.
compat_edge() { case "$1" in *-2.16|*-2.21) return 0 ;; esac; return 1; }

compat_sanity() {
  local venv=$1 rc=0 opts=()
  compat_edge "$venv" || opts=(--skip-test pylint --skip-test pep8 --skip-test yamllint --skip-test changelog)
  echo "---- $venv sanity: ansible-core $("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)'), $("$venv/bin/python" -V)"
  scripts/sanity.sh --venv "$venv" "${opts[@]+"${opts[@]}"}" || { echo "---- $venv: sanity FAILED"; rc=1; }
  if compat_edge "$venv"; then
    PATH="$(cd "$venv/bin" && pwd):$PATH" docs_lint || { echo "---- $venv: antsibull-docs lint FAILED"; rc=1; }
  fi
  return $rc
}

compat_rotate() {
  local venv=$1 rotate=${TURNKEY_COMPAT_ROTATE:-strict} matrix pytest_opts compat_tests
  read -ra pytest_opts <<< "${TURNKEY_COMPAT_PYTEST--n 2}"
  read -ra compat_tests <<< "${TURNKEY_COMPAT_TESTS:-tests/integration/rotate/test_rotate_demo.py tests/integration/rotate/test_rotate_kill.py}"
  if compat_edge "$venv"; then matrix=${TURNKEY_KILL_MATRIX:-quick}; else matrix=${TURNKEY_KILL_MATRIX:-smoke}; fi
  echo "---- $venv rotate tests (TURNKEY_KILL_MATRIX=$matrix): ${compat_tests[*]}"
  # The tests run ansible-playbook and ansible-vault from next to sys.executable.
  if PATH="$(cd "$venv/bin" && pwd):$PATH" TURNKEY_KILL_MATRIX=$matrix \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider \
      "${pytest_opts[@]+"${pytest_opts[@]}"}" "${compat_tests[@]}"; then
    echo "---- $venv: rotate tests passed"
  elif [ "$rotate" = xfail ]; then
    echo "---- $venv: rotate tests FAILED (expected: TURNKEY_COMPAT_ROTATE=xfail)"
  else
    echo "---- $venv: rotate tests FAILED (TURNKEY_COMPAT_ROTATE=xfail or skip to accept)"
    return 1
  fi
}

# Lanes side by side: the rotate tests of every venv, and the sanity runs (mostly pip and
# one core) in one lane per Python version: ansible-test keys its requirement virtualenvs
# under ~/.ansible/test by Python version and does not create one safely twice at once.
compat() {
  local venv venvs=() rotate=${TURNKEY_COMPAT_ROTATE:-strict} logs pids=() rc=0 py
  local -A sanity_lanes=()
  case "$rotate" in
    strict|xfail|skip) ;;
    *) echo "TURNKEY_COMPAT_ROTATE=$rotate: want strict, xfail or skip"; return 1 ;;
  esac
  for venv in ${TURNKEY_COMPAT_VENVS:-.venv-2.16 .venv-2.21 .venv-2.17 .venv-2.18 .venv-2.20}; do
    if [ -x "$venv/bin/ansible" ]; then
      venvs+=("$venv")
      py=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
      sanity_lanes[$py]+="$venv "
    else
      echo "---- $venv: no ansible-core there (scripts/setup.sh test makes it)"; rc=1
    fi
  done
  [ ${#venvs[@]} -gt 0 ] || return 1
  logs=$(mktemp -d /tmp/turnkey-compat.XXXXXX)
  for py in "${!sanity_lanes[@]}"; do
    # shellcheck disable=SC2086 # one word per venv
    lane "$logs" compat_sanity ${sanity_lanes[$py]} &
    pids+=($!)
  done
  if [ "$rotate" = skip ]; then
    echo "---- rotate tests skipped (TURNKEY_COMPAT_ROTATE=skip)"
  else
    lane "$logs" compat_rotate "${venvs[@]}" &
    pids+=($!)
  fi
  lanes_wait "${pids[@]}" || rc=1
  rm -rf "$logs"
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
    integration) pytest -q -p no:cacheprovider -n 2 --durations=40 tests/integration ;;
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
