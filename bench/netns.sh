# Shared by the load benches (source it after setting WORK): a network namespace of its own whose
# interfaces are loopback + 48 veth, so every net-snmp agent started in it reports 49 interfaces
# like a 48-port switch; 100 agents per snmpd process on UDP ports BASE_PORT…; removed on exit.
NS=netpulse-bench-$$
in_ns() { ip netns exec "$NS" "$@"; }
ns_cleanup() { ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null; sleep 1; ip netns del "$NS" 2>/dev/null; rm -rf "$WORK"; }
trap ns_cleanup EXIT
ip netns add "$NS"
in_ns ip link set lo up
for i in $(seq 1 24); do in_ns ip link add "va$i" type veth peer name "vb$i"; done

# ns_agents N: N answering agents on BASE_PORT.. inside the namespace, each answering before return.
ns_agents() {
  local n=$1 first last d
  for first in $(seq "$BASE_PORT" 100 $((BASE_PORT + n - 1))); do
    last=$((first + 99)); [ $last -gt $((BASE_PORT + n - 1)) ] && last=$((BASE_PORT + n - 1))
    d="$WORK/agent-$first"; mkdir -p "$d/persist"
    printf 'agentAddress %s\nrocommunity public 127.0.0.1\n' "$(seq "$first" "$last" | sed 's/^/udp:127.0.0.1:/' | paste -sd, -)" > "$d/snmpd.conf"
    SNMPCONFPATH="$d:$d/persist" SNMP_PERSISTENT_DIR="$d/persist" in_ns snmpd -f -m "" -Lf "$d/log" -p "$d/pid" &
  done
  sleep 2
  for first in $(seq "$BASE_PORT" 100 $((BASE_PORT + n - 1))); do
    for _ in $(seq 100); do in_ns snmpget -v2c -c public -t 0.3 -r 0 -m "" 127.0.0.1:"$first" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.2; done
  done
}

# ns_interfaces: how many interfaces an agent reports.
ns_interfaces() { in_ns snmpwalk -v2c -c public -m "" -Oqv 127.0.0.1:"$BASE_PORT" 1.3.6.1.2.1.2.1 2>/dev/null || echo '?'; }
