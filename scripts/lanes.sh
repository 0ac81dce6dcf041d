# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/molecule.sh: run independent jobs in a few
# sequential "lanes" side by side, so a 2-core CI machine keeps both cores busy while one
# lane waits on pip or on a single-threaded tool.  A lane is a background subshell; each of
# its jobs writes to its own log, which is printed whole when the job ends (under a lock,
# so two lanes never interleave their output).

# lane_job LOGDIR NAME CMD...: run CMD (a command or a shell function) with its output in
# LOGDIR/NAME.log, print that log, return CMD's status.
lane_job() {
  local dir=$1 name=$2 rc=0
  shift 2
  "$@" >"$dir/$name.log" 2>&1 || rc=$?
  { flock 9; cat "$dir/$name.log"; } 9>"$dir/.print"
  return $rc
}

# lane LOGDIR FUNC ITEM...: lane_job FUNC ITEM for each ITEM in turn (run it with & to get a
# lane); fails when one of them failed.
lane() {
  local dir=$1 func=$2 item rc=0
  shift 2
  for item in "$@"; do lane_job "$dir" "$func-$item" "$func" "$item" || rc=1; done
  return $rc
}

# lanes_wait PID...: wait for every lane; fails when any lane failed.
lanes_wait() {
  local pid rc=0
  for pid in "$@"; do wait "$pid" || rc=1; done
  return $rc
}
