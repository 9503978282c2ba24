#!/usr/bin/env bash
# A few thousand targets: 2000 addresses (198.19.0.0/21, RFC 2544 space) on one namespace's
# interface, reached from the scanner namespace through a route to that /21 only (no default
# route). A SYN scan and a connect scan under a small descriptor limit must both finish, find
# every host, and stay within bounded memory.
#
# usage: many_targets_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER
set -u

SCAN=$(readlink -f "${1:?usage: many_targets_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER}")
LISTENER=$(readlink -f "${2:?usage: many_targets_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER}")
N=2000
MAX_RSS_KB=262144  # 256 MiB

source "$(dirname "$0")/lab_lib.sh"
scanner_lab_require many_targets_test ip

id=$$
NS_S=pcs-ms$id
NS_T=pcs-mt$id
WORK=$(mktemp -d /tmp/pcs-many.XXXXXX)
lab_teardown_on_exit "$NS_S" "$NS_T"

make_pair "$NS_S" "$NS_T" pcs-c$id pcs-d$id 198.18.0.1 198.18.0.2 &&
  ip -n "$NS_S" route add 198.19.0.0/21 via 198.18.0.2 || { echo "FAIL: lab setup"; exit 1; }
no_default_routes "$NS_S" "$NS_T"

# 2000 addresses on the target's interface, and the same list as the scanner's -iL file.
for i in $(seq 0 $((N - 1))); do echo "198.19.$((i / 256)).$((i % 256))"; done >"$WORK/targets"
sed "s|^|addr add |; s|$|/32 dev pcs-d$id|" "$WORK/targets" >"$WORK/batch"
ip -n "$NS_T" -batch "$WORK/batch" || { echo "FAIL: adding $N addresses"; exit 1; }

ip netns exec "$NS_T" "$LISTENER" --tcp 22 >"$WORK/listener.out" 2>&1 &
LAB_PIDS+=($!)
for _ in $(seq 50); do grep -q ready "$WORK/listener.out" 2>/dev/null && break; sleep 0.1; done

check() {  # name fd-limit scan-args...
  local name=$1 nofile=$2; shift 2
  local start end rc rss up open closed
  start=$(date +%s.%N)
  # GNU time (Debian package "time") reports the peak RSS; without it memory is not checked.
  local timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%M' -o "$WORK/$name.rss")
  ( ulimit -n "$nofile"
    exec ip netns exec "$NS_S" "${timer[@]}" \
      timeout 600 "$SCAN" "$@" -T4 -p 22,23 -iL "$WORK/targets" -oG "$WORK/$name.gnmap" \
      >"$WORK/$name.out" 2>"$WORK/$name.err" )
  rc=$?
  end=$(date +%s.%N)
  rss=$(tail -1 "$WORK/$name.rss" 2>/dev/null)
  up=$(grep -c 'Status: Up' "$WORK/$name.gnmap")
  open=$(grep -c '22/open/tcp' "$WORK/$name.gnmap")
  closed=$(grep -c '23/closed/tcp' "$WORK/$name.gnmap")
  local secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
  if [ $rc -ne 0 ]; then
    fail "$name: exit $rc: $(head -2 "$WORK/$name.err" | paste -sd' ')"
  elif [ "$up" -ne $N ] || [ "$open" -ne $N ] || [ "$closed" -ne $N ]; then
    fail "$name: up=$up 22/open=$open 23/closed=$closed, wanted $N each"
  elif [ -n "$rss" ] && [ "$rss" -gt $MAX_RSS_KB ]; then
    fail "$name: max RSS ${rss} KiB over ${MAX_RSS_KB} KiB"
  else
    pass "$name: $N hosts up, 22 open and 23 closed on each, ${secs}s, max RSS ${rss:-?} KiB (fd limit $nofile)"
  fi
}

[ -x /usr/bin/time ] || skip "peak memory check: GNU time not installed (Debian package time)"
check syn-scan 1024 -sS
check connect-scan 256 -sT
# --scan-delay paces each host, as nmap's does: 2000 hosts x 2 ports at one probe per second
# per host take a few seconds; one global gap would take over an hour (and hit the timeout).
check per-host-scan-delay 1024 -sS -Pn --scan-delay 1s

# The progress line over the host groups of one scan: 20,000 probes at --max-rate 5000 take
# about 4 s; the line is rewritten every 250 ms with the last interval's rate, and its last
# line says 100 % and every open port.
( exec ip netns exec "$NS_S" timeout 120 "$SCAN" -sS -Pn -n --progress --max-rate 5000 \
    -p 20-29 -iL "$WORK/targets" >/dev/null 2>"$WORK/progress.err" )
tr '\r' '\n' <"$WORK/progress.err" | grep '^rate:' >"$WORK/progress.lines"
lines=$(wc -l <"$WORK/progress.lines")
# The rates between the first and the last line (the last is the whole run's). Their median is
# within 20 % of --max-rate and every one within 40 %: under an emulated kernel on a busy host one
# 250 ms interval was seen at 3.9 kpps while the rest held (a pacing or reporting bug is off by
# far more).
rates=$(sed '1d;$d' "$WORK/progress.lines" | sed -E 's/^rate: *([0-9.]+)-kpps.*/\1/')
off=$(awk '{ if ($1 < 3.0 || $1 > 7.0) bad++ } END { print bad + 0 }' <<<"$rates")
median=$(sort -n <<<"$rates" | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }')
median_ok=$(awk -v m="$median" 'BEGIN { print (m >= 4.0 && m <= 6.0) ? 1 : 0 }')
last=$(tail -1 "$WORK/progress.lines")
if [ "$lines" -ge 8 ] && [ "$off" -eq 0 ] && [ "$median_ok" -eq 1 ] &&
  grep -q '100.00% done, 0.0 s remaining, found=2000,' <<<"$last"; then
  pass "progress: $lines lines, interval rates around --max-rate 5000 (median $median; $(echo $rates | tr ' ' ',') kpps), last: $last"
else
  fail "progress: $lines lines, median $median kpps, $off rates more than 40 % off 5 kpps ($(echo $rates | tr ' ' ',')), last: $last"
fi

# The same 2000 hosts as neighbours on the scanner's segment: discovery by ARP.
ip -n "$NS_S" route del 198.19.0.0/21 via 198.18.0.2 &&
  ip -n "$NS_S" addr add 198.19.7.254/21 dev pcs-c$id || { echo "FAIL: on-link setup"; exit 1; }
start=$(date +%s.%N)
( ulimit -n 256
  exec ip netns exec "$NS_S" timeout 600 "$SCAN" -sn -T4 -iL "$WORK/targets" \
    -oG "$WORK/arp.gnmap" -oX "$WORK/arp.xml" >"$WORK/arp.out" 2>"$WORK/arp.err" )
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
up=$(grep -c 'Status: Up' "$WORK/arp.gnmap")
arp=$(grep -c 'reason="arp-response"' "$WORK/arp.xml")
if [ $rc -eq 0 ] && [ "$up" -eq $N ] && [ "$arp" -eq $N ]; then
  pass "arp-discovery: $N on-link hosts up by ARP reply in ${secs}s (fd limit 256)"
else
  fail "arp-discovery: exit $rc, up=$up, arp-response=$arp, wanted $N: $(head -1 "$WORK/arp.err")"
fi

finish
