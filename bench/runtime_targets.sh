#!/usr/bin/env bash
# The cost of one run-time target change (`PUT /targets/NAME`) against the number of targets the
# collector already has: a cluster-mode collector (one redis-server) with SMALL and then LARGE
# config-file targets (interval 24 h: they are in the schedule, hardly polled), then PUTS new
# run-time targets one after another; prints the median and p90 latency of a PUT at each size
# and the ratio large/small. A change should cost the same whatever the fleet (issue 24, item 13:
# it was 25-35 ms at 7,600 targets).
# Usage: bench/runtime_targets.sh [SMALL=100] [LARGE=7600] [PUTS=200]
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${1:-100}; LARGE=${2:-7600}; PUTS=${3:-200}
command -v redis-server >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
cargo build --release -q -p netpulse-collector
BIN=$PWD/target/release/netpulse-collector
WORK=$(mktemp -d /tmp/netpulse-runtime-bench.XXXXXX)
RPORT=26380; API=28080
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; rm -rf "$WORK"' EXIT
redis-server --bind 127.0.0.1 --port $RPORT --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
pids+=($!)
sleep 0.5

run() { # run N: PUT latencies (ms, sorted) with N config targets
  local n=$1 cfg="$WORK/c$1.toml" pid i
  redis-cli -p $RPORT flushall >/dev/null
  {
    printf '[collector]\ninterval = "24h"\n[api]\nlisten = "127.0.0.1:%d"\n' $API
    printf '[cluster]\nredis_url = "redis://127.0.0.1:%d/0"\nreplica_id = "bench"\nstate_dir = "%s/state%d"\n' $RPORT "$WORK" "$n"
    printf '[[outputs.influxdb]]\nname = "x"\nurl = "http://127.0.0.1:9"\ndatabase = "t"\nqueue_dir = "%s/q%d"\n' "$WORK" "$n"
    for i in $(seq 0 $((n - 1))); do
      printf '[[targets]]\nname = "cfg-%d"\naddress = "udp://127.0.0.2:161"\ncommunity = "public"\nmodules = ["system"]\n' "$i"
    done
  } > "$cfg"
  "$BIN" --config "$cfg" >"$WORK/collector$n.log" 2>&1 &
  pid=$!; pids+=($pid)
  for _ in $(seq 100); do curl -sf "127.0.0.1:$API/health" >/dev/null && break; sleep 0.2; done
  for i in $(seq 1 "$PUTS"); do
    curl -s -o /dev/null -w '%{time_total}\n' -X PUT "127.0.0.1:$API/targets/rt-$i" \
      -d '{"address":"udp://127.0.0.3:161","community":"public","modules":["system"],"interval":"24h"}'
  done | awk '{printf "%.3f\n", $1 * 1000}' | sort -n > "$WORK/lat$n"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
pct() { awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p); if (i<1) i=1; print a[i]}' "$1"; }

run "$SMALL"; run "$LARGE"
ms=$(pct "$WORK/lat$SMALL" 0.5); ml=$(pct "$WORK/lat$LARGE" 0.5)
printf 'targets %6d: PUT median %s ms, p90 %s ms\n' "$SMALL" "$ms" "$(pct "$WORK/lat$SMALL" 0.9)"
printf 'targets %6d: PUT median %s ms, p90 %s ms\n' "$LARGE" "$ml" "$(pct "$WORK/lat$LARGE" 0.9)"
printf 'ratio large/small (medians): %.2f\n' "$(echo "$ml / $ms" | bc -l)"
