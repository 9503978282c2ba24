#!/usr/bin/env bash
# A busy server, live: XDP and TC egress on a veth in a test namespace while real TCP clients from
# 50,000+ distinct IPv4 addresses fetch a page from it, and real nmap scans run inside that load
# from their own addresses: -sS -p1-1000, -sF -p1-300 and -sT -p1-200. Every scan must be
# reported (an alert naming the scanner, with scan syn / fin / connect), and no client address
# may be named by any alert, suspicious, block or update event.
#
# Topology (two namespaces, one veth, no default route anywhere):
#   server ns: veth 198.18.0.1/24, route 100.64.0.0/16 via 198.18.0.2, HTTP responder on :80
#              (many_clients --serve), `portcullis watch --mode xdp` on the veth
#   client ns: veth 198.18.0.2/24 plus scanners 198.18.0.3 (syn), .4 (fin), .5 (connect);
#              `local 100.64.0.0/16 dev lo` (AnyIP) so every client binds its own address
# The client prefix exists only inside the two namespaces.
#
# Usage: busy_live_test.sh PATH/TO/portcullis PATH/TO/many_clients
# Knobs (environment): BUSY_CLIENTS (connections, one per address, default 60000),
# BUSY_RATE (connections started per second, default 1000), BUSY_IN_FLIGHT (default 512),
# BUSY_KEEP=DIR keeps the watch's output, the nmap reports and the tool's lines there.
# Exit 77 skips (ctest SKIP_RETURN_CODE) when a capability is missing, unless CI=true.
set -u
PORTCULLIS=${1:?usage: busy_live_test.sh PATH/TO/portcullis PATH/TO/many_clients}
MANY=${2:?usage: busy_live_test.sh PATH/TO/portcullis PATH/TO/many_clients}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CLIENTS=${BUSY_CLIENTS:-60000}
RATE=${BUSY_RATE:-1000}
IN_FLIGHT=${BUSY_IN_FLIGHT:-512}
MIN_DISTINCT=50000
CLIENT_PREFIX=100.64.0.0/16
SERVER=198.18.0.1
CLIENT_GW=198.18.0.2
SYN_SCANNER=198.18.0.3
FIN_SCANNER=198.18.0.4
CONNECT_SCANNER=198.18.0.5

# A missing capability skips (77) outside CI and fails with CI=true.
missing() {
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: CI=true and $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || missing "needs root (namespaces, XDP)"
ip netns add pc-probe-$$ 2>/dev/null || missing "cannot create network namespaces"
ip netns del pc-probe-$$ 2>/dev/null
command -v nmap >/dev/null || missing "nmap is needed (scripts/install-deps installs it)"
command -v jq >/dev/null || missing "jq is needed to read the watch's JSON lines"
command -v nsenter >/dev/null || missing "nsenter (util-linux) is needed"
[ -x "$PORTCULLIS" ] || { echo "FAIL: no portcullis binary at $PORTCULLIS"; exit 1; }
[ -x "$MANY" ] || { echo "FAIL: no many_clients binary at $MANY"; exit 1; }

NS_S=pc-bz-server-$$
NS_C=pc-bz-client-$$
IF_S=pcbzs$$
IF_C=pcbzc$$
pins=/sys/fs/bpf/portcullis-bz-$$
state=$(mktemp -d)
dir=$(mktemp -d)
watch_pid=""
server_pid=""
pids=()
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$NS_S" 2>/dev/null
  ip netns del "$NS_C" 2>/dev/null
  [ -n "${BUSY_KEEP:-}" ] && mkdir -p "$BUSY_KEEP" && cp -a "$dir"/. "$BUSY_KEEP"/
  rm -rf "$pins" "$state" "$dir"
}
trap cleanup EXIT

t_start=$(date +%s.%N)
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

make_pair "$NS_S" "$NS_C" "$IF_S" "$IF_C" "$SERVER" "$CLIENT_GW"
for a in "$SYN_SCANNER" "$FIN_SCANNER" "$CONNECT_SCANNER"; do
  ip -n "$NS_C" addr add "$a/24" dev "$IF_C"
done
# AnyIP: the whole client prefix is local in the client namespace, so bind() takes any of it;
# the server reaches it through the client's veth address. No default route on either side.
ip -n "$NS_C" route add local "$CLIENT_PREFIX" dev lo
ip -n "$NS_S" route add "$CLIENT_PREFIX" via "$CLIENT_GW"
for ns in "$NS_S" "$NS_C"; do
  ip netns exec "$ns" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
    net.ipv4.tcp_tw_reuse=1 net.ipv4.tcp_max_tw_buckets=262144 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
