#!/usr/bin/env bash
# The same scans seen live (XDP ingress + TC egress) and through `replay` of a capture taken
# at the same time on the same interface give the same alerts (src, rule, scan), including the
# rules that need the host's answers: connect vs syn, trw, horizontal shape, decoy groups.
set -u
PORTCULLIS=${1:?usage: live_vs_replay_test.sh PATH/TO/portcullis}
SCANNER=$(readlink -f "$(dirname "$PORTCULLIS")/../scanner/portcullis-scan")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root

NS_V=pc-lr-victim-$$
NS_A=pc-lr-attacker-$$   # vertical scans of every kind, slow scan
NS_D=pc-lr-decoy-$$      # a decoy scan (fresh source, so its footprint is its own)
NS_H=pc-lr-sweep-$$      # a horizontal scan
IF_V=pclv$$; IF_A=pcla$$; IF_VD=pclvd$$; IF_D=pcld$$; IF_VH=pclvh$$; IF_H=pclh$$
dir=$(mktemp -d)
pids=()
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  local pin_dir
  pin_dir=$(ns_pin_dir "$NS_V")
  for ns in "$NS_V" "$NS_A" "$NS_D" "$NS_H"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf /sys/fs/bpf/portcullis/net*/"$IF_V" /sys/fs/bpf/portcullis/net*/"$IF_VD" \
    /sys/fs/bpf/portcullis/net*/"$IF_VH" ${pin_dir:+"$pin_dir"} "$dir"
}
trap cleanup EXIT

for tool in nmap tcpdump socat; do
  command -v $tool >/dev/null || { fail "$tool is needed (scripts/install-deps installs it)"; finish; exit 1; }
done

make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2
# The slow scan's own source: its alert cannot be confused with the fast scans' trw alerts.
ip -n "$NS_A" addr add 198.18.0.9/24 dev "$IF_A"
# Two more attackers on their own links into the victim, which watches all three.
ip netns add "$NS_D"; ip netns add "$NS_H"
for spec in "$NS_D $IF_VD $IF_D 198.18.1" "$NS_H $IF_VH $IF_H 198.18.2"; do
  set -- $spec
  ip link add "$2" netns "$NS_V" type veth peer name "$3" netns "$1"
  ip -n "$NS_V" addr add "$4.1/24" dev "$2"
  ip -n "$1" addr add "$4.2/24" dev "$3"
  ip -n "$NS_V" link set "$2" up; ip -n "$1" link set "$3" up; ip -n "$1" link set lo up
done
# 40 more addresses for the horizontal scan, and open ports 22 and 80.
for i in $(seq 100 139); do ip -n "$NS_V" addr add 198.18.2.$i/24 dev "$IF_VH"; done
# More sources: four for a distributed scan, one each for an ICMP sweep and a block scan.
for i in 30 31 32 33; do ip -n "$NS_D" addr add 198.18.1.$i/24 dev "$IF_D"; done
for i in 3 4; do ip -n "$NS_H" addr add 198.18.2.$i/24 dev "$IF_H"; done
for port in 22 80; do
  ip netns exec "$NS_V" socat TCP-LISTEN:$port,fork,reuseaddr SYSTEM:true 2>/dev/null &
  pids+=($!)
done

nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" -i "$IF_VD" -i "$IF_VH" \
  --mode xdp --json >"$dir/live.json" 2>"$dir/live.err" &
watch_pid=$!
# Linux cooked capture of all three links, both directions (replay derives the answers).
ip netns exec "$NS_V" tcpdump -i any -w "$dir/capture.pcap" -U -s 256 2>"$dir/tcpdump.err" &
pids+=($!)
if ! wait_for 10 "TC egress attached on $IF_VH" "$dir/live.err" ||
   ! wait_for 10 "listening on" "$dir/tcpdump.err"; then
  fail "detector (XDP + TC) and capture started"; cat "$dir/live.err" "$dir/tcpdump.err"; finish; exit 1
fi
pass "detector attached with XDP ingress and TC egress"

scan_from() {  # nmap from a namespace, then a pause longer than a window and a poll
  local ns=$1; shift
  ip netns exec "$ns" nmap -n -Pn -T4 --max-retries 0 "$@" >/dev/null 2>&1
  sleep 1.2
}
scan() { scan_from "$NS_A" "$@"; }
scan_from "$NS_D" -sS -D 198.18.1.50,198.18.1.51,198.18.1.52 -p 1-200 198.18.1.1
scan_from "$NS_H" -sS -p 445 198.18.2.100-139
# Distributed: four sources split ports 1-400 of one host at the same moment.
if [ -x "$SCANNER" ]; then
  dist=()
  for i in 0 1 2 3; do
    ip netns exec "$NS_D" "$SCANNER" -sS -Pn -n -S 198.18.1.3$i -e "$IF_D" \
      -p $((i * 100 + 1))-$((i * 100 + 100)) 198.18.1.1 >/dev/null 2>&1 &
    dist+=($!)
  done
  wait "${dist[@]}"
  sleep 1.5
  # A block scan: 21 ports on each of ten hosts.
  ip netns exec "$NS_H" "$SCANNER" -sS -Pn -n -S 198.18.2.4 -e "$IF_H" -p 20-40 \
    198.18.2.100-109 >/dev/null 2>&1
  sleep 1.2
