#!/usr/bin/env bash
# Idle scan lab for portcullis-scan (-sI). Three namespaces in 198.18.0.0/24 (RFC 2544
# benchmarking space), no default route anywhere, so no packet can leave the machine:
#   scanner 198.18.0.1 --veth--+
#   target  198.18.0.2 --veth--+-- bridge (in the zombie namespace)
#   zombie  198.18.0.3 --veth--+   pcs_lab_zombie: a user-space host with one global IP ID
#   zombie2 198.18.0.4 --veth--+   counter (zombie2 writes it little-endian); the zombie
#                                  namespace's kernel has no IPv4 address at all
# The target runs open TCP ports (pcs_lab_listener), closed ports, and "filtered" ports whose
# replies an `ip rule ... ipproto tcp sport N blackhole` drops (as in lab_scan_test.sh). An idle
# scan must call exactly the open ports open and every other port closed|filtered; nmap (when
# installed) must agree port for port; a Linux "zombie" (the target itself) and a silent one
# must be refused with one line and exit status 2.
#
# usage: idle_scan_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER PCS_LAB_ZOMBIE
# Outside CI (CI != true) it SKIPs (exit 77) without root; with CI=true that is a failure.
set -u

USAGE="usage: idle_scan_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER PCS_LAB_ZOMBIE"
SCAN=${1:?$USAGE}
LISTENER=${2:?$USAGE}
ZOMBIE=${3:?$USAGE}
SCAN=$(readlink -f "$SCAN")
LISTENER=$(readlink -f "$LISTENER")
ZOMBIE=$(readlink -f "$ZOMBIE")

source "$(dirname "$0")/lab_lib.sh"
scanner_lab_require idle_scan_test ip sysctl

id=$$
NS_S=pcs-iss$id
NS_T=pcs-ist$id
NS_Z=pcs-isz$id
BR=isbr$id
SCANNER=198.18.0.1
TARGET=198.18.0.2
ZADDR=198.18.0.3
ZADDR2=198.18.0.4
NOBODY=198.18.0.9
WORK=$(mktemp -d /tmp/pcs-idle.XXXXXX)

lab_teardown_on_exit "$NS_S" "$NS_T" "$NS_Z"

setup() {
  local ns
  for ns in "$NS_S" "$NS_T" "$NS_Z"; do
    ip netns add "$ns" || return 1
    # No IPv6 (router solicitations, MLD): the lab stays quiet and the zombie idle.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
      net.ipv6.conf.all.disable_ipv6=1 net.ipv4.icmp_ratelimit=0 || return 1
    ip -n "$ns" link set lo up || return 1
  done
  ip -n "$NS_Z" link add "$BR" type bridge &&
    ip link add iss$id netns "$NS_S" type veth peer name bs$id netns "$NS_Z" &&
    ip link add ist$id netns "$NS_T" type veth peer name bt$id netns "$NS_Z" &&
    ip link add isz$id netns "$NS_Z" type veth peer name bz$id netns "$NS_Z" &&
    ip link add isy$id netns "$NS_Z" type veth peer name by$id netns "$NS_Z" || return 1
  local port
  for port in bs$id bt$id bz$id by$id; do
    ip -n "$NS_Z" link set "$port" master "$BR" && ip -n "$NS_Z" link set "$port" up || return 1
  done
  ip -n "$NS_Z" link set "$BR" up && ip -n "$NS_Z" link set isz$id up &&
    ip -n "$NS_Z" link set isy$id up &&
    ip -n "$NS_S" addr add $SCANNER/24 dev iss$id && ip -n "$NS_S" link set iss$id up &&
    ip -n "$NS_T" addr add $TARGET/24 dev ist$id && ip -n "$NS_T" link set ist$id up
}
setup || { echo "FAIL: lab setup"; exit 1; }
no_default_routes "$NS_S" "$NS_T" "$NS_Z"
if ip -n "$NS_Z" -4 addr show | grep -v ' 127\.' | grep -q 'inet '; then
  echo "FAIL: the zombie namespace's kernel must not own an IPv4 address"; exit 1
