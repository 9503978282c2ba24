#!/usr/bin/env bash
# Namespace lab for portcullis-scan: a scanner namespace and a target namespace joined by a veth
# pair in 198.18.0.0/24 (RFC 2544 benchmarking space) and fd00:198:18::/64 (unique local), no
# default route anywhere, so no probe can
# leave the machine. The target runs open TCP/UDP services (pcs_lab_listener), closed ports, and
# "filtered" TCP ports whose replies are blackholed by policy routing (Debian's base system has
# neither iptables nor nft, and these kernels lack tc's u32/flower classifiers; an `ip rule ...
# ipproto tcp sport N blackhole` drops the RST or SYN/ACK the port would send, which is exactly
# what a scanner sees behind a DROP firewall).
#
# Every scan type must give the expected state for every port; where nmap is installed, nmap's
# answers must agree port for port, and ndiff (when installed) must report no port difference.
#
# usage: lab_scan_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER
# Outside CI (CI != true) it SKIPs (exit 77) without root; with CI=true that is a failure.
set -u

SCAN=${1:?usage: lab_scan_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER}
LISTENER=${2:?usage: lab_scan_test.sh PORTCULLIS_SCAN PCS_LAB_LISTENER}
SCAN=$(readlink -f "$SCAN")
LISTENER=$(readlink -f "$LISTENER")

source "$(dirname "$0")/lab_lib.sh"
scanner_lab_require lab_scan_test ip sysctl

id=$$
NS_S=pcs-s$id
NS_T=pcs-t$id
IF_S=pcs-a$id
IF_T=pcs-b$id
SRC=198.18.0.1
DST=198.18.0.2
SRC6=fd00:198:18::1
DST6=fd00:198:18::2
WORK=$(mktemp -d /tmp/pcs-lab.XXXXXX)

lab_teardown_on_exit "$NS_S" "$NS_T"

make_pair "$NS_S" "$NS_T" "$IF_S" "$IF_T" $SRC $DST &&
  ip -n "$NS_S" addr add $SRC6/64 dev "$IF_S" nodad &&
  ip -n "$NS_T" addr add $DST6/64 dev "$IF_T" nodad || { echo "FAIL: lab setup"; exit 1; }
no_default_routes "$NS_S" "$NS_T"

# Ports. TCP: open 22 80 3306; closed 21 23 8080; filtered 110 (closed behind the filter) and
# 143 (listening behind it). UDP: open 53 (answers), open|filtered 69 (bound, silent),
# closed 123 161.
TCP_PORTS=21,22,23,80,110,143,3306,8080
UDP_PORTS=53,69,123,161
for p in 110 143; do
  ip -n "$NS_T" rule add priority 10 ipproto tcp sport $p blackhole || { echo "FAIL: ip rule"; exit 1; }
  ip -n "$NS_T" -6 rule add priority 10 ipproto tcp sport $p blackhole || { echo "FAIL: ip -6 rule"; exit 1; }
done
ip netns exec "$NS_T" "$LISTENER" --tcp 22,80,143,3306 --udp 53 --udp-silent 69 \
  >"$WORK/listener.out" 2>&1 &
LAB_PIDS+=($!)
for _ in $(seq 50); do grep -q ready "$WORK/listener.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/listener.out" || { echo "FAIL: listener did not start"; exit 1; }

# Expected state of each TCP port per kind: o(pen) c(losed) f(iltered).
declare -A KIND=([21]=c [22]=o [23]=c [80]=o [110]=f [143]=f [3306]=o [8080]=c)
expect_tcp() {  # scan-flag kind -> state (Linux answers FIN/ACK and ACK probes with RST, window 0)
  case "$1:$2" in
    -sS:o | -sT:o) echo open ;;
    -sS:c | -sT:c | -sM:c | -sM:o | -sW:c | -sW:o | -sN:c | -sF:c | -sX:c) echo closed ;;
    -sS:f | -sT:f | -sA:f | -sW:f) echo filtered ;;
    -sN:* | -sF:* | -sX:* | -sM:f) echo "open|filtered" ;;
    -sA:*) echo unfiltered ;;
  esac
}
declare -A UDP_EXPECT=([53]=open [69]="open|filtered" [123]=closed [161]=closed)