if ip -n "$NS_S" route show default | grep -q . || ip -n "$NS_C" route show default | grep -q .; then
  fail "no default route in the test namespaces"; finish; exit 1
fi

# The HTTP responder: many_clients --serve answers about 11,000 connections/s here; socat with
# fork (a shell per connection) managed about 40/s, far too slow for the load.
nsenter --net=/run/netns/"$NS_S" "$MANY" --serve 80 --bind "$SERVER" >"$dir/server.out" 2>&1 &
server_pid=$!
wait_for 5 "^serving" "$dir/server.out" || { fail "HTTP responder started"; cat "$dir/server.out"; finish; exit 1; }

# nsenter directly (not a shell function), so $! is portcullis itself and gets the signal.
nsenter --net=/run/netns/"$NS_S" "$PORTCULLIS" watch -i "$IF_S" --mode xdp --json \
  --pin-root "$pins" --state-dir "$state" >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
if ! wait_for 15 "watching $IF_S in xdp mode" "$dir/w.err"; then
  fail "watch attached in native XDP mode"; cat "$dir/w.err"; finish; exit 1
fi
sed 's/^/INFO: watch: /' "$dir/w.err"
if grep -q "TC egress attached on $IF_S" "$dir/w.err"; then
  pass "XDP ingress and TC egress attached on $IF_S"
else
  fail "XDP ingress and TC egress attached on $IF_S"
fi

# The load: one connection per client address, paced so the scans run inside it.
t_load=$(date +%s.%N)
nsenter --net=/run/netns/"$NS_C" "$MANY" --server "$SERVER" --port 80 --prefix "$CLIENT_PREFIX" \
  --count "$CLIENTS" --rate "$RATE" --in-flight "$IN_FLIGHT" >"$dir/clients.out" 2>&1 &
clients_pid=$!
pids+=("$clients_pid")

# Waits until $1 seconds into the load.
at() { local d; d=$(awk -v s="$t_load" -v e="$(date +%s.%N)" -v t="$1" 'BEGIN { d = t - (e - s); print (d > 0 ? d : 0) }'); sleep "$d"; }
# Runs one nmap scan from its own address of the client veth; $1 names it, $2 is the source,
# the rest are nmap flags. nmap's -S works inside a namespace when -e names the interface; the
# closed ports it reports prove the server's answers reached that spoofed-looking (but local)
# source address.
scan() {
  local name=$1 src=$2
  shift 2
  local t0 rc
  t0=$(date +%s.%N)
  echo "INFO: $(since "$t_load") s into the load: nmap $* -S $src"
  ip netns exec "$NS_C" nmap -n -Pn -T4 -e "$IF_C" -S "$src" "$@" "$SERVER" >"$dir/nmap-$name.out" 2>&1
  rc=$?
  echo "INFO: nmap $name from $src took $(since "$t0") s (exit $rc): $(grep -E '^(Not shown|[0-9]+/tcp)' "$dir/nmap-$name.out" | tr '\n' ' ')"
  if [ "$rc" -eq 0 ] && grep -q "1 host up" "$dir/nmap-$name.out" &&
     grep -qE "^Not shown: [0-9]+ closed" "$dir/nmap-$name.out"; then
    pass "nmap $name scan from $src reached the server and got its answers"
  else
    fail "nmap $name scan from $src reached the server and got its answers"; cat "$dir/nmap-$name.out"
  fi
}
# How full the source table is (as `portcullis status` reads it from the pins).
table() {
  echo "INFO: $(since "$t_load") s into the load, $1: $(nsenter --net=/run/netns/"$NS_S" "$PORTCULLIS" status --json -i "$IF_S" \
    --pin-root "$pins" --state-dir "$state" 2>&1 |
    jq -c 'if type == "array" then .[] else . end | {sources, packets, untracked, untracked_sources, admission, evictions, events_lost}' \
      2>/dev/null | head -1)"
}
# Spread over the load (at 25 %, 45 % and 65 % of its planned length), so each scan meets a
# source table that already holds many thousands of recent clients.
planned=$(awk -v n="$CLIENTS" -v r="$RATE" 'BEGIN { print (r > 0 ? n / r : 10) }')
at "$(awk -v p="$planned" 'BEGIN { print p * 0.25 }')"
table "before the syn scan"
scan syn "$SYN_SCANNER" -sS -p1-1000
at "$(awk -v p="$planned" 'BEGIN { print p * 0.45 }')"
table "before the fin scan"
scan fin "$FIN_SCANNER" -sF -p1-300
at "$(awk -v p="$planned" 'BEGIN { print p * 0.65 }')"
table "before the connect scan"
scan connect "$CONNECT_SCANNER" -sT -p1-200

