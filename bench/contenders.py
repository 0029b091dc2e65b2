"""One contender, one phase, in this process (bench/run.py starts one subprocess per run and reads its max RSS).

    python bench/contenders.py CONTENDER --url WEBHOOK --workdir DIR --phase full|incr|noop --out result.json

Contenders (all load the same lists and deal sub-resources into DuckDB with dlt, loader_file_format="jsonl"):

* ours       - bitrix24_source(...): batch keyset lists, deal sub-resources 50 deals per request;
* floor      - dlt alone: the rows `ours` yields, captured in memory first (untimed), then loaded from memory;
* fb24       - fast_bitrix24 (PyPI): get_all() on each list, get_by_ID()/call() for the per-deal methods, loaded
               with dlt from the lists it returns;
* rest_api   - dlt.sources.rest_api configured for Bitrix's start/next paging, one child resource per deal
               sub-resource (one request per deal);
* reference  - plain `requests`, start/next offset paging with counting, one call per deal per sub-resource (how
               the commercial connector documents its deal options), loaded with dlt from generators.

The JSON written to --out: wall_s and cpu_s of the timed section (the whole run, or the load for `floor`),
rows per destination table, notes.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import dlt  # noqa: E402

# The six CRM lists: (our stream / table, entity, method, select, cursor column)
LISTS = [
    ("contacts", "contact", "crm.contact.list", ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"], "DATE_MODIFY"),
    ("companies", "company", "crm.company.list", ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"], "DATE_MODIFY"),
    ("deals", "deal", "crm.deal.list", ["*", "UF_*"], "DATE_MODIFY"),
    ("leads", "lead", "crm.lead.list", ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"], "DATE_MODIFY"),
    ("activities", "activity", "crm.activity.list", ["*", "COMMUNICATIONS"], "LAST_UPDATED"),
    ("products", "product", "crm.product.list", ["*"], "TIMESTAMP_X"),
]
OUR_STREAMS = [t for t, *_ in LISTS] + ["deal_products", "deal_comments"]
MAIN_TABLES = OUR_STREAMS + ["deal_contacts"]
EPOCH = "1970-01-01T00:00:00+00:00"


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: the high-water mark of its own address space since exec).

    Not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child reports at least the
    parent's RSS at the time it was started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_pipeline(a: argparse.Namespace, name: str) -> dlt.Pipeline:
    # Ours (and the floor, which loads ours' rows) load DuckDB with the settings bitrix24_pipeline.py uses
    # (bounded memory, one load job at a time); .dlt/config.toml applies to every contender (run.py starts
    # them in the repository). The peers keep dlt's DuckDB defaults: fast_bitrix24's raw comment FILES
    # (objects keyed by file id) make DuckDB's JSON reader need more than 512 MB for 12k rows.
    if a.contender in ("ours", "floor", "ours_slices"):
        from bitrix24_pipeline import cap_duckdb_memory

        cap_duckdb_memory()
    work = Path(a.workdir)
    return dlt.pipeline(
        pipeline_name=f"bench_{name}",
        destination=dlt.destinations.duckdb(str(work / f"{name}.duckdb")),
        dataset_name="bitrix24",
        pipelines_dir=str(work / "pipelines"),
    )


def local_seconds(pipeline: dlt.Pipeline) -> float:
    """Seconds of the last run's normalize and load steps: local work that makes no request, so the
    time-scaled runs under the limits count them unscaled."""
    trace = pipeline.last_trace
    return sum((s.finished_at - s.started_at).total_seconds() for s in (trace.steps if trace else [])
               if s.step in ("normalize", "load") and s.finished_at and s.started_at)


def loaded_rows(pipeline: dlt.Pipeline) -> Dict[str, int]:
    info = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = dict(info.row_counts) if info else {}
    return {k: v for k, v in counts.items() if not k.startswith("_dlt")}


# ---------------------------------------------------------------------------- ours


def our_source(a: argparse.Namespace, **more: Any):
    if a.patch:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import prototypes

        prototypes.apply(a.patch)
    from bitrix24 import bitrix24_source

    src = bitrix24_source(
        webhook_url=a.url,
        streams=OUR_STREAMS,
        extract_deal_contacts=True,
        enable_deal_comments=True,
        enable_deal_products=True,
        requests_per_second=a.rps,
        request_burst=a.burst,
        operating_time_threshold=a.threshold,
        max_retry_seconds=600,
        **({"request_concurrency": a.concurrency} if a.concurrency else {}),
        **({"deal_comments_refresh_runs": a.refresh_runs} if a.refresh_runs is not None else {}),
        **more,
    )
    if a.parallel:
        # "all": the deal sub-resource transformers too (list streams are parallelized by the connector)
        wanted = a.parallel.split(",")
        for res_name, res in src.resources.items():
            if (res_name in wanted or ("all" in wanted and res.is_transformer)):
                res.parallelize()
    return src


def run_ours(a: argparse.Namespace) -> Dict[str, Any]:
    pipeline = make_pipeline(a, a.name or "ours")
    t0, c0 = time.perf_counter(), cpu_seconds()
    src = our_source(a)
    pipeline.run(src, loader_file_format="jsonl")
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    from bitrix24.client import latest_client

    client = latest_client()
    stats = {}
    if client is not None:
        stats = {"client_requests": client.stats.total_requests, "throttle_wait_s": round(client.stats.throttle_wait, 2),
                 "limit_wait_s": round(client.stats.limit_wait, 2), "retry_wait_s": round(client.stats.retry_wait, 2)}
    return {"wall_s": wall, "cpu_s": cpu, "rows": loaded_rows(pipeline), "client": stats,
            "local_s": local_seconds(pipeline)}


# ---------------------------------------------------------------------------- floor


def run_floor(a: argparse.Namespace) -> Dict[str, Any]:
    """Capture the rows `ours` yields (untimed; extract only), then time dlt loading them from memory."""
    captured: Dict[str, List[Any]] = {}
    hints: Dict[str, Dict[str, Any]] = {}
    src = our_source(a)

    def capture(name: str):
        rows = captured.setdefault(name, [])

        def step(item: Any, meta: Any = None) -> Any:
            rows.append(item)
            if name not in hints and meta is not None and getattr(meta, "hints", None):
                hints[name] = dict(meta.hints)
            return item

        return step

    for name, res in src.resources.items():
        res.add_map(capture(name))
    scratch = make_pipeline(a, "floor_capture")
    scratch.extract(src)
    del scratch
    schemas = {name: res.compute_table_schema() for name, res in src.resources.items()}

    resources = []
    for name, rows in captured.items():
        schema = schemas[name]
        columns = {k: dict(v) for k, v in schema.get("columns", {}).items()}
        extra = hints.get(name, {}).get("columns") or {}
        for col in (extra.values() if isinstance(extra, dict) else extra):
            columns.setdefault(col["name"], dict(col))
        disposition: Any = schema.get("write_disposition", "append")
        if schema.get("x-merge-strategy"):
            disposition = {"disposition": disposition, "strategy": schema["x-merge-strategy"]}
        resources.append(dlt.resource(rows, name=name, table_name=schema["name"], write_disposition=disposition,
                                      columns=columns))
    pipeline = make_pipeline(a, a.name or "floor")
    t0, c0 = time.perf_counter(), cpu_seconds()
    pipeline.run(resources, loader_file_format="jsonl")
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"wall_s": wall, "cpu_s": cpu, "rows": loaded_rows(pipeline),
            "captured_rows": {k: len(v) for k, v in captured.items()}}


# ---------------------------------------------------------------------------- fast_bitrix24


def _state(a: argparse.Namespace, name: str) -> Path:
    return Path(a.workdir) / f"{name}_state.json"


def run_fb24(a: argparse.Namespace) -> Dict[str, Any]:
    from fast_bitrix24 import Bitrix

    notes = ["plain http:// webhook accepted as is (fast_bitrix24 only checks that the URL parses)"]
    name = a.name or "fb24"
    state_path = _state(a, name)
    state = json.loads(state_path.read_text()) if a.phase != "full" and state_path.exists() else {}
    import fast_bitrix24.srh as srh  # its module constants: no argument of Bitrix() reaches them

    if a.time_scale:
        # under the portal's time-scaled limits its 10-minute operating window lasts 600 x scale s:
        # fast_bitrix24's own sliding window (600 s) is scaled the same way, so it waits as it would
        srh.BITRIX_MEASUREMENT_PERIOD = 600 * a.time_scale
    if a.max_in_flight:
        # its requests in flight (default 50); see bench/README.md
        srh.BITRIX_MAX_CONCURRENT_REQUESTS = a.max_in_flight
        notes.append(f"at most {a.max_in_flight} requests in flight (fast_bitrix24's default: 50)")
    t0, c0 = time.perf_counter(), cpu_seconds()
    b = Bitrix(a.url, verbose=False, request_pool_size=a.burst, requests_per_second=a.rps)
    data: Dict[str, list] = {}
    new_state: Dict[str, str] = {}
    for table, _entity, method, select, cursor in LISTS:
        params: Dict[str, Any] = {"select": list(select)}
        if state.get(table):
            params["filter"] = {f">{cursor}": state[table]}
        rows = b.get_all(method, params)
        rows = list(rows) if isinstance(rows, (list, tuple)) else list((rows or {}).values())
        data[table] = rows
        values = [r.get(cursor) for r in rows if r.get(cursor)]
        new_state[table] = max(values + ([state[table]] if state.get(table) else [])) if values else state.get(table, "")
    ids = sorted(int(d["ID"]) for d in data["deals"])
    products: List[dict] = []
    contacts: List[dict] = []
    comments: List[dict] = []
    if ids:
        for deal_id, rows in (b.get_by_ID("crm.deal.productrows.get", ids, ID_field_name="id") or {}).items():
            for r in rows or []:
                products.append({**r, "OWNER_ID": int(deal_id)})
        for deal_id, rows in (b.get_by_ID("crm.deal.contact.items.get", ids, ID_field_name="id") or {}).items():
            for r in rows or []:
                contacts.append({**r, "DEAL_ID": int(deal_id)})
        items = [{"filter": {"ENTITY_ID": i, "ENTITY_TYPE": "deal"}, "order": {"ID": "ASC"}} for i in ids]
        results = b.call("crm.timeline.comment.list", items)  # one flat list of every deal's comments
        for r in results if isinstance(results, (list, tuple)) else [results]:
            if isinstance(r, dict) and "ID" in r:
                comments.append(r)
        notes.append("call() returns the first page of comments per deal (at most 50)")
    pipeline = make_pipeline(a, name)
    resources = [dlt.resource(data[t], name=t, primary_key="ID", write_disposition="merge") for t, *_ in LISTS]
    resources += [
        dlt.resource(products, name="deal_products", primary_key=("OWNER_ID", "ID"), write_disposition="merge"),
        dlt.resource(contacts, name="deal_contacts", primary_key=("DEAL_ID", "CONTACT_ID"), write_disposition="merge"),
        dlt.resource(comments, name="deal_comments", primary_key=("ENTITY_ID", "ID"), write_disposition="merge",
                     columns={"FILES": {"data_type": "json"}}),
    ]
    t_load = time.perf_counter()
    pipeline.run(resources, loader_file_format="jsonl")
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    state_path.write_text(json.dumps(new_state))
    return {"wall_s": wall, "cpu_s": cpu, "rows": loaded_rows(pipeline), "notes": notes,
            "local_s": time.perf_counter() - t_load}


# ---------------------------------------------------------------------------- dlt rest_api


def rest_api_config(a: argparse.Namespace) -> Dict[str, Any]:
    resources: List[Dict[str, Any]] = []
    for table, _entity, method, select, cursor in LISTS:
        resources.append({
            "name": table,
            "endpoint": {
                "path": method,
                "json": {"select": list(select), "order": {"ID": "ASC"},
                         "filter": {f">={cursor}": "{incremental.start_value}"}},
                "incremental": {"cursor_path": cursor, "initial_value": EPOCH},
            },
        })
    resources += [
        {"name": "deal_products", "primary_key": ["OWNER_ID", "ID"],
         "endpoint": {"path": "crm.deal.productrows.get", "params": {"id": "{resources.deals.ID}"},
                      "paginator": "single_page"}},
        {"name": "deal_contacts", "primary_key": ["_deals_id", "CONTACT_ID"], "include_from_parent": ["ID"],
         "endpoint": {"path": "crm.deal.contact.items.get", "params": {"id": "{resources.deals.ID}"},
                      "paginator": "single_page"}},
        {"name": "deal_comments", "primary_key": ["ID"], "columns": {"FILES": {"data_type": "json"}},
         "endpoint": {"path": "crm.timeline.comment.list",
                      "json": {"filter": {"ENTITY_ID": "{resources.deals.ID}", "ENTITY_TYPE": "deal"},
                               "order": {"ID": "ASC"}}}},
    ]
    return {
        "client": {"base_url": a.url, "paginator": {"type": "cursor", "cursor_path": "next", "cursor_param": "start"}},
        "resource_defaults": {"primary_key": "ID", "write_disposition": "merge",
                              "endpoint": {"method": "POST", "data_selector": "result"}},
        "resources": resources,
    }


def run_rest_api(a: argparse.Namespace) -> Dict[str, Any]:
    from dlt.sources.rest_api import rest_api_source

    pipeline = make_pipeline(a, a.name or "rest_api")
    t0, c0 = time.perf_counter(), cpu_seconds()
    src = rest_api_source(rest_api_config(a))
    pipeline.run(src, loader_file_format="jsonl")
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"wall_s": wall, "cpu_s": cpu, "rows": loaded_rows(pipeline),
            "notes": ["deal_comments needs a FILES json hint (its keys are file ids); added"]}


# ---------------------------------------------------------------------------- per-page / per-deal reference

# Replication keys as the commercial connector documents them (activities: CREATED).
REFERENCE_CURSORS = {"activities": "CREATED"}


def run_reference(a: argparse.Namespace) -> Dict[str, Any]:
    import requests

    session = requests.Session()
    base = a.url
    sample = max(1, int(a.deal_sample or 1))
    counters: Dict[str, int] = {"deals": 0}

    def call(method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        resp = session.post(base + method, json=params, timeout=300)
        resp.raise_for_status()
        return resp.json()

    def pages(method: str, params: Dict[str, Any]) -> Iterator[List[dict]]:
        start = 0
        while True:
            envelope = call(method, {**params, "start": start})
            rows = envelope.get("result") or []
            if rows:
                yield rows
            if envelope.get("next") is None:
                return
            start = int(envelope["next"])

    def list_resource(table: str, method: str, select: List[str], cursor: str):
        cursor = REFERENCE_CURSORS.get(table, cursor)

        @dlt.resource(name=table, primary_key="ID", write_disposition="merge")
        def read(since=dlt.sources.incremental(cursor, initial_value=EPOCH)):
            params = {"select": select, "order": {"ID": "ASC"}, "filter": {f">{cursor}": since.last_value}}
            yield from pages(method, params)

        return read

    resources = {t: list_resource(t, m, s, c) for t, _e, m, s, c in LISTS}

    def sampled(deals: List[dict], count: bool = False) -> List[dict]:
        """Counting mode: per-deal calls only for deals whose ID is a multiple of `sample`."""
        chosen = [d for d in deals if int(d["ID"]) % sample == 0]
        if count:
            counters["deals"] += len(deals)
            counters["sampled_deals"] = counters.get("sampled_deals", 0) + len(chosen)
        return chosen

    @dlt.transformer(data_from=resources["deals"], name="deal_products", primary_key=("OWNER_ID", "ID"),
                     write_disposition="merge")
    def deal_products(deals: List[dict]):
        for deal in sampled(deals, count=True):
            rows = call("crm.deal.productrows.get", {"id": deal["ID"]}).get("result") or []
            if rows:
                yield rows

    @dlt.transformer(data_from=resources["deals"], name="deal_contacts", primary_key=("DEAL_ID", "CONTACT_ID"),
                     write_disposition="merge")
    def deal_contacts(deals: List[dict]):
        for deal in sampled(deals):
            rows = call("crm.deal.contact.items.get", {"id": deal["ID"]}).get("result") or []
            if rows:
                yield [{**r, "DEAL_ID": int(deal["ID"])} for r in rows]

    @dlt.transformer(data_from=resources["deals"], name="deal_comments", primary_key=("ENTITY_ID", "ID"),
                     write_disposition="merge", columns={"FILES": {"data_type": "json"}})
    def deal_comments(deals: List[dict]):
        for deal in sampled(deals):
            params = {"filter": {"ENTITY_ID": deal["ID"], "ENTITY_TYPE": "deal"}, "order": {"ID": "ASC"}}
            yield from pages("crm.timeline.comment.list", params)

    pipeline = make_pipeline(a, a.name or "reference")
    t0, c0 = time.perf_counter(), cpu_seconds()
    pipeline.run(list(resources.values()) + [deal_products, deal_contacts, deal_comments], loader_file_format="jsonl")
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    notes = ["replication keys as documented by the commercial connector (activities: CREATED)"]
    if sample > 1:
        notes.append(f"counting mode: per-deal calls only for deals with ID % {sample} == 0")
    return {"wall_s": wall, "cpu_s": cpu, "rows": loaded_rows(pipeline), "notes": notes, "deal_sample": sample,
            "deals_seen": counters["deals"], "deals_sampled": counters.get("sampled_deals", counters["deals"])}


class _Stopped(Exception):
    """Ends a sliced run after --stop-after slices, as a run stopped between two slices would."""


def run_ours_slices(a: argparse.Namespace) -> Dict[str, Any]:
    """Ours through `run_in_slices` (bitrix24_pipeline.py's way): a first sync committed every
    --slice-rows rows; with --stop-after K the process ends after its K-th committed slice."""
    from bitrix24 import pending_backfills, run_in_slices

    pipeline = make_pipeline(a, a.name or "ours_slices")
    t0, c0 = time.perf_counter(), cpu_seconds()
    requests = []

    def make(max_run_minutes=None):
        return our_source(a, backfill_slice_rows=a.slice_rows or None)

    def after(number, left):
        from bitrix24.client import latest_client

        requests.append(latest_client().stats.total_requests)
        if a.stop_after and number >= a.stop_after and left:
            raise _Stopped()

    stopped = False
    try:
        run_in_slices(pipeline, make, after_slice=after, loader_file_format="jsonl")
    except _Stopped:
        stopped = True
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"wall_s": wall, "cpu_s": cpu, "rows": loaded_rows(pipeline), "slices": len(requests),
            "client": {"client_requests": sum(requests)}, "stopped": stopped,
            "pending": sorted(pending_backfills(pipeline))}


RUNNERS = {"ours": run_ours, "floor": run_floor, "fb24": run_fb24, "rest_api": run_rest_api,
           "reference": run_reference, "ours_slices": run_ours_slices}


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(prog="python bench/contenders.py")
    ap.add_argument("contender", choices=sorted(RUNNERS))
    ap.add_argument("--url", required=True, help="webhook URL of the simulated portal")
    ap.add_argument("--workdir", required=True, help="pipelines, DuckDB files and state live here")
    ap.add_argument("--phase", default="full", choices=["full", "incr", "noop"])
    ap.add_argument("--out", required=True, help="write the result JSON here")
    ap.add_argument("--name", help="pipeline/DuckDB name (default: the contender)")
    ap.add_argument("--rps", type=float, default=100.0, help="client request rate (limits are off in the sim)")
    ap.add_argument("--burst", type=int, default=10_000, help="client throttle burst (limits are off in the sim)")
    ap.add_argument("--threshold", type=float, default=200.0, help="ours: operating_time_threshold")
    ap.add_argument("--concurrency", type=int, default=0, help="ours: request_concurrency (default: the connector's)")
    ap.add_argument("--refresh-runs", type=int, default=None, help="ours: deal_comments_refresh_runs")
    ap.add_argument("--time-scale", type=float, default=0.0,
                    help="fb24: the portal's limits are time-scaled by this factor (scales its operating window)")
    ap.add_argument("--max-in-flight", type=int, default=0,
                    help="fb24: its limit of concurrent requests (default: fast_bitrix24's, 50)")
    ap.add_argument("--parallel", default="", help="ours: comma-separated resources to parallelize, or 'all'")
    ap.add_argument("--load-workers", type=int, default=0, help="dlt [load] workers (default: dlt's, 20)")
    ap.add_argument("--extract-workers", type=int, default=0, help="dlt [extract] workers (default: dlt's, 5)")
    ap.add_argument("--patch", default="", help="ours: prototype fixes to apply first (bench/prototypes.py)")
    ap.add_argument("--slice-rows", type=int, default=10_000, help="ours_slices: backfill_slice_rows")
    ap.add_argument("--stop-after", type=int, default=0, help="ours_slices: end the process after this many slices")
    ap.add_argument("--deal-sample", type=int, default=1, help="reference: per-deal calls for every Nth deal only")
    a = ap.parse_args(argv)
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    if a.load_workers:
        os.environ["LOAD__WORKERS"] = str(a.load_workers)
    if a.extract_workers:
        os.environ["EXTRACT__WORKERS"] = str(a.extract_workers)
    result = RUNNERS[a.contender](a)
    result.update(contender=a.contender, phase=a.phase, peak_rss_mb=peak_rss_mb())
    Path(a.out).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
