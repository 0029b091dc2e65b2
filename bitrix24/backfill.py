"""Resumable backfills: a first sync (or a full refresh) of a keyset stream, loaded in slices.

A keyset stream's first sync reads the window [start, the portal's clock when it began) walking
ids downwards (upwards for the few methods without the guard). Its progress lives in the
resource's state under `backfill`:

    {"upper": window top (ISO, fixed for the whole backfill; none for an id cursor),
     "lower": window bottom (the first run's start value), "bound": the walk's id bound
     (ids below it are still to read; above it when the walk goes up), "top": the first id read,
     "max": the largest cursor value read so far, "rows": rows read so far}

With `backfill_slice_rows` set, a backfill reads that many rows (whole answers), stops, and the run
commits them with this progress; the next run goes on below the bound with the same window, so an
edit made meanwhile (its time is past the window) is left to the first incremental run, which
starts from the largest cursor value the backfill read, exactly as after an uninterrupted one.
While a backfill is unfinished dlt's own cursor is kept where it was (its filter must not drop the
older rows of later slices); the slice that reaches the bottom sets it. `max_run_minutes` ends a
slice early, at the next answer (the clock starts with the run's first request).

`run_in_slices` runs slice after slice until every backfill is done or the time is up; the CLI uses
it. The Airflow DAG runs one load per task, stopped by `max_run_minutes`, so each DAG run is one
slice. A run killed midway loses only its unfinished slice.
"""

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import dlt
import pendulum

from .isolation import BACKFILL  # resource-state key of the progress

logger = logging.getLogger("bitrix24")



@dataclass
class Walk:
    """One backfill slice of one stream: where it starts and what it has read."""

    stream: str
    cursor_path: str
    by_id: bool
    down: bool
    lower: Any = None  # window bottom (datetime, id or None)
    upper: Any = None  # window top (datetime; None for an id cursor)
    bound: Optional[int] = None  # resume below (down) / above (up) this id; None: from the start
    top: Optional[int] = None
    max: Any = None
    rows: int = 0
    resumed: bool = False
    slice_rows: Optional[int] = None
    deadline: Optional[float] = None
    read: int = 0  # rows of this slice
    state: Dict[str, Any] = field(default_factory=dict)
    guard: Any = None  # the resource's StateGuard: frozen after a failure, then nothing is recorded

    @property
    def max_batch(self) -> int:
        """Commands per request: a slice smaller than 2,500 rows asks for no more than it needs."""
        if not self.slice_rows:
            return 50
        return max(1, min(50, math.ceil(self.slice_rows / 50)))

    def record(self, rows: List[Dict[str, Any]], id_field: str) -> None:
        """After an answer was handed on: move the bound, remember the largest cursor value."""
        ids = [int(r[id_field]) for r in rows if r.get(id_field) is not None]
        if ids:
            self.bound = min(ids) if self.down else max(ids)
            if self.top is None:
                self.top = max(ids) if self.down else min(ids)
        values = [r.get(self.cursor_path) for r in rows if r.get(self.cursor_path) is not None]
        if values:
            largest = max(values)
            self.max = largest if self.max is None else max(self.max, largest)
        self.rows += len(rows)
        self.read += len(rows)
        if not self.guard.frozen:
            self.state[BACKFILL] = self.as_state()

    def slice_full(self) -> bool:
        if self.slice_rows and self.read >= self.slice_rows:
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def as_state(self) -> Dict[str, Any]:
        return {
            "upper": _text(self.upper),
            "lower": _text(self.lower),
            "bound": self.bound,
            "top": self.top,
            "max": _text(self.max),
            "rows": self.rows,
        }


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _value(text: Any, by_id: bool) -> Any:
    if text is None or by_id:
        return text
    return pendulum.parse(text)


def begin(client: Any, stream: Any, options: Any, cursor: Any, guard: Any, down: bool) -> Optional[Walk]:
    """The backfill this run continues or starts for a keyset stream; None for a routine incremental
    run, a bounded window (`end_value`, Airflow's data interval) or a stream without a cursor."""
    if cursor is None or guard is None or guard.state is None or cursor.end_value is not None:
        return None
    by_id = stream.cursor == stream.id_field
    saved = guard.state.get(BACKFILL)
    start = cursor.start_value
    routine = start is not None and start != cursor.initial_value
    if saved is None and routine:
        return None
    deadline = None
    if options.max_run_seconds is not None:  # the run's clock starts with its first request
        deadline = (client.first_request_at or time.monotonic()) + options.max_run_seconds
    walk = Walk(stream.name, stream.cursor, by_id, down, slice_rows=options.backfill_slice_rows,
                deadline=deadline, state=guard.state, guard=guard)
    if saved is not None:
        walk.resumed = True
        walk.lower, walk.upper = _value(saved.get("lower"), by_id), _value(saved.get("upper"), by_id)
        walk.bound, walk.top, walk.rows = saved.get("bound"), saved.get("top"), int(saved.get("rows") or 0)
        walk.max = _value(saved.get("max"), by_id)
    else:
        walk.lower = start
    return walk


