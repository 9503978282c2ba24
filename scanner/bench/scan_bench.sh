#!/usr/bin/env bash
# Full 65,535-port SYN scan of a lab host: portcullis-scan vs nmap -T5 (and masscan when
# installed), same flags where they exist, against the target's kernel; then against the XDP
# responder (xdp_responder.bpf.c, which answers in the NIC driver, so the scanner is what is
# measured): the full range again, and a one-port sweep of a /16. Prints Markdown tables on
# stdout (headers included unless NO_HEADER=1); progress and details go to stderr. Times of
# portcullis-scan and nmap are the best of SCAN_BENCH_REPEAT (3) runs each. Needs root;
# scans only targets inside the network namespaces this script creates (198.18.0.0/24 and
# 198.19.0.0/16 routed to the target's veth, no default route).
#
# usage: scan_bench.sh [PORTCULLIS_SCAN] [PCS_LAB_LISTENER] [XDP_RESPONDER]
#   defaults: build-scan/scanner/portcullis-scan, build-scan/scanner/tests/pcs_lab_listener,
#   the xdp_responder beside portcullis-scan
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCAN=$(readlink -f "${1:-$ROOT/build-scan/scanner/portcullis-scan}")
LISTENER=$(readlink -f "${2:-$ROOT/build-scan/scanner/tests/pcs_lab_listener}")
RESPONDER=$(readlink -f "${3:-$(dirname "$SCAN")/xdp_responder}")
OPEN_PORTS=${OPEN_PORTS:-22,80,443,3306,8080,31337,50000,65535}
FILTERED_PORTS=${FILTERED_PORTS:-25,110,135,139,445}

if [ "$(id -u)" -ne 0 ]; then echo "scan_bench: needs root" >&2; exit 77; fi
for f in "$SCAN" "$LISTENER"; do [ -x "$f" ] || { echo "scan_bench: missing $f (build first)" >&2; exit 1; }; done

id=$$
NS_S=pcs-bs$id
NS_T=pcs-bt$id
IF_S=pcs-e$id
IF_T=pcs-f$id
DST=198.18.0.2
WORK=$(mktemp -d /tmp/pcs-bench.XXXXXX)
# shellcheck source=../../tests/scanner/lab_lib.sh
source "$ROOT/tests/scanner/lab_lib.sh"
lab_teardown_on_exit "$NS_S" "$NS_T"

make_pair "$NS_S" "$NS_T" "$IF_S" "$IF_T" 198.18.0.1 $DST ||
  { echo "scan_bench: lab setup failed" >&2; exit 1; }
no_default_routes "$NS_S" "$NS_T"
ip netns exec "$NS_T" "$LISTENER" --tcp "$OPEN_PORTS" >"$WORK/listener.out" 2>&1 &
LAB_PIDS+=($!)
for _ in $(seq 50); do grep -q ready "$WORK/listener.out" 2>/dev/null && break; sleep 0.1; done

now() { date +%s.%N; }
open_from_gnmap() { grep -o '[0-9]*/open/tcp' "$1" | cut -d/ -f1 | sort -n | paste -sd,; }
# Every listed port with its state (closed ports are folded into "Ignored State" by both).
states_from_gnmap() { grep -o '[0-9]*/[a-z|]*/tcp' "$1" | sort -n | paste -sd,; }

