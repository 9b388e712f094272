#!/usr/bin/env bash
# Write mirroring vs writing straight to one InfluxDB, side by side in one run (loopback only,
# bounded duration): the same wrk POST load of line protocol (LINES untimed lines a write, one
# series per line) against
#   1. one InfluxDB 1.x directly                      → what one InfluxDB ingests here (points/s)
#   2. the balancer mirroring to two live InfluxDBs   → accepted points/s, delivered to both
#   3. the balancer mirroring, both replicas stopped  → acceptance alone (writes wait in the queues)
# and prints accepted points/s, the ratio to (1), balancer CPU per MB accepted, writes per fsync
# (group commit) and the queue backlog. Queues live on the real disk (fsync for real).
# Usage: [NETPULSE_BALANCER_BIN=path] bench/mirror.sh [SECONDS=10] [CONNS=64] [LINES=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/measure.sh
SECS=${1:-10}; CONNS=${2:-64}; LINES=${3:-1000}
for p in wrk influxd curl bc; do command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk influxdb curl bc >/dev/null; done
BIN=${NETPULSE_BALANCER_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q -p netpulse-balancer; BIN=target/release/netpulse-balancer; fi
WORK=$(mktemp -d /var/tmp/netpulse-mirror-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$WORK"; }
trap cleanup EXIT
source bench/influxd.sh
D1=28186; D2=28187; D3=28188; NP=28190; NPS=28404

influx() { # influx NAME PORT: an InfluxDB 1.x with its own folder and database telemetry
  local d="$WORK/$1"
  influxd_conf "$d" "$2" $(($2 + 100))
  influxd -config "$d/influxdb.conf" >"$d/log" 2>&1 &
  echo $! > "$d/pid"; pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/ping" >/dev/null && break; sleep 0.1; done
  curl -sf -XPOST "http://127.0.0.1:$2/query" --data-urlencode 'q=CREATE DATABASE telemetry' >/dev/null
}
influx direct $D1; influx a $D2; influx b $D3

# The body: LINES lines of one write, each its own series, no timestamp (stamped on arrival).
# Interface counters as a poller sends them: random digits, so gzip does not flatter the queues.
awk -v n="$LINES" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "interfaces,agent_host=sw%d,ifName=Gi0/%d ifHCInOctets=%di,ifHCOutOctets=%di,ifInErrors=%di,ifOperStatus=1i,util=%.4f\n", i % 40, i, int(rand() * 1e12), int(rand() * 1e12), int(rand() * 1000), rand() * 100 }' > "$WORK/body.lp"
BYTES=$(stat -c %s "$WORK/body.lp")
cat > "$WORK/post.lua" <<LUA
local f = io.open("$WORK/body.lp", "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
LUA

cat > "$WORK/balancer.toml" <<CONF
[server]
threads = 2
[stats]
listen = "127.0.0.1:$NPS"
[[frontends]]
name = "influxdb"
listen = ["127.0.0.1:$NP"]
backend = "influxdb-write"
[[backends]]
name = "influxdb-write"
mirror = { queue_dir = "$WORK/mirror", queue_max_bytes = "8GiB" }
servers = [ { name = "a", address = "127.0.0.1:$D2" }, { name = "b", address = "127.0.0.1:$D3" } ]
CONF
"$BIN" --config "$WORK/balancer.toml" --upgrade-sock "$WORK/up.sock" 2>"$WORK/np.log" & pids+=($!)
NPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPS/metrics" | grep -q mirror_commits && break; sleep 0.1; done

metric() { curl -sf "http://127.0.0.1:$NPS/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $NF}' | head -1; }
run() { # run LABEL PORT: wrk for SECS; prints the row and sets PPS
  local t0 t1 n rps non2xx cpu mb
  t0=$(cpu_ticks "$NPID")
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$2/write?db=telemetry" > "$WORK/wrk.$1"
  t1=$(cpu_ticks "$NPID")
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk.$1")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.$1"); non2xx=${non2xx:-0}
  rps=$(echo "($n - $non2xx) / $SECS" | bc -l)
  PPS=$(echo "$rps * $LINES" | bc -l)
  mb=$(echo "($n - $non2xx) * $BYTES / 1048576" | bc -l)
  cpu=$(echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l)
  printf '%-34s %9.0f points/s  %7.1f MB/s  p99 %8s  refused %s' "$1" "$PPS" "$(echo "$mb / $SECS" | bc -l)" "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.$1")" "$non2xx"
  if [ "$2" = "$NP" ]; then printf '  balancer CPU %.3f s/MB' "$(echo "$cpu / $mb" | bc -l)"; fi
  printf '\n'
}

echo "== $SECS s, wrk 2 threads × $CONNS connections, $LINES lines ($BYTES bytes) a write, balancer 2 threads; queues on $(df --output=source "$WORK" | tail -1)"
run "1 one InfluxDB, direct" $D1; DIRECT=$PPS
w0=$(metric 'netpulse_balancer_mirror_writes_accepted_total'); c0=$(metric 'netpulse_balancer_mirror_commits_total')
run "2 mirror → 2 live InfluxDB" $NP; LIVE=$PPS
w1=$(metric 'netpulse_balancer_mirror_writes_accepted_total'); c1=$(metric 'netpulse_balancer_mirror_commits_total')
# Delivery: how long both replicas take to hold everything accepted in run 2.
t=0
while [ "$(metric 'netpulse_balancer_mirror_queued_points{backend="influxdb-write",server="a"}')" != "0" ] || [ "$(metric 'netpulse_balancer_mirror_queued_points{backend="influxdb-write",server="b"}')" != "0" ]; do
  sleep 1; t=$((t + 1)); [ $t -lt 600 ] || break
done
echo "   run 2 delivered to both replicas ${t} s after the load ended (queues empty)"
kill "$(cat "$WORK/a/pid")" "$(cat "$WORK/b/pid")"
run "3 mirror acceptance, replicas down" $NP; ALONE=$PPS
w2=$(metric 'netpulse_balancer_mirror_writes_accepted_total'); c2=$(metric 'netpulse_balancer_mirror_commits_total')
echo "   backlog after run 3: $(metric 'netpulse_balancer_mirror_queue_bytes{backend="influxdb-write",server="a"}') bytes per queue (gzipped; $(echo "($w2 - $w1) * $BYTES" | bc) bytes of line protocol accepted)"
echo "== ratios (accepted points/s over one InfluxDB's direct ingest)"
printf 'mirror, 2 live replicas:   %.2fx   (%.1f writes per group commit)\n' "$(echo "$LIVE / $DIRECT" | bc -l)" "$(echo "($w1 - $w0) / ($c1 - $c0)" | bc -l)"
printf 'mirror acceptance alone:   %.2fx   (%.1f writes per group commit)   target >= 5x\n' "$(echo "$ALONE / $DIRECT" | bc -l)" "$(echo "($w2 - $w1) / ($c2 - $c1)" | bc -l)"
