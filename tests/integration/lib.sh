# Shared helpers for the namespace integration tests (sourced). Each test creates its own
# namespaces with no default route, traps their teardown, and reports PASS/FAIL/SKIP per case.

PASSES=0
FAILS=0
SKIPS=0

# portcullis-scan refuses any target outside these (exit 2, nothing sent): a typo in a test can
# never aim a scan off the lab's addresses.
export PORTCULLIS_SCAN_ALLOW=198.18.0.0/15,fd00::/8,127.0.0.0/8

pass() { echo "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
skip() { echo "SKIP: $*"; SKIPS=$((SKIPS + 1)); }

# Outside CI a missing privilege skips the whole script (exit 77, which ctest reports as a skip:
# SKIP_RETURN_CODE); with CI=true it fails it.
require_root() {
  local why=""
  [ "$(id -u)" -eq 0 ] || why="needs root (namespaces, XDP)"
  [ -z "$why" ] && ! ip netns add pc-probe-$$ 2>/dev/null && why="cannot create network namespaces"
  ip netns del pc-probe-$$ 2>/dev/null || true
  if [ -n "$why" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "FAIL: CI=true and $why"
      exit 1
    fi
    echo "SKIP: $why"
    exit 77
  fi
}

# Runs a command inside a namespace's network stack only, keeping the host's mounts (bpffs pins
# stay visible; `ip netns exec` would remount /sys).
in_ns() {
  local ns=$1
  shift
  nsenter --net=/run/netns/"$ns" "$@"
}

# ns_pin_dir NS: where a watch inside namespace NS pins under the default root (the loader names
# the directory by the namespace's inode: datapath/net_util.cpp). A test's namespace is its own,
# so its teardown removes the whole directory, not only the interface's (empty namespace
# directories piled up otherwise). Call it before the namespace is deleted.
ns_pin_dir() {
  local ino
  ino=$(ip netns exec "$1" stat -L -c %i /proc/self/ns/net 2>/dev/null) || return 1
  echo "/sys/fs/bpf/portcullis/net$ino"
}

# A pair of namespaces joined by a veth, addresses in 198.18.0.0/15 (RFC 2544 benchmarking),
# no default route: nothing can leave the machine.
make_pair() {
  local a=$1 b=$2 ifa=$3 ifb=$4 addra=$5 addrb=$6
  ip netns add "$a"
  ip netns add "$b"
  ip link add "$ifa" netns "$a" type veth peer name "$ifb" netns "$b"
  ip -n "$a" addr add "$addra/24" dev "$ifa"
  ip -n "$b" addr add "$addrb/24" dev "$ifb"
  ip -n "$a" link set lo up
  ip -n "$b" link set lo up
  ip -n "$a" link set "$ifa" up
  ip -n "$b" link set "$ifb" up
  ip netns exec "$a" sysctl -qw net.ipv4.icmp_ratelimit=0
  ip netns exec "$b" sysctl -qw net.ipv4.icmp_ratelimit=0
}

# A namespace $NS with only lo up, for a watch on its lo. The teardown (trapped on exit) stops the
# watch in $watch_pid with SIGINT, removes the namespace, and removes $dir and $pins.
lo_namespace() {
  watch_pid=""
  trap lo_namespace_teardown EXIT
  ip netns add "$NS"
  ip -n "$NS" link set lo up
}
lo_namespace_teardown() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$dir" "$pins"
}

# A victim and an attacker namespace joined by a veth (make_pair), for a watch on the victim's
# side: sets $state and $dir (temporary directories), empties $pids (background helpers) and
# $watch_pid, and traps the teardown, which stops the watch with SIGINT, kills the helpers,
# removes the namespaces, $pins (when set) and the directories.
victim_attacker_pair() {
  state=$(mktemp -d)
  dir=$(mktemp -d)
  pids=()
  watch_pid=""
  trap victim_attacker_teardown EXIT
  make_pair "$NS_V" "$NS_A" "$IF_V" "$IF_A" 198.18.0.1 198.18.0.2
}
victim_attacker_teardown() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$NS_V" 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  rm -rf ${pins:+"$pins"} "$state" "$dir"
}

# The nftables element of IPv4 address $2 in namespace $1's `inet portcullis` set, as nft lists it
# ("198.18.0.2 timeout 8s expires 7s884ms"), or nothing.
nft_element() {
  ip netns exec "$1" nft list set inet portcullis block4 2>/dev/null | grep -oE "${2//./\\.} timeout [^,}]*"
}
# Waits up to $3 seconds for that element to leave the set; fails if it is still there.
nft_wait_gone() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [ -z "$(nft_element "$1" "$2")" ] && return 0
    sleep 0.1
  done
  return 1
}

# The raw HTTP response of a watch's --metrics endpoint on 127.0.0.1:PORT in namespace NS.
scrape_metrics() {  # NS PORT
  ip netns exec "$1" timeout 3 bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/$2; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3" 2>/dev/null
}

# Waits up to $1 seconds for a grep pattern in a file.
wait_for() {
  local secs=$1 pattern=$2 file=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The script's status: 1 if a case failed; 77 (a skip) if no case passed, since a script that
# checked nothing has not passed; 0 otherwise. With CI=true a script that checked nothing fails.
finish() {
  echo "$PASSES passed, $FAILS failed, $SKIPS skipped"
  [ "$FAILS" -eq 0 ] || return 1
  if [ "$PASSES" -eq 0 ]; then
    [ "${CI:-}" = "true" ] && { echo "FAIL: CI=true and no case ran"; return 1; }
    return 77
  fi
  return 0
}