fi

# Ports. Open 22 80 3306; closed 21 23 25 443 8080; filtered 110 (closed behind the filter) and
# 143 (listening behind it). Through a zombie the last seven all read closed|filtered.
PORTS=21,22,23,25,80,110,143,443,3306,8080
OPEN="22 80 3306"
for p in 110 143; do
  ip -n "$NS_T" rule add priority 10 ipproto tcp sport $p blackhole || { echo "FAIL: ip rule"; exit 1; }
done
ip netns exec "$NS_T" "$LISTENER" --tcp 22,80,143,3306 --bind $TARGET >"$WORK/listener.out" 2>&1 &
LAB_PIDS+=($!)
# The counter starts just below 65535 so our first scan crosses the wrap to 0.
ip netns exec "$NS_Z" "$ZOMBIE" --iface isz$id --addr $ZADDR --start-id 65530 \
  >"$WORK/zombie.out" 2>&1 &
LAB_PIDS+=($!)
# The little-endian one starts where the low byte carries (0x00ff -> 0x0100) during its scan.
ip netns exec "$NS_Z" "$ZOMBIE" --iface isy$id --addr $ZADDR2 --start-id 250 --little-endian \
  >"$WORK/zombie2.out" 2>&1 &
LAB_PIDS+=($!)
for f in listener zombie zombie2; do
  for _ in $(seq 50); do grep -q ready "$WORK/$f.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$WORK/$f.out" || { echo "FAIL: $f did not start: $(head -1 "$WORK/$f.out")"; exit 1; }
done

for p in ${PORTS//,/ }; do
  case " $OPEN " in *" $p "*) echo "$p/open" ;; *) echo "$p/closed|filtered" ;; esac
done | sort -n >"$WORK/expected"

# "port/state" pairs from a grepable file, sorted.
ports_of() { grep 'Ports:' "$1" | sed 's/.*Ports: //; s/\t.*//' | tr ',' '\n' |
  sed 's/^ *//' | awk -F/ 'NF>2 {print $1"/"$2}' | sort -n; }

HAVE_TCPDUMP=0; command -v tcpdump >/dev/null && HAVE_TCPDUMP=1
CAP_PID=""
capture_start() {  # pcap-file: everything the target receives (but ARP)
  [ $HAVE_TCPDUMP = 1 ] || return
  ip netns exec "$NS_T" tcpdump -Z root --immediate-mode -i ist$id -nn -w "$1" 'ip' \
    >/dev/null 2>&1 &
  CAP_PID=$!
  sleep 1
}
capture_stop() {
  [ -n "$CAP_PID" ] || return
  sleep 0.5; kill "$CAP_PID" 2>/dev/null; wait "$CAP_PID" 2>/dev/null; CAP_PID=""
}

# (a) the idle scan finds exactly the open ports, and the target never hears from us.
capture_start "$WORK/blind.pcap"
start=$(date +%s.%N)
ip netns exec "$NS_S" "$SCAN" -sI $ZADDR -Pn -p $PORTS $TARGET -oG "$WORK/idle.gnmap" \
  -oX "$WORK/idle.xml" -oN "$WORK/idle.nmap" >"$WORK/idle.txt" 2>"$WORK/idle.err"
rc=$?
secs=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")
capture_stop
if [ $rc -ne 0 ]; then
  fail "idle scan exited $rc: $(head -1 "$WORK/idle.err")"
