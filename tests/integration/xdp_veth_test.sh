#!/usr/bin/env bash
# The XDP program attached in native mode to a veth in a test namespace: a SYN scan from the
# peer namespace raises a score alert naming the scanner, as one incident (one alert, its
# updates, one end), the summary on Ctrl-C shows its counters, and Ctrl-C detaches.
set -u
PORTCULLIS=${1:?usage: xdp_veth_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root

NS_V=pc-it-victim-$$
NS_A=pc-it-attacker-$$
IF_V=pcv$$
IF_A=pca$$
out=$(mktemp)
err=$(mktemp)
watch_pid=""
cleanup() {
  local pin_dir
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  pin_dir=$(ns_pin_dir "$NS_V")
  ip netns del "$NS_V" 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  rm -rf /sys/fs/bpf/portcullis/net*/"$IF_V" ${pin_dir:+"$pin_dir"} "$out" "$err"
}
trap cleanup EXIT

make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2

# nsenter directly (not a shell function), so $! is portcullis itself and gets the signal.
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --json \
  >"$out" 2>"$err" &
watch_pid=$!
if wait_for 10 "watching $IF_V in xdp mode" "$err"; then
  pass "attached in native mode"
else
  fail "attached in native mode"; cat "$err"; finish; exit 1
fi

# 300 SYN probes to closed ports, sent by the peer namespace's own stack via nmap.
start=$(date +%s.%N)
ip netns exec "$NS_A" nmap -n -Pn -sS -T4 --max-retries 0 -p 1-300 198.18.0.1 >/dev/null 2>&1
if wait_for 5 '"rule":"score","scan":"syn","src":"198.18.0.2"' "$out"; then
  pass "SYN scan -> score alert naming 198.18.0.2 ($(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?') s after the scan began)"
else
  fail "SYN scan -> score alert naming 198.18.0.2"; cat "$out" "$err"
fi

# The watched destinations follow the interface's addresses: one added while the watch runs is
# watched within a few seconds (the watch rereads them every 2 s).
ip -n "$NS_V" addr add 198.18.0.50/24 dev "$IF_V"
ip -n "$NS_A" addr add 198.18.0.3/24 dev "$IF_A"
sleep 3
ip netns exec "$NS_A" nmap -n -Pn -sS -T4 --max-retries 0 -S 198.18.0.3 -e "$IF_A" -p 1-200 \
  198.18.0.50 >/dev/null 2>&1
if wait_for 5 '"rule":"score","scan":"syn","src":"198.18.0.3"' "$out"; then
  pass "an address added to the interface while watching is watched (scan of 198.18.0.50 alerts)"
else
  fail "an address added to the interface while watching is watched"; tail -3 "$out"
fi

kill -INT "$watch_pid"
wait "$watch_pid"
rc=$?
watch_pid=""
syns=$(grep '"event":"summary","src":"198.18.0.2"' "$out" | sed -nE 's/.*"syn":([0-9]+).*/\1/p' | head -1)
if [ -n "$syns" ] && [ "$syns" -ge 300 ]; then
  pass "summary counts the scanner's $syns SYNs"
else
  fail "summary counts the scanner's SYNs (got '${syns}')"; tail -3 "$out"
fi
# One scan, one incident: exactly one alert, updates of the same id only, and one end (the
# stop closes what is open) with its totals.
mine=$(grep -E '"event":"(alert|update|end)"' "$out" | grep '"src":"198.18.0.2"')
id=$(grep '"event":"alert"' <<<"$mine" | grep -o '"id":[0-9]*' | head -1)
n_alert=$(grep -c '"event":"alert"' <<<"$mine"); n_end=$(grep -c '"event":"end"' <<<"$mine")
n_update=$(grep -c '"event":"update"' <<<"$mine")
others=$(grep -vc -- "$id," <<<"$mine")
end_line=$(grep '"event":"end"' <<<"$mine")
if [ -n "$id" ] && [ "$n_alert" -eq 1 ] && [ "$n_end" -eq 1 ] && [ "$others" -eq 0 ] &&
   grep -q '"duration":' <<<"$end_line" && grep -q '"packets":' <<<"$end_line"; then
  pass "one 300-port scan is one incident: 1 alert, $n_update updates, 1 end ($id)"
else
  fail "one 300-port scan is one incident (alerts $n_alert, updates $n_update, ends $n_end, other ids $others)"
  echo "$mine"
fi
echo "INFO: $(grep '"event":"alert"' <<<"$mine" | grep -o '"rules":\[[^]]*\]') -> $(grep -o '"rules":\[[^]]*\]' <<<"$end_line")"
if [ "$rc" -eq 0 ] && ! ip -n "$NS_V" link show "$IF_V" | grep -q "prog/xdp"; then
  pass "Ctrl-C detaches cleanly"
else
  fail "Ctrl-C detaches cleanly (exit $rc)"; ip -n "$NS_V" link show "$IF_V"
fi
# Pins live under the watch's network namespace: /sys/fs/bpf/portcullis/net<inode>/<iface>.
if ! ls /sys/fs/bpf/portcullis/net*/"$IF_V"/pc_sources >/dev/null 2>&1; then
  pass "a clean stop leaves no stale source table pinned"
else
  fail "a clean stop leaves no stale source table pinned"
fi
finish