# "port/state" pairs from a grepable file, sorted.
ports_of() { grep 'Ports:' "$1" | sed 's/.*Ports: //; s/\t.*//' | tr ',' '\n' |
  sed 's/^ *//' | awk -F/ 'NF>2 {print $1"/"$2}' | sort -n; }

run_scan() {  # out-prefix args...
  local out=$1; shift
  ip netns exec "$NS_S" "$SCAN" "$@" -oG "$out.gnmap" -oX "$out.xml" >"$out.txt" 2>"$out.err"
}

# The address check_scan aims at; the IPv6 pass sets it to $DST6 (nmap then needs -6).
TARGET=$DST
NMAP_FAMILY=()
HAVE_NMAP=0; command -v nmap >/dev/null && HAVE_NMAP=1
HAVE_NDIFF=0; command -v ndiff >/dev/null && HAVE_NDIFF=1

check_scan() {  # name flag protocol-ports expected-file extra-args...
  local name=$1 flag=$2 ports=$3 expected=$4; shift 4
  if ! run_scan "$WORK/$name" "$flag" -T4 -p "$ports" "$@" "$TARGET"; then
    fail "$name: portcullis-scan exited non-zero: $(head -1 "$WORK/$name.err")"
    return
  fi
  ports_of "$WORK/$name.gnmap" >"$WORK/$name.got"
  if diff -u "$expected" "$WORK/$name.got" >"$WORK/$name.diff"; then
    pass "$name: every port has the expected state ($(paste -sd' ' "$expected"))"
  else
    fail "$name: states differ from expected: $(grep '^[-+][0-9]' "$WORK/$name.diff" | paste -sd' ')"
  fi
  if command -v xmllint >/dev/null; then
    if xmllint --noout "$WORK/$name.xml" 2>"$WORK/$name.xmlerr"; then
      pass "$name: -oX is well-formed XML"
    else
      fail "$name: -oX is not well-formed: $(head -1 "$WORK/$name.xmlerr")"
    fi
  fi
  if command -v xsltproc >/dev/null && [ -f /usr/share/nmap/nmap.xsl ]; then
    if xsltproc -o "$WORK/$name.html" "$WORK/$name.xml" 2>"$WORK/$name.xslterr" &&
      grep -q "$TARGET" "$WORK/$name.html"; then
      pass "$name: xsltproc renders -oX with nmap.xsl"
    else
      fail "$name: xsltproc failed: $(head -1 "$WORK/$name.xslterr")"
    fi
  fi
  if [ $HAVE_NMAP = 1 ] && [ -z "$*" ]; then
    # -n: no reverse DNS, which has no server to ask in the lab and would wait out its timeout.
    ip netns exec "$NS_S" nmap -n "${NMAP_FAMILY[@]}" "$flag" -T4 -p "$ports" \
      -oG "$WORK/$name.nmap.gnmap" -oX "$WORK/$name.nmap.xml" "$TARGET" >/dev/null 2>&1
    ports_of "$WORK/$name.nmap.gnmap" >"$WORK/$name.nmap.got"
    if diff -u "$WORK/$name.nmap.got" "$WORK/$name.got" >"$WORK/$name.nmapdiff"; then
      pass "$name: agrees with nmap port for port"
    else
      fail "$name: differs from nmap: $(grep '^[-+][0-9]' "$WORK/$name.nmapdiff" | paste -sd' ')"
    fi
    if [ $HAVE_NDIFF = 1 ]; then
      ndiff "$WORK/$name.nmap.xml" "$WORK/$name.xml" >"$WORK/$name.ndiff" 2>&1
      # A port difference is a port whose state differs. Service names are not compared: ours
      # come from IANA's registry and nmap's from nmap-services (8080 is http-alt vs http-proxy).
      grep -E '^-[0-9]+/(tcp|udp)' "$WORK/$name.ndiff" | awk '{print substr($1,2), $2}' | sort \
        >"$WORK/$name.ndiff.old"
      grep -E '^\+[0-9]+/(tcp|udp)' "$WORK/$name.ndiff" | awk '{print substr($1,2), $2}' | sort \
        >"$WORK/$name.ndiff.new"
      if cmp -s "$WORK/$name.ndiff.old" "$WORK/$name.ndiff.new"; then
        pass "$name: ndiff reports no port state differences"
      else
        fail "$name: ndiff reports port differences: $(grep -E '^[-+][0-9]' "$WORK/$name.ndiff" | paste -sd' ')"
      fi
    fi
  fi
}

