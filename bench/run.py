"""Benchmark: Bitrix24 → DuckDB contenders against the simulated portal (see bench/README.md).

    .venv-bench/bin/python bench/run.py                      # 10k, 100k and 1M rows (~40 min)
    .venv-bench/bin/python bench/run.py --quick              # 2,000 rows, every contender (~1-2 min)
    .venv-bench/bin/python bench/run.py --sizes 10000 --contenders ours,fb24

Writes bench/results.md, bench/results.json and bench/results.png (the plot needs matplotlib).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import model  # noqa: E402
import plan  # noqa: E402
import report  # noqa: E402
from simctl import REPO, Sim, repo_env  # noqa: E402

CONTENDERS = ["ours", "ours_proto", "floor", "fb24", "rest_api", "reference"]
DEFAULT_CONTENDERS = ["ours", "floor", "fb24", "rest_api", "reference"]
# Variants: bench name -> (contenders.py runner, extra arguments). `ours_proto`: the connector with the
# prototype fixes of bench/prototypes.py (none pending measurement in the main tables today).
VARIANTS: Dict[str, Any] = {"ours_proto": ("ours", [])}
PER_DEAL = ("crm.deal.productrows.get", "crm.deal.contact.items.get", "crm.timeline.comment.list")
# Concurrency of each client in the replay: fast_bitrix24 keeps up to 50 requests in flight.
LANES = {"fb24": 50}
# Largest size each contender runs at for real by default; above it: counting mode or plan (see README).
REAL_MAX = {"ours": 10**9, "ours_proto": 10**9, "floor": 100_000, "fb24": 100_000, "rest_api": 10_000,
            "reference": 100_000}
SAMPLE_ABOVE = {"reference": 10_000}  # counting mode (per-deal calls sampled) above this size
# Runs measured under the portal's real (time-scaled) limits: (key, label, contenders.py runner, arguments).
# The per-deal peers need hours of simulated time at these sizes and are left to the model.


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.python = a.python or sys.executable
        self.work = Path(a.workdir or tempfile.mkdtemp(prefix="bitrix24-bench-"))
        self.results: Dict[str, Any] = {"meta": self.meta(), "sizes": {}}

    def meta(self) -> Dict[str, Any]:
        import platform

        fb = _pkg_version("fast-bitrix24")
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                    text=True).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "bitrix24"], cwd=REPO, capture_output=True,
                                   text=True).stdout.strip()
        except OSError:
            commit, dirty = None, ""
        return {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}", "dlt": _pkg_version("dlt"),
                "duckdb": _pkg_version("duckdb"), "fast_bitrix24": fb, "commit": commit,
                "bitrix24_dirty": bool(dirty), "args": vars(self.a)}

    # ------------------------------------------------------------------ one contender run
    def run_contender(self, sim: Sim, size: int, contender: str, phase: str, extra: Optional[List[str]] = None,
                      name: Optional[str] = None) -> Dict[str, Any]:
        workdir = self.work / str(size)
        workdir.mkdir(parents=True, exist_ok=True)
        if contender in VARIANTS:
            name = name or contender
            contender, more = VARIANTS[contender]
            extra = more + list(extra or [])
        out = workdir / f"{name or contender}_{phase}.json"
        out.unlink(missing_ok=True)
        cmd = [self.python, str(HERE / "contenders.py"), contender, "--url", sim.webhook_url, "--workdir",
               str(workdir), "--phase", phase, "--out", str(out)] + (["--name", name] if name else []) + (extra or [])
        sim.reset()
        errlog = open(workdir / f"{name or contender}_{phase}.log", "w")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=repo_env(), stdout=errlog, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        errlog.close()
        records = sim.requests(clear=True)
        stats = sim.stats()
        if proc.returncode != 0 or not out.exists():
            tail = (workdir / f"{name or contender}_{phase}.log").read_text()[-3000:]
            raise RuntimeError(f"{contender} {phase} at {size} failed (exit {proc.returncode}):\n{tail}")
        res = json.loads(out.read_text())
        res["process_s"] = elapsed
        res["rss_mb"] = res.get("peak_rss_mb") or usage.ru_maxrss / 1024.0
        res["dest_rows"] = dest_rows(workdir / f"{name or contender}.duckdb")
        res["stats"] = stats
        res["records"] = records
        return res

    # ------------------------------------------------------------------ metrics from a run
    def summarise(self, res: Dict[str, Any], contender: str, info: Dict[str, Any]) -> Dict[str, Any]:
        records = res.pop("records")
        weight = 1.0
        if res.get("deal_sample", 1) > 1 and res.get("deals_sampled"):
            weight = res["deals_seen"] / res["deals_sampled"]
        weights = {m: weight for m in PER_DEAL} if weight != 1.0 else None
        reqs = model.from_records(records, {m: int(round(weight)) for m in PER_DEAL} if weights else None)
        per_method: Counter = Counter()
        for rec in records:
            w = weight if rec[2] in PER_DEAL else 1.0
            for m in {m for m, _ in rec[3]} or {rec[2]}:
                per_method[m] += w
        http = sum(weight if rec[2] in PER_DEAL else 1.0 for rec in records)
        stats = res.pop("stats")
        operating = {m: s * (weight if m in PER_DEAL else 1.0) for m, s in stats["operating"].items() if m != "batch"}
        commands = {m: n * (weight if m in PER_DEAL else 1.0) for m, n in stats["commands"].items() if m != "batch"}
        out = {
            "requests": round(http), "requests_per_method": {m: round(v) for m, v in per_method.items()},
            "commands_per_method": {m: round(v) for m, v in commands.items()},
            "operating_s": round(sum(operating.values()), 1),
            "operating_per_method": {m: round(v, 1) for m, v in operating.items()},
            "extrapolated": weight != 1.0, "sample_weight": round(weight, 3),
            "wall_s": round(res["wall_s"], 2), "cpu_s": round(res["cpu_s"], 2), "rss_mb": round(res["rss_mb"], 1),
            "dest_rows": res["dest_rows"], "notes": res.get("notes", []), "client": res.get("client", {}),
        }
        lanes = LANES.get(contender, 1)
        ideal = model.replay(reqs, model.Limits(), lanes=lanes)
        out["modelled_s"] = round(ideal.wall_s, 1)
        out["model"] = {"server_s": round(ideal.server_s, 1), "bucket_wait_s": round(ideal.bucket_wait_s, 1),
                        "operating_wait_s": round(ideal.operating_wait_s, 1), "over_60s": ideal.over_60s,
                        "lanes": lanes}
        if contender in ("ours", "ours_proto"):
            own = model.replay(reqs, model.Limits(pause_threshold=self.a.threshold), lanes=1)
            par = model.replay(reqs, model.Limits(pause_threshold=self.a.threshold), by="method")
            par_ideal = model.replay(reqs, model.Limits(), by="method")
            out["modelled_own_policy_s"] = round(own.wall_s, 1)
            out["modelled_parallel_streams_s"] = round(par.wall_s, 1)
            out["modelled_parallel_streams_ideal_s"] = round(par_ideal.wall_s, 1)
        main = sum(v for k, v in res["dest_rows"].items() if k in report.ROW_TABLES)
        out["rows"] = main
        out["rows_per_s"] = round(main / res["wall_s"]) if res["wall_s"] > 0 and not out["extrapolated"] else None
        out["log"] = reqs if self.a.keep_logs else None
        return out

    # ------------------------------------------------------------------ one size
    def run_size(self, size: int) -> None:
        a = self.a
        log(f"size {size:,}: starting the simulated portal")
        sim = Sim(size, a.seed, self.work, python=self.python)
        entry: Dict[str, Any] = {"size": size, "build_s": sim.build_s, "runs": {}, "plans": {}}
        self.results["sizes"][str(size)] = entry
        try:
            info = sim.info()
            entry["info"] = {k: info[k] for k in ("counts", "visible_deals")}
            entry["crm_rows"] = sum(info["counts"][e] for e in plan.LIST_ENTITIES)
            log(f"size {size:,}: {entry['crm_rows']:,} CRM rows, {info['visible_deals']:,} deals")
            modes = {c: self.mode(c, size) for c in a.contenders}
            for phase in ("full", "incr", "noop"):
                if phase == "incr":
                    touched = sim.touch(0.01)["touched"]
                    entry["touched"] = {e: len(ids) for e, ids in touched.items()}
                    sim.advance(2)
                if phase == "noop":
                    sim.advance(2)
                for contender in a.contenders:
                    mode = modes[contender]
                    if phase == "noop" and contender not in ("ours", "ours_proto"):
                        continue
                    if contender == "floor" and phase != "full":
                        continue
                    key = f"{contender}:{phase}"
                    if mode == "plan":
                        entry["runs"][key] = self.planned(contender, phase, info, entry)
                        continue
                    if mode == "skip":
                        continue
                    extra = []
                    if mode.startswith("sample"):
                        extra = ["--deal-sample", mode.split(":")[1]]
                    log(f"size {size:,}: {contender} {phase}{' (' + mode + ')' if mode != 'real' else ''}")
                    try:
                        res = self.run_contender(sim, size, contender, phase, extra)
                    except RuntimeError as exc:
                        if contender == "ours":
                            raise
                        # a peer that fails is reported, not allowed to end the benchmark
                        last = [ln for ln in str(exc).splitlines() if ln.strip()][-12:]
                        reason = next((ln.strip() for ln in last if "Error" in ln), last[-1] if last else "")
                        entry.setdefault("failed", {})[key] = reason[:300]
                        log(f"  FAILED: {reason[:200]}")
                        continue
                    summary = self.summarise(res, contender, info)
                    summary["mode"] = mode
                    entry["runs"][key] = summary
                    log(f"  {summary['requests']:,} requests, {summary['operating_s']:,.0f} s operating, "
                        f"modelled {summary['modelled_s']:,.0f} s, local {summary['wall_s']:.1f} s "
                        f"(cpu {summary['cpu_s']:.1f} s), {summary['rss_mb']:.0f} MB")
            if a.check_plans:
                entry["plan_check"] = self.check_plans(info, entry)
            if size == a.backfill_size and "ours" in a.contenders and not a.no_backfill:
                entry["backfill"] = self.backfill(sim, size)
            if size in a.limits_sizes and "ours" in a.contenders and not a.no_limits:
                entry["limits"] = self.under_limits(sim, size, entry)
        finally:
            sim.stop()
            self.save()

    def mode(self, contender: str, size: int) -> str:
        forced = dict(x.split("=") for x in self.a.modes.split(",") if x) if self.a.modes else {}
        if contender in forced:
            return forced[contender]
        if size > REAL_MAX.get(contender, 10**9):
            return "plan" if contender in plan.PLANS else "skip"
        if contender in SAMPLE_ABOVE and size > SAMPLE_ABOVE[contender]:
            return f"sample:{max(2, size // SAMPLE_ABOVE[contender])}"
        return "real"

    # ------------------------------------------------------------------ counting mode by plan
    def planned(self, contender: str, phase: str, info: Dict[str, Any], entry: Dict[str, Any]) -> Dict[str, Any]:
        touched = entry.get("touched", {})
        reqs = plan.PLANS[contender](info, phase, touched)
        lanes = LANES.get(contender, 1)
        ideal = model.replay(reqs, model.Limits(), lanes=lanes)
        per_method: Counter = Counter()
        commands: Counter = Counter()
        operating: Dict[str, float] = defaultdict(float)
        for _method, costs, w in reqs:
            for m in {m for m, _ in costs}:
                per_method[m] += w
            for m, c in costs:
                commands[m] += w
                operating[m] += c * w
        return {"mode": "plan", "requests": sum(w for *_, w in reqs), "requests_per_method": dict(per_method),
                "commands_per_method": dict(commands), "operating_s": round(sum(operating.values()), 1),
                "operating_per_method": {m: round(v, 1) for m, v in operating.items()},
                "modelled_s": round(ideal.wall_s, 1), "extrapolated": True,
                "model": {"server_s": round(ideal.server_s, 1), "bucket_wait_s": round(ideal.bucket_wait_s, 1),
                          "operating_wait_s": round(ideal.operating_wait_s, 1), "over_60s": ideal.over_60s,
                          "lanes": lanes},
                "wall_s": None, "cpu_s": None, "rss_mb": None, "rows": None, "rows_per_s": None,
                "notes": ["counting mode: requests and operating time computed from the portal's row counts "
                          "(plan validated against measured runs at smaller sizes); not run"]}

    def check_plans(self, info: Dict[str, Any], entry: Dict[str, Any]) -> Dict[str, Any]:
        """The plan of each measured contender next to what it really did (validates counting mode)."""
        out = {}
        for key, run in entry["runs"].items():
            contender, phase = key.split(":")
            if run.get("mode") != "real" or contender not in plan.PLANS:
                continue
            p = self.planned(contender, phase, info, entry)
            out[key] = {"measured_requests": run["requests"], "plan_requests": p["requests"],
                        "measured_operating_s": run["operating_s"], "plan_operating_s": p["operating_s"],
                        "measured_modelled_s": run["modelled_s"], "plan_modelled_s": p["modelled_s"]}
        return out

    # ------------------------------------------------------------------ measured under the real limits
    def under_limits(self, sim: Sim, size: int, entry: Dict[str, Any]) -> Dict[str, Any]:
        """Every contender that can run under the limits, against the portal with its limits on (request-rate
        bucket, operating-time windows, server time per command), time-scaled by one factor for all of them,
        full then 1 % incremental, side by side. *Actual* = the requests phase / scale + the local phases
        (normalize and load make no request and run unscaled)."""
        first = size == min(self.a.limits_sizes)
        runs = [r[:4] for r in report.LIMIT_RUNS if (r[0].split("_")[0] in self.a.contenders or r[0] in self.a.contenders)
                and (first or not r[4])]
        scales = {phase: self.limits_scale(entry, phase) for phase in ("full", "incr")}
        out: Dict[str, Any] = {"scale": scales["full"], "scales": scales, "runs": {}}
        try:
            for phase in ("full", "incr"):
                scale = scales[phase]
                if phase == "incr":
                    sim.limits(None)  # the edits and the clock step are not part of any run
                    sim.touch(0.01)
                    sim.advance(2)
                sim.limits(scale)
                for key, label, contender, more in runs:
                    if f"{key}:full" in out.get("failed", {}) and phase == "incr":
                        continue  # without its full sync an incremental run would read everything again
                    log(f"size {size:,}: {label} {phase} under Bitrix limits, time scaled x{scale:.3g}")
                    extra = ["--rps", str(2.0 / scale), "--burst", "50", "--threshold", str(self.a.threshold)] + more
                    if contender == "fb24":
                        extra += ["--time-scale", str(scale)]
                    try:
                        res = self.run_contender(sim, size, contender, phase, extra, name=f"limits_{key}")
                    except RuntimeError as exc:
                        if contender == "ours":
                            raise
                        # a peer that fails under the limits is reported, not allowed to end the benchmark
                        last = [ln for ln in str(exc).splitlines() if ln.strip()]
                        out.setdefault("failed", {})[f"{key}:{phase}"] = (last[-1] if last else "")[:300]
                        log(f"  FAILED: {out['failed'][f'{key}:{phase}'][:200]}")
                        continue
                    out["runs"][f"{key}:{phase}"] = self.limits_summary(res, contender, label, scale)
                    r = out["runs"][f"{key}:{phase}"]
                    log(f"  actual {r['actual_s']:,.1f} s (modelled {r['modelled_s']:,.1f} s), {r['requests']:,} "
                        f"requests, {r['rejected_by_portal']} rejected, peak {r['peak_in_flight']} in flight")
        finally:
            sim.limits(None)
        return out

    def limits_scale(self, entry: Dict[str, Any], phase: str) -> float:
        """One time scale per phase for every contender: the slowest modelled run fits the budget, and a
        phase that fits it anyway runs in real time (scale 1: no client CPU inflated by 1/scale)."""
        if self.a.scale:
            return self.a.scale
        slowest = max([entry["runs"].get(f"{c}:{phase}", {}).get("modelled_s") or 0 for c in ("fb24", "ours")]
                      + [1.0])
        return min(1.0, max(0.02, self.a.limits_budget / slowest))

    def limits_summary(self, res: Dict[str, Any], contender: str, label: str, scale: float) -> Dict[str, Any]:
        records = res.pop("records")
        stats = res.pop("stats")
        reqs = model.from_records(records)
        local = float(res.get("local_s") or 0.0)
        if contender == "fb24":
            modelled = model.replay(reqs, model.Limits(), lanes=LANES["fb24"])
        else:
            modelled = model.replay(reqs, model.Limits(pause_threshold=self.a.threshold), by="method")
        return {
            "label": label, "contender": contender,
            "actual_s": round((res["wall_s"] - local) / scale + local, 1),
            "requests_phase_s": round((res["wall_s"] - local) / scale, 1), "local_phases_s": round(local, 1),
            "local_wall_s": round(res["wall_s"], 1), "cpu_s": round(res["cpu_s"], 1),
            "requests": len(records), "rejected_by_portal": sum(1 for r in records if r[1] in (429, 503)),
            "operating_s": round(sum(v for m, v in stats["operating"].items() if m != "batch"), 1),
            "peak_in_flight": stats.get("peak_in_flight"), "rss_mb": round(res["rss_mb"], 1),
            "rows": sum(v for k, v in res["dest_rows"].items() if k in report.ROW_TABLES),
            "modelled_s": round(modelled.wall_s, 1), "client": res.get("client", {}),
        }

    def backfill(self, sim: Sim, size: int) -> Dict[str, Any]:
        """A first sync in slices, uninterrupted and stopped twice (after one committed slice each
        time, then run to the end): the requests each costs (issue 15)."""
        rows = str(self.a.slice_rows)
        log(f"size {size:,}: ours, first sync in slices of {int(rows):,} rows, uninterrupted")
        whole = self.run_contender(sim, size, "ours_slices", "full", ["--slice-rows", rows], name="bf_whole")
        out: Dict[str, Any] = {"slice_rows": int(rows), "uninterrupted": {
            "requests": len(whole["records"]), "slices": whole["slices"], "rows": sum(whole["dest_rows"].values())}}
        parts = []
        for stop in (1, 1, 0):
            log(f"size {size:,}: ours, first sync in slices, {'stopped after 1 slice' if stop else 'to the end'}")
            res = self.run_contender(sim, size, "ours_slices", "full", ["--slice-rows", rows, "--stop-after", str(stop)],
                                     name="bf_cut")
            parts.append({"requests": len(res["records"]), "slices": res["slices"], "stopped": res["stopped"],
                          "pending": res["pending"]})
        cut_rows = sum(res["dest_rows"].values())
        out["interrupted_twice"] = {"runs": parts, "requests": sum(p["requests"] for p in parts),
                                    "slices": sum(p["slices"] for p in parts), "rows": cut_rows}
        out["same_rows"] = whole["dest_rows"] == res["dest_rows"]
        log(f"  uninterrupted {out['uninterrupted']['requests']:,} requests; interrupted twice "
            f"{out['interrupted_twice']['requests']:,}; same rows: {out['same_rows']}")
        return out

    def save(self) -> None:
        path = Path(self.a.out) / "results.json"
        data = json.loads(json.dumps(self.results, default=str))
        for entry in data["sizes"].values():
            for run in entry.get("runs", {}).values():
                run.pop("log", None)
        path.write_text(json.dumps(data, indent=1))

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            for size in self.a.sizes:
                self.run_size(size)
        finally:
            self.results["meta"]["total_s"] = round(time.perf_counter() - t0, 1)
            self.results["meta"]["commit_at_end"] = self.meta()["commit"]
            self.save()
            report.write(self.results, Path(self.a.out))
            if not self.a.keep_workdir and not self.a.workdir:
                shutil.rmtree(self.work, ignore_errors=True)
        log(f"done in {time.perf_counter() - t0:.0f} s: {Path(self.a.out) / 'results.md'}")


def dest_rows(path: Path) -> Dict[str, int]:
    import duckdb

    if not path.exists():
        return {}
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables where table_schema = 'bitrix24'"
                             ).fetchall()
        for (name,) in tables:
            if name in report.ROW_TABLES or name == "deal_contacts":
                out[name] = con.execute(f'select count(*) from bitrix24."{name}"').fetchone()[0]
    return out


def _pkg_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="CRM row counts (default %(default)s)")
    ap.add_argument("--quick", action="store_true", help="one small size (2,000 rows), every contender, ~1-2 min")
    ap.add_argument("--contenders", default=",".join(DEFAULT_CONTENDERS),
                    help=f"default: %(default)s; all: {','.join(CONTENDERS)}")
    ap.add_argument("--modes", default="", help="force modes, e.g. 'reference=real,fb24=plan' "
                    "(real | sample:N | plan | skip); default: real up to 100k, counting mode above")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(HERE), help="where results.md/.json/.png go (default: bench/)")
    ap.add_argument("--workdir", help="keep pipelines, DuckDB files and logs here (default: a temp dir, removed)")
    ap.add_argument("--keep-workdir", action="store_true")
    ap.add_argument("--python", help="interpreter for the portal and contenders (default: this one)")
    ap.add_argument("--threshold", type=float, default=200.0, help="ours: operating_time_threshold (default 200)")
    ap.add_argument("--limits-sizes", default="10000,100000",
                    help="sizes measured under the portal's real (time-scaled) limits (default %(default)s)")
    ap.add_argument("--no-limits", action="store_true", help="skip the runs under the real limits")
    ap.add_argument("--limits-budget", type=float, default=300.0,
                    help="real seconds the slowest full run under the limits should take (sets the scale; default 300)")
    ap.add_argument("--scale", type=float, help="time scale of the runs under the limits (default: from the budget)")
    ap.add_argument("--backfill-size", type=int, default=100_000, help="size of the sliced-backfill experiment")
    ap.add_argument("--no-backfill", action="store_true", help="skip the sliced-backfill experiment")
    ap.add_argument("--slice-rows", type=int, default=10_000, help="backfill experiment: rows per slice")
    ap.add_argument("--only-backfill", action="store_true",
                    help="run only the backfill experiment and add it to the existing results.json")
    ap.add_argument("--no-check-plans", dest="check_plans", action="store_false",
                    help="do not compare counting-mode plans with measured runs")
    ap.add_argument("--keep-logs", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite results.md and results.png from the results.json in --out; run nothing")
    a = ap.parse_args(argv)
    if a.quick:
        a.sizes = "2000"
        if a.limits_sizes == "10000,100000":
            a.limits_sizes = "2000"
        a.limits_budget = min(a.limits_budget, 12.0)
    a.sizes = [int(s.replace("_", "")) for s in str(a.sizes).split(",") if s]
    a.limits_sizes = [int(s.replace("_", "")) for s in str(a.limits_sizes).split(",") if s]
    a.contenders = [c for c in a.contenders.split(",") if c]
    unknown = set(a.contenders) - set(CONTENDERS)
    if unknown:
        ap.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    return a


def main(argv: Optional[List[str]] = None) -> None:
    a = parse_args(argv)
    if a.report_only:
        report.write(json.loads((Path(a.out) / "results.json").read_text()), Path(a.out))
        return
    if a.only_backfill:
        only_backfill(a)
        return
    Bench(a).run()


def only_backfill(a: argparse.Namespace) -> None:
    """The sliced-backfill experiment alone, added to the last full run's results.json."""
    path = Path(a.out) / "results.json"
    results = json.loads(path.read_text())
    bench = Bench(a)
    size = a.backfill_size
    sim = Sim(size, a.seed, bench.work, python=bench.python)
    try:
        entry = results["sizes"].setdefault(str(size), {"size": size, "runs": {}})
        entry["backfill"] = bench.backfill(sim, size)
        entry["backfill"]["commit"] = bench.meta()["commit"]
    finally:
        sim.stop()
    path.write_text(json.dumps(results, indent=1))
    report.write(results, Path(a.out))
    if not a.keep_workdir and not a.workdir:
        shutil.rmtree(bench.work, ignore_errors=True)


if __name__ == "__main__":
    main()
