"""Every component of the stack: its config (written under the work folder) and its start, on
the layout's ports. Real programs only: snmpsim with recordings of real devices, net-snmp,
InfluxDB 1.x, Redis, netpulse-collector ×N in cluster mode, netpulse-balancer (reads balanced,
writes mirrored), Prometheus with the project's rules, Alertmanager, Grafana when installed."""

import os
import shutil
import subprocess
from pathlib import Path

from .layout import DEVICES_RANGE, LAB_SW1_ADDRESSES, RECORDINGS, Layout, device_address
from .procs import Proc, Procs, http_ok, tcp_open, udp_bound, wait_until

ROOT = Path(__file__).resolve().parents[2]
SNMPSIM = Path(os.environ.get("NETPULSE_SNMPSIM", "/opt/netpulse-snmpsim"))
V3 = {"user": "netpulse", "auth": "demo-auth-pass", "priv": "demo-priv-pass"}


def snmpsim(procs: Procs, lay: Layout) -> None:
    """One snmpsim per recording, each on its device address with community public and the
    sysName the layout gives it (so discovery names it as the demo does)."""
    data = next((SNMPSIM / "lib").glob("python3*/site-packages/snmpsim_data/data"))
    for name, rel in RECORDINGS.items():
        d = lay.work / "snmpsim" / name
        (d / "data").mkdir(parents=True, exist_ok=True)
        (d / "cache").mkdir(exist_ok=True)
        text = subprocess.run(["bzcat", str(data / f"{rel}.snmprec.bz2")], capture_output=True, check=True).stdout
        lines = [f"1.3.6.1.2.1.1.5.0|4|{name}".encode() if line.startswith(b"1.3.6.1.2.1.1.5.0|") else line
                 for line in text.splitlines()]
        (d / "data" / "public.snmprec").write_bytes(b"\n".join(lines) + b"\n")
    # snmpsim drops privileges to nobody: its files readable, its cache writable.
    subprocess.run(["chmod", "-R", "a+rwX", str(lay.work / "snmpsim")], check=True)
    for parent in [lay.work, *lay.work.parents]:
        if parent == Path("/"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o005)
    started = []
    for i, name in enumerate(RECORDINGS):
        d = lay.work / "snmpsim" / name
        started.append((device_address(i), procs.add(Proc(f"snmpsim-{name}", [
            str(SNMPSIM / "bin/snmpsim-command-responder"), f"--data-dir={d / 'data'}",
            f"--cache-dir={d / 'cache'}", f"--agent-udpv4-endpoint={device_address(i)}:{lay.snmpsim}",
            "--process-user=nobody", "--process-group=nogroup"], d / "log"))))
    for host, p in started:
        wait_until(f"snmpsim at {host}", lambda host=host: snmp_get(lay.snmpsim, "public", host), 90, p, every=0.5)


def snmp_get(port: int, community: str, host: str = "127.0.0.1") -> bool:
    r = subprocess.run(["snmpget", "-v2c", "-c", community, "-t", "0.5", "-r", "0", "-m", "",
                        f"{host}:{port}", "1.3.6.1.2.1.1.5.0"], capture_output=True)
    return r.returncode == 0


def snmpd(procs: Procs, lay: Layout, name: str, port: int, also: tuple = ()) -> None:
    """A net-snmp agent on 127.0.0.1:`port` and on each address of `also` at the snmpsim port."""
    d = lay.work / name
    (d / "persist").mkdir(parents=True, exist_ok=True)
    listen = ",".join([f"udp:127.0.0.1:{port}"] + [f"udp:{a}:{lay.snmpsim}" for a in also])
    (d / "snmpd.conf").write_text(
        f"agentAddress {listen}\nrocommunity public 127.0.0.0/8\nsysName {name}\n"
        f"sysLocation demo-lab\ncreateUser {V3['user']} SHA-256 \"{V3['auth']}\" AES \"{V3['priv']}\"\n"
        f"rouser {V3['user']} priv\n")
    env = {"SNMPCONFPATH": f"{d}:{d / 'persist'}", "SNMP_PERSISTENT_DIR": str(d / "persist")}
    p = procs.add(Proc(name, ["snmpd", "-f", "-m", "", "-Lf", str(d / "snmpd.log"), "-p", str(d / "pid")],
                       d / "log", env=env))
    wait_until(f"{name} answering", lambda: snmp_get(port, "public"), 20, p)


def influxd(procs: Procs, lay: Layout, i: int) -> None:
    name, port = f"influx-{'ab'[i]}", lay.influx(i)
    d = lay.work / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "influxdb.conf").write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{port + 200}"\n[meta]\n  dir = "{d}/meta"\n'
        f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n')
    start_influxd(procs, lay, i)
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{port}/query", data=b"q=CREATE+DATABASE+telemetry")
    urllib.request.urlopen(req, timeout=10).read()


def start_influxd(procs: Procs, lay: Layout, i: int) -> None:
    """(Re)starts replica `i` on its data."""
    name, port = f"influx-{'ab'[i]}", lay.influx(i)
    d = lay.work / name
    p = procs.add(Proc(name, ["influxd", "-config", str(d / "influxdb.conf")], d / "log"))
    wait_until(f"{name} /ping", lambda: http_ok(port, "/ping"), 60, p)


def redis(procs: Procs, lay: Layout) -> None:
    d = lay.work / "redis"
    d.mkdir(parents=True, exist_ok=True)
    p = procs.add(Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(lay.redis),
                                 "--save", "", "--appendonly", "no", "--dir", str(d)], d / "log"))
    wait_until("redis", lambda: tcp_open(lay.redis), 20, p)


