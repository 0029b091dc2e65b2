"""Modelled wall time under Bitrix24 cloud limits, replayed from a request log.

A log is a list of requests in the order the client sent them; each request is
``(method, costs, weight)``: its top-level method ("batch" for a batch), the simulated operating
seconds of every command it ran, as ``[(command_method, seconds), ...]`` in execution order (the
portal's cost model, ``simportal.limits.default_cost``), and how many times it stands for (1, or
the sampling factor of a contender measured in counting mode).

The replay sends each request as early as the limits allow:

* **leaky bucket** (docs/bitrix24-api-notes.md#limits): +1 per HTTP request, drains ``rate`` per second, a request that
  would take the level above ``burst`` waits;
* **operating time** (docs/bitrix24-api-notes.md#limits): per method, the sum of command costs over a window of ten
  ``bucket``-second buckets; commands costing at most 0.1 s are not recorded; while the sum is
  above ``limit`` the portal rejects the method (429), so the request waits until enough old
  buckets expire (an ideal client: it never provokes the 429). With ``pause_threshold`` the client
  instead behaves like ours: once an answer reports more than the threshold for a method, that
  method pauses until its oldest bucket expires (``operating_reset_at``);
* **server time**: a request takes ``rtt`` plus the sum of its command costs (commands of a batch
  run one after another on the portal; operating time is wall-clock execution time).

``lanes`` is the client's concurrency: 1 = one request in flight (a sequential client); k = a pool of
k workers taking requests in log order (fast_bitrix24 keeps up to 50 in flight); ``by="method"``
puts the requests of each method group in their own sequential lane (independent streams extracted
in parallel). All lanes share the bucket and the operating windows.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

MIN_FIX = 0.1
CUT_OFF = 60.0  # Bitrix cuts a single request at 60 s (docs/bitrix24-api-notes.md#limits)

Request = Tuple[str, Sequence[Tuple[str, float]], int]


@dataclass
class Limits:
    rate: float = 2.0
    burst: float = 50.0
    limit: float = 480.0
    bucket: float = 60.0
    buckets: int = 10
    rtt: float = 0.05
    pause_threshold: Optional[float] = None


@dataclass
class Replay:
    wall_s: float = 0.0
    requests: int = 0
    server_s: float = 0.0
    bucket_wait_s: float = 0.0
    operating_wait_s: float = 0.0
    over_60s: int = 0  # requests longer than Bitrix's 60 s cut-off (the model lets them finish)
    operating: Dict[str, float] = field(default_factory=dict)  # recorded + unrecorded seconds per method


class _Windows:
    """Per-method operating-time windows: buckets keyed by index, each [first_ts, sum]."""

    def __init__(self, lim: Limits) -> None:
        self.lim = lim
        self.data: Dict[str, Dict[int, List[float]]] = defaultdict(dict)
        self.paused: Dict[str, float] = {}

    def _live(self, method: str, now: float) -> Dict[int, List[float]]:
        b = self.data[method]
        span = self.lim.buckets * self.lim.bucket
        for idx in [i for i, (first, _) in b.items() if first + span <= now]:
            del b[idx]
        return b

    def total(self, method: str, now: float) -> float:
        return sum(s for _, s in self._live(method, now).values())

    def ready_at(self, method: str, now: float) -> float:
        """Earliest time >= now at which the method may run."""
        t = max(now, self.paused.get(method, 0.0))
        span = self.lim.buckets * self.lim.bucket
        live = sorted(self._live(method, t).values())
        total = sum(s for _, s in live)
        for first, s in live:
            if total <= self.lim.limit:
                break
            total -= s
            t = max(t, first + span)
        return t

    def record(self, method: str, cost: float, at: float) -> None:
        if cost <= MIN_FIX:
            return
        b = self._live(method, at)
        idx = int(at // self.lim.bucket)
        if idx in b:
            b[idx][1] += cost
        else:
            b[idx] = [at, cost]
        th = self.lim.pause_threshold
        if th is not None and self.total(method, at) > th:
            first = min(f for f, _ in b.values())
            self.paused[method] = max(self.paused.get(method, 0.0),
                                      first + self.lim.buckets * self.lim.bucket + 1.0)


def replay(log: Iterable[Request], lim: Limits = Limits(), lanes: int = 1, by: Optional[str] = None) -> Replay:
    """Replay a request log; see the module docstring."""
    out = Replay()
    win = _Windows(lim)
    level, stamp = 0.0, 0.0
    operating: Dict[str, float] = defaultdict(float)

    if by == "method":
        queues: Dict[str, List[Tuple[int, Request]]] = defaultdict(list)
        for n, req in enumerate(log):
            queues[_group(req)].append((n, req))
        lane_queues = list(queues.values())
        free = [(0.0, k) for k in range(len(lane_queues))]
        pos = [0] * len(lane_queues)
    else:
        items = list(log)
        lane_queues = [[(n, r) for n, r in enumerate(items)]]
        free = [(0.0, k) for k in range(max(1, lanes))]
        pos = [0]
    heapq.heapify(free)
    end = 0.0
    while free:
        t_free, lane = heapq.heappop(free)
        q = 0 if by != "method" else lane
        if pos[q] >= len(lane_queues[q]):
            continue
        _, (method, costs, weight) = lane_queues[q][pos[q]]
        if by != "method":
            pos[0] += 1
        else:
            pos[q] += 1
        methods = {m for m, _ in costs}
        for _ in range(max(1, int(weight))):
            t = t_free
            # operating windows of every method the request runs
            t_op = t
            for m in methods:
                t_op = max(t_op, win.ready_at(m, t_op))
            out.operating_wait_s += t_op - t
            t = t_op
            # leaky bucket (shared)
            level = max(0.0, level - (t - stamp) * lim.rate)
            stamp = t
            if level + 1.0 > lim.burst:
                wait = (level + 1.0 - lim.burst) / lim.rate
                out.bucket_wait_s += wait
                t += wait
                level = max(0.0, level - wait * lim.rate)
                stamp = t
            level += 1.0
            # the portal runs the commands one after another
            at = t + lim.rtt / 2
            for m, c in costs:
                at += c
                win.record(m, c, at)
                operating[m] += c
            server = sum(c for _, c in costs)
            if server > CUT_OFF:
                out.over_60s += 1
            out.server_s += server
            out.requests += 1
            t_free = t + lim.rtt + server
        end = max(end, t_free)
        heapq.heappush(free, (t_free, lane))
    out.wall_s = end
    out.operating = dict(operating)
    return out


def _group(req: Request) -> str:
    method, costs, _ = req
    inner = sorted({m for m, _ in costs})
    return ",".join(inner) if inner else method


def from_records(records: Iterable[Sequence], weights: Optional[Dict[str, int]] = None) -> List[Request]:
    """Requests from the portal's compact log ``[ts, status, method, [[cmd, s], ...]]``.

    Rejected requests (503/429 from the portal's own limits, which are off while measuring) are
    kept: they were sent. ``weights`` maps a top-level method to a sampling factor.
    """
    out: List[Request] = []
    for rec in records:
        method, costs = rec[2], [(m, float(c)) for m, c in rec[3]]
        out.append((method, costs, (weights or {}).get(method, 1)))
    return out
