#!/usr/bin/env bash
# The Prometheus endpoint of a running watch, after a scan: `promtool check metrics` (Debian's
# prometheus package) accepts it, and every metric deploy/grafana-dashboard.json queries is
# served (a dashboard panel on a metric that does not exist is silently empty).
set -u
PORTCULLIS=${1:?usage: metrics_test.sh PATH/TO/portcullis DASHBOARD.json}
DASHBOARD=${2:?usage: metrics_test.sh PATH/TO/portcullis DASHBOARD.json}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
for tool in promtool jq; do
  command -v $tool >/dev/null || { fail "$tool is needed (scripts/install-deps installs it)"; finish; exit 1; }
done

NS=pc-metrics-$$
dir=$(mktemp -d)
pins=/sys/fs/bpf/portcullis-metrics-$$
lo_namespace

nsenter --net=/run/netns/"$NS" "$PORTCULLIS" watch --json --pin-root "$pins" \
  --state-dir "$dir" --metrics 127.0.0.1:9464 >"$dir/w.json" 2>"$dir/w.err" &
watch_pid=$!
wait_for 10 "metrics on" "$dir/w.err" || { fail "watch started with --metrics"; cat "$dir/w.err"; finish; exit 1; }
ip netns exec "$NS" nmap -n -Pn -sS -p1-300 127.0.0.1 >/dev/null 2>&1
wait_for 5 '"event":"alert"' "$dir/w.json" && sleep 1   # the next poll publishes it
scrape_metrics "$NS" 9464 |
  sed '1,/^\r\?$/d' >"$dir/metrics.txt"
grep -q '^portcullis_alerts_total{rule="score"} [1-9]' "$dir/metrics.txt" &&
  pass "the endpoint counts the scan (the control: $(grep -c '^portcullis_' "$dir/metrics.txt") samples)" ||
  { fail "the endpoint counts the scan"; head -20 "$dir/metrics.txt"; }
if promtool check metrics <"$dir/metrics.txt" >"$dir/promtool.out" 2>&1; then
  pass "promtool check metrics accepts the endpoint"
else
  fail "promtool check metrics accepts the endpoint"; cat "$dir/promtool.out"
fi
if jq -e '.panels | length > 0' "$DASHBOARD" >/dev/null; then
  pass "the dashboard is JSON with $(jq '.panels | length' "$DASHBOARD") panels"
else
  fail "the dashboard is JSON with panels"
fi
missing=""
used=$(jq -r '.panels[].targets[].expr' "$DASHBOARD" | grep -oE 'portcullis_[a-z_]+' | sort -u)
for metric in $used; do
  grep -q "^$metric[{ ]" "$dir/metrics.txt" || missing+=" $metric"
done
[ -n "$used" ] && [ -z "$missing" ] &&
  pass "every metric the dashboard queries is served ($(wc -w <<<"$used") metrics)" ||
  fail "metrics the dashboard queries that are not served:${missing:- (none queried)}"
finish
