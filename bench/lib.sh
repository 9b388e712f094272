# Shared by bench/*.sh: agents on loopback and timing. Source it; it sets WORK and cleans up.
BASE_PORT=${BASE_PORT:-20000}
command -v /usr/bin/time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
WORK=$(mktemp -d /tmp/netpulse-bench.XXXXXX)
bench_pids=()
cleanup() {
  for p in "$WORK"/agent-*/pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5; [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# start_agents N: N agents on BASE_PORT.. (net-snmp serves ~128 transports per process: 100 per snmpd).
start_agents() {
  local n=$1 per=100 first last d
  for first in $(seq "$BASE_PORT" $per $((BASE_PORT + n - 1))); do
    last=$((first + per - 1)); [ $last -gt $((BASE_PORT + n - 1)) ] && last=$((BASE_PORT + n - 1))
    d="$WORK/agent-$first"; mkdir -p "$d/persist"
    printf 'agentAddress %s\nrocommunity public 127.0.0.1\n' "$(seq "$first" "$last" | sed 's/^/udp:127.0.0.1:/' | paste -sd, -)" > "$d/snmpd.conf"
    SNMPCONFPATH="$d:$d/persist" SNMP_PERSISTENT_DIR="$d/persist" snmpd -f -m "" -Lf "$d/snmpd.log" -p "$d/pid" &
    for _ in $(seq 100); do snmpget -v2c -c public -t 0.2 -r 0 -m "" 127.0.0.1:"$last" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.2; done
  done
}

# targets_toml N MODULES: [[targets]] blocks for the agents.
targets_toml() {
  for i in $(seq 0 $(($1 - 1))); do
    printf '[[targets]]\nname = "a%d"\naddress = "udp://127.0.0.1:%d"\ncommunity = "public"\nmodules = %s\n' "$i" $((BASE_PORT + i)) "$2"
  done
}

agent_cpu() { # CPU seconds the snmpd agents have used so far
  local ticks=0 p
  for p in "$WORK"/agent-*/pid; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$(cat "$p")/stat"))); done
  echo "$ticks / $(getconf CLK_TCK)" | bc -l
}

# measure LABEL CMD...: runs it under /usr/bin/time; sets cpu_LABEL and wall_LABEL.
measure() {
  local label=$1; shift
  local before wall user sys rss cpu agents
  before=$(agent_cpu)
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.$label" "$@" > "$WORK/out.$label" 2>"$WORK/err.$label" || true
  read -r wall user sys rss < <(tail -n 1 "$WORK/time.$label")
  cpu=$(echo "$user + $sys" | bc -l)
  agents=$(echo "$(agent_cpu) - $before" | bc -l)
  printf '%-14s wall %6.2fs  cpu %6.2fs (user %5.2f sys %5.2f)  peak RSS %6.1f MiB  | agents cpu %6.2fs\n' \
    "$label" "$wall" "$cpu" "$user" "$sys" "$(echo "$rss/1024" | bc -l)" "$agents"
  eval "cpu_$label=$cpu; wall_$label=$wall"
}
