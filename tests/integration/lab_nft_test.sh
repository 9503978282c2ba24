#!/usr/bin/env bash
# In the lab, the gateway as a perimeter sensor in pcap mode, blocking through nftables
# (--block-backend nft; pcap mode cannot drop by itself): a scanner outside scanning a victim
# inside is blocked at the gateway (the victim no longer answers it, a client still gets
# through), `nft list set` shows the element with its timeout, and it expires.
set -u
BUILD_DIR=${1:?usage: lab_nft_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
root=$(cd "$here/../.." && pwd)
PC=$(readlink -f "$BUILD_DIR/userspace/portcullis")
dir=$(mktemp -d)
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  bash "$root/scripts/lab" down >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
bash "$root/scripts/lab" up >/dev/null || { fail "the lab comes up"; finish; exit 1; }

TTL=10
nsenter --net=/run/netns/pcl-gw "$PC" watch -i gwa1 -i gwc --mode pcap --dst-ip 198.18.128.0/17 \
  --json --block --block-backend nft --block-ttl $TTL --state-dir "$dir" \
  >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
wait_for 10 "auto-block on" "$dir/w.err" || { fail "watch started on the gateway"; cat "$dir/w.err"; finish; exit 1; }
sleep 0.5
# Whether the victim's port 22 answers a connection from namespace $1.
answers() { ip netns exec "$1" timeout 3 socat -u TCP:198.18.129.2:22,connect-timeout=2 - 2>/dev/null | grep -q portcullis-lab; }
answers pcl-att1 && pass "before: the victim answers the attacker (the control)" || fail "before: the victim answers the attacker"

ip netns exec pcl-att1 nmap -n -Pn -sS -T4 -p 1-300 198.18.129.2 >/dev/null 2>&1
if wait_for 10 '"event":"block","rule":"[a-z]+","scan":"syn","src":"198.18.1.2"' "$dir/w.json"; then
  blocked_at=$(date +%s)
  pass "the scan from outside is detected in pcap mode and blocked"
else
  blocked_at=$(date +%s)
  fail "the scan from outside is blocked"; tail -5 "$dir/w.json" "$dir/w.err"
fi
element=$(nft_element pcl-gw 198.18.1.2)
grep -qE 'timeout [0-9]+s expires' <<<"$element" &&
  pass "nft list set on the gateway shows it with its timeout ($element)" ||
  { fail "nft list set shows the element with its timeout"; ip netns exec pcl-gw nft list set inet portcullis block4; }
answers pcl-att1 && fail "the victim no longer answers the blocked scanner" ||
  pass "the victim no longer answers the blocked scanner (dropped at the gateway)"
answers pcl-client && pass "the benign client still gets through" || fail "the benign client still gets through"

nft_wait_gone pcl-gw 198.18.1.2 $((TTL + 6))
gone=$(( $(date +%s) - blocked_at ))
if [ -z "$(nft_element pcl-gw 198.18.1.2)" ] && [ "$gone" -ge $((TTL - 2)) ]; then
  pass "the block expires on time (${gone} s, ttl ${TTL} s)"
else
  fail "the block expires on time (${gone} s, ttl ${TTL} s)"
fi
answers pcl-att1 && pass "after expiry the victim answers again" || fail "after expiry the victim answers again"
finish
