#!/usr/bin/env bash
# End to end into one local InfluxDB 1.x: N agents polled by `--once`, points queued,
# gzipped and written. Prints sustained points/s (poll + queue + write) and CPU per point.
# Usage: bench/influx_e2e.sh [N=1000] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
ROUNDS="${2:-5}"
source bench/lib.sh
cargo build --release -q -p netpulse-collector
BIN=target/release/netpulse-collector
start_agents "$N"
PORT=28086
cat > "$WORK/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:28088"
[meta]
  dir = "$WORK/influx/meta"
[data]
  dir = "$WORK/influx/data"
  wal-dir = "$WORK/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$PORT"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
influxd -config "$WORK/influxdb.conf" 2>"$WORK/influxd.log" &
bench_pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf -XPOST "http://127.0.0.1:$PORT/query" --data-urlencode "q=CREATE DATABASE telemetry" >/dev/null
{
  printf '[collector]\nmax_concurrent_targets = 200\nmax_concurrent_operations = 400\nworker_pool_size = 2\nflush_timeout = "60s"\n'
  printf '[[outputs.influxdb]]\nname = "influx"\nurl = "http://127.0.0.1:%d"\ndatabase = "telemetry"\nqueue_dir = "%s/queue"\n' $PORT "$WORK"
  targets_toml "$N" '["system", "interfaces"]'
} > "$WORK/bench.toml"
total_cpu=0; total_wall=0
for r in $(seq "$ROUNDS"); do
  measure "round$r" "$BIN" --config "$WORK/bench.toml" --once
  total_cpu=$(echo "$total_cpu + $(eval echo \$cpu_round$r)" | bc -l)
  total_wall=$(echo "$total_wall + $(eval echo \$wall_round$r)" | bc -l)
done
count() { curl -sf -G "http://127.0.0.1:$PORT/query" --data-urlencode db=telemetry --data-urlencode "q=SELECT count($2) FROM $1" | sed -E 's/.*"values":\[\[[^,]*,([0-9]+).*/\1/'; }
points=$(( $(count interface ifInOctets) + $(count system sysUpTime) + $(count netpulse_poll duration_ms) ))
echo "stored in InfluxDB: $points points over $ROUNDS rounds"
printf 'sustained: %.0f points/s (poll + queue + gzip + write, wall)\n' "$(echo "$points / $total_wall" | bc -l)"
printf 'netpulse CPU per point: %.2f µs\n' "$(echo "$total_cpu * 1000000 / $points" | bc -l)"