def collector_config(lay: Layout, i: int) -> Path:
    d = lay.work / f"collector-{i + 1}"
    d.mkdir(parents=True, exist_ok=True)
    lines = [
        "[collector]", f'interval = "{lay.interval_s}s"', 'jitter = "1s"', "",
        "[api]", f'listen = "127.0.0.1:{lay.collector_api(i)}"', "",
        "[cluster]", f'redis_url = "redis://127.0.0.1:{lay.redis}/0"', f'replica_id = "collector-{i + 1}"',
        f'heartbeat = "{lay.heartbeat_s}s"', f'member_ttl = "{lay.member_ttl_s}s"', "",
        "[circuit_breaker]", 'recovery_timeout = "10s"', "",
        "[traps]", f'listen = ["127.0.0.1:{lay.traps(i)}"]', "",
    ]
    for j in range(2):
        lines += ["[[outputs.influxdb]]", f'name = "influx-{"ab"[j]}"', f'url = "http://127.0.0.1:{lay.influx(j)}"',
                  'database = "telemetry"', f'queue_dir = "{d / "queue"}"', 'flush_interval = "500ms"', ""]
    modules = '["system", "interfaces", "host_resources", "entity_sensors"]'
    # The simulated devices are found, not listed: a sweep at start stores them as run-time
    # targets (cluster mode) that every collector polls.
    lines += ["[discovery]", f'subnets = ["{DEVICES_RANGE}"]', f"port = {lay.snmpsim}", "rate = 500",
              'timeout = "1s"', 'interval = "1h"', 'credentials = [{ community = "public" }]',
              f"defaults = {{ modules = {modules} }}", f'state_dir = "{d / "discovery"}"', ""]
    for name, addr, snmp in lay.targets():
        if snmp.get("discovered"):
            continue
        lines += ["[[targets]]", f'name = "{name}"', f'address = "{addr}"']
        if snmp.get("v3"):
            lines += ['version = "3"', f'user = "{V3["user"]}"',
                      f'auth = {{ protocol = "sha256", password = "{V3["auth"]}" }}',
                      f'priv = {{ protocol = "aes128", password = "{V3["priv"]}" }}']
        else:
            lines += [f'community = "{snmp["community"]}"']
        lines += [f"modules = {modules}", ""]
    (d / "collector.toml").write_text("\n".join(lines))
    return d


def collector(procs: Procs, lay: Layout, i: int) -> Proc:
    d = collector_config(lay, i)
    p = procs.add(Proc(f"collector-{i + 1}", [str(lay.bins / "netpulse-collector"), "--config",
                                              str(d / "collector.toml")], d / "log", env={"NO_COLOR": "1"}))
    wait_until(f"collector-{i + 1} /ready", lambda: http_ok(lay.collector_api(i), "/ready"), 60, p)
    return p


def balancer_config(lay: Layout) -> Path:
    d = lay.work / "balancer"
    d.mkdir(parents=True, exist_ok=True)
    servers = ", ".join(f'{{ name = "influx-{"ab"[j]}", address = "127.0.0.1:{lay.influx(j)}" }}' for j in range(2))
    text = f'''[server]
threads = 2
[stats]
listen = "127.0.0.1:{lay.stats}"
[runtime]
socket = "{d / 'runtime.sock'}"

[[frontends]]
name = "influxdb"
listen = ["127.0.0.1:{lay.influx_front}"]
backend = "influxdb"
routes = [ {{ path_prefix = "/write", backend = "influxdb-write" }}, {{ path_prefix = "/api/v2/write", backend = "influxdb-write" }} ]

[[backends]]
name = "influxdb"
retries = 3
redispatch = true
health_check = {{ kind = "http", path = "/ping", expect_status = 204, interval = "1s", rise = 2, fall = 2 }}
servers = [ {servers} ]

[[backends]]
name = "influxdb-write"
mirror = {{ queue_dir = "{d / 'mirror'}", queue_max_bytes = "1GiB" }}
servers = [ {servers} ]
'''
    grafana = shutil.which("grafana-server")
    if grafana:
        gservers = ", ".join(f'{{ name = "grafana-{"ab"[j]}", address = "127.0.0.1:{lay.grafana(j)}" }}' for j in range(2))
        text += f'''
[[frontends]]
name = "grafana"
listen = ["127.0.0.1:{lay.grafana_front}"]
backend = "grafana"

[[backends]]
name = "grafana"
sticky = {{ cookie = "SERVERID", mode = "insert" }}
health_check = {{ kind = "http", path = "/api/health", expect_status = 200, interval = "2s" }}
servers = [ {gservers} ]
'''
    (d / "balancer.toml").write_text(text)
    return d


def balancer(procs: Procs, lay: Layout, upgrade: bool = False) -> Proc:
    d = balancer_config(lay)
    argv = [str(lay.bins / "netpulse-balancer"), "--config", str(d / "balancer.toml"),
            "--upgrade-sock", str(d / "upgrade.sock")]
    name = "balancer"
    if upgrade:
        argv.append("--upgrade")
        name = f"balancer-{len([n for n in procs.order if n.startswith('balancer')]) + 1}"
    p = Proc(name, argv, d / f"{name}.log", env={"NO_COLOR": "1"})
    procs.add(p)
    if not upgrade:
        wait_until("balancer stats", lambda: http_ok(lay.stats, "/stats;csv"), 30, p)
    return p