else
  ports_of "$WORK/idle.gnmap" >"$WORK/idle.got"
  if diff -u "$WORK/expected" "$WORK/idle.got" >"$WORK/idle.diff"; then
    pass "-sI $ZADDR: open ports $OPEN, the other $(($(wc -l <"$WORK/expected") - 3)) closed|filtered (${secs}s)"
  else
    fail "-sI: states differ from expected: $(grep '^[-+][0-9]' "$WORK/idle.diff" | paste -sd' ')"
  fi
  if grep -q "^Idle scan using zombie $ZADDR ($ZADDR:80); Class: Incremental$" "$WORK/idle.txt" &&
    grep -q "^Idle scan using zombie $ZADDR ($ZADDR:80); Class: Incremental$" "$WORK/idle.nmap"
  then
    pass "-sI: normal output (stdout and -oN) names the zombie and its class (counter crossed 65535 -> 0)"
  else
    fail "-sI: no 'Idle scan using zombie' line: $(head -3 "$WORK/idle.txt" | paste -sd'|')"
  fi
fi
if [ $HAVE_TCPDUMP = 1 ]; then
  ours=$(tcpdump -nn -r "$WORK/blind.pcap" "src host $SCANNER" 2>/dev/null | wc -l)
  spoofed=$(tcpdump -nn -r "$WORK/blind.pcap" "src host $ZADDR and tcp[tcpflags] == tcp-syn" \
    2>/dev/null | wc -l)
  if [ "$ours" -eq 0 ] && [ "$spoofed" -ge 10 ]; then
    pass "-sI -Pn is blind: the target saw $spoofed SYNs from the zombie and none from us"
  else
    fail "-sI -Pn: target saw $ours packets from $SCANNER and $spoofed SYNs from $ZADDR"
  fi
else
  skip "blindness check: tcpdump not installed"
fi

# (b) XML: scaninfo type="idle", well-formed, readable by xsltproc.
if grep -q '<scaninfo type="idle" protocol="tcp"' "$WORK/idle.xml"; then
  pass "-oX: scaninfo type=\"idle\""
else
  fail "-oX: no idle scaninfo: $(grep scaninfo "$WORK/idle.xml")"
fi
if command -v xmllint >/dev/null; then
  if xmllint --noout "$WORK/idle.xml" 2>"$WORK/xmlerr"; then pass "-oX: well-formed XML"
  else fail "-oX: not well-formed: $(head -1 "$WORK/xmlerr")"; fi
fi
if command -v xsltproc >/dev/null; then
  # Our own stylesheet, so the check does not depend on nmap.xsl: every port and its state.
  cat >"$WORK/states.xsl" <<'EOF'
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/">
    <xsl:for-each select="//port"><xsl:value-of select="@portid"/>/<xsl:value-of
      select="state/@state"/>/<xsl:value-of select="state/@reason"/><xsl:text>&#10;</xsl:text>
    </xsl:for-each>
    <xsl:for-each select="//extrareasons">extra/<xsl:value-of select="../@state"/>/<xsl:value-of
      select="@reason"/><xsl:text>&#10;</xsl:text></xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
EOF
  if xsltproc "$WORK/states.xsl" "$WORK/idle.xml" >"$WORK/xslt.out" 2>"$WORK/xslterr" &&
    [ "$(grep -c '/open/ipid-change$' "$WORK/xslt.out")" -eq 3 ] &&
    [ "$(grep -c '/closed|filtered/no-ipid-change$' "$WORK/xslt.out")" -eq 7 ]; then
    pass "xsltproc reads -oX: 3 open (ipid-change), 7 closed|filtered (no-ipid-change)"
  else
    fail "xsltproc: $(head -1 "$WORK/xslterr") $(paste -sd' ' "$WORK/xslt.out")"
  fi
  if [ -f /usr/share/nmap/nmap.xsl ]; then
    if xsltproc -o "$WORK/idle.html" "$WORK/idle.xml" 2>"$WORK/xslterr2" &&
      grep -q "$TARGET" "$WORK/idle.html"; then
      pass "xsltproc renders -oX with nmap.xsl"
    else
      fail "xsltproc with nmap.xsl: $(head -1 "$WORK/xslterr2")"
    fi
  fi
else
  skip "xsltproc not installed"
fi

