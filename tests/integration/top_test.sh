#!/usr/bin/env bash
# `portcullis top` driven as a user would, in tmux (send-keys, capture-pane): beside a running
# watch on veth, it shows the scanner (as an open incident and a top source) within 2 s of its
# scan, and q quits it, leaving the terminal as it was.
set -u
PORTCULLIS=${1:?usage: top_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
command -v tmux >/dev/null || { fail "tmux is needed (scripts/install-deps installs it)"; finish; exit 1; }

NS_V=pc-top-victim-$$; NS_A=pc-top-attacker-$$
IF_V=pctpv$$; IF_A=pctpa$$
pins=/sys/fs/bpf/portcullis-top-$$
state=$(mktemp -d); dir=$(mktemp -d)
export TMUX_TMPDIR=$dir  # a tmux server of our own
session=pctop$$
watch_pid=""
cleanup() {
  tmux kill-server 2>/dev/null
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  ip netns del "$NS_V" 2>/dev/null; ip netns del "$NS_A" 2>/dev/null
  rm -rf "$pins" "$state" "$dir"
}
trap cleanup EXIT

make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --json \
  --pin-root "$pins" --state-dir "$state" >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
wait_for 10 "watching $IF_V" "$dir/w.err" || { fail "watch started"; cat "$dir/w.err"; finish; exit 1; }

tmux new-session -d -s "$session" -x 200 -y 60 \
  "nsenter --net=/run/netns/$NS_V $PORTCULLIS top -i $IF_V --pin-root $pins --state-dir $state -d 500; sleep 30"
pane() { tmux capture-pane -p -t "$session"; }
for _ in $(seq 50); do pane | grep -q "OPEN INCIDENTS" && break; sleep 0.1; done
if pane | grep -q "OPEN INCIDENTS" && pane | grep -q "$IF_V"; then
  pass "top draws its view of $IF_V"
else
  fail "top draws its view"; pane
fi
pane | grep -q '198\.18\.0\.2' && fail "the scanner is on screen before its scan (no control)"

ip netns exec "$NS_A" nmap -n -Pn -sS -T4 --max-retries 0 -p 1-300 198.18.0.1 >/dev/null 2>&1
scanned=$(date +%s%N)
seen=""
for _ in $(seq 50); do
  if pane | sed -n '/OPEN INCIDENTS/,/TOP SOURCES/p' | grep -q '198\.18\.0\.2' &&
     pane | sed -n '/TOP SOURCES/,/BLOCKS/p' | grep -q '198\.18\.0\.2'; then
    seen=$(( ($(date +%s%N) - scanned) / 1000000 ))
    break
  fi
  sleep 0.1
done
limit=2000; [ -n "${VMTEST:-}" ] && limit=6000   # an emulated CPU is 6-8x slower
if [ -n "$seen" ] && [ "$seen" -le "$limit" ]; then
  pass "the scanner shows as an open incident and a top source ${seen} ms after its scan"
else
  fail "the scanner shows within ${limit} ms of its scan (${seen:-never})"; pane
fi
pane | grep -E '198\.18\.0\.2 .*(syn|connect)' | head -1 | sed 's/^ */INFO: /'

# top itself runs until q; then the `sleep 30` holds the pane open.
running() { ps -C portcullis -o args= | grep -q " top -i $IF_V "; }
running && pass "top is running before q (the control)" || fail "top is running before q (the control)"
tmux send-keys -t "$session" q
for _ in $(seq 30); do running || break; sleep 0.1; done
running && fail "q quits top" || pass "q quits top"
finish
