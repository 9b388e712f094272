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
BASE_PORT=20000
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null; }
[ -x /usr/bin/time ] || { echo "bench: needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }

cargo build --release -q -p netpulse-collector
BIN=target/release/netpulse-collector
WORK=$(mktemp -d /tmp/netpulse-bench.XXXXXX)
cleanup() { for p in "$WORK"/agent-*/pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 0.5; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
KEEP="${KEEP:-}"

# net-snmp serves at most ~128 transports per process: 100 ports per snmpd.
PER=100
for first in $(seq $BASE_PORT $PER $((BASE_PORT + N - 1))); do
  last=$((first + PER - 1)); [ $last -gt $((BASE_PORT + N - 1)) ] && last=$((BASE_PORT + N - 1))
  d="$WORK/agent-$first"; mkdir -p "$d/persist"
  printf 'agentAddress %s\nrocommunity public 127.0.0.1\n' "$(seq "$first" "$last" | sed 's/^/udp:127.0.0.1:/' | paste -sd, -)" > "$d/snmpd.conf"
  SNMPCONFPATH="$d:$d/persist" SNMP_PERSISTENT_DIR="$d/persist" snmpd -f -m "" -Lf "$d/snmpd.log" -p "$d/pid" &
  for _ in $(seq 100); do snmpget -v2c -c public -t 0.2 -r 0 -m "" 127.0.0.1:"$last" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.2; done
done

{
  echo '[collector]'
  echo 'max_concurrent_targets = 200'
  echo 'max_concurrent_operations = 400'
  echo 'worker_pool_size = 2'
  for i in $(seq 0 $((N - 1))); do
    printf '[[targets]]\nname = "a%d"\naddress = "udp://127.0.0.1:%d"\ncommunity = "public"\nmodules = ["interfaces"]\n' "$i" $((BASE_PORT + i))
  done
} > "$WORK/bench.toml"

agent_cpu() { # CPU seconds the snmpd agents have used so far
  local ticks=0
  for p in "$WORK"/agent-*/pid; do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$(cat "$p")/stat")))
  done
  echo "$ticks / $(getconf CLK_TCK)" | bc -l
}

measure() { # label, command...
  local label=$1; shift
  local before; before=$(agent_cpu)
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.$label" "$@" > "$WORK/out.$label" 2>"$WORK/err.$label" || true
  read -r wall user sys rss < <(tail -n 1 "$WORK/time.$label")
  cpu=$(echo "$user + $sys" | bc -l)
  local agents; agents=$(echo "$(agent_cpu) - $before" | bc -l)
  printf '%-14s wall %6.2fs  cpu %6.2fs (user %5.2f sys %5.2f)  peak RSS %6.1f MiB  | agents cpu %6.2fs\n' \
    "$label" "$wall" "$cpu" "$user" "$sys" "$(echo "$rss/1024" | bc -l)" "$agents"
  eval "cpu_$label=$cpu"
}

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