# (c) nmap agrees port for port (and ndiff sees no state difference).
if command -v nmap >/dev/null; then
  ip netns exec "$NS_S" nmap -n -sI $ZADDR -Pn -p $PORTS $TARGET -oG "$WORK/nmap.gnmap" \
    -oX "$WORK/nmap.xml" >"$WORK/nmap.txt" 2>&1
  ports_of "$WORK/nmap.gnmap" >"$WORK/nmap.got"
  if [ ! -s "$WORK/nmap.got" ]; then
    fail "nmap -sI gave no port states: $(grep -m1 -iE 'zombie|error|fail' "$WORK/nmap.txt")"
  elif diff -u "$WORK/nmap.got" "$WORK/idle.got" >"$WORK/nmap.diff"; then
    pass "nmap -sI agrees port for port ($(grep -m1 '^Idle scan using' "$WORK/nmap.txt"))"
  else
    fail "differs from nmap -sI: $(grep '^[-+][0-9]' "$WORK/nmap.diff" | paste -sd' ')"
  fi
  if command -v ndiff >/dev/null; then
    ndiff "$WORK/nmap.xml" "$WORK/idle.xml" >"$WORK/ndiff.out" 2>&1
    grep -E '^-[0-9]+/tcp' "$WORK/ndiff.out" | awk '{print substr($1,2), $2}' | sort >"$WORK/nd.old"
    grep -E '^\+[0-9]+/tcp' "$WORK/ndiff.out" | awk '{print substr($1,2), $2}' | sort >"$WORK/nd.new"
    if grep -q '^Traceback' "$WORK/ndiff.out"; then
      fail "ndiff cannot read the XML: $(tail -1 "$WORK/ndiff.out")"
    elif cmp -s "$WORK/nd.old" "$WORK/nd.new"; then
      pass "ndiff reports no port state differences"
    else
      fail "ndiff reports differences: $(grep -E '^[-+][0-9]' "$WORK/ndiff.out" | paste -sd' ')"
    fi
  else
    skip "ndiff comparison: ndiff not installed"
  fi
else
  skip "nmap comparison: nmap not installed"
fi

# A zombie with a little-endian counter ("Broken little-endian incremental") works as well.
ip netns exec "$NS_S" "$SCAN" -sI $ZADDR2 -Pn -p $PORTS $TARGET -oG "$WORK/le.gnmap" \
  >"$WORK/le.txt" 2>"$WORK/le.err"
rc=$?
ports_of "$WORK/le.gnmap" >"$WORK/le.got"
if [ $rc -eq 0 ] && cmp -s "$WORK/expected" "$WORK/le.got" &&
  grep -q "Class: Broken little-endian incremental$" "$WORK/le.txt"; then
  pass "-sI $ZADDR2 (little-endian counter, low byte carries): same states"
else
  fail "-sI $ZADDR2: exit $rc, $(head -1 "$WORK/le.err") $(grep Class "$WORK/le.txt")" \
    "$(paste -sd' ' "$WORK/le.got")"
fi
if command -v nmap >/dev/null; then
  ip netns exec "$NS_S" nmap -n -sI $ZADDR2 -Pn -p $PORTS $TARGET -oG "$WORK/nmap-le.gnmap" \
    >"$WORK/nmap-le.txt" 2>&1
  ports_of "$WORK/nmap-le.gnmap" >"$WORK/nmap-le.got"
  if [ -s "$WORK/nmap-le.got" ] && cmp -s "$WORK/nmap-le.got" "$WORK/le.got"; then
    pass "nmap -sI $ZADDR2 agrees port for port"
  else
    fail "nmap -sI $ZADDR2: $(paste -sd' ' "$WORK/nmap-le.got") $(grep -m1 -i zombie "$WORK/nmap-le.txt")"
  fi
fi

# Without -Pn the target is pinged from our real address first (as nmap does); same states.
ip netns exec "$NS_S" "$SCAN" -sI $ZADDR:80 -p $PORTS $TARGET -oG "$WORK/ping.gnmap" \
  >"$WORK/ping.txt" 2>"$WORK/ping.err"
