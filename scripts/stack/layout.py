"""The ports of the demo stack (docs/ports.md), all on 127.0.0.1, shifted by `offset` so a
second stack (the tests') never meets the first or the machine's own services."""

from dataclasses import dataclass, field
from pathlib import Path

# Recordings of real devices in snmpsim-data, each served by its own snmpsim on its own address
# (DEVICES_RANGE, community public) under the sysName given here (the recordings' own are
# anonymized): the collectors find them by discovery, not by a list.
RECORDINGS = {
    "cisco-c3560": "network/switch/cisco-c3560",
    "arista-dcs-7150s": "cloud/arista-dcs-7150s-52-cl",
    "juniper-mx960": "network/router/juniper-mx960-16-1r6-7-a",
    "huawei-s5720": "network/router/huawei-s5720",
    "hpe-procurve": "network/switch/hpe-procurve-516733-b21",
    "vyatta": "network/router/vyatta-unknown",
}


# The simulated devices' addresses: the collectors' [discovery] sweeps this range on the snmpsim port.
DEVICES_RANGE = "127.0.7.0/26"
# lab-sw1 (net-snmp) answers on two addresses of the range: discovered once.
LAB_SW1_ADDRESSES = ("127.0.7.40", "127.0.7.41")


def device_address(i: int) -> str:
    """The address of the i-th recording's simulated device."""
    return f"127.0.7.{10 + i}"


@dataclass
class Layout:
    work: Path
    offset: int = 0
    collectors: int = 3
    interval_s: int = 10
    # The collectors' cluster timing (components.py writes it into their configs).
    heartbeat_s: int = 1
    member_ttl_s: int = 5
    bins: Path = Path("target/release")
    extra: dict = field(default_factory=dict)

    def p(self, base: int) -> int:
        return base + self.offset

    # The documented layout.
    def collector_api(self, i: int) -> int:
        return self.p(8080 + i)

    @property
    def stats(self) -> int:
        return self.p(8404)

    @property
    def influx_front(self) -> int:
        return self.p(8086)

    @property
    def grafana_front(self) -> int:
        return self.p(3000)

    @property
    def snmpsim(self) -> int:
        return self.p(1161)

    @property
    def snmpd_v2c(self) -> int:
        return self.p(1162)

    @property
    def snmpd_v3(self) -> int:
        return self.p(1163)

    def traps(self, i: int) -> int:
        """Collector i's SNMP trap port (UDP)."""
        return self.p(1164 + i)

    def influx(self, i: int) -> int:
        return self.p(18086 + i)

    def grafana(self, i: int) -> int:
        return self.p(13000 + i)

    @property
    def redis(self) -> int:
        return self.p(6379)

    @property
    def prometheus(self) -> int:
        return self.p(9090)

    @property
    def alertmanager(self) -> int:
        return self.p(9093)

    @property
    def alert_sink(self) -> int:
        return self.p(9095)

    def tcp_ports(self) -> dict:
        """Every TCP port the stack listens on, by what listens there."""
        ports = {f"collector-{i + 1} API": self.collector_api(i) for i in range(self.collectors)}
        ports.update({
            "balancer stats": self.stats,
            "balancer InfluxDB frontend": self.influx_front,
            "InfluxDB influx-a": self.influx(0),
            "InfluxDB influx-b": self.influx(1),
            "Redis": self.redis,
            "Prometheus": self.prometheus,
            "Alertmanager": self.alertmanager,
            "alert receiver": self.alert_sink,
        })
        return ports

    def udp_ports(self) -> dict:
        ports = {"snmpsim": self.snmpsim, "snmpd v2c": self.snmpd_v2c, "snmpd v3": self.snmpd_v3}
        ports.update({f"collector-{i + 1} traps": self.traps(i) for i in range(self.collectors)})
        return ports

    def targets(self) -> list:
        """(name, address, SNMP settings) of every polled target: the discovered ones (the
        recordings and lab-sw1, on the snmpsim port of DEVICES_RANGE) and lab-r1, a v3 target
        listed in the collectors' configuration."""
        out = [
            (name, f"udp://{device_address(i)}:{self.snmpsim}", {"discovered": True})
            for i, name in enumerate(RECORDINGS)
        ]
        out.append(("lab-sw1", f"udp://{LAB_SW1_ADDRESSES[0]}:{self.snmpsim}", {"discovered": True}))
        out.append(("lab-r1", f"udp://127.0.0.1:{self.snmpd_v3}", {"v3": True}))
        return out
