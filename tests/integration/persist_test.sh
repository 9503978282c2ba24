#!/usr/bin/env bash
# `watch --persist` and the next watch, as an upgrade meets them: a watch of the same build
# adopts the pinned evidence tables; one that finds tables stamped by another build (its slot
# hash or layout may differ) or of another size (--slots) says so once and starts them afresh;
# either way a block made before keeps dropping the blocked source's packets.
set -u
PORTCULLIS=${1:?usage: persist_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
command -v bpftool >/dev/null && command -v jq >/dev/null ||
  { fail "bpftool and jq are needed (scripts/install-deps installs them)"; finish; exit 1; }

NS_V=pc-persist-victim-$$; NS_A=pc-persist-attacker-$$
IF_V=pcpsv$$; IF_A=pcpsa$$
pins=/sys/fs/bpf/portcullis-persist-$$
state=$(mktemp -d); dir=$(mktemp -d)
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  ip netns del "$NS_V" 2>/dev/null; ip netns del "$NS_A" 2>/dev/null
  rm -rf "$pins" "$state" "$dir"
}
trap cleanup EXIT

make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2

# run_watch LOG [--persist]: a watch until "watching", in the background ($watch_pid).
run_watch() {
  local log=$1
  shift
  # nsenter itself, not a function: $watch_pid is the watch, which SIGINT stops.
  nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --json \
    --pin-root "$pins" --state-dir "$state" "$@" >/dev/null 2>"$log" &
  watch_pid=$!
  wait_for 15 "watching $IF_V" "$log"
}
stop_watch() {
  kill -INT "$watch_pid" 2>/dev/null
  wait "$watch_pid" 2>/dev/null
  watch_pid=""
}
pin_of() { find "$pins" -name "$1" 2>/dev/null | head -1; }
map_id() { bpftool map show pinned "$(pin_of "$1")" -j 2>/dev/null | jq -r .id; }
pings() {  # answered pings of 3 from the attacker
  ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 1 198.18.0.1 2>/dev/null |
    sed -n 's/.* \([0-9]*\) received.*/\1/p'
}

run_watch "$dir/w1.err" --persist || { fail "the first watch started"; cat "$dir/w1.err"; finish; exit 1; }
[ "$(pings)" = 3 ] && pass "the attacker's pings are answered before the block (the control)" ||
  fail "the attacker's pings are answered before the block"
in_ns "$NS_V" "$PORTCULLIS" block 198.18.0.2 --ttl 0 -i "$IF_V" --pin-root "$pins" >/dev/null 2>&1 ||
  fail "portcullis block 198.18.0.2"
stop_watch
first_table=$(map_id pc_sources)
[ -n "$first_table" ] && [ "$first_table" != null ] && pass "--persist leaves the source table pinned" ||
  { fail "--persist leaves the source table pinned"; finish; exit 1; }

run_watch "$dir/w2.err" --persist || { fail "the second watch started"; cat "$dir/w2.err"; }
[ "$(map_id pc_sources)" = "$first_table" ] &&
  pass "a watch of the same build adopts the pinned source table" ||
  fail "a watch of the same build adopts the pinned source table ($(map_id pc_sources) vs $first_table)"
grep -q "another build" "$dir/w2.err" && fail "the same build is not taken for another"
stop_watch

# Another table size (--slots): the same, sized anew.
run_watch "$dir/w2s.err" --persist --slots 4096 || { fail "a watch with another --slots started"; cat "$dir/w2s.err"; }
if [ "$(grep -c "has 16384 slots, this watch 4096" "$dir/w2s.err")" = 1 ]; then
  pass "a watch with another --slots says so once"
else
  fail "a watch with another --slots says so once"; cat "$dir/w2s.err"
fi
sized_table=$(map_id pc_sources)
entries=$(bpftool map show pinned "$(pin_of pc_sources)" -j 2>/dev/null | jq -r .max_entries)
[ "$sized_table" != "$first_table" ] && [ "$entries" = 4096 ] &&
  pass "and starts its source table afresh at 4096 slots" ||
  fail "and starts its source table afresh at 4096 slots ($sized_table vs $first_table, $entries)"
[ "$(pings)" = 0 ] && pass "the block made before still drops the attacker's pings there" ||
  fail "the block made before still drops the attacker's pings there"
stop_watch

# An older build's stamp: the table format in pc_control (its last four bytes) set to 0.
control=$(pin_of pc_control)
value=$(bpftool map lookup pinned "$control" key 0 0 0 0 -j | jq -r '.value | .[0:60] | join(" ")')
bpftool map update pinned "$control" key 0 0 0 0 value $value 0 0 0 0 ||
  fail "stamping the pinned tables with another build's format"

run_watch "$dir/w3.err" || { fail "the third watch started"; cat "$dir/w3.err"; }
if [ "$(grep -c "another build (table format 0" "$dir/w3.err")" = 1 ]; then
  pass "a watch that finds another build's tables says so once"
else
  fail "a watch that finds another build's tables says so once"; cat "$dir/w3.err"
fi
third_table=$(map_id pc_sources)
[ -n "$third_table" ] && [ "$third_table" != "$first_table" ] &&
  pass "and starts the evidence tables afresh" ||
  fail "and starts the evidence tables afresh ($third_table vs $first_table)"
[ "$(pings)" = 0 ] && pass "the block made before still drops the attacker's pings" ||
  fail "the block made before still drops the attacker's pings"
stop_watch
[ -z "$(pin_of pc_sources)" ] && pass "a clean stop then unpins the evidence" ||
  fail "a clean stop then unpins the evidence"
finish
