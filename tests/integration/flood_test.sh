#!/usr/bin/env bash
# A flood of spoofed random sources on veth, as fast as hping3 sends, with a real scan inside
# it: the scan is still detected and blocked, the maps keep their fixed size, the controller's
# memory does not grow, and no allowlisted host is blocked. Prints the flood rate and CPU use.
set -u
PORTCULLIS=${1:?usage: flood_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
command -v hping3 >/dev/null || { fail "hping3 is needed (scripts/install-deps installs it)"; finish; exit 1; }

NS_V=pc-fl-victim-$$; NS_A=pc-fl-attacker-$$
IF_V=pcflv$$; IF_A=pcfla$$
pins=/sys/fs/bpf/portcullis-fl-$$
victim_attacker_pair
floods=()
ip -n "$NS_A" addr add 198.18.0.77/24 dev "$IF_A"   # an allowlisted neighbour
for port in 22 80; do
  ip netns exec "$NS_V" socat TCP-LISTEN:$port,fork,reuseaddr SYSTEM:true 2>/dev/null &
  pids+=($!)
done
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --json --block \
  --allow 198.18.0.77 --pin-root "$pins" --state-dir "$state" --metrics 127.0.0.1:9464 \
  >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
wait_for 10 "auto-block on" "$dir/w.err" || { fail "watch started"; cat "$dir/w.err"; finish; exit 1; }
grep -o "maps take [^;]*" "$dir/w.err" | head -1 | sed 's/^/INFO: /'

stat_packets() { nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" status --json -i "$IF_V" --pin-root "$pins" --state-dir "$state" |
  grep -o '"packets":[0-9]*' | cut -d: -f2; }
cpu_ticks() { awk '{print $14 + $15}' /proc/"$watch_pid"/stat; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/"$watch_pid"/status; }

tx_dropped() { ip -n "$NS_A" -s link show dev "$IF_A" | awk '/TX:/ {getline; print $4; exit}'; }

rss0=$(rss_kb); p0=$(stat_packets); c0=$(cpu_ticks); t0=$(date +%s.%N); d0=$(tx_dropped)
# Spoofed random sources, for as long as the scans last (so every probe is inside the flood);
# the allowlisted neighbour scans too (it must never be blocked).
for port in 80 443; do
  ip netns exec "$NS_A" timeout 300 hping3 --flood --rand-source -S -p $port 198.18.0.1 >/dev/null 2>&1 &
  pids+=($!); floods+=($!)
done
sleep 2
# Where the flood outruns the receive path (an emulated CPU), the veth ring drops packets before
# XDP, the scan's as much as the flood's; nmap's own retries (six at -T4) get its probes through
# as they would on a lossy link, and its answers count the probes that reached the host.
ip netns exec "$NS_A" nmap -n -Pn -sS -T4 -S 198.18.0.77 -e "$IF_A" -p 1-200 \
  198.18.0.1 >/dev/null 2>&1
ip netns exec "$NS_A" nmap -n -Pn -sS -T4 -p 1-500 198.18.0.1 >"$dir/nmap.txt" 2>&1
wait_for 6 '"event":"block","rule":"[a-z]+","scan":"syn","src":"198.18.0.2"' "$dir/w.json"
blocked=$?
sleep "$(awk -v s="$t0" -v now="$(date +%s.%N)" 'BEGIN { r = 8 - (now - s); print (r > 0 ? r : 0) }')"
p1=$(stat_packets); c1=$(cpu_ticks); t1=$(date +%s.%N)
kill "${floods[@]}" 2>/dev/null
answered=$(awk '/closed tcp ports/ {n += $3} / open / {n++} END {print n + 0}' "$dir/nmap.txt")
echo "INFO: the scan's answered ports: $answered of 500 ($(grep -o 'scanned in .*' "$dir/nmap.txt")); veth ring drops during the floods: $(( $(tx_dropped) - d0 ))"
sleep 4
rss1=$(rss_kb)
rate=$(awk -v a="$p0" -v b="$p1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "%.1f", 100 * (b - a) / hz / (e - s) }')
echo "INFO: flood: $rate packets/s through XDP on veth for $(awk -v s="$t0" -v e="$t1" 'BEGIN{printf "%.1f", e-s}') s; controller CPU ${cpu}% of one core; controller RSS ${rss0} -> ${rss1} kB"

[ "$blocked" -eq 0 ] && pass "the real scan inside the flood was detected and blocked" ||
  { fail "the real scan inside the flood was detected and blocked"; grep -c alert "$dir/w.json"; }
if grep -q '"event":"block"[^}]*"src":"198.18.0.77"' "$dir/w.json"; then
  fail "the allowlisted host was never blocked"
else
  pass "the allowlisted host was never blocked"
fi
status=$(nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" status --json -i "$IF_V" --pin-root "$pins" --state-dir "$state")
used=$(grep -o '"tracked":[0-9]*' <<<"$status" | cut -d: -f2)
untracked=$(grep -o '"untracked_sources":[0-9]*' <<<"$status" | cut -d: -f2)
echo "INFO: after the flood: ${used:-?} sources hold slots; the sketch counted ${untracked:-?} untracked sources; admission $(grep -o '"admission":{[^}]*}' <<<"$status")"
# Spoofed one-port SYNs are no evidence: they stay in the admission tier, and the sketch
# counts them (the positive control: the flood did arrive, in thousands of addresses).
[ -n "$used" ] && [ "$used" -le 16 ] && pass "the flood's spoofed sources hold no slots ($used in use)" ||
  fail "the flood's spoofed sources hold no slots (${used:-?} in use)"
[ -n "$untracked" ] && [ "$untracked" -ge 1000 ] && pass "the sketch counted the flood (~$untracked sources)" ||
  fail "the sketch counted the flood (${untracked:-?})"
[ "$rss1" -le $((rss0 + 20000)) ] && pass "controller memory stayed put (${rss0} -> ${rss1} kB)" ||
  fail "controller memory grew (${rss0} -> ${rss1} kB)"
# The Prometheus endpoint, on the victim namespace's loopback.
metrics=$(scrape_metrics "$NS_V" 9464)
for m in 'portcullis_alerts_total{rule="score"}' "portcullis_dropped_total{iface=\"$IF_V\"}" \
         'portcullis_blocks_total 1' "portcullis_untracked_sources{iface=\"$IF_V\"}" \
         "portcullis_evictions_total{iface=\"$IF_V\"}" "portcullis_answers_visible{iface=\"$IF_V\"} 1" \
         "portcullis_events_lost_total{iface=\"$IF_V\"}"; do
  grep -qF "$m" <<<"$metrics" && pass "metrics: $m" || fail "metrics: $m"
done
blocks=$(grep -c '"event":"block"' "$dir/w.json")
[ "$blocks" -le 20 ] && pass "spoofed sources did not flood the blocklist ($blocks blocks)" ||
  fail "spoofed sources flooded the blocklist ($blocks blocks)"
finish