run_timed() {  # name outfile command...
  local name=$1; shift
  local t0 t1
  t0=$(now)
  "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}

# run_best NAME COMMAND...: the fastest of REPEAT runs (these machines are noisy; a scan of a
# fraction of a second moves by tens of percent from run to run). The outputs are the last
# run's. portcullis-scan and nmap both get it; masscan's runs take seconds and run once.
REPEAT=${SCAN_BENCH_REPEAT:-3}
run_best() {
  local best="" t i
  for i in $(seq "$REPEAT"); do
    t=$(run_timed "$@")
    best=$(awk -v a="$t" -v b="${best:-$t}" 'BEGIN {printf "%.3f", (a < b ? a : b)}')
  done
  echo "$best"
}

rows=()
bench_case() {  # label
  local label=$1 t_pcs open_pcs t_nmap open_nmap same speed t_mass open_mass
  echo "scan_bench [$label]: portcullis-scan -sS -p- -T5 -Pn -n $DST" >&2
  t_pcs=$(run_best pcs ip netns exec "$NS_S" "$SCAN" -sS -p- -T5 -Pn -n -oG "$WORK/pcs.gnmap" $DST)
  open_pcs=$(open_from_gnmap "$WORK/pcs.gnmap")
  rows+=("| $label | portcullis-scan -sS -p- -T5 | $(printf %.2f "$t_pcs") | $open_pcs | (reference) | - |")
  if command -v nmap >/dev/null; then
    echo "scan_bench [$label]: nmap -sS -p- -T5 -Pn -n $DST" >&2
    t_nmap=$(run_best nmap ip netns exec "$NS_S" nmap -sS -p- -T5 -Pn -n -oG "$WORK/nmap.gnmap" $DST)
    open_nmap=$(open_from_gnmap "$WORK/nmap.gnmap")
    same=no
    [ "$(states_from_gnmap "$WORK/nmap.gnmap")" = "$(states_from_gnmap "$WORK/pcs.gnmap")" ] &&
      same=yes
    speed=$(awk -v a="$t_nmap" -v b="$t_pcs" 'BEGIN {printf "%.1f", a / b}')
    rows+=("| $label | nmap -sS -p- -T5 | $(printf %.2f "$t_nmap") | $open_nmap | $same | portcullis-scan ${speed}x faster |")
  else
    rows+=("| $label | nmap | - | not installed | - | - |")
  fi
  if command -v masscan >/dev/null; then
    echo "scan_bench [$label]: masscan -p1-65535 --rate 100000" >&2
    t_mass=$(run_timed masscan ip netns exec "$NS_S" masscan -p1-65535 --rate 100000 -e "$IF_S" \
      --router-ip $DST --wait 1 -oL "$WORK/masscan.list" $DST)
    open_mass=$(awk '$1 == "open" {print $3}' "$WORK/masscan.list" | sort -n | paste -sd,)
    same=no; [ "$open_mass" = "$open_pcs" ] && same=yes
    rows+=("| $label | masscan --rate 100000 | $(printf %.2f "$t_mass") | $open_mass | $same | - |")
  else
    rows+=("| $label | masscan | - | not installed | - | - |")
  fi
}

bench_case "open+closed"
# The same host behind a DROP rule on a few ports (replies blackholed by policy routing).
for p in ${FILTERED_PORTS//,/ }; do
  ip -n "$NS_T" rule add priority 10 ipproto tcp sport "$p" blackhole
done
bench_case "open+closed+${FILTERED_PORTS//,/ }-filtered"

if [ "${NO_HEADER:-0}" != 1 ]; then
  echo "| target host | scanner (65,535 TCP ports, veth lab) | time (s) | open ports | same port states | speed |"
  echo "|---|---|---|---|---|---|"
fi
printf '%s\n' "${rows[@]}"

# The XDP responder: 198.18.0.3 (its whole port range) and 198.19.0.0/16 (port 80 open on one
# host in four), answered in XDP on the target's veth; XDP_PASS on the scanner's side, where
# veth delivers XDP_TX frames.
[ -x "$RESPONDER" ] || { echo "scan_bench: no $RESPONDER: XDP responder rows skipped" >&2; exit 0; }
for p in ${FILTERED_PORTS//,/ }; do ip -n "$NS_T" rule del priority 10 ipproto tcp sport "$p" blackhole; done
RDST=198.18.0.3
SWEEP=198.19.0.0/16
ip -n "$NS_T" addr add $RDST/32 dev "$IF_T"
ip -n "$NS_S" route add $RDST/32 dev "$IF_S"
ip -n "$NS_S" route add $SWEEP via $RDST
ip netns exec "$NS_T" "$RESPONDER" --iface "$IF_T" --prefix $RDST/32 --prefix $SWEEP \
  --open "$OPEN_PORTS" >"$WORK/responder.out" 2>&1 &
LAB_PIDS+=($!)
ip netns exec "$NS_S" "$RESPONDER" --peer "$IF_S" >"$WORK/peer.out" 2>&1 &
LAB_PIDS+=($!)
for _ in $(seq 50); do grep -q ready "$WORK/responder.out" "$WORK/peer.out" 2>/dev/null &&
  [ "$(cat "$WORK/responder.out" "$WORK/peer.out" | grep -c ready)" -eq 2 ] && break; sleep 0.1; done
expected_hosts=$(sed -n 's/.*open_hosts=\([0-9]*\).*/\1/p' "$WORK/responder.out" | head -1)

# masscan sometimes keeps "waiting" long past its --wait here (its counter goes negative); it is
# stopped with SIGINT (it saves its list then) after MASSCAN_LIMIT seconds.
MASSCAN_LIMIT=${MASSCAN_LIMIT:-10}
masscan_time() {
  awk -v t="$1" -v l="$MASSCAN_LIMIT" 'BEGIN { if (t >= l) printf ">= %d (stopped; it kept waiting)", l; else printf "%.2f", t }'
}

rrows=()
responder_case() {
  local t_pcs open_pcs t_nmap same speed t_mass open_mass rate
  echo "scan_bench [xdp responder]: portcullis-scan -sS -p- -T5 -Pn -n $RDST" >&2
  t_pcs=$(run_best rpcs ip netns exec "$NS_S" "$SCAN" -sS -p- -T5 -Pn -n -oG "$WORK/rpcs.gnmap" $RDST)
  open_pcs=$(open_from_gnmap "$WORK/rpcs.gnmap")
  rrows+=("| full range, $RDST | portcullis-scan -sS -p- -T5 | $(printf %.2f "$t_pcs") | $(awk -v t="$t_pcs" 'BEGIN {printf "%.0f", 65535 / t}') | $open_pcs | (reference) | - |")
  echo "scan_bench [xdp responder]: nmap -sS -p- -T5 -Pn -n $RDST" >&2
  t_nmap=$(run_best rnmap ip netns exec "$NS_S" nmap -sS -p- -T5 -Pn -n -oG "$WORK/rnmap.gnmap" $RDST)
  same=no
  [ "$(states_from_gnmap "$WORK/rnmap.gnmap")" = "$(states_from_gnmap "$WORK/rpcs.gnmap")" ] && same=yes
  speed=$(awk -v a="$t_nmap" -v b="$t_pcs" 'BEGIN {printf "%.1f", a / b}')
  rrows+=("| full range, $RDST | nmap -sS -p- -T5 | $(printf %.2f "$t_nmap") | $(awk -v t="$t_nmap" 'BEGIN {printf "%.0f", 65535 / t}') | $(open_from_gnmap "$WORK/rnmap.gnmap") | $same | portcullis-scan ${speed}x faster |")
  if command -v masscan >/dev/null; then
    for rate in 100000 1000000; do
      echo "scan_bench [xdp responder]: masscan -p1-65535 --rate $rate $RDST" >&2
      t_mass=$(run_timed rmass ip netns exec "$NS_S" timeout -s INT $MASSCAN_LIMIT masscan \
        -p1-65535 --rate $rate -e "$IF_S" --router-ip $RDST --wait 1 -oL "$WORK/rmass.list" $RDST)
      open_mass=$(awk '$1 == "open" {print $3}' "$WORK/rmass.list" | sort -n | paste -sd,)
      same=no; [ "$open_mass" = "$open_pcs" ] && same=yes
      rrows+=("| full range, $RDST | masscan --rate $rate (--wait 1) | $(masscan_time "$t_mass") | $(awk -v t="$t_mass" 'BEGIN {printf "%.0f", 65535 / t}') | $open_mass | $same | - |")
    done
  fi
}
hosts_from_gnmap() { grep '80/open' "$1" | awk '{print $2}' | sort; }
sweep_case() {
  local t_pcs t_nmap t_mass n_pcs n same speed rate
  echo "scan_bench [xdp responder]: portcullis-scan -sS -p80 -T5 -Pn -n $SWEEP" >&2
  t_pcs=$(run_best spcs ip netns exec "$NS_S" "$SCAN" -sS -p80 -T5 -Pn -n -oG "$WORK/spcs.gnmap" $SWEEP)
  hosts_from_gnmap "$WORK/spcs.gnmap" >"$WORK/spcs.hosts"
  n_pcs=$(wc -l <"$WORK/spcs.hosts")
  same=no; [ "$n_pcs" = "$expected_hosts" ] && same=yes
  rrows+=("| port 80 over $SWEEP | portcullis-scan -sS -p80 -T5 | $(printf %.2f "$t_pcs") | $(awk -v t="$t_pcs" 'BEGIN {printf "%.0f", 65536 / t}') | $n_pcs hosts open | $same (the responder's $expected_hosts) | - |")
  echo "scan_bench [xdp responder]: nmap -sS -p80 -T5 -Pn -n $SWEEP" >&2
  t_nmap=$(run_best snmap ip netns exec "$NS_S" nmap -sS -p80 -T5 -Pn -n -oG "$WORK/snmap.gnmap" $SWEEP)
  hosts_from_gnmap "$WORK/snmap.gnmap" >"$WORK/snmap.hosts"
  n=$(wc -l <"$WORK/snmap.hosts")
  same=no; cmp -s "$WORK/snmap.hosts" "$WORK/spcs.hosts" && same=yes
  speed=$(awk -v a="$t_nmap" -v b="$t_pcs" 'BEGIN {printf "%.1f", a / b}')
  rrows+=("| port 80 over $SWEEP | nmap -sS -p80 -T5 | $(printf %.2f "$t_nmap") | $(awk -v t="$t_nmap" 'BEGIN {printf "%.0f", 65536 / t}') | $n hosts open | $same | portcullis-scan ${speed}x faster |")
  if command -v masscan >/dev/null; then
    for rate in 100000 1000000; do
      echo "scan_bench [xdp responder]: masscan -p80 --rate $rate $SWEEP" >&2
      t_mass=$(run_timed smass ip netns exec "$NS_S" timeout -s INT $MASSCAN_LIMIT masscan \
        -p80 --rate $rate -e "$IF_S" --router-ip $RDST --wait 1 -oL "$WORK/smass.list" $SWEEP)
      awk '$1 == "open" {print $4}' "$WORK/smass.list" | sort >"$WORK/smass.hosts"
      n=$(wc -l <"$WORK/smass.hosts")
      same=no; cmp -s "$WORK/smass.hosts" "$WORK/spcs.hosts" && same=yes
      rrows+=("| port 80 over $SWEEP | masscan --rate $rate (--wait 1) | $(masscan_time "$t_mass") | $(awk -v t="$t_mass" 'BEGIN {printf "%.0f", 65536 / t}') | $n hosts open | $same | - |")
    done
  fi
}
responder_case
sweep_case
# The send paths the scanner could use, one thread each against the responder (the choice in
# the README comes from these numbers).
SEND_PATHS=$(dirname "$SCAN")/send_paths
if [ -x "$SEND_PATHS" ]; then
  RMAC=$(ip -n "$NS_T" link show "$IF_T" | awk '/link\/ether/ {print $2}')
  ip netns exec "$NS_S" "$SEND_PATHS" --iface "$IF_S" --src 198.18.0.1 --dst $RDST --dst-mac "$RMAC" \
    >"$WORK/send_paths.md" 2>&1
fi
kill "${LAB_PIDS[-2]}" 2>/dev/null && wait "${LAB_PIDS[-2]}" 2>/dev/null
echo "scan_bench: XDP responder $(tail -1 "$WORK/responder.out")" >&2
if [ "${NO_HEADER:-0}" != 1 ]; then
  echo "| against the XDP responder | scanner | time (s) | probes/s | found | same as portcullis-scan | speed |"
  echo "|---|---|---|---|---|---|---|"
fi
printf '%s\n' "${rrows[@]}"
if [ -s "$WORK/send_paths.md" ]; then echo; cat "$WORK/send_paths.md"; fi
