"""Benchmark: build a portal and page every CRM list through batch-chained keyset windows over HTTP.

    python -m simportal.bench --size 1000000 [--entities deal,contact] [--json]

Uses the recommended technique (docs/bitrix24-api-notes.md#paging): 50 commands per batch, ``filter[>ID]=$result[prev][49][ID]``,
``start=-1``, stop at the first short page.  Rate limiting is off; the operating limiter is on.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import requests

from .portal import SimPortal

SELECTS = {"activity": ["*", "COMMUNICATIONS"], "product": ["*"]}
FULL = ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]


def page_entity(session, url, ent) -> tuple[int, int]:
    sel = "".join(f"&select[]={s}" for s in SELECTS.get(ent, FULL))
    last, rows, requests_ = 0, 0, 0
    while True:
        cmd = {}
        for k in range(50):
            ref = str(last) if k == 0 else f"$result[p{k - 1}][49][ID]"
            cmd[f"p{k}"] = f"crm.{ent}.list?order[ID]=ASC&filter[>ID]={ref}{sel}&start=-1"
        r = session.post(url + "batch", json={"halt": 1, "cmd": cmd}, timeout=300)
        requests_ += 1
        res = r.json()["result"]
        if res["result_error"]:
            raise RuntimeError(res["result_error"])
        short = False
        for k in range(50):
            page = res["result"].get(f"p{k}") if isinstance(res["result"], dict) else None
            if page is None:
                short = True
                break
            rows += len(page)
            if len(page) < 50:
                short = True
                break
            last = int(page[-1]["ID"])
        if short:
            return rows, requests_


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simportal.bench")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--entities", default="deal,contact,lead,activity,company,product")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--url", help="page an already running portal (python -m simportal ...) instead")
    a = ap.parse_args(argv)
    p = None
    if a.url:
        url, out = a.url, {"url": a.url}
    else:
        t = time.perf_counter()
        p = SimPortal(size=a.size, seed=a.seed, rate_limit=None)
        build = time.perf_counter() - t
        rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        url = p.start()
        out = {"size": a.size, "build_s": round(build, 2), "rss_after_build_mb": round(rss_build)}
    s = requests.Session()
    total_rows, t_all = 0, time.perf_counter()
    for ent in a.entities.split(","):
        t = time.perf_counter()
        rows, nreq = page_entity(s, url, ent)
        dt = time.perf_counter() - t
        total_rows += rows
        out[ent] = {"rows": rows, "batches": nreq, "seconds": round(dt, 1), "rows_per_s": round(rows / dt)}
        if not a.json:
            print(ent, out[ent], flush=True)
    out["total_rows"] = total_rows
    out["page_all_s"] = round(time.perf_counter() - t_all, 1)
    out["rss_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if p is not None:
        out["operating_s"] = {m: round(p.stats.operating(m), 1) for m in
                              (f"crm.{e}.list" for e in a.entities.split(","))}
        p.stop()
    print(json.dumps(out, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
