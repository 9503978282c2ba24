#!/usr/bin/env bash
# The same scans seen live through XDP and through `replay` of a capture taken at the same time
# on the same interface give the same alerts (src, rule, scan).
set -u
PORTCULLIS=${1:?usage: live_vs_replay_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root

NS_V=pc-lr-victim-$$
NS_A=pc-lr-attacker-$$
IF_V=pclv$$
IF_A=pcla$$
dir=$(mktemp -d)
watch_pid=""
dump_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  [ -n "$dump_pid" ] && kill "$dump_pid" 2>/dev/null && wait "$dump_pid" 2>/dev/null
  ip netns del "$NS_V" 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  rm -rf "/sys/fs/bpf/portcullis/$IF_V" "$dir"
}
trap cleanup EXIT

if ! command -v nmap >/dev/null || ! command -v tcpdump >/dev/null; then
  fail "nmap and tcpdump are needed (scripts/install-deps installs them)"; finish; exit 1
fi

make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --json \
  >"$dir/live.json" 2>"$dir/live.err" &
watch_pid=$!
ip netns exec "$NS_V" tcpdump -Q in -i "$IF_V" -w "$dir/capture.pcap" -U -s 256 \
  2>"$dir/tcpdump.err" &
dump_pid=$!
if ! wait_for 10 "watching $IF_V in xdp mode" "$dir/live.err" ||
   ! wait_for 10 "listening on" "$dir/tcpdump.err"; then
  fail "detector and capture started"; cat "$dir/live.err" "$dir/tcpdump.err"; finish; exit 1
fi

for scan in -sS -sF -sN -sX -sA -sU; do
  ports=1-300
  [ "$scan" = -sU ] && ports=1-100
  ip netns exec "$NS_A" nmap -n -Pn "$scan" -T4 --max-retries 0 -p "$ports" 198.18.0.1 \
    >/dev/null 2>&1
  sleep 1.2  # longer than a score window plus a poll, so each scan is seen whole
done
sleep 1
kill -INT "$watch_pid"; wait "$watch_pid"; watch_pid=""
kill "$dump_pid"; wait "$dump_pid" 2>/dev/null; dump_pid=""

"$PORTCULLIS" replay --json "$dir/capture.pcap" >"$dir/replay.json" 2>"$dir/replay.err"
rc=$?
[ "$rc" -eq 0 ] && pass "replay of the capture runs" || { fail "replay exit $rc"; cat "$dir/replay.err"; }

key() { grep '"event":"alert"' "$1" | sed -E 's/.*"rule":"([a-z]+)","scan":"([a-z]+)","src":"([^"]+)".*/\3 \1 \2/' | sort -u; }
key "$dir/live.json" >"$dir/live.keys"
key "$dir/replay.json" >"$dir/replay.keys"
echo "live alerts:";   sed 's/^/  /' "$dir/live.keys"
if [ -s "$dir/live.keys" ] && diff -u "$dir/live.keys" "$dir/replay.keys"; then
  pass "live XDP and replay give the same (src, rule, scan) alerts ($(wc -l <"$dir/live.keys") distinct)"
else
  fail "live XDP and replay give the same (src, rule, scan) alerts"
fi
for scan in syn fin null xmas ack udp; do
  if grep -q " $scan\$" "$dir/live.keys"; then pass "live $scan scan detected"; else fail "live $scan scan detected"; fi
done
finish
