"""Request-rate limiter, operating-time limiter, cost model, stats, request log, fault injection."""
from __future__ import annotations

import threading
from collections import Counter, defaultdict, namedtuple
from typing import Optional

# ---------------------------------------------------------------- cost model


BASE_SECONDS = 0.02          # every executed command
ROW_SECONDS = 0.0015         # per returned row, standard fields (DOCS: a start=-1 page of 50 leads 0.097 s)
HEAVY_ROW_SECONDS = 0.01     # per returned row when the select pulls UF_* or multifields (mesilov SDK: 0.6 s/page)
COUNT_ROW_SECONDS = 2.1e-5   # per matching row counted when start != -1 (DOCS: 49.9 s over 2,387,743 rows)
OFFSET_ROW_SECONDS = 1e-5    # per row skipped by LIMIT/OFFSET paging (start = 50, 100, ...)


def default_cost(method: str, rows: int = 0, heavy: bool = False, counted_rows: int = 0, offset: int = 0) -> float:
    """Simulated operating seconds of ONE executed command (docs/bitrix24-api-notes.md#limits), calibrated on published figures.

    * 0.02 s base per call;
    * 0.0015 s per returned row, or 0.01 s per row when the select pulls UF_* or multifields (extra
      joins): a keyset page of 50 standard rows costs 0.095 s (the DOCS huge-data example measured
      0.097 s with ``start=-1``; under the 0.1 s recording threshold), a full-field page 0.52 s (the
      bitrix24-php-sdk benchmark on a cloud portal, 100k contacts with ``*``, multifields and UF_*:
      32.7 s for 54 uncounted pages, 0.6 s a page);
    * 2.1e-5 s per matching row when a list is counted (``start`` != -1): DOCS measured 49.9 s for
      2,387,743 leads against 0.097 s with ``start=-1``. A counted full-field page over 100k rows
      then costs 0.52 + 2.1 = 2.6 s, 5.0x the uncounted one (the SDK benchmark: 168.8 s vs 32.7 s, 5.2x);
    * 1e-5 s per row skipped by legacy LIMIT/OFFSET paging (MySQL walks the skipped rows through the
      same joins: half the per-row cost of the COUNT, which has to visit every matching row).
    Only calls costing more than 0.1 s are recorded by the limiter (``$minimalFixTime``).
    """
    cost = BASE_SECONDS + rows * (HEAVY_ROW_SECONDS if heavy else ROW_SECONDS)
    cost += counted_rows * COUNT_ROW_SECONDS
    cost += offset * OFFSET_ROW_SECONDS
    return cost


# ---------------------------------------------------------------- leaky bucket (docs/bitrix24-api-notes.md#limits)

class RateLimiter:
    """Counter per key (client IP) +1 per HTTP request, drained by ``drain`` per second; > burst => reject."""

    def __init__(self) -> None:
        self.level: dict = {}
        self.stamp: dict = {}
        self.lock = threading.Lock()

    def hit(self, key, now: float, drain: float, burst: float) -> bool:
        with self.lock:
            lvl = self.level.get(key, 0.0)
            last = self.stamp.get(key, now)
            lvl = max(0.0, lvl - (now - last) * drain)
            self.stamp[key] = now
            if lvl + 1 > burst:
                self.level[key] = lvl
                return False
            self.level[key] = lvl + 1
            return True

    def reset(self) -> None:
        with self.lock:
            self.level.clear()
            self.stamp.clear()


# ---------------------------------------------------------------- operating time (docs/bitrix24-api-notes.md#limits)