for flag in -sS -sT -sN -sF -sX -sM -sA -sW; do
  for p in ${TCP_PORTS//,/ }; do echo "$p/$(expect_tcp $flag ${KIND[$p]})"; done | sort -n \
    >"$WORK/exp$flag"
  check_scan "tcp$flag" "$flag" "$TCP_PORTS" "$WORK/exp$flag"
done
for p in ${UDP_PORTS//,/ }; do echo "$p/${UDP_EXPECT[$p]}"; done | sort -n >"$WORK/exp-sU"
check_scan "udp-sU" -sU "$UDP_PORTS" "$WORK/exp-sU"
# The same lab over IPv6: raw IPv6 probes, ICMPv6 errors, the same states.
TARGET=$DST6
NMAP_FAMILY=(-6)
for flag in -sS -sT -sN -sF -sX -sM -sA -sW; do
  check_scan "ipv6-tcp$flag" "$flag" "$TCP_PORTS" "$WORK/exp$flag"
done
check_scan "ipv6-udp-sU" -sU "$UDP_PORTS" "$WORK/exp-sU"
TARGET=$DST
NMAP_FAMILY=()
[ $HAVE_NMAP = 1 ] || skip "nmap comparison: nmap not installed"
[ $HAVE_NDIFF = 1 ] || skip "ndiff comparison: ndiff not installed (Debian package ndiff)"

# The send paths (-v names them): Ethernet frames on an AF_PACKET socket once the kernel knows
# the target's MAC, the raw IP socket with --send-ip, and the raw socket for a next hop with no
# neighbour entry, until the kernel has resolved it. The states are the same on each.
send_path_case() {  # name expect(frames|raw|any) target args...
  local name=$1 expect=$2 target=$3; shift 3
  local saved=$TARGET
  TARGET=$target
  check_scan "$name" -sS "$TCP_PORTS" "$WORK/exp-sS" -v "$@"
  TARGET=$saved
  local frames raw
  # Summed over the engine's runs (each prints its own line); empty when a method never ran.
  frames=$(sed -n 's/.*AF_PACKET socket past the qdisc (\([0-9]*\) frames).*/\1/p' "$WORK/$name.err" |
    awk '{n += $1} END {if (NR) print n}')
  raw=$(sed -n 's/.*raw IP socket (\([0-9]*\) packets).*/\1/p' "$WORK/$name.err" |
    awk '{n += $1} END {if (NR) print n}')
  case $expect in
    frames)
      if [ "${frames:-0}" -gt 0 ] && [ -z "$raw" ]; then pass "$name: every probe sent as an Ethernet frame ($frames)"
      else fail "$name: expected frames only: $(grep 'send:' "$WORK/$name.err")"; fi ;;
    raw)
      if [ -z "$frames" ] && [ "${raw:-0}" -gt 0 ]; then pass "$name: every probe through the raw IP socket ($raw)"
      else fail "$name: expected the raw socket only: $(grep 'send:' "$WORK/$name.err")"; fi ;;
    any)
      if [ $((${frames:-0} + ${raw:-0})) -gt 0 ]; then pass "$name: sent ${frames:-0} frames, ${raw:-0} raw packets"
      else fail "$name: no send method reported: $(grep 'send:' "$WORK/$name.err")"; fi ;;
  esac
}
ip netns exec "$NS_S" ping -c1 -W2 $DST >/dev/null 2>&1
ip netns exec "$NS_S" ping -6 -c1 -W2 $DST6 >/dev/null 2>&1
send_path_case "send-eth-v4" frames $DST
send_path_case "send-eth-v6" frames $DST6
send_path_case "send-ip-v4" raw $DST --send-ip
send_path_case "send-ip-v6" raw $DST6 --send-ip
ip -n "$NS_S" neigh flush dev "$IF_S"
send_path_case "send-unresolved-v4" any $DST
ip netns exec "$NS_S" "$SCAN" --send-eth --send-ip -p1 $DST >/dev/null 2>"$WORK/excl.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "excludes" "$WORK/excl.err"; then
  pass "--send-eth with --send-ip: exit 2, '$(head -1 "$WORK/excl.err")'"
