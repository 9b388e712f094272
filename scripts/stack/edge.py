"""The edge pair of deploy/keepalived beside the stack, for the drill "balancer node lost": two
balancer nodes in network namespaces on a bridge (veth; the kernel has no netem and needs
none), each running netpulse-balancer and keepalived with the shipped unicast node file (its
addresses, interface and script path put in). The clients stay in this namespace, on the
bridge, and reach the nodes through the virtual IP: InfluxDB writes mirrored to the stack's two
replicas (relayed from the bridge address to their loopback ports), reads, a sticky session on
two Grafana-like servers, and TLS on port 8443 with the pair's shared ticket-keys file."""

import http.client
import http.server
import socket
import socketserver
import subprocess
import threading
import time
from pathlib import Path

from .components import ROOT
from .procs import Proc

# The lab's names and addresses; `place` moves them with the stack's port offset, so two stacks
# (a soak and the tests' drills) each have a pair of their own.
P = "npd0"
BRIDGE, CLIENT, VIP = "npd0br", "10.78.0.20", "10.78.0.86"
NODES = {"a": "10.78.0.11", "b": "10.78.0.12"}


def place(offset: int) -> None:
    global P, BRIDGE, CLIENT, VIP, NODES
    base = f"10.78.{offset // 256 % 256}"
    P = f"npd{offset}"
    BRIDGE, CLIENT, VIP = f"{P}br", f"{base}.20", f"{base}.86"
    NODES = {"a": f"{base}.11", "b": f"{base}.12"}
SERVERS = ("grafana-1", "grafana-2")


def sh(cmd: str) -> None:
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")


class Refused(Exception):
    """No connection: nothing was sent, the request may be repeated."""


class InFlight(Exception):
    """Sent, not answered: whether it took effect is unknown."""


def ask(port: int, method: str, path: str, body: bytes = None, cookie: str = None):
    """One request to the virtual IP: (status, body text, the SERVERID cookie set or None)."""
    conn = http.client.HTTPConnection(VIP, port, timeout=0.3)
    try:
        try:
            conn.connect()
        except OSError as e:
            raise Refused() from e
        conn.sock.settimeout(2)
        headers = {"Cookie": f"SERVERID={cookie}"} if cookie else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            text = r.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as e:
            raise InFlight() from e
        set_cookie = (r.getheader("set-cookie") or "").partition("SERVERID=")[2].split(";")[0] or None
        return r.status, text, set_cookie
    finally:
        conn.close()


def holder():
    """The node holding the virtual IP now, or None."""
    for n in NODES:
        r = subprocess.run(["ip", "netns", "exec", f"{P}-{n}", "ip", "-o", "addr", "show", "dev", "eth0"],
                           capture_output=True, text=True)
        if f"{VIP}/24" in r.stdout:
            return n
    return None


