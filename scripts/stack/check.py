"""`scripts/demo --check`: the stack verified end to end, one line per fact, exit 0 only when
every one holds."""

import subprocess
import time

from . import observe as o
from .layout import RECORDINGS, Layout
from .components import ROOT


def wait(cond, timeout: float, every: float = 1.0):
    """The last value of `cond()` once it is truthy, or the last value when time is up."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(every)


def run(stack, log=print) -> bool:
    lay: Layout = stack.lay
    results = []

    def fact(ok, what, detail=""):
        results.append(bool(ok))
        log(f"  {'✓' if ok else '✗'} {what}{(': ' + detail) if detail else ''}")

    names = [t[0] for t in lay.targets()]
    # Every target owned by exactly one live replica, every replica owning some.
    def owners():
        view = o.cluster(lay, 0)
        if not view or len(view.get("members", [])) != lay.collectors:
            return None
        owned = {m["id"]: m["targets_owned"] for m in view["members"]}
        return owned if sum(owned.values()) == len(names) and all(owned.values()) else None
    owned = wait(owners, 60)
    fact(owned, f"{lay.collectors} collectors share {len(names)} targets through Redis", str(owned))
    # The simulated devices were discovered, each once, on the address the layout gives it.
    listed = {t["name"]: t["address"] for t in (o.targets(lay, 0) or {}).get("targets", [])}
    expected = {name: addr for name, addr, snmp in lay.targets() if snmp.get("discovered")}
    fact(all(listed.get(n) == a for n, a in expected.items()),
         f"[discovery] found the {len(expected)} simulated devices, each once (lab-sw1 answers on two addresses)",
         ", ".join(f"{n} {listed.get(n, 'missing')}" for n in expected if listed.get(n) != expected[n]))
    # Points of every device in both replicas (the collectors write to both).
    def devices(port):
        rows = o.influx(port, 'SHOW TAG VALUES FROM "system" WITH KEY = "target"') or []
        return {r[1] for r in rows}
    for i in range(2):
        have = wait(lambda i=i: devices(lay.influx(i)) >= set(names) and devices(lay.influx(i)), 120, 2)
        missing = set(names) - (have or set())
        fact(not missing, f"influx-{'ab'[i]} holds points of all {len(names)} devices",
             f"missing {sorted(missing)}" if missing else "")
    recorded = [n for n in names if n in RECORDINGS]
    ifaces = o.influx_count(lay.influx(0), 'SELECT count("ifHCInOctets") FROM "interface"')
    fact(ifaces > 0, "interface counters from the real-device recordings", f"{ifaces} points ({len(recorded)} recordings)")
    # The balancer: both replicas UP for reads, a query through it, a mirrored write to both.
    rows = wait(lambda: [r for r in o.stats_rows(lay) if r["pxname"] == "influxdb" and r["status"] == "UP"
                         and r["svname"] != "BACKEND"], 30)
    fact(rows and len(rows) == 2, "balancer: both InfluxDB servers UP", ", ".join(r["svname"] for r in rows or []))
    status, body = o.get(lay.influx_front, "/query?db=telemetry&q=SELECT+count(sysUpTime)+FROM+system")
    fact(status == 200 and "count" in body, "a query through the balancer (:%d)" % lay.influx_front, f"HTTP {status}")
    stamp = int(time.time())
    status, _ = o.post(lay.influx_front, "/write?db=telemetry&precision=s",
                       f"demo_check,writer=check v=1i {stamp}\n".encode())
    mirrored = wait(lambda: all(o.influx_count(lay.influx(i), 'SELECT count(v) FROM demo_check') >= 1
                                for i in range(2)), 30)
    fact(status == 204 and mirrored, "a third-party write through the balancer lands in both replicas (mirroring)",
         f"HTTP {status}")
    # A trap sent to two collectors (a device with two trap destinations): one point, both replicas.
    tag = f"demo-check-{stamp}"
    sent = all(subprocess.run(["snmptrap", "-M", "/nonexistent", "-m", "", "-v", "2c", "-c", "public",
                               f"127.0.0.1:{lay.traps(i)}", "4242", "1.3.6.1.6.3.1.1.5.3",
                               "1.3.6.1.2.1.2.2.1.1.1", "i", "1", "1.3.6.1.2.1.1.5.0", "s", tag],
                              capture_output=True).returncode == 0 for i in range(2))
    q = f"SELECT count(\"ifIndex\") FROM \"snmp_trap\" WHERE \"sysName\" = '{tag}'"
    once = wait(lambda: all(o.influx_count(lay.influx(i), q) >= 1 for i in range(2)), 30)
    time.sleep(1)
    counts = [o.influx_count(lay.influx(i), q) for i in range(2)]
    fact(sent and once and counts == [1, 1], "a trap sent to two collectors: one point in each replica",
         f"points {counts}")
    # Monitoring: every scrape target up, the rules loaded, Alertmanager reached.
    up = wait(lambda: (lambda t: t if t and all(h == "up" for _, _, h in t) else None)(o.prometheus_targets(lay)), 60, 2)
    fact(up, "Prometheus: every scrape target up", f"{len(up or [])} targets")
    rules = o.get_json(lay.prometheus, "/api/v1/rules")
    n_rules = sum(len(g["rules"]) for g in rules["data"]["groups"]) if rules else 0
    shipped = sum(1 for line in (ROOT / "deploy/prometheus/rules/netpulse.yml").read_text().splitlines()
                  if line.strip().startswith("- alert:"))
    fact(n_rules == shipped, "Prometheus: every alert rule of deploy/prometheus/rules loaded",
         f"{n_rules} of {shipped} rules")
    am = o.get_json(lay.prometheus, "/api/v1/alertmanagers")
    fact(am and am["data"]["activeAlertmanagers"], "Prometheus → Alertmanager")
    firing = [a for a, s in o.firing(lay) if s == "firing"]
    fact(not firing, "no alert firing on a healthy stack", ", ".join(firing))
    return all(results)
