"""Bookkeeping of waits: wall time spent waiting, and which long waits get a log line.

`WallTime` answers "for how much of the run's wall time was at least one thread waiting" (per kind
of wait and for anything): a sum over threads overstates it when several threads wait at once.

`WaitNotices` keeps a long wait from being silent and a shared one from being noisy: a wait (known
by a key, e.g. one method's operating-time pause) is announced once when it starts or is extended
substantially, then at most once a minute while any thread still waits for it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict

KINDS = ("throttle", "limit", "retry")
LOUD_WAIT = 15.0  # seconds: a wait longer than this is announced at WARNING
EXTENDED = 15.0  # seconds: a pause pushed back by more than this is announced again
NOTE_EVERY = 60.0  # seconds between "still waiting" lines for one wait


def wall_clock_in(seconds: float) -> str:
    """The UTC wall-clock time `seconds` from now, e.g. "22:41:05 UTC"."""
    return datetime.fromtimestamp(time.time() + max(0.0, seconds), tz=timezone.utc).strftime("%H:%M:%S UTC")


class WallTime:
    """Thread-safe interval counter: wall time during which at least one thread waits.

    Per kind (and "any"), a count of current waiters; when it goes 0 -> 1 the start is noted, when
    it goes 1 -> 0 the elapsed time is added. `totals()` includes waits still going on.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters: Dict[str, int] = dict.fromkeys(KINDS + ("any",), 0)
        self._since: Dict[str, float] = {}
        self._total: Dict[str, float] = dict.fromkeys(KINDS + ("any",), 0.0)

    def enter(self, kind: str) -> None:
        """One more thread waits for `kind`."""
        with self._lock:
            now = self._clock()
            for key in (kind, "any"):
                if self._waiters[key] == 0:
                    self._since[key] = now
                self._waiters[key] += 1

    def leave(self, kind: str) -> None:
        """A thread stopped waiting for `kind`."""
        with self._lock:
            now = self._clock()
            for key in (kind, "any"):
                self._waiters[key] -= 1
                if self._waiters[key] == 0:
                    self._total[key] += now - self._since.pop(key)

    def totals(self) -> Dict[str, float]:
        """Seconds of wall time with at least one waiter, per kind and "any"."""
        with self._lock:
            now = self._clock()
            return {key: total + (now - self._since[key] if self._waiters[key] else 0.0)
                    for key, total in self._total.items()}


class WaitNotices:
    """Decides when a wait deserves a log line (thread-safe); the caller writes the line."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._until: Dict[Any, float] = {}  # key -> clock time the wait ends
        self._noted: Dict[Any, float] = {}  # key -> clock time of its last line

    def starts(self, key: Any, until: float) -> bool:
        """A wait for `key` until `until`: True if it is new or extended by more than EXTENDED s
        (announce it); a wait already announced, or a thread joining one, gives False."""
        with self._lock:
            now = self.clock()
            before = self._until.get(key, 0.0)
            self._until[key] = max(before, until)
            if before > now and until <= before + EXTENDED:
                return False
            self._noted[key] = now
            return until > now

    def due(self, key: Any) -> bool:
        """True if a "still waiting" line for `key` is due (the last one is a minute old)."""
        with self._lock:
            now = self.clock()
            if now - self._noted.get(key, now) < NOTE_EVERY - 1.0:
                return False
            self._noted[key] = now
            return True
