#!/usr/bin/env bash
# Discovery of a /22: 1,022 addresses of 127.0.8.0/22, 30 of them answering (30 net-snmp agents,
# each its own engine and sysName, spread over the range). Sweeps it with
# `netpulse-collector discover` at RATE requests/s (default 200, the default cap) beside
# onesixtyone (the classic SNMP sweeper) paced to the same rate, then re-sweeps the 30 known
# addresses. Prints wall time against addresses / rate + one timeout, CPU, peak RSS, devices
# found, and the requests each agent received (snmpInPkts before and after).
# Usage: bench/discover.sh [RATE=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200}; ROUNDS=${2:-3}; PORT=16199
command -v onesixtyone >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq onesixtyone >/dev/null
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
cargo build --release -q -p netpulse-collector
BIN=$PWD/target/release/netpulse-collector
WORK=$(mktemp -d /tmp/netpulse-discover-bench.XXXXXX)
trap 'for p in "$WORK"/a*/pid; do kill "$(cat "$p")" 2>/dev/null || true; done; sleep 0.3; rm -rf "$WORK"' EXIT

# 30 agents at 127.0.8.0/22 + 34*i (i = 0..29): spread over the four /24s.
addrs=()
for i in $(seq 0 29); do
  n=$((1 + 34 * i)); addrs+=("127.0.$((8 + n / 256)).$((n % 256))")
done
for i in "${!addrs[@]}"; do
  d="$WORK/a$i"; mkdir -p "$d/persist"
  printf 'agentAddress udp:%s:%d\nrocommunity public 127.0.0.0/8\nsysName bench-%02d\n' "${addrs[$i]}" $PORT "$i" > "$d/snmpd.conf"
  SNMPCONFPATH="$d:$d/persist" SNMP_PERSISTENT_DIR="$d/persist" snmpd -f -m "" -Lf "$d/log" -p "$d/pid" &
done
for a in "${addrs[@]}"; do
  for _ in $(seq 100); do snmpget -v2c -c public -t 0.3 -r 0 -m "" "$a:$PORT" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.1; done
done
in_pkts() { # total snmpInPkts of the agents
  local t=0 a v
  for a in "${addrs[@]}"; do
    v=$(snmpget -v2c -c public -Oqv -t 1 -r 1 -m "" "$a:$PORT" 1.3.6.1.2.1.11.1.0); t=$((t + v))
  done
  echo "$t"
}
# run KEY LABEL CMD…: wall, CPU and peak RSS of CMD (its output in $WORK/out.KEY); requests the
# agents received (minus our own count reads).
run() {
  local key=$1 label=$2; shift 2
  local before after
  before=$(in_pkts)
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" > "$WORK/out.$key" 2> "$WORK/err.$key" || true
  after=$(in_pkts)
  read -r wall user sys rss < "$WORK/time"
  printf '%-28s wall %6.2f s  cpu %5.2f s  rss %6.1f MiB  requests at the agents %d\n' \
    "$label" "$wall" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)" $((after - before - 30))
}
seq 0 1023 | awk '{printf "127.0.%d.%d\n", 8 + int($1/256), $1%256}' | grep -v -e '^127.0.8.0$' -e '^127.0.11.255$' > "$WORK/hosts"
echo "1,022 addresses, 30 agents; rate $RATE/s; expected wall ≈ 1022/$RATE + 1 s timeout = $(echo "1022 / $RATE + 1" | bc -l | cut -c1-5) s"
# onesixtyone -w: milliseconds between packets.
WAIT_MS=$(echo "1000 / $RATE" | bc)
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  run sweep "netpulse discover /22" "$BIN" discover 127.0.8.0/22 --port $PORT --rate "$RATE" --format json
  found=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["devices"]))' "$WORK/out.sweep")
  echo "  devices found: $found"
  # onesixtyone sends to port 161 only: a local iptables-free redirect is not possible, so it
  # sweeps the same addresses at the same pace against port 161 (nothing answers there): its
  # wall and CPU are the sending cost of the same sweep.
  run peer "onesixtyone /22 (port 161)" onesixtyone -c <(echo public) -i "$WORK/hosts" -w "$WAIT_MS" -q
  printf '%s\n' "${addrs[@]}" > "$WORK/known"
  run resweep "netpulse re-sweep of 30" "$BIN" discover "${addrs[@]}" --port $PORT --rate "$RATE" --format json
done
