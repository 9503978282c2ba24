#!/usr/bin/env bash
# The systemd unit's privileges are enough, and needed: `portcullis watch` run as an unprivileged
# user (nobody) with exactly the unit's AmbientCapabilities, on lo of a fresh network namespace,
# reports `nmap -sS` (XDP, auto mode) and stops cleanly; the same without CAP_BPF cannot start
# (the control: the capabilities are what let it run, not something else).
# Usage: unprivileged_test.sh PATH/TO/portcullis PATH/TO/portcullis.service
set -u
PORTCULLIS=${1:?usage: unprivileged_test.sh PATH/TO/portcullis PATH/TO/portcullis.service}
UNIT=${2:?usage: unprivileged_test.sh PATH/TO/portcullis PATH/TO/portcullis.service}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
if ! command -v setpriv >/dev/null; then
  [ "${CI:-}" = "true" ] && { echo "FAIL: CI=true and setpriv (util-linux) is missing"; exit 1; }
  echo "SKIP: setpriv is missing"; exit 77
fi

# CAP_BPF CAP_PERFMON … -> +bpf,+perfmon,…
caps=$(sed -n 's/^AmbientCapabilities=//p' "$UNIT" | tr ' ' '\n' | sed -n 's/^CAP_//p' |
  tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd, -)
[ -n "$caps" ] || { echo "FAIL: no AmbientCapabilities in $UNIT"; exit 1; }
NS=pc-unpriv-$$
dir=$(mktemp -d)
chmod 755 "$dir"
pins=/sys/fs/bpf/portcullis-unpriv-$$
lo_namespace
# What the unit's ExecStartPre does: the pin root and the state directory belong to the user.
install -d -o nobody -g nogroup "$pins" "$dir/state"
touch "$dir/out.json" "$dir/err" && chown nobody:nogroup "$dir/out.json" "$dir/err"

as_user() { # CAPS COMMAND... (as nobody, with only CAPS, in the test namespace; replaces the
  # calling shell, so run it in the background or in a subshell)
  local c=$1
  shift
  exec nsenter --net=/run/netns/"$NS" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps="-all,$c" --ambient-caps="-all,$c" --bounding-set="-all,$c" "$@"
}

as_user "$caps" "$PORTCULLIS" watch --json --pin-root "$pins" --state-dir "$dir/state" \
  >"$dir/out.json" 2>"$dir/err" &
watch_pid=$!
if wait_for 10 "watching lo in" "$dir/err"; then
  pass "watch starts as nobody with only $caps ($(sed -nE 's/.*watching lo in ([a-z-]+) mode.*/\1/p' "$dir/err") mode)"
  sleep 0.3
  ip netns exec "$NS" nmap -n -Pn -sS -p1-500 127.0.0.1 >/dev/null 2>&1
  if wait_for 5 '"rule":"score","scan":"syn","src":"127.0.0.1"' "$dir/out.json"; then
    pass "as nobody: nmap -sS 127.0.0.1 is reported"
  else
    fail "as nobody: nmap -sS 127.0.0.1 is reported"; cat "$dir/err"
  fi
  kill -INT "$watch_pid"; wait "$watch_pid"; rc=$?; watch_pid=""
  [ "$rc" -eq 0 ] && pass "as nobody: a clean stop (exit 0)" || fail "as nobody: exit $rc on SIGINT"
  if [ -z "$(find "$pins" -mindepth 1 -name pc_sources 2>/dev/null)" ] &&
    ! grep -q "Permission denied" "$dir/err"; then
    pass "as nobody: the clean stop unpinned its maps"
  else
    fail "as nobody: the clean stop unpinned its maps"; cat "$dir/err"
  fi
else
  fail "watch starts as nobody with only $caps"; cat "$dir/err"
  kill "$watch_pid" 2>/dev/null; watch_pid=""
fi

# Control: without CAP_BPF the program cannot be loaded.
without=$(sed 's/+bpf,\?//; s/,$//' <<<"$caps")
(as_user "$without" timeout 10 "$PORTCULLIS" watch --mode xdp-generic --pin-root "$pins" \
  --state-dir "$dir/state" >/dev/null 2>"$dir/err.nobpf")
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && pass "control: without CAP_BPF it cannot start (exit $rc)" ||
  fail "control: without CAP_BPF it started (exit $rc)"
finish
