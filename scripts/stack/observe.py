"""What the running stack says: collector APIs and metrics, the balancer's stats CSV and mirror
view, InfluxQL on each replica, Prometheus alerts. Every call is bounded; a component that does
not answer reads as missing, never as an exception."""

import csv
import io
import json
import urllib.parse
import urllib.request

from .layout import Layout


def get(port: int, path: str, timeout: float = 3.0):
    """(status, body text); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError:
        return 0, ""


def post(port: int, path: str, body: bytes, timeout: float = 5.0, headers: dict = None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError:
        return 0, ""


def get_json(port: int, path: str):
    status, text = get(port, path)
    if status != 200:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def metrics(port: int, path: str = "/metrics") -> dict:
    """Prometheus text → {"name{labels}": value}; {} when the target does not answer."""
    status, text = get(port, path)
    out = {}
    if status != 200:
        return out
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def metric_sum(m: dict, name: str, **labels) -> float:
    """Sum of series `name` whose labels include `labels`."""
    total = 0.0
    for key, v in m.items():
        if key == name or key.startswith(name + "{"):
            if all(f'{k}="{val}"' in key for k, val in labels.items()):
                total += v
    return total


def stats_rows(lay: Layout) -> list:
    status, text = get(lay.stats, "/stats;csv")
    if status != 200:
        return []
    text = text.lstrip("# ")
    return list(csv.DictReader(io.StringIO(text)))


def influx(port: int, q: str, epoch: str = "s"):
    """An InfluxQL query in database telemetry: the first series' values, or None."""
    qs = urllib.parse.urlencode({"db": "telemetry", "q": q, "epoch": epoch})
    data = get_json(port, f"/query?{qs}")
    if not data:
        return None
    res = data.get("results", [{}])[0]
    return [v for s in res.get("series", []) for v in s.get("values", [])]


def influx_series(port: int, q: str, tag: str, epoch: str = "ms") -> dict:
    """{tag value: [rows]} of a GROUP BY query, or None when the replica does not answer."""
    qs = urllib.parse.urlencode({"db": "telemetry", "q": q, "epoch": epoch})
    data = get_json(port, f"/query?{qs}")
    if not data:
        return None
    res = data.get("results", [{}])[0]
    return {s.get("tags", {}).get(tag): s.get("values", []) for s in res.get("series", [])}


def influx_count(port: int, q: str) -> int:
    rows = influx(port, q)
    return int(rows[0][1]) if rows else 0


def cluster(lay: Layout, i: int):
    return get_json(lay.collector_api(i), "/cluster")


def targets(lay: Layout, i: int):
    return get_json(lay.collector_api(i), "/targets")


def firing(lay: Layout) -> list:
    """(alertname, state) of every alert Prometheus has pending or firing."""
    data = get_json(lay.prometheus, "/api/v1/alerts")
    if not data:
        return []
    return sorted({(a["labels"].get("alertname", "?"), a.get("state", "?")) for a in data["data"]["alerts"]})


def prometheus_targets(lay: Layout) -> list:
    data = get_json(lay.prometheus, "/api/v1/targets")
    if not data:
        return []
    return [(t["labels"].get("job"), t["labels"].get("instance"), t["health"]) for t in data["data"]["activeTargets"]]
