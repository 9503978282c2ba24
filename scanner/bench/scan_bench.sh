#!/usr/bin/env bash
# Full 65,535-port SYN scan of a lab host: portcullis-scan vs nmap -T5 (and masscan when
# installed), same flags where they exist. Prints Markdown table rows on stdout (header included
# unless NO_HEADER=1); progress and details go to stderr. Needs root; scans only a target inside a
# network namespace this script creates (198.18.0.0/24, no default route).
#
# usage: scan_bench.sh [PORTCULLIS_SCAN] [PCS_LAB_LISTENER]
#   defaults: build-scan/scanner/portcullis-scan, build-scan/scanner/tests/pcs_lab_listener
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCAN=$(readlink -f "${1:-$ROOT/build-scan/scanner/portcullis-scan}")
LISTENER=$(readlink -f "${2:-$ROOT/build-scan/scanner/tests/pcs_lab_listener}")
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

rows=()
bench_case() {  # label
  local label=$1 t_pcs open_pcs t_nmap open_nmap same speed t_mass open_mass
  echo "scan_bench [$label]: portcullis-scan -sS -p- -T5 -Pn -n $DST" >&2
  t_pcs=$(run_timed pcs ip netns exec "$NS_S" "$SCAN" -sS -p- -T5 -Pn -n -oG "$WORK/pcs.gnmap" $DST)
  open_pcs=$(open_from_gnmap "$WORK/pcs.gnmap")
  rows+=("| $label | portcullis-scan -sS -p- -T5 | $(printf %.2f "$t_pcs") | $open_pcs | (reference) | - |")
  if command -v nmap >/dev/null; then
    echo "scan_bench [$label]: nmap -sS -p- -T5 -Pn -n $DST" >&2
    t_nmap=$(run_timed nmap ip netns exec "$NS_S" nmap -sS -p- -T5 -Pn -n -oG "$WORK/nmap.gnmap" $DST)
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
