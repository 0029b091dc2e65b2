"""Stream isolation: a stream that fails for good does not stop the others, and commits no state.

Every resource of the source runs through `run_stream` (transformers through `run_child`). When a
reader raises - after the client's retries: a method the portal refuses, a scope error at run
time, an exhausted retry budget - the error is recorded under the stream's name, logged once, and
the stream simply ends; the other streams go on, load and commit their state.

The failed stream must not commit a state change: the keyset walk reads ids downwards, so the
cursor maximum of a partial read is not a safe resume point. A `StateGuard` step, bound by dlt in
the main thread just before the resource runs and before its incremental step, keeps a copy of
the resource's incremental state; on failure the resource's state gets that copy back, a fresh
object, so whatever dlt's incremental step still writes for the stream's last pages lands in the
detached old one. A transformer that fails puts its parent's state back too (a `deals` cursor that
moved on would hide the deals whose products were never read): the next run reads them again.

`fail_fast = true` keeps the all-or-nothing behaviour: the first failure stops the run. An error that
no stream can get past (`stops_run`: an OAuth refresh the server refused) always stops the run.
"""

import copy
import logging
import threading
from typing import Any, Callable, Dict, Iterator, Optional

import dlt
from dlt.extract.items_transform import ItemTransform

from .errors import Bitrix24Error

BACKFILL = "backfill"  # resource-state key of a first sync's progress (backfill.py)

logger = logging.getLogger("bitrix24")

RESUMES = "its cursor is kept, so the next run resumes where its last good run ended"


class StateGuard(ItemTransform):
    """A pass-through pipe step that snapshots a resource's incremental state when dlt binds it."""

    placement_affinity = 0  # right after the generator, before dlt's incremental step (1)

    def __init__(self, isolation: "Isolation") -> None:
        super().__init__(lambda item: item)
        self.isolation = isolation
        self._state: Optional[Dict[str, Any]] = None
        self._snapshot: Any = None
        self._backfill: Any = None
        self.frozen = False  # rolled back after a failure: the stream's state must not move any more

    def bind(self, pipe: Any) -> "StateGuard":
        # dlt may bind a copy of the pipe's steps: the bound guard is the one that registers
        self._state = dlt.current.resource_state(pipe.name)
        self._snapshot = copy.deepcopy(self._state.get("incremental"))
        self._backfill = copy.deepcopy(self._state.get(BACKFILL))
        self.isolation.register(pipe.name, self)
        return self

    def __call__(self, item: Any, meta: Any = None) -> Any:
        return item

    @property
    def state(self) -> Optional[Dict[str, Any]]:
        """The resource's own state (its `backfill` progress lives here, beside dlt's cursor)."""
        return self._state

    def set_cursor(self, path: str, value: Dict[str, Any]) -> None:
        """Give dlt's cursor `path` this state, as a fresh object (late writes of dlt's incremental
        step land in the detached old one)."""
        if self._state is not None:
            self._state["incremental"] = {path: copy.deepcopy(value)}

    @property
    def resumed(self) -> bool:
        """Whether the resource started this run from a committed cursor (not from scratch)."""
        snapshot = self._snapshot if isinstance(self._snapshot, dict) else {}
        return any(isinstance(v, dict) and v.get("last_value") is not None for v in snapshot.values())

    def keep_cursor(self) -> None:
        """Give dlt's cursor back the value it started this run with (thread-safe: one assignment)."""
        if self._state is None:
            return
        if self._snapshot is None:
            self._state.pop("incremental", None)
        else:
            self._state["incremental"] = copy.deepcopy(self._snapshot)

    def rollback(self) -> None:
        """After a failure: the cursor and a first sync's progress as the run started, and frozen
        (a backfill still running - a parent whose transformer failed - records no more progress)."""
        if self._state is None:
            return
        self.frozen = True
        self.keep_cursor()
        if self._backfill is None:
            self._state.pop(BACKFILL, None)
        else:
            self._state[BACKFILL] = copy.deepcopy(self._backfill)


class Isolation:
    """The run's failed streams and the state guards of its resources."""

    def __init__(self, fail_fast: bool = False, failures: Optional[Dict[str, str]] = None) -> None:
        self.fail_fast = fail_fast
        self.failures: Dict[str, str] = {} if failures is None else failures  # stream -> what failed, the fix
        self.guards: Dict[str, StateGuard] = {}
        self._lock = threading.Lock()

    def register(self, name: str, guard: StateGuard) -> None:
        with self._lock:
            self.guards[name] = guard

    def guard(self, name: str) -> Optional[StateGuard]:
        """The state guard of a resource of this run (None: not in the run, or not yet bound)."""
        with self._lock:
            return self.guards.get(name)

    def failed(self, name: str) -> bool:
        with self._lock:
            return name in self.failures

    def fail(self, name: str, exc: Exception, parent: Optional[str] = None) -> None:
        """Record a stream's failure and put back its state (and its parent's)."""
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, Bitrix24Error):
            message = f"{type(exc).__name__}: {message}"
        for stream in filter(None, (name, parent)):
            with self._lock:
                guard = self.guards.get(stream)
            if guard is not None:
                guard.rollback()
        with self._lock:
            first = name not in self.failures
            self.failures.setdefault(name, message)
        if first:
            kept = f"{RESUMES} (and so does {parent}'s)" if parent else RESUMES
            logger.error("Stream %s failed and was stopped; the other streams go on, %s: %s", name, kept, message,
                         exc_info=not isinstance(exc, Bitrix24Error))


def run_stream(
    reader: Callable[..., Iterator[Any]],
    isolation: Isolation,
    client: Any,
    stream: Any,
    options: Any,
    cursor: Optional[dlt.sources.incremental[Any]] = None,
) -> Iterator[Any]:
    """A resource: the stream's reader, isolated (see the module docstring)."""
    kwargs = {"cursor": cursor, "guard": isolation.guards.get(stream.name)} if cursor is not None else {}
    try:
        yield from reader(client, stream, options, **kwargs)
    except Exception as exc:
        if isolation.fail_fast or getattr(exc, "stops_run", False):  # e.g. a refused OAuth refresh
            raise
        isolation.fail(stream.name, exc)


def run_child(
    items: Any,
    reader: Callable[..., Iterator[Any]],
    isolation: Isolation,
    client: Any,
    stream: Any,
    options: Any,
) -> Iterator[Any]:
    """A transformer: the stream's reader for one batch of parent rows, isolated. Once the stream
    has failed, its later batches are skipped."""
    if isolation.failed(stream.name):
        return
    try:
        yield from reader(client, stream, options, items)
    except Exception as exc:
        if isolation.fail_fast or getattr(exc, "stops_run", False):
            raise
        isolation.fail(stream.name, exc, parent=stream.parent)
