#!/usr/bin/env bash
# The fleet on scripts/lab (redis-server and three nodes in namespaces), measured by its
# integration test: block propagation from node 1 to nodes 2 and 3 (p50/p99 over 20 blocks),
# and the Redis commands node 1 sends while it serves the busy-server load (a spoofed SYN flood
# and 20,000 real clients, with a scan inside), beside the packets it saw in the same window.
# Prints a Markdown table. Needs root.
set -u
B=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fleet_bench: needs root" >&2; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bash "$here/../integration/fleet_test.sh" "$(readlink -f "$B/userspace/portcullis")" \
  "$(readlink -f "$B/tests/many_clients")" >"$out" 2>&1
status=$?
prop=$(grep "INFO: block propagation" "$out")
load=$(grep "INFO: node 1 during" "$out")
p50=$(sed -nE 's/.*p50 ([0-9]+) ms.*/\1/p' <<<"$prop")
p99=$(sed -nE 's/.*p99 ([0-9]+) ms.*/\1/p' <<<"$prop")
secs=$(sed -nE 's/.*during ([0-9]+) s.*/\1/p' <<<"$load")
packets=$(sed -nE 's/.* ([0-9]+) packets,.*/\1/p' <<<"$load")
cmds=$(sed -nE 's/.*packets, ([0-9]+) Redis commands.*/\1/p' <<<"$load")
echo "## Fleet (Redis)"
echo
echo "| measure | value |"
echo "|---|---:|"
echo "| block propagation node 1 -> nodes 2, 3 (20 blocks), p50 | ${p50:-?} ms |"
echo "| block propagation, p99 | ${p99:-?} ms |"
if [ -n "$secs" ] && [ "${secs:-0}" -gt 0 ]; then
  echo "| busy server at node 1: packets/s it saw | $((packets / secs)) |"
  echo "| busy server at node 1: Redis commands/s it sent | $((cmds / secs)) |"
else
  echo "| busy server at node 1 | not measured |"
fi
[ $status -eq 0 ] || { echo; echo "fleet_bench: fleet_test failed:"; grep -E "FAIL" "$out"; }
