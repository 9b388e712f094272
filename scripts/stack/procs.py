"""Child processes of the stack: each with its log file, started in order, stopped in reverse
(TERM, then KILL after a grace period), whatever happens to the orchestrator."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


class Proc:
    def __init__(self, name: str, argv: list, log: Path, env: dict = None, cwd: Path = None):
        self.name, self.argv, self.log, self.env, self.cwd = name, argv, log, env, cwd
        self.popen = None

    def start(self) -> "Proc":
        env = dict(os.environ, **(self.env or {}))
        out = open(self.log, "ab")
        self.popen = subprocess.Popen(
            self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=self.cwd, start_new_session=True)
        out.close()
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
            self.popen.wait(10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Procs:
    """The stack's processes by name, in start order."""

    def __init__(self):
        self.order = []
        self.by_name = {}

    def add(self, p: Proc) -> Proc:
        if p.name not in self.by_name:
            self.order.append(p.name)
        self.by_name[p.name] = p
        return p.start()

    def __getitem__(self, name: str) -> Proc:
        return self.by_name[name]

    def get(self, name: str):
        return self.by_name.get(name)

    def stop_all(self, grace: float = 10.0) -> None:
        for name in reversed(self.order):
            self.by_name[name].stop(grace)


def tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def wait_until(what: str, cond, timeout: float, proc: Proc = None, every: float = 0.2):
    """Waits for `cond()` to be true; fails naming `what` (and the process's last log lines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - a service still starting answers anything
            pass
        if proc is not None and proc.popen is not None and not proc.alive():
            raise RuntimeError(f"{what}: {proc.name} exited ({proc.popen.returncode}):\n{proc.log_tail()}")
        time.sleep(every)
    tail = f"\n{proc.log_tail()}" if proc else ""
    raise RuntimeError(f"{what}: not within {timeout:.0f} s{tail}")


def http_ok(port: int, path: str, expect=range(200, 300)) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status in expect
    except urllib.error.HTTPError as e:
        return e.code in expect
    except OSError:
        return False
