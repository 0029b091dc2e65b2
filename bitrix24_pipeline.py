"""Load a Bitrix24 portal into DuckDB (or any dlt destination).

    python bitrix24_pipeline.py                  # the portal configured in .dlt/secrets.toml
    python bitrix24_pipeline.py --demo           # a simulated portal, no account needed
    python bitrix24_pipeline.py --streams deals,contacts --destination postgres
    python bitrix24_pipeline.py --help
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.pipeline.exceptions import PipelineStepFailed

from bitrix24 import STREAMS, Bitrix24Error, bitrix24_source
from bitrix24.client import latest_client
from bitrix24.settings import STREAMS_BY_NAME

DEMO_SIZE = 3000
HOW_TO_CONFIGURE = """No Bitrix24 webhook is configured.

Create an inbound webhook in your portal (Developer resources > Other > Inbound webhook, with the
scopes crm, user, department, telephony, imopenlines) and put its URL in .dlt/secrets.toml:

    [sources.bitrix24]
    webhook_url = "https://YOUR-PORTAL.bitrix24.com/rest/1/YOUR_WEBHOOK_CODE/"

or export SOURCES__BITRIX24__WEBHOOK_URL. To try the connector without a portal, run
    python bitrix24_pipeline.py --demo
"""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load Bitrix24 CRM data with dlt.",
        epilog="Streams: " + ", ".join(s.name for s in STREAMS),
    )
    parser.add_argument("--demo", action="store_true", help="start a simulated portal with seeded data and load it")
    parser.add_argument("--demo-size", type=int, default=DEMO_SIZE, help="rows in the demo portal (default %(default)s)")
    parser.add_argument(
        "--destination", default=None, help="dlt destination (default: duckdb, into <pipeline name>.duckdb here)"
    )
    parser.add_argument(
        "--dataset", default="bitrix24_data",
        help="dataset (schema) name (default: bitrix24_data; DuckDB cannot have a schema named like its file)",
    )
    parser.add_argument("--pipeline-name", default=None, help="pipeline name (default: bitrix24, or bitrix24_demo)")
    parser.add_argument("--streams", default=None, help="comma-separated streams to load (default: all)")
    parser.add_argument(
        "--full-refresh", action="store_true", help="drop the pipeline's state and tables and load everything again"
    )
    parser.add_argument(
        "--progress", default="auto", choices=["auto", "log", "tqdm", "enlighten", "alive_progress", "none"],
        help="progress of rows per stream (default auto: tqdm or enlighten when installed, else log lines)",
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def demo_portal(size: int) -> Iterator[str]:
    from simportal import SimPortal

    with SimPortal(size=size, seed=7) as portal:
        yield portal.webhook_url


def summary(pipeline: dlt.Pipeline, started: float) -> str:
    """Rows per table (this run's and the destination's), requests, and time spent on limits."""
    trace = pipeline.last_trace
    loaded = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    try:
        totals = dict(pipeline.dataset().row_counts().fetchall())
    except Exception:  # a destination without SQL access: show this run's counts only
        totals = {}
    lines = [f"{'table':<32} {'rows this run':>14} {'rows in table':>14}"]
    for table in sorted(t for t in set(loaded) | set(totals) if not t.startswith("_dlt")):
        total = f"{totals[table]:,}" if table in totals else "-"
        lines.append(f"{table:<32} {loaded.get(table, 0):>14,} {total:>14}")
    client = latest_client()
    if client is not None:
        stats = client.stats
        lines.append(
            f"\n{stats.total_requests} HTTP requests to Bitrix24 ({sum(stats.commands.values())} API calls);"
            f" waited {stats.throttle_wait:.1f}s on the request-rate limit,"
            f" {stats.limit_wait:.1f}s on operating-time limits, {stats.retry_wait:.1f}s retrying;"
            f" {time.monotonic() - started:.1f}s in all."
        )
    return "\n".join(lines)


def progress_collector(choice: str) -> Any:
    """dlt's progress display; "auto" picks tqdm or enlighten when installed, else log lines."""
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    import importlib.util

    for name in ("tqdm", "enlighten"):
        if importlib.util.find_spec(name):
            return name
    return dlt.progress.log(log_period=10.0, logger=sys.stderr, dump_system_stats=False)


def make_pipeline(args: argparse.Namespace, name: str) -> dlt.Pipeline:
    """The pipeline, to --destination or to the script's own destination.

    `dlt init bitrix24 <destination>` copies this script and rewrites the "duckdb" below to the
    destination it was given: it must stay a string literal passed as `destination=`, and no other
    `dlt.pipeline`/`run` call here may pass `destination=` (dlt init refuses the script otherwise).
    """
    settings: Dict[str, Any] = dict(pipeline_name=name, dataset_name=args.dataset, progress=progress_collector(args.progress))
    if args.demo and args.destination in (None, "duckdb") and "DESTINATION__DUCKDB__CREDENTIALS" not in os.environ \
            and dlt.secrets.get("destination.duckdb.credentials") is None:
        # dlt keeps a pipeline's DuckDB file in the folder of its first run; the demo (always a full
        # refresh) writes here, wherever it ran before
        os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = os.path.abspath(f"{name}.duckdb")
    if args.destination:
        settings["destination"] = args.destination
        return dlt.pipeline(**settings)
    return dlt.pipeline(destination="duckdb", **settings)  # <pipeline name>.duckdb in the first run's folder


