"""`scripts/drill`: the seed's "kill a service" drills, one after another, under steady polling
and read/write load through the balancer, each measured from the data the replicas hold:

- poll points: every target's `system` points in the drill window, per replica and in their
  union; a poll is *missed* where a target's points are more than 1.5 intervals apart, a
  *duplicate* where two are less than half an interval apart;
- client points: writes the load got a 204 for (5 points each), present in each replica
  (those acknowledged until 3 s before the count: later ones may still be in a mirror queue);
- lost: points one replica holds and the other not, plus acknowledged client points missing —
  except what a collector counted as given up (`disk_full`), shown apart;
- takeover: from a collector's death until every target it owned has a new point;
- failed: client requests (reads and writes) not answered 2xx during the drill;
- recover: from the end of the disruption until queues are empty, servers UP and both
  replicas hold the same points;
- alert: what Prometheus raised (firing, or pending when the outage was shorter than `for`).

Each column has a bound (`bounds`, printed under the table); exit status 1 when any is
exceeded, or a drill could not run."""

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from . import bounds, edge_drill
from . import components as c
from . import observe as o
from .load import Load
from .procs import Proc, http_ok, wait_until


@dataclass
class Row:
    drill: str
    polls: str = "-"
    client: str = "-"
    lost: int = 0
    given_up: int = 0
    dup: int = 0
    missed: int = 0
    takeover: str = "-"
    failed: int = 0
    recover: str = "-"
    alert: str = "-"
    note: str = ""
    # What the bounds need beyond the table's cells.
    polled: int = 0
    acked: int = 0
    owned: int = 0
    takeover_s: float = None
    recover_s: float = None
    set_aside: int = 0
    # When the drill ran, from its start until the stack had recovered (the soak's accounting).
    window: tuple = None
    # The edge pair's clients (balancer node lost): failed requests, writes missing, what broke.
    edge_failed: int = 0
    edge_lost: int = 0
    edge_broken: list = None


class Alerts:
    """Samples Prometheus' pending/firing alerts every second while drills run."""

    def __init__(self, lay):
        self.lay, self.seen = lay, []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.is_set():
            now = time.time()
            for name, state in o.firing(self.lay):
                self.seen.append((now, name, state))
            self._stop.wait(1)

    def between(self, t0: float, t1: float, ignore=()) -> str:
        states = {}
        for t, name, state in self.seen:
            if t0 <= t <= t1 and name not in ignore:
                if state == "firing" or name not in states:
                    states[name] = state
        return ", ".join(f"{n} ({s})" for n, s in sorted(states.items())) or "none"

    def stop(self):
        self._stop.set()


def poll_points(lay, port: int, t0: float, t1: float):
    """{target: [ms timestamps]} of `system` points in [t0, t1] on one replica."""
    q = f"SELECT sysUpTime FROM system WHERE time >= {int(t0 * 1e9)} AND time <= {int(t1 * 1e9)} GROUP BY target"
    series = o.influx_series(port, q, "target")
    if series is None:
        return None
    return {t: [row[0] for row in rows] for t, rows in series.items()}


def gaps(ts: list, interval_ms: float):
    """(missed, duplicates) in one target's sorted timestamps."""
    missed = dup = 0
    for a, b in zip(ts, ts[1:]):
        d = b - a
        if d > 1.5 * interval_ms:
            missed += round(d / interval_ms) - 1
        elif d < 0.5 * interval_ms:
            dup += 1
    return missed, dup


def disk_full_drops(lay) -> float:
    return sum(o.metric_sum(o.metrics(lay.collector_api(i)), "netpulse_output_points_dropped_total", reason="disk_full")
               for i in range(lay.collectors))


