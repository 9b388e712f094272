#!/usr/bin/env bash
# netpulse-balancer vs HAProxy 2.6 (Debian) on the request shapes the edge carries, side by side
# in one run: both proxies run the SAME haproxy.cfg (netpulse with -f), same nginx backends, same
# thread count, loopback only, bounded duration. Shapes: plain GET, POST 8 KiB and 256 KiB
# line-protocol bodies, sticky GET (cookie of a known server), new-session GET (cookie inserted),
# close-per-request GET, TLS keep-alive GET, TLS new handshake per request (ECDSA P-256).
# Prints req/s, p99 and proxy CPU per request for each, and the ratios netpulse/HAProxy.
# Usage: [NETPULSE_BALANCER_BIN=path] [ROUNDS=1] bench/balancer_shapes.sh [SECONDS=8] [CONNS=50] [THREADS=1] [SHAPES="all"]
# With BASELINE_BIN=path (another netpulse-balancer build) in HAProxy's place, the same run is an
# A/B of two builds (before/after a change): the ratios are then NETPULSE_BALANCER_BIN/BASELINE_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/measure.sh
SECS=${1:-8}; CONNS=${2:-50}; THREADS=${3:-1}; SHAPES=${4:-all}; ROUNDS=${ROUNDS:-1}
for p in wrk nginx haproxy openssl; do command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx-light haproxy openssl >/dev/null; done
BIN=${NETPULSE_BALANCER_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q -p netpulse-balancer; BIN=target/release/netpulse-balancer; fi
WORK=$(mktemp -d /tmp/netpulse-shapes.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; rm -rf "$WORK"; }
trap cleanup EXIT
B1=28181; B2=28182
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" \
  -subj /CN=bench.test -addext subjectAltName=DNS:bench.test -days 2 2>/dev/null
cat "$WORK/c.pem" "$WORK/k.pem" > "$WORK/site.pem"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 1m;
  client_body_buffer_size 512k;
  server { listen 127.0.0.1:$B1; location / { return 200 "backend-1\n"; } location /write { return 204; } }
  server { listen 127.0.0.1:$B2; location / { return 200 "backend-2\n"; } location /write { return 204; } }
}
CONF
nginx -c "$WORK/nginx.conf" -g 'daemon off;' & pids+=($!)
# proxy_cfg PLAIN TLS STATS: the one configuration both proxies run.
proxy_cfg() {
  cat <<CONF
global
  nbthread $THREADS
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend web
  bind 127.0.0.1:$1
  bind 127.0.0.1:$2 ssl crt $WORK/site.pem alpn http/1.1
  acl sticky path_beg /s
  use_backend grafana if sticky
  default_backend influx
backend influx
  balance roundrobin
  option httpchk GET /
  server b1 127.0.0.1:$B1 check inter 2s
  server b2 127.0.0.1:$B2 check inter 2s
backend grafana
  balance roundrobin
  cookie SERVERID insert indirect nocache
  option httpchk GET /
  server g1 127.0.0.1:$B1 check inter 2s cookie g1
  server g2 127.0.0.1:$B2 check inter 2s cookie g2
listen stats
  bind 127.0.0.1:$3
  stats enable
  stats uri /stats
CONF
}
HP=28191; HT=28192; HS=28193; NP=28194; NT=28195; NS=28196
proxy_cfg $HP $HT $HS > "$WORK/haproxy.cfg"
proxy_cfg $NP $NT $NS > "$WORK/netpulse.cfg"
if [ -n "${BASELINE_BIN:-}" ]; then
  "$BASELINE_BIN" -f "$WORK/haproxy.cfg" --upgrade-sock "$WORK/up0.sock" 2>"$WORK/hap.log" & pids+=($!); pid_haproxy=$!
  echo "== the 'haproxy' rows are BASELINE_BIN=$BASELINE_BIN"
else
  haproxy -f "$WORK/haproxy.cfg" -db 2>"$WORK/hap.log" & pids+=($!); pid_haproxy=$!
