"""The live one-screen view of `scripts/demo`: targets and points per collector, what each
InfluxDB replica holds, the balancer's servers and mirror queues, alerts. Redrawn every few
seconds until Ctrl-C."""

import sys
import time

from . import observe as o
from .layout import Layout


def where(lay: Layout, grafana: bool) -> str:
    apis = ", ".join(f"http://127.0.0.1:{lay.collector_api(i)}/targets" for i in range(lay.collectors))
    lines = [
        "Where to look:",
        f"  balancer stats page   http://127.0.0.1:{lay.stats}/stats   (CSV: ;csv, JSON: ;json, /metrics)",
        f"  collector APIs        {apis}   (/cluster, /metrics, /health, /ready)",
        f"  Prometheus alerts     http://127.0.0.1:{lay.prometheus}/alerts   Alertmanager http://127.0.0.1:{lay.alertmanager}",
        f"  query through the balancer:",
        f"    curl -sG http://127.0.0.1:{lay.influx_front}/query --data-urlencode db=telemetry \\",
        f"      --data-urlencode 'q=SELECT last(sysUpTime) FROM system GROUP BY target'",
        f"  write through it (mirrored to both replicas):",
        f"    curl -si http://127.0.0.1:{lay.influx_front}/write?db=telemetry --data-binary 'demo,host=me v=1i'",
    ]
    if grafana:
        lines.append(f"  Grafana (sticky, 2 servers)  http://127.0.0.1:{lay.grafana_front}")
    return "\n".join(lines)


def screen(stack) -> str:
    lay: Layout = stack.lay
    up = time.time() - stack.started
    out = [f"netpulse HA stack on 127.0.0.1 — up {int(up // 60)}m{int(up % 60):02d}s — Ctrl-C stops everything", ""]
    out.append(f"{'collector':<13}{'state':<8}{'targets':>8}{'polls ok':>10}{'failed':>8}{'→ influx-a':>12}{'→ influx-b':>12}{'queued':>8}")
    for i in range(lay.collectors):
        m = o.metrics(lay.collector_api(i))
        view = o.cluster(lay, i) or {}
        owned = next((x["targets_owned"] for x in view.get("members", []) if x["id"] == f"collector-{i + 1}"), 0)
        state = "up" if m else "DOWN"
        out.append(f"collector-{i + 1:<3}{state:<8}{owned:>8}"
                   f"{o.metric_sum(m, 'netpulse_polls_total', result='ok'):>10.0f}"
                   f"{o.metric_sum(m, 'netpulse_polls_total', result='failed'):>8.0f}"
                   f"{o.metric_sum(m, 'netpulse_output_points_written_total', output='influx-a'):>12.0f}"
                   f"{o.metric_sum(m, 'netpulse_output_points_written_total', output='influx-b'):>12.0f}"
                   f"{o.metric_sum(m, 'netpulse_output_points_queued'):>8.0f}")
    out.append("")
    for i in range(2):
        n = o.influx_count(lay.influx(i), "SELECT count(sysUpTime) FROM system")
        ifs = o.influx_count(lay.influx(i), 'SELECT count("ifHCInOctets") FROM "interface"')
        traps = o.influx_count(lay.influx(i), 'SELECT count("uptime") FROM "snmp_trap"')
        out.append(f"influx-{'ab'[i]} (:{lay.influx(i)})  system points {n:>7}   interface points {ifs:>8}   traps {traps:>5}")
    out.append("")
    rows = o.stats_rows(lay)
    # The mirroring backend's servers have no checks: their queues are on the next line.
    servers = [f"{r['pxname']}/{r['svname']} {r['status']}" for r in rows
               if r["svname"] not in ("FRONTEND", "BACKEND") and r["pxname"] != "influxdb-write"]
    out.append("balancer servers: " + (", ".join(servers) if servers else "stats page not answering"))
    bm = o.metrics(lay.stats)
    q = [f"{s} {o.metric_sum(bm, 'netpulse_balancer_mirror_queued_points', server=s):.0f}" for s in ("influx-a", "influx-b")]
    out.append(f"mirrored writes accepted {o.metric_sum(bm, 'netpulse_balancer_mirror_writes_accepted_total'):.0f}, queued points: " + ", ".join(q))
    alerts = o.firing(lay)
    out.append("alerts: " + (", ".join(f"{a} ({s})" for a, s in alerts) if alerts else "none pending or firing"))
    if stack.sink:
        got = stack.sink.since(0)[-3:]
        if got:
            out.append("last notifications: " + ", ".join(f"{n} {s} → {r}" for n, s, r in got))
    return "\n".join(out)


def live(stack, every: float = 3.0) -> None:
    tty = sys.stdout.isatty()
    while True:
        text = screen(stack)
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J" + text + "\n\n" + where(stack.lay, stack.grafana) + "\n")
        else:
            sys.stdout.write(text + "\n\n")
        sys.stdout.flush()
        time.sleep(every)
