#!/usr/bin/env bash
# Whole-system poll benchmark: N agents on loopback ports (net-snmp snmpd processes, each
# listening on 100 UDP ports, so the agent side is C, not the bottleneck), polled for the
# `interfaces` module (ifTable + ifXTable) by netpulse-collector --test and, side by
# side, by net-snmp's snmpbulkwalk over the same subtrees. Prints wall, CPU, peak RSS
# and the CPU ratio. Usage: bench/snmp_poll.sh [N=1000] [PARALLEL=32]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
PAR="${2:-32}"
source bench/lib.sh
cargo build --release -q -p netpulse-collector
BIN=target/release/netpulse-collector
start_agents "$N"
{
  printf '[collector]\nmax_concurrent_targets = 200\nmax_concurrent_operations = 400\nworker_pool_size = 2\n'
  targets_toml "$N" '["interfaces"]'
} > "$WORK/bench.toml"

echo "== $N agents, module interfaces (ifTable + ifXTable), parallelism $PAR for snmpbulkwalk, 200 targets for netpulse"
measure netpulse "$BIN" --config "$WORK/bench.toml" --test
walk() { seq $BASE_PORT $((BASE_PORT + N - 1)) | xargs -P "$PAR" -I{} sh -c \
  'snmpbulkwalk -v2c -c public -m "" -On -Cr25 -t 2 -r 2 127.0.0.1:{} .1.3.6.1.2.1.2.2; snmpbulkwalk -v2c -c public -m "" -On -Cr25 -t 2 -r 2 127.0.0.1:{} .1.3.6.1.2.1.31.1.1'; }
export -f walk 2>/dev/null || true
measure snmpbulkwalk bash -c "$(declare -f walk); BASE_PORT=$BASE_PORT N=$N PAR=$PAR walk"

lines=$(grep -c '^interface,' "$WORK/out.netpulse" || true)
failed=$(grep -c 'ok=false' "$WORK/out.netpulse" || true)
varbinds=$(wc -l < "$WORK/out.snmpbulkwalk")
echo "netpulse: $lines interface points, $failed failed polls; snmpbulkwalk: $varbinds varbinds"
printf 'CPU ratio netpulse/snmpbulkwalk: %.3f (target <= 0.5)\n' "$(echo "$cpu_netpulse / $cpu_snmpbulkwalk" | bc -l)"