fi
"$BIN" -f "$WORK/netpulse.cfg" --upgrade-sock "$WORK/up.sock" 2>"$WORK/np.log" & pids+=($!); pid_netpulse=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$NS/stats;csv" | grep -q '^grafana,g2,.*,UP,' && curl -sf "http://127.0.0.1:$HP/" >/dev/null && break; sleep 0.1
done
# Line-protocol bodies for the POST shapes, and the wrk scripts that send them.
body() { local i=0; : > "$1"; while [ "$(wc -c < "$1")" -lt "$2" ]; do
  for j in $(seq 100); do echo "ifHCInOctets,host=sw$i,ifName=Gi0/$j value=$((i * j))i 1764892800000000000"; done >> "$1"; i=$((i + 1)); done
  head -c "$2" "$1" > "$1.cut"; mv "$1.cut" "$1"; }
body "$WORK/8k.lp" 8192; body "$WORK/256k.lp" 262144
for n in 8k 256k; do
  cat > "$WORK/post$n.lua" <<LUA
local f = io.open("$WORK/$n.lp", "rb"); local b = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = b; wrk.headers["Content-Type"] = "text/plain"
LUA
done
# measure LABEL PID URL [wrk args…]: one wrk run; prints and appends "rps p99_ms cpu_us" to sum.LABEL.
measure() {
  local label=$1 pid=$2 url=$3; shift 3
  local t0 t1 n rps p99 cpu errs
  t0=$(cpu_ticks "$pid")
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@" "$url" > "$WORK/wrk.out"
  t1=$(cpu_ticks "$pid")
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")
  cpu=$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)
  errs=$(awk '/Non-2xx|Socket errors/ {print}' "$WORK/wrk.out" | tr '\n' ' ')
  printf '  %-9s %10s req/s   p99 %8s   CPU %6.1f us/req   %s\n' "$label" "$rps" "$p99" "$cpu" "$errs"
  echo "$rps $(to_ms "$p99") $cpu" > "$WORK/sum.$label"
}
# shape NAME PATH SCHEME [wrk args…]: both proxies, alternating who goes first, ROUNDS times;
# the median of the rounds' ratios (this 2-core machine moves single runs by ±10 %).
first=haproxy
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
shape() {
  local name=$1 path=$2 scheme=$3; shift 3
  case " $SHAPES " in *" all "*|*" $name "*) ;; *) return;; esac
  echo "== $name"
  local hport=$HP nport=$NP r
  if [ "$scheme" = https ]; then hport=$HT; nport=$NT; fi
  : > "$WORK/rounds"
  for r in $(seq "$ROUNDS"); do
    for who in $first $([ $first = haproxy ] && echo netpulse || echo haproxy); do
      if [ $who = haproxy ]; then measure haproxy $pid_haproxy "$scheme://127.0.0.1:$hport$path" "$@"
      else measure netpulse $pid_netpulse "$scheme://127.0.0.1:$nport$path" "$@"; fi
    done
    first=$([ $first = haproxy ] && echo netpulse || echo haproxy)
    read -r hr hp hc < "$WORK/sum.haproxy"; read -r nr np nc < "$WORK/sum.netpulse"
    echo "$(echo "$nr / $hr" | bc -l) $(echo "$np / $hp" | bc -l) $(echo "$nc / $hc" | bc -l)" >> "$WORK/rounds"
  done
  printf '%-14s req/s %.2fx   p99 %.2fx   CPU/req %.2fx\n' "$name" \
    "$(cut -d' ' -f1 "$WORK/rounds" | median)" "$(cut -d' ' -f2 "$WORK/rounds" | median)" \
    "$(cut -d' ' -f3 "$WORK/rounds" | median)" | tee -a "$WORK/table"
}
echo "== $SECS s per run, $ROUNDS round(s), $CONNS connections, wrk 1 thread, proxies with $THREADS thread(s), the same haproxy.cfg"
shape get        /              http
shape post8k     /write?db=net  http -s "$WORK/post8k.lua"
shape post256k   /write?db=net  http -s "$WORK/post256k.lua"
shape sticky     /s/d/home      http -H "Cookie: theme=dark; SERVERID=g1"
shape newsession /s/d/home      http
shape close      /              http -H "Connection: close"
shape tls        /              https
shape tlsnew     /              https -H "Connection: close"
echo "== ratios netpulse/HAProxy, median of $ROUNDS round(s) (targets: req/s >= 1.10, p99 <= 1.0, CPU/req <= 1.0)"
cat "$WORK/table"
