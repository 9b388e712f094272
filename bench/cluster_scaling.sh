#!/usr/bin/env bash
# Collector cluster scaling: 1, 3 and 5 replicas (cluster mode, one redis-server) over the same
# AGENTS net-snmp agents, polled for `interfaces` (rates on) every INTERVAL; plus one standalone
# collector as the reference for the cost of coordination. Everything runs in a network
# namespace of its own whose interfaces are loopback + 48 veth, so every agent reports 49
# interfaces like a 48-port switch (as bench/daemon_load.sh). Per run: targets per
# replica, collector CPU (cores, each replica and all), polls/s, Redis commands/s as the replicas
# send them (round trips, from their netpulse_cluster_redis_roundtrip_seconds_count) and as Redis
# executes them (INFO total_commands_processed, which also counts each call inside a Lua script),
# Redis CPU, and the replicas' commands/s scaled to 10,000 targets at 60 s (target <= 300).
# Usage: bench/cluster_scaling.sh [AGENTS=2000] [INTERVAL_S=20] [DURATION_S=40]
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-2000}; INTERVAL=${2:-20}; DURATION=${3:-40}
command -v redis-server >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
cargo build --release -q -p netpulse-collector
BIN=$PWD/target/release/netpulse-collector
WORK=$(mktemp -d /tmp/netpulse-cluster-bench.XXXXXX)
BASE_PORT=20000
source bench/netns.sh
ns_agents "$AGENTS"
targets_toml() {
  for i in $(seq 0 $(($1 - 1))); do
    printf '[[targets]]\nname = "a%d"\naddress = "udp://127.0.0.1:%d"\ncommunity = "public"\nmodules = %s\nrates = true\n' "$i" $((BASE_PORT + i)) "$2"
  done
}
IFACES=$(ns_interfaces)
RPORT=26379
in_ns redis-server --bind 127.0.0.1 --port $RPORT --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
sleep 0.5
RPID=$(pgrep -f "redis-server 127.0.0.1:$RPORT" | head -1)
tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rcmds() { in_ns redis-cli -p $RPORT info stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }
metric() { in_ns curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }
bin_pids() { ip netns pids "$NS" | while read -r p; do [ "$(readlink "/proc/$p/exe")" = "$BIN" ] && echo "$p"; done; }

# run LABEL REPLICAS CLUSTER(0/1)
run() {
  local label=$1 n=$2 cluster=$3 pids=() ports=() i
  in_ns redis-cli -p $RPORT flushall >/dev/null
  for i in $(seq 1 "$n"); do
    local d="$WORK/$label-$i" port=$((18100 + i)); mkdir -p "$d"
    {
      printf '[collector]\ninterval = "%ss"\njitter = "1s"\nmax_concurrent_targets = 500\nmax_concurrent_operations = 1000\nworker_pool_size = 2\n' "$INTERVAL"
      printf '[snmp]\ntimeout = "2s"\nretries = 1\n[api]\nlisten = "127.0.0.1:%d"\n' "$port"
      [ "$cluster" = 1 ] && printf '[cluster]\nredis_url = "redis://127.0.0.1:%d/0"\nreplica_id = "collector-%d"\nstate_dir = "%s/state"\n' $RPORT "$i" "$d"
      targets_toml "$AGENTS" '["interfaces"]'
    } > "$d/collector.toml"
    in_ns "$BIN" --config "$d/collector.toml" 2>"$d/log" &
    ports+=("$port")
  done
  sleep 1
  mapfile -t pids < <(bin_pids)
  sleep $((INTERVAL + 5)) # every replica joined, the first round of polls spread over an interval
  local c0=() ok0 r0 rc0 t0 c1=() ok1 r1 rc1 t1 owned=() rt0=0 rt1=0
  ok0=0; for p in "${ports[@]}"; do ok0=$((ok0 + $(metric "$p" 'netpulse_polls_total'))); rt0=$((rt0 + $(metric "$p" netpulse_cluster_redis_roundtrip_seconds_count))); done
  for p in "${pids[@]}"; do c0+=("$(ticks "$p")"); done
  r0=$(ticks $RPID); rc0=$(rcmds); t0=$(date +%s.%N)
  sleep "$DURATION"
  ok1=0; for p in "${ports[@]}"; do ok1=$((ok1 + $(metric "$p" 'netpulse_polls_total'))); rt1=$((rt1 + $(metric "$p" netpulse_cluster_redis_roundtrip_seconds_count))); owned+=("$(metric "$p" netpulse_cluster_targets_owned)"); done
  for p in "${pids[@]}"; do c1+=("$(ticks "$p")"); done
  r1=$(ticks $RPID); rc1=$(rcmds); t1=$(date +%s.%N)
  local secs total=0 per=""
  secs=$(echo "$t1 - $t0" | bc -l)
  for i in "${!pids[@]}"; do
    local c; c=$(echo "(${c1[$i]} - ${c0[$i]}) / $tck / $secs" | bc -l); total=$(echo "$total + $c" | bc -l)
    per="$per$(printf '%.3f' "$c")/"
  done
  local cmds sent; cmds=$(echo "($rc1 - $rc0) / $secs" | bc -l); sent=$(echo "($rt1 - $rt0) / $secs" | bc -l)
  printf '%-11s %8s %-22s %8.3f %-30s %8.1f %9.1f %10.1f %9.3f %12.1f\n' "$label" "$n" "$(IFS=/; echo "${owned[*]}")" "$total" "${per%/}" \
    "$(echo "($ok1 - $ok0) / $secs" | bc -l)" "$sent" "$cmds" "$(echo "($r1 - $r0) / $tck / $secs" | bc -l)" \
    "$(echo "$sent * 10000 / $AGENTS * $INTERVAL / 60" | bc -l)"
  eval "cpu_$label=$total"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  # A stopping replica drains first (its ports stay bound meanwhile): wait, bounded.
  for _ in $(seq 300); do [ -z "$(bin_pids)" ] && break; sleep 0.1; done
}

echo "== $AGENTS agents ($IFACES interfaces each, rates on), interval ${INTERVAL}s, measured over ${DURATION}s after one interval"
printf '%-11s %8s %-22s %8s %-30s %8s %9s %10s %9s %12s\n' run replicas owned cpu_all cpu_each polls/s sent_cmd/s redis_exec/s redis_cpu sent@10k/60s
run standalone 1 0
run cluster1 1 1
run cluster3 3 1
run cluster5 5 1
echo "coordination cost (cluster1 vs standalone CPU): $(echo "($cpu_cluster1 - $cpu_standalone) / $cpu_cluster1 * 100" | bc -l | xargs printf '%.1f') % (target <= 10 %)"