else
  fail "--send-eth with --send-ip: rc=$rc '$(head -1 "$WORK/excl.err")'"
fi

# Evasion options must not change the answers: the cookie has to survive decoys, fragments,
# a fixed source port, padding and a low TTL.
check_scan "evasion-decoys" -sS "$TCP_PORTS" "$WORK/exp-sS" -D RND:3,ME,198.18.0.77
check_scan "evasion-frag" -sS "$TCP_PORTS" "$WORK/exp-sS" -f
check_scan "evasion-srcport" -sS "$TCP_PORTS" "$WORK/exp-sS" -g 53 --data-length 24 --ttl 33
check_scan "ordered-rates" -sS "$TCP_PORTS" "$WORK/exp-sS" -r --max-rate 200 --max-retries 1

# Decoys really go out: count distinct sources of SYNs to port 22 seen by the target.
if command -v tcpdump >/dev/null; then
  ip netns exec "$NS_T" tcpdump -Z root --immediate-mode -i "$IF_T" -nn -c 4 -w "$WORK/decoy.pcap" \
    'tcp[tcpflags] & tcp-syn != 0 and dst port 3306' >/dev/null 2>&1 &
  tpid=$!
  sleep 1
  ip netns exec "$NS_S" "$SCAN" -sS -Pn -p 3306 -D 198.18.0.50,198.18.0.51,ME,198.18.0.52 $DST \
    >/dev/null 2>&1
  sleep 1.5; kill $tpid 2>/dev/null; wait $tpid 2>/dev/null
  srcs=$(tcpdump -nn -r "$WORK/decoy.pcap" 2>/dev/null | awk '{print $3}' | cut -d. -f1-4 |
    sort -u | paste -sd' ')
  if [ "$(echo "$srcs" | wc -w)" -ge 4 ]; then pass "decoys: SYNs seen from $srcs"
  else fail "decoys: expected 4 sources, saw '$srcs'"; fi
else
  skip "decoy capture: tcpdump not installed"
fi

# Host discovery. The target is on the scanner's Ethernet segment, so -sn asks by ARP (as nmap
# does) and reports the MAC address; --disable-arp-ping falls back to IP probes.
ip netns exec "$NS_S" "$SCAN" -sn $DST 198.18.0.3 -oG "$WORK/ping.gnmap" -oX "$WORK/ping.xml" \
  >"$WORK/ping.txt" 2>&1
TARGET_MAC=$(ip -n "$NS_T" -br link show "$IF_T" | awk '{print toupper($3)}')
if grep -q "Host: $DST ().*Status: Up" "$WORK/ping.gnmap" &&
  ! grep -q "Host: 198.18.0.3 ().*Status: Up" "$WORK/ping.gnmap"; then
  pass "-sn: $DST up, 198.18.0.3 (nobody) not up"
else
  fail "-sn: wrong discovery result: $(grep Status "$WORK/ping.gnmap" | paste -sd' ')"
fi
if grep -q 'reason="arp-response"' "$WORK/ping.xml" &&
  grep -q "<address addr=\"$TARGET_MAC\" addrtype=\"mac\"/>" "$WORK/ping.xml" &&
  grep -q "MAC Address: $TARGET_MAC" "$WORK/ping.txt"; then
  pass "-sn on the local segment: ARP reply, MAC $TARGET_MAC reported"
