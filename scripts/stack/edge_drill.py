"""The drill "balancer node lost" on the edge pair (edge.py): clients through the virtual IP, a
replica stopped so node a's mirror queue holds writes, node a's balancer SIGKILLed (the address
moves to b), the replica back, node a back with its disk (b keeps the address: nopreempt),
then b's link cut (the address moves back to a). Measured: how long each move took, requests
that failed (only those in flight at a failover may), connections refused and retried (nothing
was sent on them), the sticky session's server, the TLS session resumed on the other node,
the writes held on the dead node's disk, and every acknowledged write in both replicas."""

import os
import shutil
import threading
import time

from . import components as c
from . import observe as o
from . import edge
from .edge import InFlight, Pair, Refused, ask, holder, sh

# Three clients, each with at most one request in flight at each of the two failovers.
IN_FLIGHT_BOUND = 6


class Clients:
    """A writer (one point per write, numbered), a reader and a sticky session, each a request
    every 50 ms through the virtual IP. A refused connection is retried for up to 3 s, as an
    HTTP client's connect retry does (nothing was sent); a request sent and not answered is
    failed (a write's fate unknown), never repeated."""

    def __init__(self):
        self.acked, self.failed, self.refused, self.seq = [], [], 0, 0
        self.session, self.sticky_ok, self.sticky_broken = None, 0, 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(f,), daemon=True)
                         for f in (self._write, self._read, self._sticky)]

    def start(self) -> "Clients":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _loop(self, step) -> None:
        end = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < end:
            step()
            self._stop.wait(0.05)

    def _call(self, who: str, *req):
        deadline = time.monotonic() + 3
        while True:
            try:
                return ask(*req)
            except Refused:
                self.refused += 1
                if time.monotonic() > deadline:
                    self.failed.append((time.time(), who, "no connection within 3 s"))
                    return None
                time.sleep(0.05)
            except InFlight:
                self.failed.append((time.time(), who, "sent, not answered"))
                return None

    def _write(self) -> None:
        self.seq += 1
        seq = self.seq
        body = f"drill_edge,client=pair seq={seq}i {time.time_ns()}\n".encode()
        r = self._call("writer", 8086, "POST", "/write?db=telemetry", body)
        if r and r[0] == 204:
            self.acked.append(seq)
        elif r:
            self.failed.append((time.time(), "writer", f"status {r[0]}"))

    def _read(self) -> None:
        r = self._call("reader", 8086, "GET", "/query?db=telemetry&q=SELECT+count(seq)+FROM+drill_edge")
        if r and r[0] != 200:
            self.failed.append((time.time(), "reader", f"status {r[0]}"))

    def _sticky(self) -> None:
        r = self._call("session", 3000, "GET", "/", None, self.session)
        if not r:
            return
        if self.session is None:
            self.session = r[2]
        elif r[0] == 200 and r[1] == self.session:
            self.sticky_ok += 1
        else:
            self.sticky_broken += 1


def seqs(port: int, upto: int) -> set:
    rows = o.influx(port, f"SELECT seq FROM drill_edge WHERE seq <= {upto}") or []
    return {int(r[1]) for r in rows}


def settled_missing(port: int, acked: list, timeout: float = 30) -> int:
    """Acknowledged writes (until a second ago) the replica lacks once that number stops falling."""
    time.sleep(1)
    upto = max(acked, default=0)
    want = {s for s in acked if s <= upto}
    last, deadline = None, time.time() + timeout
    while time.time() < deadline:
        missing = len(want - seqs(port, upto))
        if missing == last:
            return missing
        last = missing
        time.sleep(1.5)
    return last


def balancer_node_lost(stack, row) -> float:
    if os.geteuid() != 0 or not shutil.which("keepalived"):
        raise RuntimeError("needs root (network namespaces) and keepalived")
    lay, pair = stack.lay, Pair(stack)
    stack.cleanup.append(pair.down)
    pair.up()
    clients = Clients().start()
    try:
        time.sleep(2)
        first = pair.tls("-sess_out")
        # influx-b away: what node a acknowledges from now waits in a's queue for it.
        stack.procs["influx-b"].stop()
        time.sleep(3)
        killed = time.time()
        pair.procs["balancer-a"].kill()
        moved = [pair.wait_answering("b", killed)]
        resumed = pair.tls("-sess_in")
        time.sleep(2)
        c.start_influxd(stack.procs, lay, 1)
        held = settled_missing(lay.influx(1), list(clients.acked))
        pair.balancer("a")  # back, with its disk
        time.sleep(4)  # its check rises; b keeps the address (nopreempt)
        kept = holder()
        cut = time.time()
        sh(f"ip link set {edge.P}-vb down")
        moved.append(pair.wait_answering("a", cut))
        time.sleep(2)
    finally:
        clients.stop()
    # What b acknowledged in its last moments waits on its disk until its link returns.
    held_b = settled_missing(lay.influx(0), clients.acked)
    sh(f"ip link set {edge.P}-vb up")
    missing = [settled_missing(lay.influx(i), clients.acked, 60) for i in range(2)]
    pair.down()
    row.takeover_s = max(moved)
    row.takeover = f"{moved[0]:.1f} s / {moved[1]:.1f} s"
    row.edge_failed, row.edge_lost = len(clients.failed), sum(missing)
    tls_ok = "New, TLSv1.3" in first and "Reused, TLSv1.3" in resumed
    row.edge_broken = ([] if tls_ok else ["the TLS session did not resume on node b"]) + \
        ([] if kept == "b" else [f"nopreempt: the address went to {kept} when node a returned"]) + \
        ([f"the sticky session changed server {clients.sticky_broken} times"] if clients.sticky_broken else [])
    row.note = (f"VIP moved {moved[0]:.1f} s after node a's balancer was SIGKILLed, {moved[1]:.1f} s after node b's link "
                f"was cut; {len(clients.acked)} writes acknowledged through it, {held} of them held on node a's disk "
                f"until it returned and {held_b} on node b's until its link did, then {'all' if not sum(missing) else 'NOT all'} in both replicas; {clients.refused} refused connections retried; "
                f"sticky session on {clients.session} {clients.sticky_ok} times; TLS {'resumed' if tls_ok else 'NOT resumed'} "
                f"on node b; {len(clients.failed)} requests in flight failed")
    return time.time()
