#!/usr/bin/env bash
# SIGHUP reloads the config without detaching: a raised threshold and a new allowlist entry hold
# for the next scans, while the block and the tracked source made before stay and the program is
# the same; a moved alerts file is reopened (logrotate without copytruncate); a broken config is
# refused in one line and the running one stays.
set -u
PORTCULLIS=${1:?usage: reload_test.sh PATH/TO/portcullis}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root

NS_V=pc-rl-victim-$$; NS_A=pc-rl-attacker-$$
IF_V=pcrlv$$; IF_A=pcrla$$
pins=/sys/fs/bpf/portcullis-rl-$$
victim_attacker_pair
for host in 3 4 5 6; do ip -n "$NS_A" addr add 198.18.0.$host/24 dev "$IF_A"; done
for port in 22 80; do  # open ports: a SYN scan resets their SYN-ACKs, evidence enough to block
  ip netns exec "$NS_V" socat TCP-LISTEN:$port,fork,reuseaddr SYSTEM:true 2>/dev/null &
  pids+=($!)
done
cfg=$dir/portcullis.toml
cat >"$cfg" <<CFG
rules = ["score", "trw"]
score-threshold = 21
CFG
nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" watch -i "$IF_V" --mode xdp --json --block \
  --config "$cfg" --alerts "$dir/alerts.json" --pin-root "$pins" --state-dir "$state" \
  >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
wait_for 10 "auto-block on" "$dir/w.err" || { fail "watch started"; cat "$dir/w.err"; finish; exit 1; }

scan_from() {  # a SYN scan of 200 ports from 198.18.0.$1
  ip netns exec "$NS_A" nmap -n -Pn -sS -T4 -S 198.18.0.$1 -e "$IF_A" -p 1-200 198.18.0.1 \
    >/dev/null 2>&1
}
ops() { nsenter --net=/run/netns/"$NS_V" "$PORTCULLIS" "$@" --pin-root "$pins"; }
prog_id() { ip -n "$NS_V" link show "$IF_V" | grep -o 'prog/xdp id [0-9]*'; }
hup() {  # SIGHUP, then wait for the watch's answer (the nth reload line)
  local n=$(( $(grep -cE "reload(ed| refused)" "$dir/w.err") + 1 )) i
  kill -HUP "$watch_pid"
  for ((i = 0; i < 100; i++)); do
    [ "$(grep -cE "reload(ed| refused)" "$dir/w.err")" -ge "$n" ] && return 0
    sleep 0.1
  done
  return 1
}
# After a scan from 198.18.0.$1 under the raised threshold: caught by trw, never by score.
trw_not_score() {  # last byte, what passes
  wait_for 8 "\"src\":\"198.18.0.$1\"" "$dir/w.json"
  sleep 2
  if named $1 trw "$dir/w.json" && ! named $1 score "$dir/w.json"; then
    pass "$2"
  else
    fail "$2"; grep "198.18.0.$1" "$dir/w.json"
  fi
}
# Whether 198.18.0.$1 has an incident event naming rule $2.
named() { grep -E '"event":"(alert|update)"' "$3" | grep "\"src\":\"198.18.0.$1\"" |
  grep -qE "\"rules\":\[[^]]*\"$2\""; }

# Before: the scan from .2 alerts on score and is blocked.
scan_from 2
if wait_for 8 '"event":"block","rule":"[a-z]+","scan":"syn","src":"198.18.0.2"' "$dir/w.json" &&
   named 2 score "$dir/w.json"; then
  pass "before the reload: a score alert and a block for 198.18.0.2 (the control)"
else
  fail "before the reload: a score alert and a block for 198.18.0.2"; cat "$dir/w.json"
fi
prog_before=$(prog_id)

# Raise the threshold past any scan, allowlist .4, and reload.
cat >"$cfg" <<CFG
rules = ["score", "trw"]
score-threshold = 65535
allow = ["198.18.0.4"]
CFG
hup && grep -q "reloaded" "$dir/w.err" && pass "SIGHUP reloads ($(grep reloaded "$dir/w.err" | tail -1 | sed 's/^portcullis: //'))" ||
  { fail "SIGHUP reloads"; tail -3 "$dir/w.err"; }
[ -n "$prog_before" ] && [ "$(prog_id)" = "$prog_before" ] &&
  pass "the same XDP program stays attached ($prog_before)" ||
  fail "the same XDP program stays attached (before '$prog_before', now '$(prog_id)')"
ops blocklist -i "$IF_V" | grep -q '198.18.0.2 ' && pass "the block made before the reload is still in force" ||
  { fail "the block made before the reload is still in force"; ops blocklist -i "$IF_V"; }
tracked=$(ops status --json -i "$IF_V" --state-dir "$state" | grep -o '"tracked":[0-9]*' | cut -d: -f2)
[ "${tracked:-0}" -ge 1 ] && pass "tracked sources are still there ($tracked)" ||
  fail "tracked sources are still there (${tracked:-?})"

scan_from 3
scan_from 4
trw_not_score 3 "the raised threshold holds: 198.18.0.3 is caught by trw, not by score"
if ! grep -q '"src":"198.18.0.4"' "$dir/w.json"; then
  pass "the newly allowlisted 198.18.0.4 is neither reported nor blocked"
else
  fail "the newly allowlisted 198.18.0.4 is neither reported nor blocked"; grep '198.18.0.4' "$dir/w.json"
fi

# logrotate: move the alerts file, HUP, and the next alerts go to a new file.
mv "$dir/alerts.json" "$dir/alerts.json.1"
hup
scan_from 5
wait_for 8 '"src":"198.18.0.5"' "$dir/alerts.json"
sleep 1
if grep -q '"src":"198.18.0.5"' "$dir/alerts.json" && ! grep -q '"src":"198.18.0.5"' "$dir/alerts.json.1" &&
   grep -q '"src":"198.18.0.2"' "$dir/alerts.json.1"; then
  pass "after mv and HUP, new alerts go to a new --alerts file"
else
  fail "after mv and HUP, new alerts go to a new --alerts file"; ls -la "$dir"
fi

# A broken config: one line, and the running configuration stays.
echo 'score-threshold = "banana"' >>"$cfg"
before=$(wc -l <"$dir/w.err")
hup
refused=$(tail -n +"$((before + 1))" "$dir/w.err")
if [ "$(grep -c . <<<"$refused")" -eq 1 ] && grep -q "reload refused" <<<"$refused"; then
  pass "a broken config is refused in one line ($(sed 's/^portcullis: //' <<<"$refused"))"
else
  fail "a broken config is refused in one line"; echo "$refused"
fi
scan_from 6
trw_not_score 6 "the running configuration stayed (198.18.0.6: trw, not score)"
[ "$(prog_id)" = "$prog_before" ] && pass "still attached after three reloads" || fail "still attached after three reloads"
finish