def unsettled(stack, since: float) -> str:
    """Why the stack has not recovered yet, "" once it has: every collector answers with its
    output breakers closed, the balancer's servers are UP and its mirror writers closed with
    nothing older than a few seconds queued (clients keep writing: a queue is rarely empty),
    and both replicas hold the same poll points since `since` (up to two intervals ago)."""
    lay = stack.lay
    for i in range(lay.collectors):
        m = o.metrics(lay.collector_api(i))
        if not m:
            return f"collector-{i + 1} not answering"
        if o.metric_sum(m, "netpulse_output_circuit_breaker_state") > 0:
            return f"collector-{i + 1}: an output breaker is open"
    bm = o.metrics(lay.stats)
    if not bm:
        return "balancer not answering"
    if o.metric_sum(bm, "netpulse_balancer_mirror_circuit_breaker_state") > 0:
        return "balancer: a mirror writer's breaker is open"
    oldest = max((v for k, v in bm.items() if k.startswith("netpulse_balancer_mirror_oldest_seconds")), default=0)
    if oldest > 3:
        return f"balancer: mirrored writes {oldest:.0f} s old still queued"
    rows = [r for r in o.stats_rows(lay) if r["svname"] not in ("FRONTEND", "BACKEND") and r["pxname"] == "influxdb"]
    down = [r["svname"] for r in rows if r["status"] != "UP"]
    if down or len(rows) != 2:
        return f"balancer servers not UP: {down}"
    upto = time.time() - 2 * lay.interval_s
    a, b = (poll_points(lay, lay.influx(i), since, upto) for i in range(2))
    if a is None or b is None or a != b:
        return "the replicas do not hold the same poll points yet"
    return ""


def measure(stack, load: Load, alerts: Alerts, row: Row, t0: float, t_end: float, drops0: float) -> Row:
    """Fills `row` once the stack has recovered from a disruption that ended at `t_end`."""
    lay = stack.lay
    deadline = time.monotonic() + 240
    # Where a collector gave points up (a full disk), the replicas differ for good up to the last
    # point given up; after it they must hold the same again.
    since, drops = t0, drops0
    while time.monotonic() < deadline:
        now_drops = disk_full_drops(lay)
        if now_drops > drops:
            since, drops = max(t_end, time.time()), now_drops
        if not unsettled(stack, since):
            break
        time.sleep(1)
    why = unsettled(stack, since)
    ok = not why
    # One more interval, so points being written at the end are in both replicas.
    time.sleep(lay.interval_s + 2)
    t1 = time.time()
    if ok:
        row.recover_s = t1 - lay.interval_s - 2 - t_end
    row.recover = f"{row.recover_s:.0f} s" if ok else f"not within 240 s ({why})"
    a, b = (poll_points(lay, lay.influx(i), t0, t_end + lay.interval_s) for i in range(2))
    a, b = a or {}, b or {}
    interval_ms = lay.interval_s * 1000
    union = {t: sorted(set(a.get(t, [])) | set(b.get(t, []))) for t in set(a) | set(b)}
    n = lambda d: sum(len(v) for v in d.values())  # noqa: E731
    row.polls = f"{n(a)}/{n(b)} of {n(union)}"
    row.polled = n(union)
    for ts in union.values():
        m, d = gaps(ts, interval_ms)
        row.missed += m
        row.dup += d
    diff = sum(len(set(union[t]) - set(a.get(t, []))) + len(set(union[t]) - set(b.get(t, []))) for t in union)
    # Writes acknowledged until a few seconds ago (later ones may still be on their way from
    # the mirror queues); a refused write is appended nowhere, so exactly these must be there.
    done = [s for s, at in load.acked if at <= time.time() - 3]
    last = max(done, default=0)
    acked = 5 * len(done)
    have = [o.influx_count(lay.influx(i), f"SELECT count(seq) FROM drill_load WHERE seq <= {last}") for i in range(2)]
    row.client = f"{have[0]}/{have[1]} of {acked}"
    row.acked = len([s for s, at in load.acked if t0 <= at <= t1])
    row.given_up = int(disk_full_drops(lay) - drops0)
    row.lost = max(0, diff - row.given_up) + sum(max(0, acked - h) for h in have) + row.edge_lost
    row.failed = load.failures_between(t0, t1) + row.edge_failed
    row.alert = alerts.between(t0, t1)
    return row


def owned_by(stack, replica: str) -> list:
    lay = stack.lay
    for i in range(lay.collectors):
        ts = o.targets(lay, i)
        if ts:
            items = ts if isinstance(ts, list) else ts.get("targets", [])
            return [t["name"] for t in items if t.get("owner") == replica]
    return []


def takeover(stack, row: Row, names: list, since: float, timeout: float = 120) -> None:
    """Seconds until every target in `names` has a point newer than `since` (in influx-a)."""
    lay = stack.lay
    row.owned = len(names)
    deadline = time.time() + timeout
    while time.time() < deadline:
        pts = poll_points(lay, lay.influx(0), since, time.time() + 60) or {}
        if all(pts.get(t) for t in names):
            row.takeover_s = max(min(pts[t]) for t in names) / 1000 - since
            row.takeover = f"{row.takeover_s:.1f} s"
            return
        time.sleep(0.5)
    row.takeover_s = float(timeout)
    row.takeover = f"> {timeout:.0f} s"


