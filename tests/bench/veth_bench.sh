#!/usr/bin/env bash
# Packets per second on veth with the detector attached vs without, for one source's SYN flood
# and for a spoofed random-source flood, each pair measured back to back in the same run.
# Prints a Markdown table. Needs root; everything happens in namespaces it creates.
set -u
B=${1:-build}
PORTCULLIS=$(readlink -f "$B/userspace/portcullis")
SECS=${VETH_BENCH_SECONDS:-4}
[ "$(id -u)" -eq 0 ] || { echo "veth_bench: needs root" >&2; exit 77; }
command -v hping3 >/dev/null || { echo "veth_bench: needs hping3" >&2; exit 1; }

NS_V=pc-vb-v$$; NS_A=pc-vb-a$$; IF_V=pcvbv$$; IF_A=pcvba$$
pins=/sys/fs/bpf/portcullis-vb-$$
errf=$(mktemp)
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  ip netns del "$NS_V" 2>/dev/null; ip netns del "$NS_A" 2>/dev/null
  rm -rf "$pins"
}
trap cleanup EXIT
ip netns add "$NS_V"; ip netns add "$NS_A"
ip link add "$IF_V" netns "$NS_V" type veth peer name "$IF_A" netns "$NS_A"
ip -n "$NS_V" addr add 198.18.0.1/24 dev "$IF_V"; ip -n "$NS_A" addr add 198.18.0.2/24 dev "$IF_A"
ip -n "$NS_V" link set "$IF_V" up; ip -n "$NS_A" link set "$IF_A" up

rx() { ip -n "$NS_V" -s link show "$IF_V" | awk '/RX:/ { getline; print $2 }'; }
measure() {  # hping3 arguments; prints packets/s that reached the victim's interface
  local r0 r1
  r0=$(rx)
  ip netns exec "$NS_A" timeout "$SECS" hping3 --flood -q "$@" 198.18.0.1 >/dev/null 2>&1
  r1=$(rx)
  echo $(((r1 - r0) / SECS))
}
attach() {
  nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --pin-root "$pins" \
    --json >/dev/null 2>"$errf" &
  watch_pid=$!
  for _ in $(seq 50); do grep -q "watching" "$errf" 2>/dev/null && break; sleep 0.1; done
}
detach() { kill -INT "$watch_pid"; wait "$watch_pid" 2>/dev/null; watch_pid=""; }

echo "| veth, hping3 --flood for ${SECS} s | without detector (pps) | with detector (pps) | ratio |"
echo "|---|---:|---:|---:|"
for flood in "one source SYN flood|-S -p 80" "spoofed random sources|-S -p 80 --rand-source"; do
  name=${flood%%|*}; args=${flood#*|}
  # shellcheck disable=SC2086
  base=$(measure $args)
  attach
  # shellcheck disable=SC2086
  with=$(measure $args)
  detach
  ratio=$(awk -v a="$base" -v b="$with" 'BEGIN { printf "%.2f", a ? b / a : 0 }')
  echo "| $name | $base | $with | $ratio |"
done
rm -f "$errf"
