#!/usr/bin/env bash
# Daemon under load, in a network namespace of its own (loopback + 48 veth interfaces, so every
# snmpd agent reports 49 interfaces like a 48-port switch): ANSWERING agents (net-snmp, 100 UDP
# ports per snmpd process) plus SILENT targets that never answer, polled for `interfaces` every
# INTERVAL for DURATION. Samples the collector's CPU, RSS and poll counters every INTERVAL.
# Usage: [NETPULSE_COLLECTOR_BIN=path] [PROFILE=auto|none|old] bench/daemon_load.sh ANSWERING SILENT INTERVAL_S DURATION_S
#   (PROFILE: the targets' device profile; `none` polls `interfaces` alone; `old`: a binary from before profiles)
#   scale: bench/daemon_load.sh 10000 0 60 240      soak: bench/daemon_load.sh 1000 1000 30 600
set -euo pipefail
cd "$(dirname "$0")/.."
ANSWERING=${1:-10000}; SILENT=${2:-0}; INTERVAL=${3:-60}; DURATION=${4:-240}
BIN=${NETPULSE_COLLECTOR_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q -p netpulse-collector; BIN=$PWD/target/release/netpulse-collector; fi
BIN=$(realpath "$BIN")
PROFILE=${PROFILE:-auto}
# Binaries from before device profiles have no `profile` key.
PROFILE_LINE=$([ "$PROFILE" = old ] && echo "" || echo "profile = \"$PROFILE\"")
WORK=$(mktemp -d /tmp/netpulse-load.XXXXXX)
BASE=20000; BASE_PORT=$BASE
source bench/netns.sh
ns_agents "$ANSWERING"
IFACES=$(ns_interfaces)

{
  printf '[collector]\ninterval = "%ss"\njitter = "1s"\nmax_concurrent_targets = 500\nmax_concurrent_operations = 1000\nworker_pool_size = 2\n' "$INTERVAL"
  printf '[snmp]\ntimeout = "2s"\nretries = 1\npoll_deadline = "10s"\n[api]\nlisten = "127.0.0.1:18080"\n'
  for i in $(seq 0 $((ANSWERING - 1))); do printf '[[targets]]\nname = "a%d"\naddress = "udp://127.0.0.1:%d"\ncommunity = "public"\nmodules = ["interfaces"]\n%s\n' "$i" $((BASE + i)) "$PROFILE_LINE"; done
  # Silent targets: ports nobody listens on.
  for i in $(seq 0 $((SILENT - 1))); do printf '[[targets]]\nname = "s%d"\naddress = "udp://127.0.0.1:%d"\ncommunity = "public"\nmodules = ["interfaces"]\n' "$i" $((40000 + i)); done
} > "$WORK/collector.toml"
in_ns "$BIN" --config "$WORK/collector.toml" 2>"$WORK/collector.log" &
sleep 1
PID=$(ip netns pids "$NS" | while read -r p; do [ "$(readlink /proc/$p/exe)" = "$BIN" ] && echo "$p"; done | head -1)
metric() { in_ns curl -sf http://127.0.0.1:18080/metrics | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }
cpu() { awk '{print ($14 + $15)}' "/proc/$PID/stat"; }
tck=$(getconf CLK_TCK)
echo "== $ANSWERING answering agents ($IFACES interfaces each), $SILENT silent, interval ${INTERVAL}s, ${DURATION}s"
printf '%6s %10s %9s %9s %9s %9s %9s\n' t cpu_cores rss_MiB polls_ok failed skipped varbinds
prev_cpu=$(cpu); prev_ok=0; prev_fail=0; prev_t=0
for t in $(seq "$INTERVAL" "$INTERVAL" "$DURATION"); do
  sleep "$INTERVAL"
  c=$(cpu); ok=$(metric 'netpulse_polls_total{result="ok"}'); fail=$(metric 'netpulse_polls_total{result="failed"}')
  skipped=$(metric netpulse_polls_skipped_total); rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
  printf '%6s %10.3f %9.1f %9d %9d %9d %9s\n' "$t" "$(echo "($c - $prev_cpu) / $tck / $INTERVAL" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
    $((ok - prev_ok)) $((fail - prev_fail)) "$skipped" "$((ANSWERING * 25 * ${IFACES/\?/0} ))"
  prev_cpu=$c; prev_ok=$ok; prev_fail=$fail
done
echo "(per row: collector CPU in cores averaged over the interval, RSS, polls finished in the interval; varbinds = values fetched per interval)"