def catalogue(stack, outage: int) -> list:
    """(name, drill) of every drill, in the order they run (and a soak injects them)."""
    return [
        ("InfluxDB replica stopped", lambda r: influx_down(stack, r, outage)),
        ("collector SIGKILLed", lambda r: collector_killed(stack, r, outage)),
        ("collector restarted gracefully", lambda r: collector_restarted(stack, r)),
        ("Redis stopped", lambda r: redis_down(stack, r, outage)),
        ("balancer backend killed", lambda r: backend_killed(stack, r, outage)),
        ("balancer upgraded in place", lambda r: balancer_upgraded(stack, r)),
        ("a poisoned write", lambda r: poisoned_write(stack, r)),
        ("balancer node lost", lambda r: edge_drill.balancer_node_lost(stack, r)),
        # Last: collector-1's queues stay on the small disk to the end.
        ("disk of one queue full", lambda r: queue_disk_full(stack, r, outage)),
    ]


def run_one(stack, load: Load, alerts: Alerts, name: str, drill) -> Row:
    """One drill, measured once the stack recovered; its row (printed with any bound broken)."""
    lay = stack.lay
    row = Row(name)
    t0, drops0 = time.time(), disk_full_drops(lay)
    print(f"- {name} …", flush=True)
    try:
        t_end = drill(row)
    except Exception as e:  # noqa: BLE001 - a drill that cannot run is reported, not hidden
        row.note = f"could not run: {e}"
        row.lost = -1
        return row
    measure(stack, load, alerts, row, t0, t_end, drops0)
    row.window = (t0, time.time())
    print("  " + line(row), flush=True)
    for why in bounds.violations(row, lay):
        print(f"  OUT OF BOUNDS: {why}", flush=True)
    return row


def verdict(rows: list, load: Load, lay) -> dict:
    """Prints the table, its bounds and the drills out of bounds; {drill: [why]} of those."""
    print()
    print(table(rows))
    print("\nBounds:" + bounds.__doc__.split("README quotes them):", 1)[1].rstrip())
    bad = {r.drill: (["could not run: " + r.note] if r.lost < 0 else bounds.violations(r, lay)) for r in rows}
    bad = {d: v for d, v in bad.items() if v}
    for d, v in bad.items():
        print(f"OUT OF BOUNDS: {d}: {'; '.join(v)}")
    lost = [r.drill for r in rows if r.lost != 0]
    print(f"\n{'NOTHING LOST' if not lost else 'LOST: ' + ', '.join(lost)}"
          f" — {len(load.acked)} client writes acknowledged, {len(load.failed_writes) + len(load.failed_reads)} requests failed in all;"
          f" {'every bound held' if not bad else f'{len(bad)} drill(s) out of bounds'}")
    return bad


def run(stack, short: bool = False, only: list = ()) -> int:
    lay = stack.lay
    outage = 15 if short else 60
    print(f"drills: outages of {outage} s, polling every {lay.interval_s} s, client writes and reads every 0.2 s")
    time.sleep(lay.interval_s * 2)  # every target polled a couple of times first
    load = Load(lay).start()
    alerts = Alerts(lay)
    rows = []
    try:
        for name, drill in catalogue(stack, outage):
            if not only or any(s in name for s in only):
                rows.append(run_one(stack, load, alerts, name, drill))
    finally:
        load.stop()
        alerts.stop()
    bad = verdict(rows, load, lay)
    return 1 if bad or not rows else 0


HEAD = ("drill", "poll points a/b of all", "client points a/b of acked", "lost", "given up", "dup",
        "missed polls", "takeover", "failed reqs", "recover", "alert")


def cells(r: Row) -> tuple:
    return (r.drill + (f" [{r.note}]" if r.note else ""), r.polls, r.client, str(r.lost), str(r.given_up),
            str(r.dup), str(r.missed), r.takeover, str(r.failed), r.recover, r.alert)


def line(r: Row) -> str:
    return " | ".join(f"{h}: {v}" for h, v in zip(HEAD[1:], cells(r)[1:]))


def table(rows: list) -> str:
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    out += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(out)


# The drills: each disrupts, restores, and returns when the disruption ended.

def influx_down(stack, row: Row, outage: int) -> float:
    stack.procs["influx-b"].stop()
    time.sleep(outage)
    c.start_influxd(stack.procs, stack.lay, 1)
    return time.time()


