"""Load a Bitrix24 portal into DuckDB (or any dlt destination).

    python bitrix24_pipeline.py                  # the portal configured in .dlt/secrets.toml
    python bitrix24_pipeline.py --demo           # a simulated portal, no account needed
    python bitrix24_pipeline.py --streams deals,contacts --destination postgres
    python bitrix24_pipeline.py --max-minutes 50     # a first sync: stop after 50 min, resume next run
    python bitrix24_pipeline.py --portal acme        # one portal of the [sources.bitrix24.portals] table
    python bitrix24_pipeline.py --all-portals        # every portal, one after another, then a summary
    python bitrix24_pipeline.py --labeled-views      # and deals_labeled, contacts_labeled, ... after the load
    python bitrix24_pipeline.py --help

Bad input (a missing or malformed setting, a broken .dlt/*.toml, an unknown destination or
progress display) stops the run before anything is written, with one `error:` line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigValueCannotBeCoercedException
from dlt.common.configuration.providers.toml import TomlProviderReadException
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import UnknownDestinationModule
from dlt.pipeline.exceptions import InvalidPipelineName

from bitrix24 import (
    STREAMS,
    Bitrix24Error,
    SliceReport,
    bitrix24_source,
    create_labeled_views,
    drop_labeled_views,
    run_in_slices,
)
from bitrix24.auth import NotConfigured
from bitrix24.backfill import data_rows, progress_line, report_totals, row_counts
from bitrix24.client import latest_client
from bitrix24.portals import Portal, load_portals, portal_message, portal_source

DATASET = "bitrix24_data"
SLICE_ROWS = 10_000  # 4 answers of 2,500 rows per stream and slice (README, "A first sync in slices")
DEMO_SIZE = 3000
DEMO_MAX_SIZE = 1_000_000
NO_WEBHOOK = (
    "No Bitrix24 webhook is configured: create an inbound webhook in your portal (Developer resources >"
    " Other > Inbound webhook, scopes crm, user, department, telephony, imopenlines) and put its URL in"
    ' .dlt/secrets.toml as webhook_url = "https://YOUR-PORTAL.bitrix24.com/rest/1/YOUR_WEBHOOK_CODE/"'
    " under [sources.bitrix24], or export SOURCES__BITRIX24__WEBHOOK_URL (or, for an application, its OAuth"
    " credentials under [sources.bitrix24.credentials], see .dlt/example.secrets.toml); to try it without a portal:"
    " python bitrix24_pipeline.py --demo"
)
PROGRESS = ("auto", "log", "tqdm", "enlighten", "alive_progress", "none")


class CliError(Exception):
    """A bad command line or setting, found before anything runs: printed as one `error:` line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error:` line (no usage block), like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see --help)")


def demo_size(text: str) -> int:
    """`--demo-size`: a whole number of rows from 1 to DEMO_MAX_SIZE."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= DEMO_MAX_SIZE:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {DEMO_MAX_SIZE:,}; got {text!r}")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 10**6:
        raise argparse.ArgumentTypeError(f"must be a number of minutes greater than 0; got {text!r}")
    return value


def slice_rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 10**9:
        raise argparse.ArgumentTypeError(f"must be a whole number of rows (0: no slices); got {text!r}")
    return value


def add_portal_options(parser: argparse.ArgumentParser) -> None:
    """--portal NAME | --all-portals: portals of the [sources.bitrix24.portals] table."""
    portals = parser.add_mutually_exclusive_group()
    portals.add_argument("--portal", default=None, metavar="NAME",
                         help="load one portal of the [sources.bitrix24.portals] table, into its own dataset"
                              " (default bitrix24_NAME) with its own pipeline (bitrix24_NAME)")
    portals.add_argument("--all-portals", action="store_true",
                         help="load every portal of the table, one after another; a summary per portal at"
                              " the end; exit 1 when any failed")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = OneLineParser(
        description="Load Bitrix24 CRM data with dlt.",
        epilog="Streams: " + ", ".join(s.name for s in STREAMS),
    )
    parser.add_argument("--demo", action="store_true",
                        help="load a simulated portal, edit a few records on it and load again incrementally")
    parser.add_argument("--demo-size", type=demo_size, default=DEMO_SIZE, help="rows in the demo portal (default %(default)s)")
    parser.add_argument(
        "--destination", default=None, help="dlt destination (default: duckdb, into <pipeline name>.duckdb here)"
    )
    parser.add_argument(
        "--dataset", default=None,
        help=f"dataset (schema) name (default: {DATASET}; DuckDB cannot have a schema named like its file)",
    )
    parser.add_argument("--pipeline-name", default=None, help="pipeline name (default: bitrix24, or bitrix24_demo)")
    parser.add_argument("--streams", default=None, help="comma-separated streams to load (default: all)")
    parser.add_argument(
        "--full-refresh", action="store_true",
        help="reload from scratch: with --streams only those streams' tables and cursors, else everything",
    )
    parser.add_argument(
        "--max-minutes", type=positive_number, default=None, metavar="MINUTES",
        help="stop a first sync cleanly after this many minutes (at the next slice); the next run resumes",
    )
    parser.add_argument(
        "--slice-rows", type=slice_rows, default=SLICE_ROWS, metavar="ROWS",
        help="a first sync commits every this many rows per stream, so a stopped run resumes"
             " (default %(default)s; 0: one load)",
    )
    add_portal_options(parser)
    parser.add_argument(
        "--labeled-views", action="store_true",
        help="after the load, (re)create one view per entity table (deals_labeled, ...) with columns named by"
             " their Bitrix labels and codes resolved to labels (config key labeled_views)",
    )
    parser.add_argument(
        "--progress", default="auto", metavar="|".join(PROGRESS),
        help="progress of rows per stream (default auto: tqdm or enlighten when installed, else log lines)",
    )
    return parser.parse_args(argv)


def stream_names(args: argparse.Namespace) -> List[str]:
    """The names given to --streams (empty: all)."""
    return [s.strip() for s in (args.streams or "").split(",") if s.strip()]


# ---- checks made before anything runs ----------------------------------------------------------


def check_progress(choice: str) -> None:
    """An unknown display, or one whose package is not installed, is a bad input."""
    if choice not in PROGRESS:
        raise CliError(f"--progress {choice!r} is not a progress display; use one of {', '.join(PROGRESS)}")
    if choice in ("tqdm", "enlighten", "alive_progress") and importlib.util.find_spec(choice) is None:
        raise CliError(f"--progress {choice} needs the {choice} package: pip install {choice.replace('_', '-')}"
                       " (or use --progress log)")


def destination_client(name: str) -> type:
    """The client class of a destination: importing it fails when its driver is not installed."""
    return Destination.from_reference(name).client_class


def installed_destinations() -> List[str]:
    """dlt's destinations whose client libraries are importable here."""
    found = []
    for name in dlt.destinations.__all__:
        if name == "destination":  # the decorator for custom destinations, not one to name here
            continue
        try:
            destination_client(name)
        except Exception:  # its driver is not installed
            continue
        found.append(name)
    return found


def check_destination(name: Optional[str]) -> None:
    """--destination must be a dlt destination (or a configured named one) that is installed."""
    if not name:
        return
    try:
        destination_client(name)
    except UnknownDestinationModule:
        raise CliError(
            f"--destination {name!r} is not a dlt destination; installed here: {', '.join(installed_destinations())};"
            ' add another with pip install "dlt[NAME]>=1.31.0,<2" (e.g. dlt[bigquery], dlt[snowflake])'
        ) from None
    except (TomlProviderReadException, ConfigValueCannotBeCoercedException):
        raise  # a broken .dlt file or setting: reported as such
    except Exception as exc:  # ModuleNotFoundError, dlt's MissingDependencyException
        raise CliError(
            f"--destination {name} is not installed ({type(exc).__name__}: {str(exc).splitlines()[0]});"
            f' add it with pip install "dlt[{name}]>=1.31.0,<2"'
        ) from None


# ---- one line for each expected error ----------------------------------------------------------

SOURCE_KEYS = tuple(inspect.signature(bitrix24_source).parameters)
EXAMPLES = {
    "streams": '["deals", "contacts"]', "deal_category_ids": "[0, 3]", "spa_entity_type_ids": "[128, 1032]",
    "sync_types": '{"deals": "full_table"}', "detect_deletes": '"delete"',
}
KINDS = {float: "a number such as 120", int: "a whole number such as 50", bool: "true or false", dict: "a table"}
SECRET_WORDS = ("url", "secret", "password", "token", "key", "credentials")


def expected_form(key: str, hint: Any) -> str:
    """What a value of `key` (typed `hint`) should look like, in words and an example."""
    if key in EXAMPLES:
        kind = "a list" if EXAMPLES[key].startswith("[") else "a value"
        return f"{kind} such as {EXAMPLES[key]}"
    if hint in KINDS:
        return KINDS[hint]
    if hint in (list, tuple, set) or getattr(hint, "__name__", "") == "Sequence":
        return "a list such as [1, 2]"
    return f"a value of type {getattr(hint, '__name__', hint)}"


def coercion_message(exc: ConfigValueCannotBeCoercedException) -> str:
    """dlt could not convert a configured value: name the key, its type and where to set it."""
    key = exc.field_name
    got = "" if any(w in key.lower() for w in SECRET_WORDS) else f" {str(exc.field_value)[:40]!r}"
    if key in SOURCE_KEYS:
        return (f"sources.bitrix24.{key} must be {expected_form(key, exc.hint)}; got{got} (set it as"
                f" SOURCES__BITRIX24__{key.upper()} or under [sources.bitrix24] in .dlt/config.toml)")
    return f"setting {key} must be {expected_form(key, exc.hint)}; got{got} (check .dlt/*.toml and the environment)"


def toml_message(exc: TomlProviderReadException) -> str:
    """A .dlt/*.toml file dlt could not parse: which file, and the parser's line and column."""
    paths = [p for p in exc.full_paths if os.path.isfile(p)] or list(exc.full_paths)
    path = os.path.relpath(paths[0]) if paths else exc.file_name
    detail = str(exc).split(":\n", 1)[-1].strip().replace("\n", " ")
    return f"{path} is not valid TOML: {detail}. Fix that line and run again"


def _expected_cause(exc: BaseException) -> Optional[BaseException]:
    """The expected error behind an exception, as one printable error, if any (dlt wraps errors)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NotConfigured) or (isinstance(exc, ConfigFieldMissingException) and "webhook_url" in str(exc)):
            return CliError(NO_WEBHOOK)
        if isinstance(exc, (Bitrix24Error, CliError)):
            return exc
        if isinstance(exc, ConfigValueCannotBeCoercedException):
            return CliError(coercion_message(exc))
        if isinstance(exc, TomlProviderReadException):
            return CliError(toml_message(exc))
        if isinstance(exc, InvalidPipelineName):
            return CliError(f"--pipeline-name {exc.pipeline_name!r} is not a valid pipeline name: use letters,"
                            " digits and underscores (it becomes a folder name)")
        if "Out of Memory Error" in str(exc) and "duckdb" in type(exc).__module__.lower() + str(exc).lower():
            return Bitrix24Error(DUCKDB_OUT_OF_MEMORY.format(limit=DUCKDB_GLOBAL_CONFIG["memory_limit"]))
        exc = exc.__cause__ or exc.__context__
    return None


def error_line(exc: BaseException) -> str:
    """`error: <message>` on one line."""
    return "error: " + " ".join(str(exc).split())


def progress_collector(choice: str) -> Any:
    """dlt's progress display; "auto" picks tqdm or enlighten when installed, else log lines."""
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    for name in ("tqdm", "enlighten"):
        if importlib.util.find_spec(name):
            return name
    return dlt.progress.log(log_period=10.0, logger=sys.stderr, dump_system_stats=False)


def make_pipeline(args: argparse.Namespace, name: str, dataset: Optional[str] = None) -> dlt.Pipeline:
    """The pipeline, to --destination or to the script's own destination.

    `dlt init bitrix24 <destination>` copies this script and rewrites the "duckdb" below to the
    destination it was given: it must stay a string literal passed as `destination=`, and no other
    `dlt.pipeline`/`run` call here may pass `destination=` (dlt init refuses the script otherwise).
    """
    settings: Dict[str, Any] = dict(pipeline_name=name, dataset_name=dataset or args.dataset or DATASET,
                                    progress=progress_collector(args.progress))
    if args.demo and args.destination in (None, "duckdb") and "DESTINATION__DUCKDB__CREDENTIALS" not in os.environ \
            and dlt.secrets.get("destination.duckdb.credentials") is None:
        # dlt keeps a pipeline's DuckDB file in the folder of its first run; the demo (its first run
        # a full refresh) writes here, wherever it ran before
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


# ---- the run summary ---------------------------------------------------------------------------


def destination_counts(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Rows per table in the destination; empty for a destination without SQL access."""
    try:
        return dict(pipeline.dataset().row_counts().fetchall())
    except Exception:
        return {}


def table_lines(loaded: Dict[str, int], totals: Dict[str, int], earlier: Dict[str, int]) -> List[str]:
    """The per-table block; with `earlier`, the rows this run loaded for an interrupted one too."""
    extra = f" {'of which from an earlier run':>29}" if earlier else ""
    lines = [f"{'table':<32} {'rows this run':>14} {'rows in table':>14}{extra}"]
    for table in sorted(t for t in set(loaded) | set(totals) | set(earlier) if not t.startswith("_dlt")):
        total = f"{totals[table]:,}" if table in totals else "-"
        rows = loaded.get(table, 0) + earlier.get(table, 0)
        extra = f" {earlier.get(table, 0):>29,}" if earlier else ""
        lines.append(f"{table:<32} {rows:>14,} {total:>14}{extra}")
    if earlier:
        lines.append(f"(of which {sum(earlier.values()):,} rows from an earlier interrupted run, loaded first)")
    return lines


def wait_text(stats: Any) -> str:
    """Time spent on Bitrix's limits: wall time when the client measures it, else summed over threads."""
    if hasattr(stats, "wall_waits"):
        waits = stats.wall_waits()
        return (f"waited {waits['any']:.1f}s (wall time): {waits['throttle']:.1f}s on the request-rate limit,"
                f" {waits['limit']:.1f}s on operating-time limits, {waits['retry']:.1f}s retrying")
    return (f"waited {stats.throttle_wait:.1f}s on the request-rate limit, {stats.limit_wait:.1f}s on"
            f" operating-time limits, {stats.retry_wait:.1f}s retrying (summed over threads)")


def failures_of(client: Any) -> Dict[str, str]:
    """{stream: one-line error with its fix} for the streams that failed this run."""
    return dict(getattr(client, "failures", {}) or {})


class SlicesStats:
    """The client counters of every slice of a run, added up (for the summary)."""

    def __init__(self, parts: List[Any]) -> None:
        self.parts = parts
        self.total_requests = sum(p.total_requests for p in parts)
        self.commands: Counter = sum((Counter(p.commands) for p in parts), Counter())
        self.tombstones: Counter = sum((Counter(p.tombstones) for p in parts), Counter())

    def wall_waits(self) -> Dict[str, float]:
        totals: Counter = Counter()
        for part in self.parts:
            totals.update(part.wall_waits())
        return {key: totals.get(key, 0.0) for key in ("throttle", "limit", "retry", "any")}


def summary(pipeline: dlt.Pipeline, started: float, earlier: Optional[Dict[str, int]] = None,
            report: Optional[SliceReport] = None) -> str:
    """Rows per table (this run's data rows and the destination's), requests, waits, failed streams,
    and where unfinished backfills stand.

    `earlier`: rows of an interrupted run's package this run loaded first. `report`: the slices of
    this run (`run_in_slices`); without it, the pipeline's last run.
    """
    client = latest_client()
    if report is not None and report.stats:
        stats: Any = SlicesStats(report.stats)
        loaded: Counter = Counter()
        for trace, part in zip(report.traces, report.stats):
            loaded.update(data_rows(trace, part))
        rows, failed = dict(loaded), dict(report.failed)
    else:
        stats = client.stats if client is not None else None
        rows, failed = data_rows(pipeline.last_trace, stats), failures_of(client)
    lines = table_lines(rows, destination_counts(pipeline), earlier or {})
    if stats is not None:
        sliced = f" in {report.slices} slices" if report is not None and report.slices > 1 else ""
        lines.append(f"\n{stats.total_requests} HTTP requests to Bitrix24 ({sum(stats.commands.values())} API calls)"
                     f"{sliced}; {wait_text(stats)}; {time.monotonic() - started:.1f}s in all.")
    if report is not None and report.pending:
        why = "the time given (--max-minutes) was used up" if report.stopped_by_time else "it stopped early"
        lines.append(f"\nFirst sync not finished: {why}. Run again to resume where it stopped (nothing is"
                     " read twice, nothing is lost):")
        lines.extend(f"  {progress_line(name, saved)}" for name, saved in sorted(report.pending.items()))
    if failed:
        lines.append("\nFailed streams:")
        lines.extend(f"  {name}: {message}" for name, message in sorted(failed.items()))
    return "\n".join(lines)


def failure_line(failed: Dict[str, str]) -> str:
    """The run's last line when streams failed."""
    return (f"error: {len(failed)} stream(s) failed: {', '.join(sorted(failed))} — see above; their next run"
            " resumes where their last good run ended")


# ---- full refresh of everything, or of the named streams only -----------------------------------


def prepare_refresh(pipeline: dlt.Pipeline, source: Any, named: List[str], full_refresh: bool) -> Optional[str]:
    """dlt's `refresh` mode for this run; drops named streams beforehand where dlt's would drop more.

    Without --streams everything is reloaded ("drop_sources"). With --streams only the named streams'
    tables (child tables included) and cursors are dropped ("drop_resources"). A named deal
    sub-resource brings `deals` along in the source, and dlt's "drop_resources" would drop deals'
    table too: instead the named tables and state are dropped first and only deals' cursor is reset,
    so deals is read in full (which the sub-resource needs: it only sees the deals a run reads) and
    merged into its table, which keeps its rows.
    """
    if not full_refresh:
        return None
    if not named:
        return "drop_sources"
    in_source = list(source.resources.keys())
    brought = [name for name in in_source if name not in named]
    if not brought:
        return "drop_resources"
    drop_streams(pipeline, [name for name in in_source if name in named], brought)
    return None


def drop_streams(pipeline: dlt.Pipeline, named: List[str], brought: List[str]) -> None:
    """Drop the named streams' tables and state, and reset the cursors of the streams in `brought`."""
    if not pipeline.default_schema_name:
        return  # never loaded: this run loads everything anyway
    from dlt.pipeline.helpers import pipeline_drop

    pipeline_drop(pipeline, resources=named, state_paths=[f"resources.{name}" for name in brought])()


# ---- one load ----------------------------------------------------------------------------------


def pipeline_name(args: argparse.Namespace) -> str:
    return args.pipeline_name or ("bitrix24_demo" if args.demo else "bitrix24")


def source_kwargs(args: argparse.Namespace, webhook_url: Optional[str]) -> Dict[str, Any]:
    """bitrix24_source() arguments from the command line (the rest comes from dlt's config)."""
    kwargs: Dict[str, Any] = {}
    if webhook_url:
        kwargs["webhook_url"] = webhook_url
    if args.demo:
        kwargs.update(extract_deal_contacts=True, enable_deal_comments=True, enable_deal_products=True,
                      detect_deletes="delete")
    if stream_names(args):
        kwargs["streams"] = stream_names(args)  # naming a sub-resource stream switches it on (the source's rule)
    return kwargs


def resume_pending(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Load what an interrupted earlier run extracted; its rows per table (empty if none).

    dlt's run() would otherwise load that package and skip this run's extraction.
    """
    if not pipeline.has_pending_data:
        return {}
    print("Loading the data an interrupted earlier run left behind first.")
    pipeline.run()
    return row_counts(pipeline.last_trace)


def run(args: argparse.Namespace, webhook_url: Optional[str], full_refresh: Optional[bool] = None,
        portal: Optional[Portal] = None) -> Tuple[dlt.Pipeline, Dict[str, int], SliceReport]:
    """One load, in slices while a first sync goes on (`run_in_slices`); returns the pipeline, the
    rows of an interrupted earlier run it loaded first, and the slices. With `portal`: that portal
    of the table, by its own pipeline into its own dataset (the command line's options win)."""
    if portal is not None:
        pipeline = make_pipeline(args, portal.pipeline_name, portal.dataset)
        build: Any = partial(portal_source, portal)
    else:
        pipeline, build = make_pipeline(args, pipeline_name(args)), bitrix24_source
    kwargs = source_kwargs(args, webhook_url)
    kwargs["backfill_slice_rows"] = args.slice_rows or None
    first = [build(max_run_minutes=args.max_minutes, **kwargs)]
    if is_duckdb(pipeline):
        cap_duckdb_memory()
    earlier = resume_pending(pipeline)
    full = args.full_refresh if full_refresh is None else full_refresh
    if full:  # PostgreSQL will not drop a table a view depends on; the views come back after the load
        drop_views_quietly(pipeline)
    refresh = prepare_refresh(pipeline, first[0], stream_names(args), full)
    # DuckDB loads jsonl files about 25x faster than dlt's default INSERT statements for it.
    file_format = "jsonl" if is_duckdb(pipeline) else None

    def make_source(max_run_minutes: Optional[float] = None) -> Any:
        return first.pop() if first else build(max_run_minutes=max_run_minutes, **kwargs)

    report = run_in_slices(pipeline, make_source, max_run_minutes=args.max_minutes, after_slice=slice_done,
                           refresh=refresh, loader_file_format=file_format)
    if wants_labeled_views(args):
        views = create_labeled_views(pipeline)
        print(f"Labeled views ({len(views)}): {', '.join(views) or 'none'}", flush=True)
    return pipeline, earlier, report


def wants_labeled_views(args: argparse.Namespace) -> bool:
    """--labeled-views, or `labeled_views = true` under [sources.bitrix24] (checked with the source)."""
    return bool(args.labeled_views or dlt.config.get("sources.bitrix24.labeled_views", bool))


def drop_views_quietly(pipeline: dlt.Pipeline) -> None:
    """Drop the labeled views before a full refresh drops their tables; a failure only leaves a warning."""
    try:
        drop_labeled_views(pipeline)
    except Exception as exc:  # e.g. the dataset is not there yet
        print(f"warning: labeled views not dropped before the refresh: {' '.join(str(exc).split())[:200]}",
              file=sys.stderr)


def slice_done(number: int, backfills: Dict[str, Dict[str, Any]]) -> None:
    """One line per committed slice of a first sync that goes on."""
    if backfills:
        print(f"Slice {number} loaded and committed; first sync goes on: "
              + "; ".join(progress_line(name, saved) for name, saved in sorted(backfills.items())), flush=True)


# ---- the demo: a full load, a few edits on the simulated portal, an incremental load ------------

DEMO_CHANGES = "edited 5 deals and 3 contacts, added 2 deals and deleted 2 deals"


def edit_demo_portal(portal: Any) -> None:
    """DEMO_CHANGES on the simulated portal, after the first run's window and before the second's.

    Runs are bounded by the portal's clock in whole seconds: moving it on 2 s before and after the
    edits puts them after the first run's window and inside the second's.
    """
    portal.options.clock_skew = float(portal.options.clock_skew) + 2
    deals = [int(row["ID"]) for row in portal.ground_truth("deal", select=["ID"])]
    contacts = [int(row["ID"]) for row in portal.ground_truth("contact", select=["ID"])]
    for deal_id in deals[:5]:
        portal.update("deal", deal_id, TITLE=f"Demo deal {deal_id}, edited")
    for contact_id in contacts[:3]:
        portal.update("contact", contact_id, POST="Edited in the demo")
    for number in (1, 2):
        portal.create("deal", TITLE=f"New demo deal {number}")
    for deal_id in deals[-2:]:
        portal.delete("deal", deal_id)
    portal.options.clock_skew = float(portal.options.clock_skew) + 2


def stored_ids(pipeline: dlt.Pipeline, tables: Iterable[str]) -> Dict[str, set]:
    """Ids per table in the destination (to count the deletions a run applied)."""
    found = {}
    for table in tables:
        try:
            found[table] = {row[0] for row in pipeline.dataset()(f"SELECT id FROM {table}").fetchall()}
        except Exception:  # the table was not loaded (--streams)
            found[table] = set()
    return found


def demo_block(pipeline: dlt.Pipeline, deleted: Dict[str, int]) -> str:
    """What the incremental run did: requests, changed rows per table, deletions applied."""
    from dlt.common.schema.utils import get_write_disposition

    client = latest_client()
    stats = client.stats if client is not None else None
    loaded = {t: n for t, n in data_rows(pipeline.last_trace, stats).items() if n}
    tables = pipeline.default_schema.tables
    replaced = {t for t in loaded if t in tables and get_write_disposition(tables, t) == "replace"}
    rows = ", ".join(f"{t} {n:,}" for t, n in sorted(loaded.items()) if t not in replaced) or "none"
    gone = ", ".join(f"{table} {count}" for table, count in sorted(deleted.items()) if count) or "none"
    return (f"Second run, incremental (on the portal: {DEMO_CHANGES}):\n"
            f"  HTTP requests: {stats.total_requests if stats is not None else '-'}\n"
            f"  changed rows loaded: {rows}\n"
            f"  deletions applied: {gone}\n"
            f"  reloaded in full as on every run (lookup tables without a modification time): {len(replaced)}"
            f" tables, {sum(loaded[t] for t in replaced):,} rows")


def run_demo(args: argparse.Namespace) -> Tuple[dlt.Pipeline, Dict[str, str]]:
    """Both demo runs with their summaries; returns the pipeline and the streams that failed."""
    from simportal import SimPortal

    with SimPortal(size=args.demo_size, seed=7) as portal:
        print(f"Demo: simulated Bitrix24 portal with about {args.demo_size} CRM rows on loopback.")
        started = time.monotonic()
        pipeline, earlier, report = run(args, portal.webhook_url, full_refresh=True)
        print("\nFirst run (a full refresh of the demo pipeline):\n" + summary(pipeline, started, earlier, report))
        failed = dict(report.failed)
        edit_demo_portal(portal)
        before = stored_ids(pipeline, ("deals", "contacts"))
        started = time.monotonic()
        pipeline, _, report = run(args, portal.webhook_url, full_refresh=False)
        after = stored_ids(pipeline, before)
        deleted = {table: len(before[table] - after[table]) for table in before}
        print(f"\n{demo_block(pipeline, deleted)}\n\nSecond run:\n{summary(pipeline, started, None, report)}")
    return pipeline, {**failed, **report.failed}


# ---- many portals: --portal NAME, --all-portals --------------------------------------------------


@dataclass
class PortalResult:
    """How one portal's load went, for the summary at the end."""

    portal: Portal
    seconds: float
    error: Optional[str] = None  # one line; None = loaded
    rows: Optional[int] = None
    requests: Optional[int] = None


def selected_portals(args: argparse.Namespace) -> List[Portal]:
    """The portals to load; a bad table or an unknown name is a bad input (nothing runs)."""
    try:
        portals = load_portals()
    except Bitrix24Error as exc:
        raise CliError(str(exc)) from None
    if args.portal is not None:
        if args.portal not in portals:
            known = ", ".join(portals) or "none"
            raise CliError(f"--portal {args.portal!r} is not in sources.bitrix24.portals; configured portals: {known}")
        return [portals[args.portal]]
    if not portals:
        raise CliError("--all-portals: no portals are configured; add one table per portal to .dlt/secrets.toml,"
                       ' e.g. [sources.bitrix24.portals.acme] with webhook_url = "https://acme.bitrix24.com/rest/1/CODE/"')
    return list(portals.values())


def root_cause(exc: BaseException) -> str:
    """An unexpected error in one line: the innermost exception dlt wrapped, with its type."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def portal_failure(portal: Portal, exc: Exception, started: float) -> PortalResult:
    """A portal whose load raised: one line for it (a traceback too when the error is unexpected)."""
    cause = _expected_cause(exc)
    if cause is None:
        traceback.print_exc()
        text = root_cause(exc)
    else:
        text = str(cause)
    line = portal_message(portal, text)
    print(f"error: portal {portal.name}: {line}", file=sys.stderr, flush=True)
    return PortalResult(portal, time.monotonic() - started, error=line)


@contextlib.contextmanager
def portal_duckdb(args: argparse.Namespace, portal: Portal) -> Iterator[None]:
    """Into DuckDB with no file configured, each portal loads into its own file (`bitrix24-NAME.duckdb`
    here): a DuckDB schema cannot be named like its file, which `bitrix24_NAME.duckdb` would be."""
    key = "DESTINATION__DUCKDB__CREDENTIALS"
    if args.destination not in (None, "duckdb") or key in os.environ \
            or dlt.secrets.get("destination.duckdb.credentials") is not None:
        yield
        return
    os.environ[key] = os.path.abspath(portal.duckdb_file)
    try:
        yield
    finally:
        os.environ.pop(key, None)


def run_portal(args: argparse.Namespace, portal: Portal) -> PortalResult:
    """One portal of the table, by its own pipeline into its own dataset; never raises an Exception."""
    print(f"\n=== portal {portal.name}: pipeline {portal.pipeline_name}, dataset {portal.dataset} ===", flush=True)
    started = time.monotonic()
    try:
        with portal_duckdb(args, portal):
            pipeline, earlier, report = run(args, None, portal=portal)
            print(summary(pipeline, started, earlier, report))
            if is_duckdb(pipeline):
                print(f"Data is in {duckdb_file(pipeline)}, schema {portal.dataset}.")
    except Exception as exc:
        return portal_failure(portal, exc, started)
    rows, requests = report_totals(report)
    error = None
    if report.failed:
        error = portal_message(portal, failure_line(report.failed)[len("error: "):])
        print(f"error: portal {portal.name}: {error}", file=sys.stderr, flush=True)
    return PortalResult(portal, time.monotonic() - started, error, rows, requests)


def portals_summary(results: List[PortalResult]) -> str:
    """One row per portal: its dataset, whether it loaded, rows, requests and time; then the errors."""
    ok = sum(1 for r in results if r.error is None)
    lines = [f"\nPortals: {ok} of {len(results)} loaded",
             f"{'portal':<24} {'dataset':<32} {'result':<7} {'rows loaded':>12} {'requests':>9} {'time':>8}"]
    for r in results:
        rows = "-" if r.rows is None else f"{r.rows:,}"
        requests = "-" if r.requests is None else f"{r.requests:,}"
        lines.append(f"{r.portal.name:<24} {r.portal.dataset:<32} {'ok' if r.error is None else 'FAILED':<7}"
                     f" {rows:>12} {requests:>9} {r.seconds:>7.1f}s")
    lines.extend(f"  {r.portal.name}: {r.error}" for r in results if r.error is not None)
    return "\n".join(lines)


def run_portals(args: argparse.Namespace) -> int:
    """--portal / --all-portals: each portal in turn (one failing does not stop the others); exit 1
    when any failed."""
    results = [run_portal(args, portal) for portal in selected_portals(args)]
    print(portals_summary(results))
    failed = [r.portal.name for r in results if r.error is not None]
    if failed:
        print(f"error: {len(failed)} of {len(results)} portal(s) failed: {', '.join(failed)} — see above",
              file=sys.stderr)
        return 1
    return 0


# ---- main --------------------------------------------------------------------------------------


def check_inputs(args: argparse.Namespace) -> None:
    """Everything that can be checked before a source is built or a portal is asked."""
    check_progress(args.progress)
    if args.portal is not None or args.all_portals:
        option = "--portal" if args.portal is not None else "--all-portals"
        for other, given in (("--demo", args.demo), ("--dataset", args.dataset), ("--pipeline-name", args.pipeline_name)):
            if given:
                raise CliError(f"{option} cannot be combined with {other}: each portal has its own pipeline"
                               " (bitrix24_NAME) and dataset (set `dataset` in its [sources.bitrix24.portals.NAME] table)")
    for option, value in (("--streams", args.streams), ("--destination", args.destination),
                          ("--pipeline-name", args.pipeline_name), ("--dataset", args.dataset)):
        if value is not None and not value.replace(",", "").strip():
            raise CliError(f"{option} is empty; give a value or leave the option out (see --help)")
    check_destination(args.destination)


def main(argv: Optional[List[str]] = None) -> int:
    started = time.monotonic()
    try:
        args = parse_args(argv)
        check_inputs(args)
        if args.portal is not None or args.all_portals:
            return run_portals(args)
        if args.demo:
            pipeline, failed = run_demo(args)
        else:
            pipeline, earlier, report = run(args, None)
            print(summary(pipeline, started, earlier, report))
            failed = dict(report.failed)
    except Exception as exc:
        cause = _expected_cause(exc)
        if cause is None:
            raise
        print(error_line(cause), file=sys.stderr)
        return 2 if isinstance(cause, CliError) else 1
    if is_duckdb(pipeline):
        print(f"\nData is in {duckdb_file(pipeline)}, schema {args.dataset or DATASET}.")
    if failed:
        print(failure_line(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