fi
# An ICMP echo sweep of the 40 hosts, started from one shell in the namespace: forty
# `ip netns exec` spread the pings over seconds under vmtest's emulated kernel, across many score
# windows, and whether one window then reached the score threshold differed between live (window
# edges on jiffies) and replay (on capture time).
ip netns exec "$NS_H" bash -c 'for i in $(seq 100 139); do
    ping -c1 -W1 -I 198.18.2.3 198.18.2.$i >/dev/null 2>&1 &
  done
  wait'
sleep 0.5
scan -sS -p 1-300 198.18.0.1
scan -sT -p 1-300 198.18.0.1
scan -sF -p 1-300 198.18.0.1
scan -sN -p 1-300 198.18.0.1
scan -sX -p 1-300 198.18.0.1
scan -sA -p 1-300 198.18.0.1
scan -sU -p 1-100 198.18.0.1
# Slow: one probe a second, no two in one score window, under the rate rule's 10 ports.
scan -sS --scan-delay 1s --max-parallelism 1 -S 198.18.0.9 -e "$IF_A" -p 1000-1006 198.18.0.1
sleep 1
kill -INT "$watch_pid"; wait "$watch_pid"; watch_pid=""
sleep 0.5

"$PORTCULLIS" replay --json "$dir/capture.pcap" >"$dir/replay.json" 2>"$dir/replay.err"
rc=$?
[ "$rc" -eq 0 ] && pass "replay of the capture runs" || { fail "replay exit $rc"; cat "$dir/replay.err"; }

# "src rule scan" for every rule that fired in an incident, with the scan's label when it joined
# (its alert, or the update that first names it): the same whichever poll each rule fired at;
# and "src label scan" for every label an incident took (a source's next scan type is an update).
key() {
  awk '/"event":"(alert|update)"/ {
    match($0, /"scan":"[a-z]*"/); scan = substr($0, RSTART + 8, RLENGTH - 9)
    match($0, /"src":"[^"]*"/); src = substr($0, RSTART + 7, RLENGTH - 8)
    match($0, /"id":[0-9]+/); id = substr($0, RSTART + 5, RLENGTH - 5)
    match($0, /"rules":\[[^]]*\]/); n = split(substr($0, RSTART + 9, RLENGTH - 10), rules, ",")
    for (i = 1; i <= n; i++) { gsub(/"/, "", rules[i]); if (!seen[id, rules[i]]++) print src, rules[i], scan }
    print src, "label", scan
  }' "$1" | sort -u
}
# An incident event from SRC with SCAN and SHAPE that names RULE.
named() {
  grep -E '"event":"(alert|update)"' "$dir/live.json" |
    grep -F "\"scan\":\"$2\",\"src\":\"$3\",\"sources\":[\"$3\"],\"shape\":\"$4\"" | grep -qE "\"rules\":\[[^]]*\"$1\""
}
key "$dir/live.json" >"$dir/live.keys"
key "$dir/replay.json" >"$dir/replay.keys"
echo "live alerts (src rule scan):"; sed 's/^/  /' "$dir/live.keys"
if [ -s "$dir/live.keys" ] && diff -u "$dir/live.keys" "$dir/replay.keys" >"$dir/keys.diff"; then
  pass "live XDP+TC and replay give the same (src, rule, scan) alerts ($(wc -l <"$dir/live.keys") distinct)"
else
  fail "live XDP+TC and replay give the same (src, rule, scan) alerts"; cat "$dir/keys.diff"
fi
for scan in syn connect fin null xmas ack udp; do
  grep -q "^198.18.0.2 [a-z]* $scan\$" "$dir/live.keys" && pass "live $scan scan detected" ||
    fail "live $scan scan detected"
done
grep -q '^198.18.0.9 trw syn$' "$dir/live.keys" &&
  pass "live slow scan (7 ports, one a second) caught by trw" ||
  { fail "live slow scan (7 ports, one a second) caught by trw"; grep '198.18.0.9' "$dir/live.json"; }
named shape syn 198.18.2.2 horizontal &&
  pass "live horizontal scan of port 445 over 40 hosts" || fail "live horizontal scan"
named shape icmp 198.18.2.3 horizontal &&
  pass "live ICMP sweep of 40 hosts" || fail "live ICMP sweep of 40 hosts"
if [ -x "$SCANNER" ]; then
  named shape syn 198.18.2.4 block &&
    pass "live block scan (21 ports x 10 hosts)" || fail "live block scan"
  dist=$(grep '"rule":"group"' "$dir/live.json" | grep '"detail":"distributed"')
  if [ "$(grep -c . <<<"$dist")" -eq 1 ] && grep -q '"sources":\["198.18.1.30","198.18.1.31","198.18.1.32","198.18.1.33"\]' <<<"$dist"; then
    pass "live distributed scan: one event naming all four sources"
  else
    fail "live distributed scan: one event naming all four sources"; echo "$dist"
  fi
else
  fail "portcullis-scan not built ($SCANNER)"
fi
decoy=$(grep '"rule":"group"' "$dir/live.json" | grep '"detail":"decoy"' | head -1)
if [ -n "$decoy" ] && grep -q '"src":"198.18.1.2"' <<<"$decoy" &&
   grep -q '198.18.1.50' <<<"$decoy" && grep -q '198.18.1.52' <<<"$decoy" &&
   [ "$(grep -c '"detail":"decoy"' "$dir/live.json")" -eq 1 ]; then
  pass "live decoy scan: one group event naming the real source"
else
  fail "live decoy scan: one group event naming the real source"; grep '"rule":"group"' "$dir/live.json"
fi
finish
