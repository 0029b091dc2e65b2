"""CLI: python -m simportal --size 1000 --seed 1 --port 8765 [--rate 2/50|off] [--control] [--info-file F]"""
from __future__ import annotations

import argparse
import json
import os
import time

from .portal import SimPortal


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simportal", description="Simulated Bitrix24 portal")
    ap.add_argument("--size", type=int, default=1000, help="approximate number of CRM rows")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--rate", default="2/50", help="DRAIN/BURST leaky bucket (e.g. 2/50, 5/250) or 'off'")
    ap.add_argument("--operating-limit", default="480", help="seconds per method per 10 min, or 'off'")
    ap.add_argument("--tz", default="+03:00", help="portal UTC offset")
    ap.add_argument("--control", action="store_true",
                    help="serve the control routes /_sim/<token>/... (stats, request log, reset, options, touch)")
    ap.add_argument("--control-token", help="token of the control routes (default: random)")
    ap.add_argument("--no-log", action="store_true",
                    help="keep only the compact request log (p.requests), not p.log with every command's params")
    ap.add_argument("--info-file", help="write {webhook_url, control_url, pid, build_s} as JSON here once serving")
    a = ap.parse_args(argv)
    rate = None if a.rate.lower() == "off" else tuple(float(x) for x in a.rate.split("/"))
    op = None if a.operating_limit.lower() == "off" else float(a.operating_limit)
    t = time.perf_counter()
    p = SimPortal(size=a.size, seed=a.seed, rate_limit=rate, operating_limit=op, tz_offset=a.tz,
                  host=a.host, port=a.port, log_enabled=not a.no_log)
    built = time.perf_counter() - t
    if a.control or a.control_token:
        p.enable_control(a.control_token)
    url = p.start()
    print(f"simportal: {a.size} rows, seed {a.seed}, built in {built:.1f}s", flush=True)
    print(url, flush=True)
    if p.control_url:
        print(f"control: {p.control_url}", flush=True)
    if a.info_file:
        tmp = a.info_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"webhook_url": url, "control_url": p.control_url, "pid": os.getpid(),
                       "build_s": round(built, 2)}, f)
        os.replace(tmp, a.info_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        p.stop()


if __name__ == "__main__":
    main()