class OperatingLimiter:
    """Per (webhook, method) sliding window of 10 buckets; calls <= 0.1 s are not recorded."""
    MIN_FIX = 0.1
    BUCKETS = 10

    def __init__(self) -> None:
        self.data: dict = defaultdict(dict)   # key -> {bucket_index: [first_ts, sum]}
        self.lock = threading.Lock()

    def _live(self, key, now, bsec) -> dict:
        b = self.data.get(key)
        if not b:
            return {}
        for idx in [i for i, (first, _) in b.items() if first + self.BUCKETS * bsec <= now]:
            del b[idx]
        return b

    def state(self, key, now: float, bsec: float) -> tuple:
        """(current sum, reset_at int)."""
        with self.lock:
            b = self._live(key, now, bsec)
            total = sum(s for _, s in b.values())
            reset = min(first for first, _ in b.values()) + self.BUCKETS * bsec if b else now + self.BUCKETS * bsec
            return total, int(reset)

    def record(self, key, cost: float, now: float, bsec: float) -> None:
        if cost <= self.MIN_FIX:
            return
        with self.lock:
            b = self._live(key, now, bsec)
            idx = int(now // bsec)
            ent = b.get(idx)
            if ent is None:
                self.data[key][idx] = [now, cost]
            else:
                ent[1] += cost

    def reset(self) -> None:
        with self.lock:
            self.data.clear()


# ---------------------------------------------------------------- stats & log

LogRecord = namedtuple("LogRecord", "timestamp http_status method commands op_seconds")
"""commands: list of (cmd_key, method, params_dict, ok); cmd_key is None for a direct call."""

RequestRecord = namedtuple("RequestRecord", "timestamp http_status method costs")
"""Compact request log (``SimPortal.requests``): costs = tuple of (method, simulated seconds), one per
executed command in execution order (empty for a request rejected before any command ran)."""


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self._http: Counter = Counter()
            self._carrying: Counter = Counter()
            self._cmd: Counter = Counter()
            self._op: defaultdict = defaultdict(float)
            self._flying = getattr(self, "_flying", 0)  # HTTP requests being answered now (kept on reset)
            self.peak_in_flight = 0  # the most answered at once since the last reset

    def count_http(self, method, inner=()) -> None:
        with self.lock:
            self._http[(method or "").lower()] += 1
            for m in set(inner) or {(method or "").lower()}:
                self._carrying[m.lower()] += 1

    def enter(self) -> None:
        with self.lock:
            self._flying += 1
            self.peak_in_flight = max(self.peak_in_flight, self._flying)

    def leave(self) -> None:
        with self.lock:
            self._flying -= 1

    def requests_carrying(self, method) -> int:
        """HTTP requests that called ``method`` directly or carried it in a batch (once per request)."""
        with self.lock:
            return self._carrying[method.lower()]

    def count_cmd(self, method, cost) -> None:
        with self.lock:
            self._cmd[method.lower()] += 1
            self._op[method.lower()] += cost

    def http_requests(self, method=None) -> int:
        with self.lock:
            if method is None:
                return sum(self._http.values())
            return self._http[method.lower()]

    def commands(self, method) -> int:
        with self.lock:
            return self._cmd[method.lower()]

    def operating(self, method) -> float:
        with self.lock:
            return self._op[method.lower()]

    def snapshot(self) -> dict:
        with self.lock:
            return {"http": dict(self._http), "commands": dict(self._cmd), "operating": dict(self._op),
                    "peak_in_flight": self.peak_in_flight}


# ---------------------------------------------------------------- faults

HTTP_FAULTS = {"503", "429", "500", "502", "504", "html200", "truncated_json", "invalid_json", "reset", "slow"}
CMD_FAULTS = {"short_page", "command_error"}


class Fault:
    def __init__(self, kind, times=1, every=None, method=None, after=0) -> None:
        self.kind, self.times, self.every = kind, times, every
        self.method = method.lower() if method else None
        self.after, self.seen, self.fired = after, 0, 0

    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def offer(self, methods) -> bool:
        """Called once per matching candidate (HTTP request or batch command); True = fire now."""
        if self.method is not None and self.method not in methods:
            return False
        self.seen += 1
        k = self.seen - self.after
        if k <= 0 or self.exhausted():
            return False
        if self.every and (k - 1) % self.every:
            return False
        self.fired += 1
        return True

    def __repr__(self) -> str:
        return f"Fault({self.kind!r}, times={self.times}, every={self.every}, method={self.method!r}, " \
               f"after={self.after}, fired={self.fired})"


class Faults:
    def __init__(self) -> None:
        self.items: list = []
        self.lock = threading.Lock()

    def add(self, kind, times=1, every=None, method=None, after=0) -> Fault:
        kind = str(kind)
        if kind not in HTTP_FAULTS | CMD_FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(HTTP_FAULTS | CMD_FAULTS)}")
        f = Fault(kind, times, every, method, after)
        with self.lock:
            self.items.append(f)
        return f

    def clear(self) -> None:
        with self.lock:
            self.items.clear()

    def take_http(self, methods: set) -> Optional[Fault]:
        with self.lock:
            for f in self.items:
                if f.kind in HTTP_FAULTS and not f.exhausted() and f.offer(methods):
                    self._gc()
                    return f
        return None

    def take_cmd(self, method: str, is_list: bool) -> set:
        fired = set()
        with self.lock:
            for f in self.items:
                if f.kind not in CMD_FAULTS or f.exhausted() or f.kind in fired:
                    continue
                if f.kind == "short_page" and not is_list:
                    continue
                if f.offer({method.lower()}):
                    fired.add(f.kind)
            self._gc()
        return fired

    def _gc(self) -> None:
        self.items = [f for f in self.items if not f.exhausted()]

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Faults({self.items!r})"
