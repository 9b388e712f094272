#!/usr/bin/env bash
# The seed's scaling demonstration: 1 → 3 → 5 collector replicas (cluster mode, one Redis) over
# the same AGENTS net-snmp agents (each a 48-port switch: loopback + 48 veth in a network
# namespace of its own), polled for `system` and `interfaces` every INTERVAL, writing to two
# InfluxDB 1.x replicas. Per run, measured over DURATION after the replicas settled: targets per
# replica, polls/s, CPU per replica, points/s acknowledged by each InfluxDB replica (end to end,
# through the durable queues), and the p95 poll duration (all replicas' histograms together).
# Usage: bench/scaling.sh [AGENTS=1000] [INTERVAL_S=20] [DURATION_S=40]
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-1000}; INTERVAL=${2:-20}; DURATION=${3:-40}
for p in redis-server influxd snmpd bc; do command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server influxdb snmpd snmp bc >/dev/null; done
cargo build --release -q -p netpulse-collector
BIN=$PWD/target/release/netpulse-collector
WORK=$(mktemp -d /var/tmp/netpulse-scaling.XXXXXX)
BASE_PORT=20000
source bench/netns.sh
source bench/influxd.sh
ns_agents "$AGENTS"
IFACES=$(ns_interfaces)
RPORT=26379
in_ns redis-server --bind 127.0.0.1 --port $RPORT --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
for i in 0 1; do
  d="$WORK/influx-$i"
  influxd_conf "$d" $((28086 + i)) $((28300 + i))
  in_ns influxd -config "$d/influxdb.conf" >"$d/log" 2>&1 &
done
for port in 28086 28087; do
  for _ in $(seq 100); do in_ns curl -sf "http://127.0.0.1:$port/ping" >/dev/null && break; sleep 0.2; done
  in_ns curl -sf -XPOST "http://127.0.0.1:$port/query" --data-urlencode 'q=CREATE DATABASE telemetry' >/dev/null
done
tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scrape() { in_ns curl -sf "http://127.0.0.1:$1/metrics"; }
# metric PORT NAME [LABEL-FILTER]: sum of the series NAME{…FILTER…}
metric() { scrape "$1" | awk -v m="$2" -v f="${3:-}" 'index($0, m) == 1 && index($0, f) { s += $NF } END { print s + 0 }'; }
buckets() { for p in "$@"; do scrape "$p" | grep '^telemetry_collection_duration_seconds_bucket'; done | sed -E 's/.*le="([^"]+)".* ([0-9.e+]+)$/\1 \2/' | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}' | sort -g; }
bin_pids() { ip netns pids "$NS" | while read -r p; do [ "$(readlink "/proc/$p/exe")" = "$BIN" ] && echo "$p"; done; }
targets_toml() {
  for i in $(seq 0 $((AGENTS - 1))); do
    printf '[[targets]]\nname = "a%d"\naddress = "udp://127.0.0.1:%d"\ncommunity = "public"\nmodules = ["system", "interfaces"]\n' "$i" $((BASE_PORT + i))
  done
}

# p95 of the polls between two bucket snapshots (files of "le count").
p95() {
  join -j1 <(sort -k1,1 "$1") <(sort -k1,1 "$2") | sort -g | awk '
    { le[NR] = $1; n[NR] = $3 - $2 } END {
      total = n[NR]; for (i = 1; i <= NR; i++) if (n[i] >= 0.95 * total) { print le[i]; exit } }'
}

run() { # run REPLICAS
  local n=$1 pids=() ports=() i
  in_ns redis-cli -p $RPORT flushall >/dev/null
  for i in $(seq 1 "$n"); do
    local d="$WORK/r$n-$i" port=$((18100 + i)); mkdir -p "$d"
    {
      printf '[collector]\ninterval = "%ss"\njitter = "1s"\nmax_concurrent_targets = 500\nmax_concurrent_operations = 1000\n' "$INTERVAL"
      printf '[snmp]\ntimeout = "2s"\nretries = 1\n[api]\nlisten = "127.0.0.1:%d"\n' "$port"
      printf '[cluster]\nredis_url = "redis://127.0.0.1:%d/0"\nreplica_id = "collector-%d"\n' $RPORT "$i"
      for j in 0 1; do
        printf '[[outputs.influxdb]]\nname = "influx-%d"\nurl = "http://127.0.0.1:%d"\ndatabase = "telemetry"\nqueue_dir = "%s/queue"\n' "$j" "$((28086 + j))" "$d"
      done
      targets_toml
    } > "$d/collector.toml"
    in_ns "$BIN" --config "$d/collector.toml" 2>"$d/log" &
    ports+=("$port")
  done
  sleep 1
  mapfile -t pids < <(bin_pids)
  sleep $((INTERVAL + 5)) # every replica joined; the first round of polls spread over an interval
  local c0=() c1=() owned=() polls0=0 polls1=0 wa0=0 wa1=0 wb0=0 wb1=0 t0 t1
  for p in "${ports[@]}"; do
    polls0=$((polls0 + $(metric "$p" netpulse_polls_total)))
    wa0=$((wa0 + $(metric "$p" netpulse_output_points_written_total 'output="influx-0"')))
    wb0=$((wb0 + $(metric "$p" netpulse_output_points_written_total 'output="influx-1"')))
  done
  buckets "${ports[@]}" > "$WORK/b0"
  for p in "${pids[@]}"; do c0+=("$(ticks "$p")"); done
  t0=$(date +%s.%N)
  sleep "$DURATION"
  for p in "${ports[@]}"; do
    polls1=$((polls1 + $(metric "$p" netpulse_polls_total)))
    wa1=$((wa1 + $(metric "$p" netpulse_output_points_written_total 'output="influx-0"')))
    wb1=$((wb1 + $(metric "$p" netpulse_output_points_written_total 'output="influx-1"')))
    owned+=("$(metric "$p" netpulse_cluster_targets_owned)")
  done
  buckets "${ports[@]}" > "$WORK/b1"
  for p in "${pids[@]}"; do c1+=("$(ticks "$p")"); done
  t1=$(date +%s.%N)
  local secs per="" total=0
  secs=$(echo "$t1 - $t0" | bc -l)
  for i in "${!pids[@]}"; do
    local c; c=$(echo "(${c1[$i]} - ${c0[$i]}) / $tck / $secs" | bc -l); total=$(echo "$total + $c" | bc -l)
    per="$per$(printf '%.3f' "$c")/"
  done
  printf '| %d | %s | %.1f | %s | %.0f | %.0f | %s s |\n' "$n" "$(IFS=/; echo "${owned[*]}")" \
    "$(echo "($polls1 - $polls0) / $secs" | bc -l)" "${per%/}" \
    "$(echo "($wa1 - $wa0) / $secs" | bc -l)" "$(echo "($wb1 - $wb0) / $secs" | bc -l)" "$(p95 "$WORK/b0" "$WORK/b1")"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 300); do [ -z "$(bin_pids)" ] && break; sleep 0.1; done
}

echo "== $AGENTS agents ($IFACES interfaces each), system + interfaces every ${INTERVAL}s, two InfluxDB replicas, measured over ${DURATION}s"
echo "| replicas | targets per replica | polls/s | CPU per replica (cores) | points/s into influx-a | points/s into influx-b | p95 poll |"
echo "|---|---|---|---|---|---|---|"
run 1
run 3
run 5