def finish(walk: Walk, guard: Any, complete: bool, cursor: Any) -> None:
    """End of a slice. Unfinished: keep the progress, and dlt's cursor where it was. Finished: drop
    the progress; a backfill that took several runs sets dlt's cursor to the largest value it read.
    A stream rolled back after a failure (its transformer's) keeps the state it started with."""
    if guard.frozen:
        return
    if not complete:
        walk.state[BACKFILL] = walk.as_state()
        guard.keep_cursor()
        logger.info("%s: backfill slice done, %d rows so far; the next run resumes %s id %s", walk.stream,
                    walk.rows, "below" if walk.down else "above", walk.bound)
        return
    walk.state.pop(BACKFILL, None)
    if walk.resumed:
        last = walk.max if walk.max is not None else walk.lower
        guard.set_cursor(walk.cursor_path, {
            "initial_value": cursor.initial_value,
            "last_value": last,
            "unique_hashes": [],
            "start_value": cursor.initial_value,
        })
        logger.info("%s: backfill complete (%d rows); incremental from here", walk.stream, walk.rows)


# ---------------------------------------------------------------------------- running in slices


def pending_backfills(pipeline: dlt.Pipeline) -> Dict[str, Dict[str, Any]]:
    """{stream: its backfill progress} for the streams whose backfill is unfinished."""
    sources = pipeline.state.get("sources", {}) if pipeline.state else {}
    resources = sources.get("bitrix24", {}).get("resources", {})
    return {name: dict(state[BACKFILL]) for name, state in resources.items()
            if isinstance(state, dict) and state.get(BACKFILL)}


def progress_line(name: str, saved: Dict[str, Any]) -> str:
    """'deals: 50,000 rows so far, ids below 12,345 left (about 25 %)' - ids are roughly dense."""
    bound, top = saved.get("bound"), saved.get("top")
    left = ""
    if bound is not None and top:
        share = max(0.0, min(1.0, (bound - 1) / top)) if bound <= top else 0.0
        left = f", ids below {bound:,} left (about {share:.0%} of the ids)"
    return f"{name}: {int(saved.get('rows') or 0):,} rows so far{left}"


@dataclass
class SliceReport:
    """What `run_in_slices` did."""

    slices: int = 0
    pending: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # unfinished backfills at the end
    stopped_by_time: bool = False
    infos: List[Any] = field(default_factory=list)  # dlt's LoadInfo of each slice
    traces: List[Any] = field(default_factory=list)  # the pipeline's trace of each slice
    stats: List[Any] = field(default_factory=list)  # the client's ClientStats of each slice
    failed: Dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.pending


def run_in_slices(
    pipeline: dlt.Pipeline,
    make_source: Callable[..., Any],
    max_run_minutes: Optional[float] = None,
    after_slice: Optional[Callable[[int, Dict[str, Dict[str, Any]]], None]] = None,
    **run_kwargs: Any,
) -> SliceReport:
    """Run `pipeline` on `make_source(max_run_minutes=...)` until no backfill is pending, the time is
    used up, a stream has failed for good (`report.failed`; the next run resumes), or a slice moved
    no backfill on (a run with `end_date` leaves an unfinished backfill for a later run). The first
    run loads every stream; later ones only the streams still backfilling and their sub-resources. `run_kwargs` go to the first `pipeline.run` (e.g. `refresh`)."""
    from .settings import STREAMS

    report = SliceReport()
    deadline = None if not max_run_minutes else time.monotonic() + float(max_run_minutes) * 60
    names: Optional[List[str]] = None
    before = pending_backfills(pipeline)
    while True:
        left = None if deadline is None else max((deadline - time.monotonic()) / 60, 1e-6)
        source = make_source(max_run_minutes=left)
        if names is not None:
            wanted = [n for n in source.resources.keys() if n in names]
            if not wanted:
                break
            source = source.with_resources(*wanted)
        report.infos.append(pipeline.run(source, **run_kwargs))
        run_kwargs.pop("refresh", None)
        report.slices += 1
        report.pending = pending_backfills(pipeline)
        from .client import latest_client

        client = latest_client()
        report.traces.append(pipeline.last_trace)
        if client is not None:
            report.stats.append(client.stats)
            report.failed.update(client.failures)
        if after_slice is not None:
            after_slice(report.slices, report.pending)
        if not report.pending:
            break
        if deadline is not None and time.monotonic() >= deadline:
            report.stopped_by_time = True
            break
        if report.failed:
            break  # a stream failed for good: report it; the next run resumes from what was committed
        if report.pending == before:
            break  # no backfill moved: a bounded window (end_date, an orchestrator's interval) never slices
        before = report.pending
        names = list(report.pending) + [s.name for s in STREAMS if s.parent in report.pending]
    return report


def row_counts(trace: Any) -> Dict[str, int]:
    """Rows per data table that a run's normalize step wrote (dlt's own tables left out)."""
    info = trace.last_normalize_info if trace is not None else None
    counts = dict(info.row_counts) if info is not None else {}
    return {table: rows for table, rows in counts.items() if not table.startswith("_dlt")}


def data_rows(trace: Any, stats: Any) -> Dict[str, int]:
    """This run's rows without marker rows (`stats.tombstones`): the tombstones that clear a deal's
    old child rows and the hard-delete rows of `detect_deletes = "delete"` — neither is ever stored."""
    markers = dict(getattr(stats, "tombstones", {}) or {})
    return {table: max(rows - markers.get(table, 0), 0) for table, rows in row_counts(trace).items()}


def report_totals(report: SliceReport) -> Tuple[int, int]:
    """Data rows loaded and HTTP requests made by all slices of a run."""
    rows = sum(sum(data_rows(trace, part).values()) for trace, part in zip(report.traces, report.stats))
    return rows, sum(part.total_requests for part in report.stats)