def duckdb_file(pipeline: dlt.Pipeline) -> str:
    """Where the DuckDB data is: dlt keeps using the folder of a pipeline's first run."""
    try:
        return str(pipeline.destination_client().config.credentials.database)
    except Exception:
        return os.path.abspath(pipeline.pipeline_name + ".duckdb")


def is_duckdb(pipeline: dlt.Pipeline) -> bool:
    return pipeline.destination.destination_type == "dlt.destinations.duckdb"


# DuckDB keeps every block it writes cached up to `memory_limit`, which defaults to 80 % of RAM, and
# reads JSON with one thread per core: left alone, a 1M-row sync grew to ~2 GB. 128MB fails on
# tables of ~300 columns (custom fields), and 256MB failed on one large table in the benchmark
# (fast_bitrix24's 30k deal comments in one file): 512MB, with insertion order not preserved (DuckDB's
# own advice for large inserts). The limit is shared by all load jobs, so dlt's 20 parallel load jobs
# would run it out of memory: one at a time.
DUCKDB_GLOBAL_CONFIG = {"threads": 1, "memory_limit": "512MB", "preserve_insertion_order": False}
DUCKDB_LOAD_WORKERS = 1
DUCKDB_OUT_OF_MEMORY = (
    "DuckDB ran out of its {limit} memory limit while loading. Raise it and run again (nothing is lost:"
    " the extracted data waits in the pipeline and is loaded first), e.g."
    " DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG='{{\"memory_limit\": \"2GB\", \"threads\": 1}}'"
)


def cap_duckdb_memory() -> None:
    """Bound the memory of a DuckDB load, unless these settings are configured already.

    Your own values win: DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG='{"memory_limit": "1GB"}'
    or `global_config` under [destination.duckdb.credentials] in .dlt/secrets.toml; LOAD__WORKERS
    or [load] workers in .dlt/config.toml.
    """
    if "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG" not in os.environ and (
        dlt.secrets.get("destination.duckdb.credentials.global_config") is None
    ):
        os.environ["DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"] = json.dumps(DUCKDB_GLOBAL_CONFIG)
    if "LOAD__WORKERS" not in os.environ and dlt.config.get("load.workers") is None:
        os.environ["LOAD__WORKERS"] = str(DUCKDB_LOAD_WORKERS)


def run(args: argparse.Namespace, webhook_url: Optional[str]) -> dlt.Pipeline:
    name = args.pipeline_name or ("bitrix24_demo" if args.demo else "bitrix24")
    pipeline = make_pipeline(args, name)
    kwargs: dict = {}
    if webhook_url:
        kwargs["webhook_url"] = webhook_url
    if args.demo:
        kwargs.update(extract_deal_contacts=True, enable_deal_comments=True, enable_deal_products=True)
    if args.streams:
        kwargs["streams"] = [s.strip() for s in args.streams.split(",") if s.strip()]
        for name in kwargs["streams"]:  # naming a sub-resource stream switches it on
            option = STREAMS_BY_NAME[name].option if name in STREAMS_BY_NAME else None
            if option:
                kwargs[option] = True
    source = bitrix24_source(**kwargs)
    if is_duckdb(pipeline):
        cap_duckdb_memory()
    refresh = "drop_sources" if (args.full_refresh or args.demo) else None
    if pipeline.has_pending_data and not refresh:
        # An earlier run stopped after extracting (killed, or the destination failed): load what
        # it extracted first; dlt's run() would otherwise load it and skip this extraction.
        print("Loading the data an interrupted earlier run left behind first.")
        pipeline.run()
    # DuckDB loads jsonl files about 25x faster than dlt's default INSERT statements for it.
    file_format = "jsonl" if is_duckdb(pipeline) else None
    pipeline.run(source, refresh=refresh, loader_file_format=file_format)
    return pipeline


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        if args.demo:
            with demo_portal(args.demo_size) as url:
                print(f"Demo: simulated Bitrix24 portal with about {args.demo_size} CRM rows on loopback.")
                pipeline = run(args, url)
        else:
            pipeline = run(args, None)
    except ConfigFieldMissingException as exc:
        if "webhook_url" in str(exc):
            print(HOW_TO_CONFIGURE, file=sys.stderr)
            return 2
        raise
    except (Bitrix24Error, PipelineStepFailed) as exc:
        cause = _expected_cause(exc)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        return 1
    print(summary(pipeline, started))
    if is_duckdb(pipeline):
        print(f"\nData is in {duckdb_file(pipeline)}, schema {args.dataset}.")
    return 0


def _expected_cause(exc: BaseException) -> Optional[BaseException]:
    """The Bitrix24Error behind an exception, if any (dlt wraps errors raised while extracting)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Bitrix24Error):
            return exc
        if isinstance(exc, ConfigFieldMissingException) and "webhook_url" in str(exc):
            return Bitrix24Error(HOW_TO_CONFIGURE)
        if "Out of Memory Error" in str(exc) and "duckdb" in type(exc).__module__.lower() + str(exc).lower():
            return Bitrix24Error(DUCKDB_OUT_OF_MEMORY.format(limit=DUCKDB_GLOBAL_CONFIG["memory_limit"]))
        exc = exc.__cause__ or exc.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
