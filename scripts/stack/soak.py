"""`scripts/drill --soak DURATION`: the whole stack for DURATION under the drills' client load,
each drill's fault injected once on a schedule (spread evenly after a warm-up, a quiet last
third left), and every
process sampled every 10 s — RSS and open files of each, the collectors' and the balancer's
queued points, Redis' memory. At the end: the drills' table (each fault measured as the drills
measure it), every poll slot of every target accounted for (polled, or missed inside a fault's
window), and each curve judged between the faults (curves.py). soak.csv (the samples),
soak-faults.csv (the faults' windows), soak.md (the summary) and soak.svg (the plot) are written
to --out (default: the work folder); `--rejudge DIR` judges them again without a stack.

The exit status is 1 when a drill breaks its bounds, a poll slot is missed outside a fault, or
one of netpulse's own curves (collectors, balancer, their queues, Redis) is not flat;
third-party servers' curves (InfluxDB, Prometheus, snmpsim…) are reported."""

import re
import subprocess
import threading
import time
from pathlib import Path

from . import curves, drills
from . import observe as o
from .load import Load

SAMPLE_S = 10


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m|h)", text.strip())
    if not m:
        raise ValueError(f"--soak {text!r}: a duration such as 90s, 20m or 1h")
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]


def rss_fds(pid: int):
    """(RSS in MiB, open files) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
        return rss, fds
    except (OSError, StopIteration):
        return None


def redis_memory_mib(port: int):
    r = subprocess.run(["redis-cli", "-p", str(port), "info", "memory"], capture_output=True, text=True, timeout=5)
    m = re.search(r"^used_memory:(\d+)", r.stdout, re.M)
    return int(m[1]) / 2**20 if m else None


class Sampler:
    """Samples every process and queue every SAMPLE_S seconds into `rows` (t, series, value)."""

    def __init__(self, stack):
        self.stack, self.rows = stack, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as e:  # noqa: BLE001 - one failed sample must not end the soak
                print(f"  (sample failed: {e})", flush=True)
            self._stop.wait(SAMPLE_S)

    def sample(self) -> None:
        stack, lay, t = self.stack, self.stack.lay, time.time()
        pids = {}
        for name in list(stack.procs.order):
            p = stack.procs.get(name)
            got = rss_fds(p.pid) if p and p.alive() else None
            if got:
                pids[name] = p.pid
                self.rows += [(t, f"{name} RSS MiB", got[0], p.pid), (t, f"{name} open files", got[1], p.pid)]
        for i in range(lay.collectors):
            m = o.metrics(lay.collector_api(i))
            if m:
                self.rows.append((t, f"collector-{i + 1} queued points", o.metric_sum(m, "netpulse_output_points_queued"),
                                  pids.get(f"collector-{i + 1}")))
        m = o.metrics(lay.stats)
        if m:
            self.rows.append((t, "balancer mirror queued points", o.metric_sum(m, "netpulse_balancer_mirror_queued_points"),
                              pids.get("balancer")))
        mem = redis_memory_mib(lay.redis)
        if mem is not None:
            self.rows.append((t, "redis used memory MiB", mem, pids.get("redis")))


def missed_slots(lay, t0: float, t1: float, windows: list):
    """(slots, polled, missed inside a fault window, missed elsewhere, duplicates) over [t0, t1]."""
    pts = {}
    for i in range(2):
        for target, ts in (drills.poll_points(lay, lay.influx(i), t0, t1) or {}).items():
            pts.setdefault(target, set()).update(ts)
    iv = lay.interval_s * 1000
    polled = inside = elsewhere = dup = 0
    for ts in pts.values():
        seq = [t0 * 1000] + sorted(ts) + [t1 * 1000]
        polled += len(ts)
        for a, b in zip(seq, seq[1:]):
            if b - a > 1.5 * iv:
                n = round((b - a) / iv) - 1
                hit = any(w0 * 1000 <= b and a <= w1 * 1000 for w0, w1 in windows)
                inside, elsewhere = (inside + n, elsewhere) if hit else (inside, elsewhere + n)
            elif b - a < 0.5 * iv and a != t0 * 1000 and b != t1 * 1000:
                dup += 1
    return polled + inside + elsewhere, polled, inside, elsewhere, dup


def schedule(stack, duration: float, warm: float, outage: int) -> list:
    """(start offset, name, drill) of each fault, spread evenly between the warm-up and the
    quiet last third the curves are judged on."""
    faults = drills.catalogue(stack, outage)
    slot = (duration * 2 / 3 - warm) / len(faults)
    return [(warm + k * slot, name, fn) for k, (name, fn) in enumerate(faults)]


def run(stack, duration: float, out: Path, command: str) -> int:
    lay = stack.lay
    warm = min(600.0, duration / 6)
    outage = 60 if duration >= 1800 else 15
    plan = schedule(stack, duration, warm, outage)
    print(f"soak: {duration / 60:.0f} min, warm-up {warm / 60:.0f} min, then {len(plan)} faults "
          f"({outage} s outages), one every {(duration * 2 / 3 - warm) / len(plan) / 60:.1f} min, then a quiet last third; "
          f"sampling every {SAMPLE_S} s", flush=True)
    start = time.time()
    sampler = Sampler(stack).start()
    load = Load(lay, limit_s=duration + 1200).start()
    alerts = drills.Alerts(lay)
    rows, marks = [], []
    try:
        for k, (at, name, drill) in enumerate(plan, 1):
            time.sleep(max(0.0, start + at - time.time()))
            marks.append((time.time(), str(k)))
            rows.append(drills.run_one(stack, load, alerts, f"{k}. {name}", drill))
        time.sleep(max(0.0, start + duration - time.time()))
    finally:
        load.stop()
        alerts.stop()
        sampler.stop()
    end = time.time()
    bad = drills.verdict(rows, load, lay)
    faults = [(r.drill, *r.window) for r in rows if r.window]
    windows = [(a, b) for _, a, b in faults]
    slots = missed_slots(lay, start + 2 * lay.interval_s, end - 2 * lay.interval_s, windows)
    out.mkdir(parents=True, exist_ok=True)
    curves.write(out, sampler.rows, faults)
    head = report(command, duration, rows, slots, load)
    judged = finish(out, head, sampler.rows, faults, start, end, warm)
    own_bent = [c[0] for c in judged if c[0].startswith(curves.OWN) and c[5] is False]
    print(f"soak written to {out}/soak.md, soak.csv, soak-faults.csv, soak.svg")
    return 1 if bad or slots[3] or slots[4] or own_bent or not rows else 0


def finish(out: Path, head: str, rows: list, faults: list, start: float, end: float, warm: float) -> list:
    """Judges the curves, writes soak.md (`head` and the curves) and soak.svg; the judgement."""
    judged = curves.judge(rows, start, warm, faults)
    text = head + "\n".join(["## Curves", "", *(par.replace("\n", " ") + "\n" for par in curves.__doc__.split("\n\n")),
                              *curves.table(judged)]) + "\n"
    (out / "soak.md").write_text(text)
    (out / "soak.svg").write_text(curves.figure(f"netpulse soak: {(end - start) / 60:.0f} min, {len(faults)} faults",
                                                rows, faults, start, end, warm))
    print("\n" + text)
    return judged


def rejudge(out: Path) -> int:
    """Judges a finished soak's curves again from its files (soak.md's head kept)."""
    rows, faults = curves.read(out)
    start, end = rows[0][0], rows[-1][0]
    head = (out / "soak.md").read_text().split("## Curves", 1)[0]
    judged = finish(out, head, rows, faults, start, end, min(600.0, (end - start) / 6))
    return 1 if any(c[0].startswith(curves.OWN) and c[5] is False for c in judged) else 0


def report(command: str, duration: float, rows: list, slots: tuple, load: Load) -> str:
    total, polled, inside, elsewhere, dup = slots
    lines = [f"# Soak: {duration / 60:.0f} minutes", "", f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "## Faults (one of each drill, measured as `scripts/drill` measures it)", "", drills.table(rows), "",
             "## Poll slots", "",
             f"{total} slots of every target over the run: {polled} polled, {inside} missed inside a fault's window "
             f"(a stopped collector's targets before takeover), {elsewhere} missed elsewhere, {dup} duplicated. "
             f"Client: {len(load.acked)} writes acknowledged, {len(load.failed_writes)} writes and "
             f"{len(load.failed_reads)} reads failed.", "", ""]
    return "\n".join(lines)
