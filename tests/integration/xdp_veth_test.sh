#!/usr/bin/env bash
# The XDP program attached in native mode to a veth in a test namespace: a SYN scan from the
# peer namespace shows up in the source table with the right counters, and Ctrl-C detaches.
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
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  ip netns del "$NS_V" 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  rm -rf "/sys/fs/bpf/portcullis/$IF_V" "$out"
}
trap cleanup EXIT

make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2

# nsenter directly (not a shell function), so $! is portcullis itself and gets the signal.
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp >"$out" 2>&1 &
watch_pid=$!
if wait_for 10 "watching $IF_V in xdp mode" "$out"; then
  pass "attached in native mode"
else
  fail "attached in native mode"; cat "$out"; finish; exit 1
fi

# 200 SYN probes to closed ports, sent by the peer namespace's own stack via nmap.
if command -v nmap >/dev/null; then
  ip netns exec "$NS_A" nmap -n -Pn -sS -T4 --max-retries 0 -p 1-200 198.18.0.1 >/dev/null 2>&1
  if wait_for 5 "^198\.18\.0\.2 .* syn=(2[0-9][0-9])" "$out"; then
    pass "the scanner's source has its SYN counter"
  else
    fail "the scanner's source has its SYN counter"; tail -5 "$out"
  fi
  line=$(grep -E "^198\.18\.0\.2 " "$out" | tail -1)
  ports=$(sed -nE 's/.*ports~([0-9]+).*/\1/p' <<<"$line")
  if [ -n "$ports" ] && [ "$ports" -ge 150 ]; then
    pass "distinct-port estimate ($ports for 200 ports)"
  else
    fail "distinct-port estimate (got '${ports}' for 200 ports)"
  fi
else
  fail "nmap is not installed (scripts/install-deps installs it)"
fi

kill -INT "$watch_pid"
wait "$watch_pid"
rc=$?
watch_pid=""
if [ "$rc" -eq 0 ] && ! ip -n "$NS_V" link show "$IF_V" | grep -q "prog/xdp"; then
  pass "Ctrl-C detaches cleanly"
else
  fail "Ctrl-C detaches cleanly (exit $rc)"; ip -n "$NS_V" link show "$IF_V"
fi
finish
