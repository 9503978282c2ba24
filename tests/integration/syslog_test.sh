#!/usr/bin/env bash
# --syslog: every event goes through syslog(3) to the local syslog socket, with the facility and
# tag asked for and a priority by event (alerts and updates warning, the rest info), so
# journald or rsyslog get what stdout gets. A private mount namespace gives the test its own
# /dev/log: a real datagram socket (socat), as journald's is.
set -u
PORTCULLIS=${1:?usage: syslog_test.sh PATH/TO/portcullis PATH/TO/busy_gen}
BUSY_GEN=${2:?usage: syslog_test.sh PATH/TO/portcullis PATH/TO/busy_gen}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
command -v socat >/dev/null || { fail "socat is needed (scripts/install-deps installs it)"; finish; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$BUSY_GEN" --scenario tunnels --seed 5 --out "$dir/scan.pcap" >/dev/null 2>&1

# Inside: a tmpfs /dev of our own (with /dev/null), a receiver bound at /dev/log, the replay.
unshare --mount --propagation private bash -s "$PORTCULLIS" "$dir" <<'INSIDE'
PORTCULLIS=$1; dir=$2
mount -t tmpfs -o mode=755 pc-dev /dev && mknod -m 666 /dev/null c 1 3 || exit 3
socat -u UNIX-RECV:/dev/log,mode=666 OPEN:"$dir/syslog.txt",creat,append &
receiver=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
"$PORTCULLIS" replay --json --syslog --syslog-facility local3 --syslog-tag pc-test \
  "$dir/scan.pcap" >"$dir/stdout.json" 2>"$dir/stderr"
echo $? >"$dir/rc"
sleep 0.5
kill "$receiver"
INSIDE
[ "$(cat "$dir/rc" 2>/dev/null)" = 0 ] && pass "replay --syslog runs" ||
  { fail "replay --syslog runs (rc $(cat "$dir/rc" 2>/dev/null))"; cat "$dir/stderr"; }

# socat appends datagrams without separators when they lack a newline: split on the header.
sed 's/<1[0-9][0-9]>/\n&/g' "$dir/syslog.txt" 2>/dev/null | grep -v '^$' >"$dir/lines.txt"
out=$(grep -c . "$dir/stdout.json")
got=$(grep -c . "$dir/lines.txt")
alerts=$(grep -c '"event":"alert"' "$dir/stdout.json")
[ "$alerts" -ge 1 ] && pass "the capture raised $alerts alerts (the control)" ||
  fail "the capture raised no alert"
[ "$got" -eq "$out" ] && pass "every stdout line went to syslog ($got of $out)" ||
  { fail "every stdout line went to syslog ($got of $out)"; head -3 "$dir/lines.txt"; }
first=$(grep -m1 '"event":"alert"' "$dir/stdout.json")
# local3 is facility 19: <19*8+4> for LOG_WARNING, <19*8+6> for LOG_INFO; the tag with its pid.
if grep -qF "<156>" "$dir/lines.txt" && grep -F "$first" "$dir/lines.txt" | grep -qE '^<156>.* pc-test\[[0-9]+\]: '; then
  pass "an alert arrives at local3.warning tagged pc-test[pid]"
else
  fail "an alert arrives at local3.warning tagged pc-test[pid]"; grep -m2 alert "$dir/lines.txt"
fi
end=$(grep -m1 '"event":"end"' "$dir/stdout.json")
if [ -n "$end" ] && grep -F "$end" "$dir/lines.txt" | grep -qE '^<158>.* pc-test\[[0-9]+\]: '; then
  pass "an incident's end arrives at local3.info"
else
  fail "an incident's end arrives at local3.info"; grep -m2 '"end"' "$dir/lines.txt"
fi
finish
