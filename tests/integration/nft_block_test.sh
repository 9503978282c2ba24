#!/usr/bin/env bash
# --block-backend nft with the pcap backend (which cannot drop by itself): a scanner is blocked
# as an element of the nftables set, with its timeout; the host no longer answers it; the
# element expires on time and the host answers again; a clean stop removes the table. The
# allowlisted neighbour's identical scan is never blocked.
set -u
PORTCULLIS=${1:?usage: nft_block_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
command -v nft >/dev/null || { fail "nft is needed (scripts/install-deps installs nftables)"; finish; exit 1; }

NS_V=pc-nft-victim-$$; NS_A=pc-nft-attacker-$$
IF_V=pcnfv$$; IF_A=pcnfa$$
pins=""
victim_attacker_pair
ip -n "$NS_A" addr add 198.18.0.77/24 dev "$IF_A"
for port in 22 80; do  # open ports: the scan resets their SYN-ACKs, evidence enough to block
  ip netns exec "$NS_V" socat TCP-LISTEN:$port,fork,reuseaddr SYSTEM:true 2>/dev/null &
  pids+=($!)
done
TTL=8
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode pcap --json --block \
  --block-backend nft --block-ttl $TTL --allow 198.18.0.77 --state-dir "$state" \
  >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
wait_for 10 "auto-block on" "$dir/w.err" || { fail "watch started"; cat "$dir/w.err"; finish; exit 1; }
grep -q "blocks go to nftables" "$dir/w.err" && pass "pcap mode with the nft backend says where blocks go" ||
  fail "pcap mode with the nft backend says where blocks go"

answers() {  # whether the host answers a connection from 198.18.0.$1 to port 22
  ip netns exec "$NS_A" timeout 2 socat -u OPEN:/dev/null TCP:198.18.0.1:22,bind=198.18.0.$1,connect-timeout=1 \
    >/dev/null 2>&1
}
answers 2 && pass "before: the host answers 198.18.0.2 (the control)" || fail "before: the host answers 198.18.0.2"

ip netns exec "$NS_A" nmap -n -Pn -sS -T4 -S 198.18.0.77 -e "$IF_A" -p 1-300 198.18.0.1 >/dev/null 2>&1
ip netns exec "$NS_A" nmap -n -Pn -sS -T4 -p 1-300 198.18.0.1 >/dev/null 2>&1
if wait_for 8 '"event":"block","rule":"[a-z]+","scan":"syn","src":"198.18.0.2"' "$dir/w.json"; then
  blocked_at=$(date +%s)
  pass "the scanner is blocked"
else
  blocked_at=$(date +%s)
  fail "the scanner is blocked"; tail -5 "$dir/w.json" "$dir/w.err"
fi
element=$(nft_element "$NS_V" 198.18.0.2)
if grep -qE 'timeout [0-9]+s expires' <<<"$element"; then
  pass "nft list set shows the element with its timeout ($element)"
else
  fail "nft list set shows the element with its timeout"; ip netns exec "$NS_V" nft list set inet portcullis block4
fi
answers 2 && fail "the host no longer answers the blocked scanner" ||
  pass "the host no longer answers the blocked scanner"
answers 77 && pass "the allowlisted neighbour, which scanned too, is answered and never blocked" ||
  fail "the allowlisted neighbour is answered"
grep -q '"event":"block"[^}]*"src":"198.18.0.77"' "$dir/w.json" && fail "the allowlisted neighbour was blocked"

# Expiry: nftables removes the element at its timeout; the watch reports the unblock.
nft_wait_gone "$NS_V" 198.18.0.2 $((TTL + 6))
gone=$(( $(date +%s) - blocked_at ))
if [ -z "$(nft_element "$NS_V" 198.18.0.2)" ] && [ "$gone" -ge $((TTL - 2)) ]; then
  pass "the element expires on time (gone ${gone} s after the block, ttl ${TTL} s)"
else
  fail "the element expires on time (${gone} s, ttl ${TTL} s)"
fi
answers 2 && pass "after expiry the host answers 198.18.0.2 again" || fail "after expiry the host answers 198.18.0.2 again"
wait_for 4 '"event":"unblock","rule":"expiry","scan":"","src":"198.18.0.2"' "$dir/w.json" &&
  pass "the watch reports the unblock" || fail "the watch reports the unblock"

# The operator's block and unblock reach the set too (pcap mode has no XDP maps).
ops() { nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" "$@" --pin-root "$dir/no-pins"; }
ops block 198.18.0.50 --ttl 300 >/dev/null &&
  ip netns exec "$NS_V" nft list set inet portcullis block4 | grep -qE '198\.18\.0\.50 timeout 5m' &&
  pass "portcullis block puts the address in the set with its timeout" ||
  { fail "portcullis block puts the address in the set"; ip netns exec "$NS_V" nft list set inet portcullis block4; }
ops unblock 198.18.0.50 >/dev/null &&
  ! ip netns exec "$NS_V" nft list set inet portcullis block4 | grep -q '198\.18\.0\.50' &&
  pass "portcullis unblock removes it from the set" || fail "portcullis unblock removes it from the set"

kill -INT "$watch_pid"; wait "$watch_pid"; watch_pid=""
ip netns exec "$NS_V" nft list table inet portcullis >/dev/null 2>&1 &&
  fail "a clean stop removes the table" || pass "a clean stop removes table inet portcullis"
finish