wait "$clients_pid"
table "after the load"
clients_rc=$?
load_s=$(since "$t_load")
sed 's/^/INFO: many_clients: /' "$dir/clients.out"
sleep 3  # let the controller read the last of it
kill -INT "$watch_pid"
wait "$watch_pid"
watch_rc=$?
watch_pid=""
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
sed 's/^/INFO: responder: /' "$dir/server.out" | grep -v "INFO: responder: serving"

num() { sed -nE "s/.* $1=([0-9]+).*/\1/p" "$2" | head -1; }
completed=$(num completed "$dir/clients.out")
distinct=$(num distinct_completed "$dir/clients.out")
failed=$(num failed "$dir/clients.out")
served_peers=$(num distinct_peers "$dir/server.out")
echo "INFO: load: ${distinct:-?} distinct client addresses completed a connection," \
     "${completed:-?} connections (${failed:-?} failed), ${load_s} s;" \
     "the responder saw ${served_peers:-?} distinct peers (clients and the connect scanner)"
if [ "$clients_rc" -eq 0 ] && [ -n "$distinct" ] && [ "$distinct" -ge "$MIN_DISTINCT" ]; then
  pass "real connections from $distinct distinct client addresses (at least $MIN_DISTINCT)"
else
  fail "real connections from at least $MIN_DISTINCT distinct client addresses (got ${distinct:-none})"
fi
[ "$watch_rc" -eq 0 ] && pass "watch stopped cleanly on SIGINT" || fail "watch stopped cleanly on SIGINT (exit $watch_rc)"

# The watch's JSON lines (anything else on stdout is ignored here).
jq -c -R 'fromjson? // empty' "$dir/w.json" >"$dir/events.json"
echo "INFO: watch printed $(wc -l <"$dir/events.json") events:" \
     "$(jq -r '.event' "$dir/events.json" | sort | uniq -c | awk '{printf "%s %s; ", $1, $2}')"
echo "INFO: alerts per source:" \
     "$(jq -r 'select(.event == "alert") | "\(.src) \(.rule)/\(.scan)"' "$dir/events.json" |
        sort | uniq -c | awk '{printf "%s %s x%s; ", $2, $3, $1}')"

for pair in "syn $SYN_SCANNER" "fin $FIN_SCANNER" "connect $CONNECT_SCANNER"; do
  set -- $pair
  n=$(jq -c --arg s "$2" --arg k "$1" 'select(.event == "alert" and .src == $s and .scan == $k)' \
        "$dir/events.json" | wc -l)
  if [ "$n" -ge 1 ]; then
    pass "the $1 scan from $2 was reported ($n alert(s) with scan \"$1\")"
  else
    fail "the $1 scan from $2 was reported (no alert with src $2 and scan \"$1\")"
    other=$(jq -c --arg s "$2" 'select(.event != "summary" and (.src == $s or ((.sources // []) | index($s))))' \
              "$dir/events.json" | head -3)
    [ -n "$other" ] && echo "INFO: events naming $2 instead: $other"
    summ=$(jq -c --arg s "$2" 'select(.event == "summary" and .src == $s)' "$dir/events.json" | head -1)
    echo "INFO: summary of $2: ${summ:-none (the source is not in the table at exit)}"
  fi
done

is_client='def client: startswith("100.64."); (.src // "" | client) or any((.sources // [])[]; client)'
jq -c "select(.event != \"summary\") | select($is_client)" "$dir/events.json" >"$dir/accused.json"
accused=$(wc -l <"$dir/accused.json")
if [ "$accused" -eq 0 ]; then
  pass "no client address named by any alert, suspicious, block or update event"
else
  fail "no client address named by any event: $accused events name clients" \
       "($(jq -r '.src' "$dir/accused.json" | sort -u | wc -l) distinct), e.g.:"
  head -3 "$dir/accused.json"
fi
summaries=$(jq -c 'select(.event == "summary")' "$dir/events.json" | wc -l)
client_summaries=$(jq -c "select(.event == \"summary\") | select($is_client)" "$dir/events.json" | wc -l)
echo "INFO: the exit summary lists $summaries sources ($client_summaries of them clients)"
echo "INFO: total test time $(since "$t_start") s"
if [ "$FAILS" -ne 0 ]; then
  echo "INFO: watch stderr (last lines):"
  tail -5 "$dir/w.err" | sed 's/^/INFO:   /'
fi
finish
