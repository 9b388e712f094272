"""python3 -m stack demo|drill [options] (run from scripts/, as scripts/demo and scripts/drill do)."""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import check, summary
from .layout import Layout
from .stack import Stack


def layout(args) -> Layout:
    work = Path(tempfile.mkdtemp(prefix="netpulse-stack.", dir=os.environ.get("NETPULSE_DEMO_DIR", "/tmp")))
    bins = Path(os.environ.get("NETPULSE_BIN_DIR", Path(__file__).resolve().parents[2] / "target/release"))
    return Layout(work=work, offset=int(os.environ.get("NETPULSE_DEMO_PORT_OFFSET", "0")),
                  collectors=args.collectors, interval_s=args.interval, bins=bins)


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/demo")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo")
    d.add_argument("--check", action="store_true", help="bring the stack up, verify it end to end, exit 0/1")
    dr = sub.add_parser("drill")
    dr.add_argument("--short", action="store_true", help="shortened outages (the test suite's run)")
    dr.add_argument("--only", action="append", default=[], help="run only drills whose name contains this")
    dr.add_argument("--soak", metavar="DURATION", help="run the stack DURATION (90s, 20m, 1h) with one fault of each drill")
    dr.add_argument("--out", type=Path, help="where --soak writes soak.md, soak.csv and soak.svg (default: the work folder)")
    dr.add_argument("--rejudge", type=Path, metavar="DIR", help="judge a finished soak's curves again from its files")
    for p in (d, dr):
        p.add_argument("--collectors", type=int, default=3)
        p.add_argument("--interval", type=int, default=10, help="poll interval, seconds")
        p.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    args = ap.parse_args()
    if args.cmd == "drill" and args.rejudge:
        from . import soak
        return soak.rejudge(args.rejudge)
    if args.cmd == "drill" and args.soak:
        from . import soak
        try:
            soak.parse_duration(args.soak)
        except ValueError as e:
            ap.error(str(e))
        # What the soak wrote stays, with the logs beside it.
        args.keep = args.keep or args.out is None
    lay = layout(args)
    stack = Stack(lay)
    # Ctrl-C and SIGTERM stop everything, whatever is running.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    code = 1
    try:
        print(f"netpulse: starting the HA stack on 127.0.0.1 (work folder {lay.work})")
        stack.up(explicit_ports="NETPULSE_DEMO_PORT_OFFSET" in os.environ)
        if args.cmd == "demo" and args.check:
            print("checking it end to end:")
            code = 0 if check.run(stack) else 1
        elif args.cmd == "demo":
            print(summary.where(lay, stack.grafana))
            time.sleep(3)
            summary.live(stack)
        elif args.soak:
            from . import soak
            code = soak.run(stack, soak.parse_duration(args.soak), args.out or lay.work,
                            "scripts/drill " + " ".join(sys.argv[2:]))
        else:
            from . import drills
            code = drills.run(stack, short=args.short, only=args.only)
    except KeyboardInterrupt:
        code = 0 if args.cmd == "demo" and not args.check else 130
    except RuntimeError as e:
        print(f"netpulse: {e}", file=sys.stderr)
        code = 1
    finally:
        print("\nstopping the stack…")
        stack.down()
        if args.keep or code not in (0, 130):
            print(f"logs and data kept in {lay.work}")
        else:
            shutil.rmtree(lay.work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
