#!/usr/bin/env bash
# netpulse-balancer vs HAProxy 2.6 (Debian), side by side in one run: same nginx backends,
# same thread count, keep-alive clients (wrk), loopback only, bounded duration.
# Prints requests/s and p99 for each run and the ratios over ROUNDS alternating rounds (a
# round: HAProxy then netpulse, the next round the other way round, so drift hits both).
# Usage: [NETPULSE_BALANCER_BIN=path] bench/balancer_vs_haproxy.sh [SECONDS=10] [CONNS=50] [THREADS=1] [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/measure.sh
SECS=${1:-10}; CONNS=${2:-50}; THREADS=${3:-1}; ROUNDS=${4:-2}
for p in wrk nginx haproxy; do command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx-light haproxy >/dev/null; done
# NETPULSE_BALANCER_BIN: another build to measure (an A/B of two commits); default: this tree's.
BIN=${NETPULSE_BALANCER_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q -p netpulse-balancer; BIN=target/release/netpulse-balancer; fi
WORK=$(mktemp -d /tmp/netpulse-lb-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; rm -rf "$WORK"; }
trap cleanup EXIT
B1=28081; B2=28082; NP=28090; NPS=28404; HP=28091; HPS=28405
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$B1; location / { return 200 "backend-1\n"; } }
  server { listen 127.0.0.1:$B2; location / { return 200 "backend-2\n"; } }
}
CONF
nginx -c "$WORK/nginx.conf" -g 'daemon off;' & pids+=($!)
cat > "$WORK/balancer.toml" <<CONF
[server]
threads = $THREADS
[stats]
listen = "127.0.0.1:$NPS"
[[frontends]]
name = "web"
listen = ["127.0.0.1:$NP"]
backend = "web"
[[backends]]
name = "web"
health_check = { kind = "http", path = "/", interval = "2s" }
servers = [ { name = "b1", address = "127.0.0.1:$B1" }, { name = "b2", address = "127.0.0.1:$B2" } ]
CONF
"$BIN" --config "$WORK/balancer.toml" --upgrade-sock "$WORK/up.sock" 2>"$WORK/np.log" & pids+=($!)
pid_netpulse=$!
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread $THREADS
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend web
  bind 127.0.0.1:$HP
  default_backend web
backend web
  balance roundrobin
  option httpchk GET /
  server b1 127.0.0.1:$B1 check inter 2s
  server b2 127.0.0.1:$B2 check inter 2s
listen stats
  bind 127.0.0.1:$HPS
  stats enable
  stats uri /stats
CONF
haproxy -f "$WORK/haproxy.cfg" -db 2>"$WORK/hap.log" & pids+=($!)
pid_haproxy=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPS/stats;csv" | grep -q '^web,b2,.*,UP,' && curl -sf "http://127.0.0.1:$HP/" >/dev/null && break; sleep 0.1; done
run() { # label port pid
  t0=$(cpu_ticks "$3")
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$2/" > "$WORK/wrk.$1"
  t1=$(cpu_ticks "$3")
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk.$1")
  cpu=$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.$1")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.$1")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' "$WORK/wrk.$1" | tr '\n' ' ')
  printf '%-18s %10s req/s   p99 %8s   proxy CPU %5.1f us/request   %s\n' "$1" "$rps" "$p99" "$cpu" "$errs"
  echo "$rps $(to_ms "$p99") $cpu" >> "$WORK/sum.${1%%[0-9]*}"
}
echo "== $SECS s, $CONNS keep-alive connections, wrk 1 thread, proxies with $THREADS thread(s), $ROUNDS rounds"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run "haproxy$r" $HP $pid_haproxy; run "netpulse$r" $NP $pid_netpulse
  else run "netpulse$r" $NP $pid_netpulse; run "haproxy$r" $HP $pid_haproxy; fi
done
mean() { awk -v c="$2" '{s += $c} END {print s / NR}' "$WORK/sum.$1"; }
printf 'requests/s ratio netpulse/haproxy: %.2f (target >= 1.0)\n' "$(echo "$(mean netpulse 1) / $(mean haproxy 1)" | bc -l)"
printf 'p99 ratio netpulse/haproxy: %.2f (target <= 1.2)\n' "$(echo "$(mean netpulse 2) / $(mean haproxy 2)" | bc -l)"
printf 'proxy CPU per request netpulse/haproxy: %.2f\n' "$(echo "$(mean netpulse 3) / $(mean haproxy 3)" | bc -l)"
