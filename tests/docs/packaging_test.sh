#!/usr/bin/env bash
# What `cmake --install` ships besides the programs: the generated manual pages render with
# man -l and groff finds nothing to warn about; the generated bash completions offer
# subcommands, long options and option values; the systemd unit verifies and
# `systemd-analyze security` rates its exposure at most 2.0. Each case prints PASS or FAIL;
# exit 77 (ctest's skip) when a tool is missing, unless CI=true.
# Usage: packaging_test.sh BUILD_DIR SOURCE_DIR
set -u
build=${1:?usage: packaging_test.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: packaging_test.sh BUILD_DIR SOURCE_DIR}
doc=$build/doc
failed=0 passed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

for tool in man groff systemd-analyze; do
  command -v "$tool" >/dev/null && continue
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: CI=true and $tool is missing (scripts/install-deps installs it)"
    exit 1
  fi
  echo "SKIP: $tool is missing"
  exit 77
done

# Renders, with the sections and options a reader looks for.
page() { # FILE WORD...
  local file=$1 text warnings
  shift
  text=$(MANWIDTH=100 man -l "$file" 2>&1)
  warnings=$(groff -man -ww -z "$file" 2>&1)
  [ -z "$warnings" ] && pass "groff: no warnings in $(basename "$file")" ||
    fail "groff warns on $(basename "$file"): $warnings"
  for w in "$@"; do
    if grep -qF -- "$w" <<<"$text"; then pass "man -l $(basename "$file") shows '$w'"
    else fail "man -l $(basename "$file") lacks '$w'"; fi
  done
}
page "$doc/portcullis.8" NAME SYNOPSIS COMMANDS "EXIT STATUS" watch replay --block-ttl --dst-ip
page "$doc/portcullis-scan.1" NAME SYNOPSIS OPTIONS "EXIT STATUS" -sS --top-ports --max-rate

# What the completion function offers for COMP_WORDS (the last word being completed).
offers() { # SCRIPT FUNCTION WORD...
  local script=$1 fn=$2
  shift 2
  bash -c 'source "$1"; fn=$2; shift 2; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$fn";
           printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$fn" "$@"
}
expect() { # WANTED SCRIPT FUNCTION WORD...
  local wanted=$1
  shift
  if offers "$@" | grep -qxF -- "$wanted"; then pass "completion of '${*:3}' offers $wanted"
  else fail "completion of '${*:3}' does not offer $wanted (offers: $(offers "$@" | tr '\n' ' '))"; fi
}
pc=$doc/completions/portcullis
scan=$doc/completions/portcullis-scan
expect watch "$pc" _portcullis portcullis ""
expect replay "$pc" _portcullis portcullis re
expect --block-ttl "$pc" _portcullis portcullis watch --block-t
expect xdp-generic "$pc" _portcullis portcullis watch --mode xdp-
expect --ttl "$pc" _portcullis portcullis block --t
expect -sS "$scan" _portcullis_scan portcullis-scan -s
expect --top-ports "$scan" _portcullis_scan portcullis-scan --top
# Control: an option of another subcommand is not offered.
if offers "$pc" _portcullis portcullis replay --blo | grep -qx -- --block; then
  fail "replay offers watch's --block"
else
  pass "replay does not offer watch's --block"
fi

# The unit: verify (with ExecStart pointing at the built program) and its exposure.
unit=$(mktemp -d)
trap 'rm -rf "$unit"' EXIT
sed "s|/usr/local/bin/portcullis|$build/userspace/portcullis|" "$src/deploy/portcullis.service" \
  >"$unit/portcullis.service"
if out=$(systemd-analyze verify --man=no "$unit/portcullis.service" 2>&1) && [ -z "$out" ]; then
  pass "systemd-analyze verify: clean"
else
  fail "systemd-analyze verify: $out"
fi
exposure=$(systemd-analyze security --offline=true "$unit/portcullis.service" 2>&1 |
  sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
if systemd-analyze security --offline=true --threshold=20 "$unit/portcullis.service" >/dev/null 2>&1; then
  pass "systemd-analyze security: exposure $exposure (at most 2.0)"
else
  fail "systemd-analyze security: exposure $exposure (more than 2.0)"
fi

echo "packaging_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