rc=$?
ports_of "$WORK/ping.gnmap" >"$WORK/ping.got"
if [ $rc -eq 0 ] && cmp -s "$WORK/expected" "$WORK/ping.got"; then
  pass "-sI without -Pn (discovery first, explicit :80): same states"
else
  fail "-sI without -Pn: exit $rc, $(head -1 "$WORK/ping.err") $(paste -sd' ' "$WORK/ping.got")"
fi

# A wider range, in order (-r), exercises several top-level groups and deeper splits.
ip netns exec "$NS_S" "$SCAN" -sI $ZADDR -Pn -r -p 1-200,3306,8080 $TARGET \
  -oG "$WORK/wide.gnmap" >"$WORK/wide.txt" 2>"$WORK/wide.err"
rc=$?
open=$(grep 'Ports:' "$WORK/wide.gnmap" | tr ',' '\n' | grep -o '[0-9]*/open' | cut -d/ -f1 |
  sort -n | paste -sd' ')
ignored=$(grep -o 'Ignored State: closed|filtered ([0-9]*)' "$WORK/wide.gnmap")
if [ $rc -eq 0 ] && [ "$open" = "$OPEN" ] && [ "$ignored" = "Ignored State: closed|filtered (199)" ]; then
  pass "-sI -r -p 1-200,3306,8080: open $open, 199 closed|filtered"
else
  fail "-sI wide range: exit $rc, open '$open', '$ignored' $(head -1 "$WORK/wide.err")"
fi

# (d) refusals: exit status 2 and exactly one line on stderr.
WRAP=()  # a command to run the scanner under
refused() {  # name expected-pattern args...
  local name=$1 pattern=$2; shift 2
  ip netns exec "$NS_S" "${WRAP[@]}" "$SCAN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  local rc=$? lines
  lines=$(wc -l <"$WORK/$name.err")
  if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qE -- "$pattern" "$WORK/$name.err"; then
    pass "$name: exit 2, one line: $(cat "$WORK/$name.err")"
  else
    fail "$name: exit $rc, $lines lines: $(paste -sd'|' "$WORK/$name.err")"
  fi
}
refused "linux-zombie" "cannot be used because IP ID sequence class is: (All zeros|Randomized|Random positive increments|Unknown|Constant)" \
  -sI $TARGET -Pn -p 22 $TARGET
if command -v nmap >/dev/null; then
  ours=$(grep -o 'class is: [A-Za-z -]*' "$WORK/linux-zombie.err")
  ip netns exec "$NS_S" nmap -n -sI $TARGET -Pn -p 22 $TARGET >"$WORK/nmap-linux.txt" 2>&1
  theirs=$(grep -o 'class is: [A-Za-z -]*' "$WORK/nmap-linux.txt")
  if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
    pass "linux-zombie: nmap refuses it too, with the same class ($theirs)"
  else
    fail "linux-zombie: ours '$ours', nmap '$theirs'"
  fi
fi
refused "silent-zombie" "has not returned any of our probes" -sI $NOBODY -Pn -p 22 $TARGET
refused "ipv6-zombie" "IPv4" -sI "fd00::3" -Pn -p 22 $TARGET
refused "ipv6-target" "IPv4 targets only" -sI $ZADDR -Pn -p 22 fd00::2
refused "bad-probe-port" "probe port" -sI $ZADDR:0 -Pn -p 22 $TARGET
refused "idle-decoys" "cannot be combined with -sI" -sI $ZADDR -Pn -D RND:2 -p 22 $TARGET
if command -v setpriv >/dev/null; then
  WRAP=(setpriv --bounding-set=-net_raw --inh-caps=-net_raw)
  refused "no-raw-privilege" "-sI needs raw-socket privilege" -sI $ZADDR -Pn -p 22 $TARGET
  WRAP=()
else
  skip "no-raw-privilege: setpriv not installed"
fi

finish
