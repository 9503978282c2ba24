# Shared helpers for the scanner's namespace tests and benchmark (sourced). Builds on the
# detector's tests/integration/lib.sh (pass/fail/skip/finish, make_pair, wait_for) and adds the
# scanner suites' conventions: a missing privilege or tool SKIPs with exit status 77 (ctest's
# SKIP_RETURN_CODE) outside CI and FAILs with CI=true; every lab namespace is checked for a
# default route, so no probe can leave the machine.

# shellcheck source=../integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

# scanner_lab_require NAME TOOL...: root, then each tool on PATH.
scanner_lab_require() {
  local name=$1 why="" tool
  shift
  [ "$(id -u)" -eq 0 ] || why="needs root (network namespaces, raw sockets)"
  for tool in "$@"; do
    [ -z "$why" ] && ! command -v "$tool" >/dev/null && why="$tool not installed"
  done
  [ -z "$why" ] && return 0
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $name $why"
    exit 1
  fi
  echo "SKIP: $name $why"
  exit 77
}

# no_default_routes NS...: exits with a FAIL line if any namespace could route off the machine.
no_default_routes() {
  local ns
  for ns in "$@"; do
    if ip -n "$ns" route show | grep -q '^default' ||
      ip -n "$ns" -6 route show 2>/dev/null | grep -q '^default'; then
      echo "FAIL: default route in $ns"
      exit 1
    fi
  done
}

# lab_teardown_on_exit NS...: when the script ends (or is interrupted), stops the background
# processes listed in LAB_PIDS, deletes the namespaces and removes $WORK.
LAB_PIDS=()
LAB_NAMESPACES=()
lab_teardown() {
  local p ns
  for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for ns in "${LAB_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
}
lab_teardown_on_exit() {
  LAB_NAMESPACES=("$@")
  trap lab_teardown EXIT
  trap 'exit 130' INT TERM
}
