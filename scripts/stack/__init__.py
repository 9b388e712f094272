"""netpulse's whole HA stack on one machine, real processes on loopback.

The main job (`scripts/demo`), its end-to-end check (`scripts/demo --check`) and the resilience
drills (`scripts/drill`) share this package:

- `layout`: the ports of the documented layout (docs/ports.md), shifted by an offset;
- `procs`: child processes with a log file each, stopped in reverse start order;
- `components`: every component's config and start (snmpsim, snmpd, InfluxDB, Redis, the
  collectors, the balancer, Prometheus, Alertmanager, Grafana when installed);
- `observe`: what the stack says over HTTP (JSON, Prometheus text, stats CSV, InfluxQL);
- `check`: the end-to-end verification; `summary`: the live one-screen view;
- `load`: steady read/write clients through the balancer; `drills`: the drills and their table.

Python 3 standard library only (Debian's /usr/bin/python3).
"""