else
  fail "-sn on the local segment: no arp-response with MAC $TARGET_MAC: $(grep -E 'status|mac' "$WORK/ping.xml" | paste -sd' ')"
fi
if [ $HAVE_NMAP = 1 ]; then
  nmap_mac=$(ip netns exec "$NS_S" nmap -sn -n $DST 2>/dev/null | awk '/MAC Address/ {print $3}')
  if [ "$nmap_mac" = "$TARGET_MAC" ]; then pass "-sn: nmap reports the same MAC ($nmap_mac)"
  else fail "-sn: nmap reports MAC '$nmap_mac', we expected $TARGET_MAC"; fi
fi
ip netns exec "$NS_S" "$SCAN" -sn --disable-arp-ping $DST -oX "$WORK/ping-ip.xml" >/dev/null 2>&1
if grep -q 'state="up" reason="echo-reply"' "$WORK/ping-ip.xml" &&
  ! grep -q 'addrtype="mac"' "$WORK/ping-ip.xml"; then
  pass "-sn --disable-arp-ping: up by ICMP echo reply, no MAC"
else
  fail "-sn --disable-arp-ping: $(grep -E 'status' "$WORK/ping-ip.xml" | paste -sd' ')"
fi

ip netns exec "$NS_S" "$SCAN" -sn $DST6 fd00:198:18::3 -oG "$WORK/ping6.gnmap" >/dev/null 2>&1
if grep -q "Host: $DST6 ().*Status: Up" "$WORK/ping6.gnmap" &&
  ! grep -q "Host: fd00:198:18::3 ().*Status: Up" "$WORK/ping6.gnmap"; then
  pass "-sn over IPv6: $DST6 up, fd00:198:18::3 (nobody) not up"
else
  fail "-sn over IPv6: wrong discovery result: $(grep Status "$WORK/ping6.gnmap" | paste -sd' ')"
fi

# JSON output parses and carries the same states.
ip netns exec "$NS_S" "$SCAN" -sS -T4 -p "$TCP_PORTS" -oJ "$WORK/out.json" $DST >/dev/null 2>&1
if command -v python3 >/dev/null; then
  got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
print(" ".join(str(p["port"]) + "/" + p["state"] for h in d["hosts"] for p in h["ports"]))' \
    "$WORK/out.json" 2>&1)
  if [ "$got" = "$(paste -sd' ' "$WORK/exp-sS")" ]; then pass "-oJ: valid JSON with the same states"
  else fail "-oJ: got '$got'"; fi
else
  skip "-oJ check: python3 not installed"
fi

# Errors: exit status 2 and one line.
check_error() {  # name expected-substring args...
  local name=$1 want=$2; shift 2
  "$@" >"$WORK/err.out" 2>"$WORK/err.txt"
  local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$WORK/err.txt")" -eq 1 ] && grep -q -- "$want" "$WORK/err.txt"; then
    pass "error $name: exit 2, '$(cat "$WORK/err.txt")'"
  else
    fail "error $name: rc=$rc stderr='$(cat "$WORK/err.txt")'"
  fi
}
check_error "unknown flag" "--bogus" "$SCAN" --bogus $DST
check_error "bad port" "bad port" "$SCAN" -p 70000 $DST
check_error "bad target" "bad target" "$SCAN" -p 80 198.18.0.999
# Run where nothing could leave anyway (no route off the lab): the guard must refuse first.
check_error "outside PORTCULLIS_SCAN_ALLOW" "outside PORTCULLIS_SCAN_ALLOW" \
  ip netns exec "$NS_S" "$SCAN" -sS -Pn -p 80 203.0.113.9
if command -v setpriv >/dev/null; then
  check_error "raw without privilege" "-sT" setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all "$SCAN" -sS -p 80 127.0.0.1
else
  skip "raw without privilege: setpriv not installed"
fi

finish