class _Named(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Relay(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            up = socket.create_connection(("127.0.0.1", self.server.to), timeout=5)
        except OSError:
            return
        up.settimeout(None)

        def pump(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(up, self.request), daemon=True)
        t.start()
        pump(self.request, up)
        t.join(30)
        up.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler, **attrs):
    """A threaded server on the bridge address (any port); its port."""
    srv = _Server((CLIENT, 0), handler)
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def node_config(d: Path, n: str, influx: list, grafana: list) -> Path:
    """Node `n`'s balancer: InfluxDB reads balanced and writes mirrored (its own queue), the
    Grafana-like servers sticky on 3000 and over TLS on 8443 (one certificate and ticket-keys
    file for both nodes), and the monitor_uri keepalived's check asks."""
    servers = lambda names, ports: ", ".join(f'{{ name = "{s}", address = "{CLIENT}:{p}" }}' for s, p in zip(names, ports))  # noqa: E731
    influxes = servers(("influx-a", "influx-b"), influx)
    grafanas = servers(SERVERS, grafana)
    sticky = 'sticky = { cookie = "SERVERID", mode = "insert" }\n'
    text = f'''[server]
threads = 1
[[frontends]]
name = "influxdb"
listen = ["0.0.0.0:8086"]
backend = "influxdb"
monitor_uri = "/healthz"
routes = [ {{ path_prefix = "/write", backend = "influxdb-write" }} ]
[[frontends]]
name = "grafana"
listen = ["0.0.0.0:3000"]
backend = "grafana"
[[frontends]]
name = "grafana-tls"
listen = ["0.0.0.0:8443"]
backend = "grafana"
tls = {{ cert = "{d / 'site.pem'}", alpn = ["http/1.1"], ticket_keys = "{d / 'tls.keys'}" }}
[[backends]]
name = "influxdb"
retries = 3
redispatch = true
health_check = {{ kind = "http", path = "/ping", expect_status = 204, interval = "1s", rise = 2, fall = 2 }}
servers = [ {influxes} ]
[[backends]]
name = "influxdb-write"
mirror = {{ queue_dir = "{d / f'mirror-{n}'}" }}
servers = [ {influxes} ]
[[backends]]
name = "grafana"
{sticky}health_check = {{ kind = "http", path = "/health", interval = "1s", rise = 1, fall = 2 }}
servers = [ {grafanas} ]
'''
    path = d / f"balancer-{n}.toml"
    path.write_text(text)
    return path


def keepalived_config(d: Path, n: str) -> Path:
    """The shipped unicast node file with the lab's addresses, interface and check path."""
    deploy = ROOT / "deploy/keepalived"
    text = (deploy / f"node-{n}-unicast.conf").read_text()
    text = (text.replace("192.0.2.11", NODES["a"]).replace("192.0.2.12", NODES["b"])
            .replace("192.0.2.86/24", f"{VIP}/24")
            .replace("/usr/local/bin/netpulse-balancer-check", str(deploy / "netpulse-balancer-check")))
    path = d / f"{P}-keepalived-{n}.conf"
    path.write_text(text)
    return path


class Pair:
    """The two nodes, their keepalived and the servers behind them; `down` removes it all (also
    what an earlier run that was killed left)."""

    def __init__(self, stack):
        place(stack.lay.offset)
        self.lay, self.dir = stack.lay, stack.lay.work / "edge"
        self.procs, self.servers = {}, []

    def up(self) -> None:
        self.clear()
        self.dir.mkdir(parents=True, exist_ok=True)
        sh(f"ip link add {BRIDGE} type bridge && ip addr add {CLIENT}/24 dev {BRIDGE} && ip link set {BRIDGE} up")
        for n, ip in NODES.items():
            ns = f"{P}-{n}"
            sh(f"ip netns add {ns} && ip link add {P}-v{n} type veth peer name eth0 netns {ns} && "
               f"ip link set {P}-v{n} master {BRIDGE} up && ip netns exec {ns} ip addr add {ip}/24 dev eth0 && "
               f"ip netns exec {ns} ip link set eth0 up && ip netns exec {ns} ip link set lo up")
        self.servers = [serve(_Relay, to=self.lay.influx(i)) for i in range(2)]
        self.servers += [serve(_Named, name=s) for s in SERVERS]
        d = self.dir
        sh(f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {d}/k.pem -out {d}/c.pem "
           f"-days 2 -subj /CN=grafana.test -addext subjectAltName=DNS:grafana.test && cat {d}/c.pem {d}/k.pem > {d}/site.pem")
        sh(f"for i in 1 2 3; do openssl rand 80 | openssl base64 -A; echo; done > {d}/tls.keys")
        for n in NODES:
            self.balancer(n)
        time.sleep(0.5)
        for n in NODES:
            pid = lambda what: str(d / f"{what}-{n}.pid")  # noqa: E731
            self.procs[f"keepalived-{n}"] = Proc(f"keepalived-{n}", [
                "ip", "netns", "exec", f"{P}-{n}", "keepalived", "-n", "-l", "-D", "-f", str(keepalived_config(d, n)),
                "-p", pid("k"), "-r", pid("vrrp"), "-c", pid("chk")], d / f"keepalived-{n}.log").start()
        self.wait_answering("a", time.time(), 30)

    def balancer(self, n: str) -> None:
        """Starts (again) node `n`'s balancer on its configuration and mirror queue."""
        ports = [s.server_address[1] for s in self.servers]
        cfg = node_config(self.dir, n, ports[:2], ports[2:])
        self.procs[f"balancer-{n}"] = Proc(f"balancer-{n}", [
            "ip", "netns", "exec", f"{P}-{n}", str(self.lay.bins / "netpulse-balancer"), "--config", str(cfg),
            "--upgrade-sock", str(self.dir / f"upgrade-{n}.sock")], self.dir / f"balancer-{n}.log",
            env={"NO_COLOR": "1"}).start()

    def wait_answering(self, node: str, since: float, timeout: float = 10) -> float:
        """Seconds from `since` until `node` holds the virtual IP and its balancer answers there."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if holder() == node and ask(8086, "GET", "/healthz")[0] == 200:
                    return time.time() - since
            except (Refused, InFlight):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"node {node} did not answer on the virtual IP within {timeout:.0f} s "
                           f"(holder: {holder()}; logs in {self.dir})")

    def tls(self, flag: str) -> str:
        """One TLS request through the virtual IP, the session saved (-sess_out) or offered (-sess_in)."""
        r = subprocess.run(["openssl", "s_client", "-connect", f"{VIP}:8443", "-ign_eof", "-tls1_3",
                            "-servername", "grafana.test", flag, str(self.dir / "tls.session")],
                           input=b"GET / HTTP/1.1\r\nHost: grafana.test\r\nConnection: close\r\n\r\n",
                           capture_output=True, timeout=15)
        return (r.stdout + r.stderr).decode(errors="replace")

    def down(self) -> None:
        # SIGTERM first: keepalived stops its VRRP and checker children itself.
        for p in self.procs.values():
            p.stop(grace=3)
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.procs, self.servers = {}, []
        self.clear()

    @staticmethod
    def clear() -> None:
        subprocess.run(["pkill", "-f", f"{P}-keepalived-[ab].conf"], capture_output=True)
        for n in NODES:
            subprocess.run(["ip", "netns", "del", f"{P}-{n}"], capture_output=True)
        for link in (f"{P}-va", f"{P}-vb", BRIDGE):
            deadline = time.time() + 5
            while time.time() < deadline and subprocess.run(["ip", "link", "show", link], capture_output=True).returncode == 0:
                subprocess.run(["ip", "link", "del", link], capture_output=True)
                time.sleep(0.05)