def collector_killed(stack, row: Row, outage: int) -> float:
    victim = "collector-2"
    names = owned_by(stack, victim)
    killed = time.time()
    stack.procs[victim].signal(signal.SIGKILL)
    takeover(stack, row, names, killed)
    # Down 1.5 outages: long enough for the rules' one-minute alerts (NetpulseCollectorDown).
    time.sleep(max(0.0, 1.5 * outage - (time.time() - killed)))
    c.collector(stack.procs, stack.lay, 1)
    return time.time()


def collector_restarted(stack, row: Row) -> float:
    victim = "collector-3"
    names = owned_by(stack, victim)
    p = stack.procs[victim]
    stopped = time.time()
    p.stop(grace=60)
    takeover(stack, row, names, stopped)
    c.collector(stack.procs, stack.lay, 2)
    return time.time()


def redis_down(stack, row: Row, outage: int) -> float:
    stack.procs["redis"].stop()
    time.sleep(outage)
    c.redis(stack.procs, stack.lay)
    return time.time()


def backend_killed(stack, row: Row, outage: int) -> float:
    stack.procs["influx-a"].signal(signal.SIGKILL)
    time.sleep(outage)
    c.start_influxd(stack.procs, stack.lay, 0)
    return time.time()


def balancer_upgraded(stack, row: Row) -> float:
    lay = stack.lay
    old = stack.procs["balancer"]
    d = lay.work / "balancer"
    new = Proc("balancer", [str(lay.bins / "netpulse-balancer"), "--config", str(d / "balancer.toml"),
                            "--upgrade-sock", str(d / "upgrade.sock"), "--upgrade"],
               d / f"balancer-{int(time.time())}.log", env={"NO_COLOR": "1"})
    stack.procs.add(new)
    time.sleep(1)  # the new process waits on the upgrade socket
    old.signal(signal.SIGQUIT)
    old.popen.wait(60)
    wait_until("the upgraded balancer serves", lambda: http_ok(lay.stats, "/stats;csv"), 30, new)
    row.note = f"pid {old.pid} → {new.pid}"
    return time.time()


def queue_disk_full(stack, row: Row, outage: int) -> float:
    """collector-1's queues on a small tmpfs (mounted now, root only) while influx-b is down:
    its influx-b queue fills the disk and gives up its oldest points (counted); influx-a loses
    nothing."""
    if os.geteuid() != 0:
        raise RuntimeError("needs root to mount a small tmpfs")
    lay = stack.lay
    p = stack.procs["collector-1"]
    row.owned = len(owned_by(stack, "collector-1"))  # its restart may cost them a slot
    p.stop(grace=30)
    qdir = lay.work / "collector-1" / "queue"
    subprocess.run(["rm", "-rf", str(qdir)], check=True)
    qdir.mkdir(parents=True)
    # Small enough that the outage's polls fill it (the short drills' 15 s as the full 60 s).
    size = "128k" if outage >= 60 else "48k"
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(qdir)], check=True)
    try:
        c.collector(stack.procs, lay, 0)
        stack.procs["influx-b"].stop()
        time.sleep(outage)
        c.start_influxd(stack.procs, lay, 1)
        return time.time()
    finally:
        stack.cleanup.append(lambda: subprocess.run(["umount", "-l", str(qdir)]))


def poisoned_write(stack, row: Row) -> float:
    """A write to a database that exists when the balancer asks (so it is accepted and queued)
    but is gone from influx-b when its writer delivers: influx-b answers 404, a permanent
    refusal. The batch is set aside (counted) and the healthy writes behind it go on."""
    lay = stack.lay
    for i in range(2):
        o.post(lay.influx(i), "/query", b"q=CREATE+DATABASE+poison")
    status, text = o.post(lay.influx_front, "/write?db=poison", b"poison v=1i\n")
    if status != 204:
        raise RuntimeError(f"the first write to db=poison got {status}: {text}")
    before = o.metric_sum(o.metrics(lay.stats), "netpulse_balancer_mirror_points_set_aside_total")
    o.post(lay.influx(1), "/query", b"q=DROP+DATABASE+poison")
    for _ in range(3):
        o.post(lay.influx_front, "/write?db=poison", b"poison v=2i\n")
    deadline = time.time() + 30
    while time.time() < deadline:
        now = o.metric_sum(o.metrics(lay.stats), "netpulse_balancer_mirror_points_set_aside_total")
        if now > before:
            break
        time.sleep(0.5)
    row.set_aside = int(now - before)
    row.note = f"{row.set_aside} points set aside"
    return time.time()
