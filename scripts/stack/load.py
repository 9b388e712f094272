"""Steady client load through the balancer while drills run: a writer (each write a few points
with a unique sequence number and its own timestamp, mirrored to both replicas) and a reader
(InfluxQL queries), each counting what failed. Bounded: they stop when told or after `limit_s`."""

import threading
import time

from . import observe as o
from .layout import Layout


class Load:
    def __init__(self, lay: Layout, every: float = 0.2, limit_s: float = 3600):
        self.lay, self.every, self.limit_s = lay, every, limit_s
        self.acked = []          # (seq, t) of writes answered 204
        self.failed_writes = []  # (t, status)
        self.reads = 0
        self.failed_reads = []   # (t, status)
        self.seq = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._writer, daemon=True),
                         threading.Thread(target=self._reader, daemon=True)]

    def start(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def _writer(self) -> None:
        end = time.monotonic() + self.limit_s
        while not self._stop.is_set() and time.monotonic() < end:
            self.seq += 1
            seq, ns = self.seq, time.time_ns()
            body = "".join(f"drill_load,client=c{k} seq={seq}i {ns + k}\n" for k in range(5)).encode()
            status, _ = o.post(self.lay.influx_front, "/write?db=telemetry", body, timeout=10)
            if status == 204:
                self.acked.append((seq, time.time()))
            else:
                self.failed_writes.append((time.time(), status))
            self._stop.wait(self.every)

    def _reader(self) -> None:
        end = time.monotonic() + self.limit_s
        while not self._stop.is_set() and time.monotonic() < end:
            status, _ = o.get(self.lay.influx_front, "/query?db=telemetry&q=SELECT+count(seq)+FROM+drill_load", timeout=10)
            self.reads += 1
            if status != 200:
                self.failed_reads.append((time.time(), status))
            self._stop.wait(self.every)

    def failures_between(self, t0: float, t1: float) -> int:
        return sum(1 for t, _ in self.failed_writes + self.failed_reads if t0 <= t <= t1)

    def acked_points(self) -> int:
        return 5 * len(self.acked)
