"""The whole stack, brought up in dependency order and stopped in reverse: agents, databases,
Redis, the collectors, the balancer, monitoring. Ports are checked first: a busy one is named
with what would have used it."""

import time

from . import components as c
from . import monitoring as mon
from .layout import LAB_SW1_ADDRESSES, Layout
from .procs import Procs, tcp_open, udp_bound


class Stack:
    def __init__(self, lay: Layout, log=print):
        self.lay, self.log = lay, log
        self.procs = Procs()
        self.sink = None
        self.grafana = False
        self.started = time.time()
        # Undone after every process stopped (a tmpfs a drill mounted).
        self.cleanup = []

    def busy(self) -> list:
        busy = [f"{what} (TCP {port})" for what, port in self.lay.tcp_ports().items() if tcp_open(port)]
        busy += [f"{what} (UDP {port})" for what, port in self.lay.udp_ports().items() if udp_bound(port)]
        return busy

    def free_ports(self, explicit: bool) -> None:
        """The documented ports, or — when the machine's own services hold some (a fresh Debian
        starts the redis-server, influxdb and prometheus it installs) and no offset was asked
        for — every port shifted by the first free thousand, said so."""
        busy = self.busy()
        if not busy:
            return
        if not explicit:
            for offset in (1000, 2000, 3000, 4000):
                self.lay.offset = offset
                if not self.busy():
                    self.log(f"  ! in use on this machine: {', '.join(busy)}; every demo port shifted by +{offset}")
                    return
        raise RuntimeError(
            "ports of the demo layout are in use: " + ", ".join(busy)
            + "\n  stop what holds them, or shift every port: NETPULSE_DEMO_PORT_OFFSET=2000 scripts/demo")

    def up(self, explicit_ports: bool = False) -> None:
        lay, p = self.lay, self.procs
        self.free_ports(explicit_ports)
        steps = [
            ("snmpsim: 6 recordings of real devices, one address each", lambda: c.snmpsim(p, lay)),
            ("net-snmp agents lab-sw1 (v2c, two addresses) and lab-r1 (v3)",
             lambda: (c.snmpd(p, lay, "lab-sw1", lay.snmpd_v2c, LAB_SW1_ADDRESSES), c.snmpd(p, lay, "lab-r1", lay.snmpd_v3))),
            ("InfluxDB influx-a and influx-b", lambda: (c.influxd(p, lay, 0), c.influxd(p, lay, 1))),
            ("Redis", lambda: c.redis(p, lay)),
            (f"{lay.collectors} collectors in cluster mode", lambda: [c.collector(p, lay, i) for i in range(lay.collectors)]),
            ("Grafana ×2", lambda: setattr(self, "grafana", mon.grafana(p, lay))),
            ("the balancer", lambda: c.balancer(p, lay)),
            ("Alertmanager and its receiver", self._alerting),
            ("Prometheus with the project's rules", lambda: mon.prometheus(p, lay)),
        ]
        for what, start in steps:
            t = time.monotonic()
            start()
            if what.startswith("Grafana") and not self.grafana:
                self.log("  - Grafana: no grafana-server on PATH; the balancer fronts InfluxDB only")
                continue
            self.log(f"  ✓ {what} ({time.monotonic() - t:.1f} s)")

    def _alerting(self) -> None:
        self.sink = mon.AlertSink(self.lay.alert_sink)
        mon.alertmanager(self.procs, self.lay)

    def down(self) -> None:
        self.procs.stop_all()
        for undo in self.cleanup:
            undo()
        if self.sink:
            self.sink.close()
