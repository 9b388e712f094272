"""The soak's curves judged. The soak injects its faults in the middle of the run and leaves a
quiet last third: a fault moves a curve by a step (a replica down fills a queue, the allocator
keeps what it grew to), so what must be flat is the curve once the faults are over. Each series
(RSS, open files, queued points, Redis memory) is fitted over that quiet tail — on the process
that fed it longest there, from 5 minutes after its start (a process a fault restarted warms up
again) — and its slope given per hour, beside the level the faults left behind (the tail's
median against the median before the first fault).

Flat: the tail's slope is under 10 % of the curve's median per hour, or under a floor (4 MiB of
RSS, 5 open files, 500 queued points, 1 MiB of Redis memory), whichever is larger; a tail of
under 5 minutes is not judged."""

import csv
from pathlib import Path

from . import plot

FLOORS = {"RSS MiB": 4.0, "open files": 5.0, "queued points": 500.0, "used memory MiB": 1.0}
OWN = ("collector-", "balancer", "redis")


def runs(rows: list) -> dict:
    """{series: [[(t, value)] of each process that fed it]}, from (t, series, value, pid) rows."""
    out = {}
    for t, name, v, pid in rows:
        out.setdefault(name, {}).setdefault(pid, []).append((t, v))
    return {name: list(r.values()) for name, r in out.items()}


def slope(pts: list) -> float:
    """Least-squares slope of [(t, v)], per hour."""
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    den = sum((t - mt) ** 2 for t, _ in pts)
    return 0.0 if den == 0 else sum((t - mt) * (v - mv) for t, v in pts) / den * 3600


def median(vals: list):
    vals = sorted(vals)
    return vals[len(vals) // 2] if vals else None


def judge(rows: list, start: float, warm: float, faults: list) -> list:
    """(series, tail median, tail slope per hour, tail minutes, level change since before the
    faults or None, flat) of each curve."""
    first = min((a for _, a, _ in faults), default=start + warm)
    tail = max((b for _, _, b in faults), default=start + warm)
    out = []
    for name, parts in sorted(runs(rows).items()):
        kept = [[(t, v) for t, v in p if t >= max(tail, p[0][0] + 300)] for p in parts]
        longest = max(kept, key=len)
        if len(longest) < 3:
            continue
        m = median([v for _, v in longest])
        before = median([v for p in parts for t, v in p if start + warm / 2 <= t < first])
        per_h = slope(longest)
        minutes = (longest[-1][0] - longest[0][0]) / 60
        floor = next((f for k, f in FLOORS.items() if name.endswith(k)), 1.0)
        change = None if before is None else m - before
        # A tail of a few minutes says nothing about a slope per hour: not judged.
        flat = None if minutes < 5 else abs(per_h) <= max(0.1 * m, floor)
        out.append((name, m, per_h, minutes, change, flat))
    return out


def table(curves: list) -> list:
    lines = ["| series | median in the tail | slope per hour in the tail | tail (min) | left by the faults (tail − before) | flat |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {m:.1f} | {s:+.2f} | {q:.0f} | {'-' if c is None else f'{c:+.1f}'} | {'n/a' if f is None else 'yes' if f else 'NO'} |"
              for n, m, s, q, c, f in curves]
    return lines


def panels(series: dict) -> list:
    own = lambda n: n.startswith(OWN)  # noqa: E731
    pick = lambda f: {n: p for n, p in series.items() if f(n)}  # noqa: E731
    return [
        ("RSS (MiB): collectors, balancer, Redis", pick(lambda n: n.endswith("RSS MiB") and own(n))),
        ("RSS (MiB): InfluxDB, Prometheus, Alertmanager, agents", pick(lambda n: n.endswith("RSS MiB") and not own(n))),
        ("open files", pick(lambda n: n.endswith("open files"))),
        ("queued points (collectors' per-replica queues, balancer's mirror)", pick(lambda n: n.endswith("queued points"))),
        ("Redis used memory (MiB)", pick(lambda n: n.endswith("used memory MiB"))),
    ]


def write(out: Path, rows: list, faults: list) -> None:
    """soak.csv (every sample) and soak-faults.csv (each fault's window)."""
    with open(out / "soak.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["unix_time", "series", "value", "pid"])
        w.writerows((f"{t:.0f}", name, f"{v:.3f}", pid) for t, name, v, pid in rows)
    with open(out / "soak-faults.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fault", "start", "end"])
        w.writerows((name, f"{a:.0f}", f"{b:.0f}") for name, a, b in faults)


def read(out: Path):
    """(rows, faults) as `write` left them."""
    with open(out / "soak.csv") as f:
        rows = [(float(r["unix_time"]), r["series"], float(r["value"]), r["pid"]) for r in csv.DictReader(f)]
    with open(out / "soak-faults.csv") as f:
        faults = [(r["fault"], float(r["start"]), float(r["end"])) for r in csv.DictReader(f)]
    return rows, faults


def figure(title: str, rows: list, faults: list, start: float, end: float, warm: float) -> str:
    series = {}
    for t, name, v, _ in rows:
        series.setdefault(name, []).append((t, v))
    marks = [(a, name.split(".")[0]) for name, a, _ in faults]
    return plot.svg(title, panels(series), start, end, marks, warm)
