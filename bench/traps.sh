#!/usr/bin/env bash
# Trap receiving side by side with snmptrapd, then with a replica down.
# 1. The same paced v2c linkDown load (testkit's trapblast) to netpulse's receiver — decoded,
#    named, made a point and appended to two durable replica queues (their InfluxDB servers not
#    running, so the figure is receiving, not InfluxDB's ingest) — and to snmptrapd (its default
#    log format to a file, no MIB loading). Each receiver pinned to core 1, the sender to core 0.
#    Prints what each kept at each rate and the ratio of the highest rates kept whole.
# 2. STOPPED_REPLICA=1 (default): netpulse with two live InfluxDB replicas, one stopped for a
#    whole 60 s run at 20,000/s: what was received is in both once the stopped one returns.
# Usage: bench/traps.sh [SECONDS_PER_RATE] [RATES...]     e.g. bench/traps.sh 10 10000 30000 60000 100000
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}; shift || true
RATES=("${@:-10000 30000 60000 100000}")
read -r -a RATES <<< "${RATES[*]}"
cargo build --release -q -p netpulse-collector -p netpulse-testkit
BIN=$PWD/target/release/netpulse-collector; BLAST=$PWD/target/release/trapblast
WORK=$(mktemp -d /tmp/netpulse-traps.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
source bench/influxd.sh
influx_a=18186; influx_b=18187; NP=19162; TD=19163; API=18180
start_influx() { # DIR PORT RPC: one replica, its pid in DIR/pid
  influxd_conf "$1" "$2" "$3"; influxd -config "$1/influxdb.conf" >"$1/log" 2>&1 & echo $! > "$1/pid"; pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/ping" >/dev/null && break; sleep 0.2; done
  curl -sf -XPOST "http://127.0.0.1:$2/query" --data-urlencode 'q=CREATE DATABASE telemetry' >/dev/null
}
start_collector() { # TAG: a collector whose two outputs are influx_a and influx_b, queues in WORK/TAG
  cat > "$WORK/$1.toml" <<TOML
[api]
listen = "127.0.0.1:$API"
[traps]
listen = ["127.0.0.1:$NP"]
rate_limit = { per_source = 1000000, burst = 1000000 }
[[outputs.influxdb]]
name = "a"
url = "http://127.0.0.1:$influx_a"
database = "telemetry"
queue_dir = "$WORK/$1"
queue_max_bytes = "4GiB"
[[outputs.influxdb]]
name = "b"
url = "http://127.0.0.1:$influx_b"
database = "telemetry"
queue_dir = "$WORK/$1"
queue_max_bytes = "4GiB"
TOML
  NETPULSE_LOG=warn taskset -c 1 "$BIN" --config "$WORK/$1.toml" 2>"$WORK/$1.log" & collector=$!; pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.2; done
}
received() { curl -sf "http://127.0.0.1:$API/metrics" | awk '/^netpulse_traps_received_total/ { s += $NF } END { print s + 0 }'; }
# What the kernel dropped on netpulse's socket (its receive buffer full), as the collector counts it.
overflowed() { curl -sf "http://127.0.0.1:$API/metrics" | awk '/^netpulse_traps_dropped_total\{reason="socket_overflow"\}/ { s += $NF } END { print s + 0 }'; }
# snmptrapd's default format: one trap's bindings on one line (tab-separated).
logged() { { grep -o '\.1\.3\.6\.1\.2\.1\.2\.2\.1\.1\.1 = ' "$WORK/snmptrapd.log" 2>/dev/null || true; } | wc -l; }

start_collector receive
printf 'authCommunity log public\n' > "$WORK/snmptrapd.conf"
taskset -c 1 snmptrapd -f -C -c "$WORK/snmptrapd.conf" -n -m "" -M /nonexistent -On -Lf "$WORK/snmptrapd.log" "udp:127.0.0.1:$TD" & pids+=($!)
sleep 1
best_np=0; best_td=0
printf '%9s %9s %12s %22s %12s\n' rate sent netpulse "netpulse counted lost" snmptrapd
for rate in "${RATES[@]}"; do
  np0=$(received); ov0=$(overflowed); sent=$(taskset -c 0 "$BLAST" "127.0.0.1:$NP" "$rate" "$SECS"); sleep 2
  np=$(( $(received) - np0 )); ov=$(( $(overflowed) - ov0 ))
  td0=$(logged); sent2=$(taskset -c 0 "$BLAST" "127.0.0.1:$TD" "$rate" "$SECS"); sleep 2; td=$(( $(logged) - td0 ))
  printf '%9d %9d %11.1f%% %22d %11.1f%%\n' "$rate" "$sent" "$(echo "100 * $np / $sent" | bc -l)" "$ov" "$(echo "100 * $td / $sent2" | bc -l)"
  [ "$np" -ge "$sent" ] && best_np=$rate
  [ "$td" -ge "$sent2" ] && best_td=$rate
done
echo "highest rate kept whole: netpulse ${best_np}/s, snmptrapd ${best_td}/s"
echo "queued on disk: $(du -sh "$WORK/receive" | cut -f1) for $(received) traps × 2 replicas"
kill "$collector"; wait "$collector" 2>/dev/null || true

# One replica stopped for a whole 60 s run at 20,000/s: nothing lost in either.
[ "${STOPPED_REPLICA:-1}" = 1 ] || exit 0
count() { curl -sf -G "http://127.0.0.1:$1/query" --data-urlencode db=telemetry --data-urlencode 'q=SELECT count(uptime) FROM snmp_trap' | grep -o '[0-9]*\]\]' | tr -d ']' || echo 0; }
# holds PORT TOTAL: waits (≤ 3 min) until the replica holds TOTAL points, prints what it holds.
holds() { local n=0; for _ in $(seq 180); do n=$(count "$1"); [ "${n:-0}" -ge "$2" ] && break; sleep 1; done; echo "${n:-0}"; }
start_influx "$WORK/influx-a" $influx_a 18188
start_collector replicas
sent=$(taskset -c 0 "$BLAST" "127.0.0.1:$NP" 20000 60); sleep 2; got=$(received)
echo "20000/s for 60 s with influx-b stopped: sent $sent, received $got, counted lost at the socket $(overflowed) ($(echo "100 * $got / $sent" | bc -l | cut -c1-5)%); influx-a holds $(holds $influx_a "$got")"
start_influx "$WORK/influx-b" $influx_b 18189
echo "influx-b back: holds $(holds $influx_b "$got") of $got"
echo "collector peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$collector/status")"
