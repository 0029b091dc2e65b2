"""A leaky-bucket throttle shared by every thread that talks to one portal.

Bitrix24 counts each HTTP request into a bucket that drains at `rate` requests per second and
rejects requests (503 QUERY_LIMIT_EXCEEDED) once more than `burst` are in it. Mirroring that bucket
on our side means we never provoke the 503 in the first place.
"""

from __future__ import annotations

import threading
import time


class LeakyBucket:
    """Thread-safe leaky bucket: `acquire()` blocks until one more request fits."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, sleep=time.sleep) -> None:
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._stamp = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers spent waiting here

    def _drain(self, now: float) -> None:
        self._level = max(0.0, self._level - (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self) -> float:
        """Reserve a slot for one request; returns how long the caller waited."""
        with self._lock:
            now = self._clock()
            self._drain(now)
            # A slot is free once the level is at most burst - 1 (the request itself adds 1).
            wait = max(0.0, (self._level + 1.0 - self.burst) / self.rate)
            # Reserve now so concurrent callers queue behind us instead of racing for the slot.
            self._level += 1.0
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self) -> None:
        """The portal said the bucket is full (another client shares it): assume it is."""
        with self._lock:
            self._drain(self._clock())
            self._level = max(self._level, float(self.burst))
