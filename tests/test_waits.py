"""Waits: never silent, never noisy, probing 429s, the guard fallback, and waits as wall time.

The client gets a fake clock and sleep (`FakeTime`): every wait it decides on is recorded and moves
the fake clock (and, where a test says so, the simulated portal's clock) instead of sleeping.
"""

from __future__ import annotations

import logging
import re
import threading

import pytest
from conftest import FAST, tick
from test_faults import assert_matches_portal, sync

from bitrix24.batch import ListQuery, read_keyset
from bitrix24.client import LIMIT_GIVE_UP, Bitrix24Client, ClientStats
from bitrix24.errors import RetryBudgetExceeded
from bitrix24.waits import WallTime
from simportal import SimPortal

UNTIL = re.compile(r"until \d\d:\d\d:\d\d UTC")


class FakeTime:
    """A monotonic clock that only moves when the client sleeps (and moves the portal's clock too)."""

    def __init__(self, portal=None):
        self.now = 1000.0
        self.slept = []
        self.portal = portal

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
        if self.portal is not None:
            tick(self.portal, seconds)


def client_for(portal, fake, **kwargs):
    args = dict(FAST, sleep=fake.sleep, clock=fake)
    args.update(kwargs)
    return Bitrix24Client(portal.webhook_url, **args)


def warnings(caplog, phrase):
    return [r.getMessage() for r in caplog.records
            if r.name == "bitrix24" and r.levelno == logging.WARNING and phrase in r.getMessage()]


def heavy_deals(method, *args, **kwargs):
    return 0.3 if method == "crm.deal.list" else 0.01


# ------------------------------------------------------------------ one line per pause

def test_a_batch_of_50_commands_over_the_threshold_logs_one_pause_line(caplog):
    with SimPortal(size=200, seed=4, rate_limit=None, operating_limit=10_000.0, cost_model=heavy_deals) as portal:
        client = client_for(portal, FakeTime(), operating_time_threshold=0.5)
        commands = {f"c{i}": "crm.deal.list?select[0]=ID&start=-1" for i in range(50)}
        with caplog.at_level(logging.INFO, logger="bitrix24"):
            answer = client.batch(commands)
        assert len(answer["result"]) == 50
        lines = warnings(caplog, "pausing")
        assert len(lines) == 1, lines
        assert "crm.deal.list" in lines[0] and "operating time" in lines[0] and UNTIL.search(lines[0])


def test_threads_joining_a_pause_add_no_line(caplog):
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        fake = FakeTime()
        client = client_for(portal, fake)
        with caplog.at_level(logging.INFO, logger="bitrix24"):
            client.pause_method("crm.deal.list")  # probe: 5 s
            client.pause_method("crm.deal.list")  # another thread's 429 during it: joins the pause
            client.call("crm.deal.list", {"select": ["ID"], "start": -1})
        assert len(warnings(caplog, "pausing")) == 1
        assert fake.slept == [pytest.approx(5.0)]  # one pause, waited once


# ------------------------------------------------------------------ 429 probing

def test_429_without_a_known_reset_probes_5_then_10_not_60():
    # the portal blocks crm.deal.list for ~7 s of its time (10 buckets of 0.7 s)
    with SimPortal(size=200, seed=4, rate_limit=None, operating_limit=0.5, operating_bucket_seconds=0.7,
                   cost_model=heavy_deals) as portal:
        fake = FakeTime(portal)
        params = {"select": ["ID"], "start": -1}
        warm = client_for(portal, FakeTime())
        for _ in range(2):  # 0.6 s of operating time: over the limit
            warm.call("crm.deal.list", params)
        client = client_for(portal, fake, max_retry_seconds=900)  # knows no reset time
        assert client.call("crm.deal.list", params)["result"]
        assert [r.http_status for r in portal.log[2:]] == [429, 429, 200]
        assert fake.slept == [pytest.approx(5.0), pytest.approx(10.0)]


def test_429_probe_grows_per_method_and_resets_after_a_success():
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        fake = FakeTime()
        client = client_for(portal, fake, max_retry_seconds=900)
        params = {"select": ["ID"], "start": -1}
        portal.faults.add("429", times=5, method="crm.deal.list")
        assert client.call("crm.deal.list", params)["result"]
        assert [round(s) for s in fake.slept] == [5, 10, 20, 40, 60]
        fake.slept.clear()
        fake.now += 700  # the reset time the success reported has passed: probing again, from 5 s
        portal.faults.add("429", times=1, method="crm.deal.list")
        client.call("crm.deal.list", params)
        assert [round(s) for s in fake.slept] == [5]
        assert client.stats.limit_wait == pytest.approx(5 + 10 + 20 + 40 + 60 + 5)


def test_429_on_a_batch_and_inside_a_batch_probe_too():
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        fake = FakeTime()
        client = client_for(portal, fake)
        portal.faults.add("429", times=2, method="crm.deal.list")  # HTTP 429 for the whole batch
        client.batch({"a": "crm.deal.list?select[0]=ID&start=-1"})
        assert [round(s) for s in fake.slept] == [5, 10]
        # OPERATION_TIME_LIMIT in result_error: the reader calls pause_method; per method, from 5 s
        client.pause_method("crm.contact.list")
        client.batch({"a": "crm.contact.list?select[0]=ID&start=-1"})
        assert [round(s) for s in fake.slept] == [5, 10, 5]


# ------------------------------------------------------------------ long waits are logged

def test_a_130s_wait_logs_one_line_then_one_a_minute(caplog):
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        fake = FakeTime()
        client = client_for(portal, fake)
        with caplog.at_level(logging.INFO, logger="bitrix24"):
            client._wait(130.0, "retry", ("retry", "x"), "a retry of x")
        first = warnings(caplog, "Waiting 130s for a retry of x")
        later = warnings(caplog, "Still waiting for a retry of x")
        assert len(first) == 1 and UNTIL.search(first[0])
        assert 1 <= len(later) <= 2 and all(UNTIL.search(line) for line in later)
        assert max(fake.slept) <= 60 and sum(fake.slept) == pytest.approx(130.0)


def test_an_operating_pause_of_about_130s_is_logged_once_then_per_minute(caplog):
    # 10 buckets of 13 s: the window resets ~130 s after the first call
    with SimPortal(size=200, seed=4, rate_limit=None, operating_limit=10_000.0, operating_bucket_seconds=13.0,
                   cost_model=heavy_deals) as portal:
        fake = FakeTime(portal)
        client = client_for(portal, fake, operating_time_threshold=0.5)
        params = {"select": ["ID"], "start": -1}
        with caplog.at_level(logging.INFO, logger="bitrix24"):
            for _ in range(3):
                client.call("crm.deal.list", params)
        pause = warnings(caplog, "pausing")
        assert len(pause) == 1 and UNTIL.search(pause[0])
        assert 100 < sum(fake.slept) < 140
        assert 1 <= len(warnings(caplog, "Still waiting")) <= 2
        assert warnings(caplog, "Waiting ") == []  # the pause line said it already


def test_short_waits_stay_quiet(caplog):
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        portal.faults.add("500", times=3)
        with caplog.at_level(logging.INFO, logger="bitrix24"):
            client_for(portal, FakeTime()).call("scope")
        assert warnings(caplog, "") == []


# ------------------------------------------------------------------ the guard fallback

def test_a_portal_failing_guarded_batches_gets_the_plain_chain_once():
    with SimPortal(size=20000, seed=2, rate_limit=None, operating_limit=None, guard_5xx=True) as portal:
        truth = sorted(int(r["ID"]) for r in portal.ground_truth("contact"))
        fake = FakeTime()
        client = client_for(portal, fake)
        query = ListQuery("crm.contact.list", params={"select": ["ID"], "order": {"ID": "ASC"}})
        got = [int(r["ID"]) for page in read_keyset(client, query) for r in page]
        assert got == sorted(got, reverse=True) and sorted(got) == truth
        statuses = [r.http_status for r in portal.log]
        assert statuses[:3] == [500, 500, 200] and set(statuses[3:]) == {200}
        assert len(fake.slept) == 2  # two backoffs, then the fallback went through


def test_guard_5xx_sync_ends_equal_to_the_portal(make_pipeline):
    with SimPortal(size=260, seed=21, rate_limit=None, guard_5xx=True) as portal:
        pipeline = make_pipeline()
        sync(portal, pipeline)
        assert 500 in [r.http_status for r in portal.log]
        assert_matches_portal(pipeline, portal)


def test_guard_5xx_is_off_by_default():
    with SimPortal(size=3000, seed=2, rate_limit=None, operating_limit=None) as portal:
        client = client_for(portal, FakeTime())
        query = ListQuery("crm.contact.list", params={"select": ["ID"], "order": {"ID": "ASC"}})
        assert sum(len(page) for page in read_keyset(client, query)) == len(portal.ground_truth("contact"))
        assert {r.http_status for r in portal.log} == {200}


# ------------------------------------------------------------------ waits as wall time

class StepClock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Waiter(threading.Thread):
    """A thread that enters a wait, and leaves it when told."""

    def __init__(self, wall, kind):
        super().__init__(daemon=True)
        self.wall, self.kind = wall, kind
        self.entered, self.release = threading.Event(), threading.Event()

    def run(self):
        self.wall.enter(self.kind)
        self.entered.set()
        self.release.wait(5)
        self.wall.leave(self.kind)


def start(wall, clock, at, kind):
    clock.now = at
    waiter = Waiter(wall, kind)
    waiter.start()
    assert waiter.entered.wait(5)
    return waiter


def stop(waiter, clock, at):
    clock.now = at
    waiter.release.set()
    waiter.join(5)


def test_wall_time_counts_overlapping_waits_once():
    clock = StepClock()
    wall = WallTime(clock)
    a = start(wall, clock, 0.0, "throttle")
    b = start(wall, clock, 2.0, "throttle")
    stop(a, clock, 5.0)
    stop(b, clock, 7.0)  # throttle: 0..7 (two threads, 12 s summed)
    c = start(wall, clock, 10.0, "retry")
    d = start(wall, clock, 12.0, "limit")
    stop(c, clock, 13.0)
    clock.now = 14.0
    assert wall.totals() == {"throttle": 7.0, "limit": 2.0, "retry": 3.0, "any": 11.0}  # d still waits
    stop(d, clock, 15.0)
    assert wall.totals() == {"throttle": 7.0, "limit": 3.0, "retry": 3.0, "any": 12.0}


def test_wall_time_is_thread_safe():
    wall = WallTime(StepClock())
    waiters = [Waiter(wall, kind) for kind in ("throttle", "limit", "retry") * 20]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        assert waiter.entered.wait(5)
        waiter.release.set()
    for waiter in waiters:
        waiter.join(5)
    assert wall.totals() == {"throttle": 0.0, "limit": 0.0, "retry": 0.0, "any": 0.0}
    assert wall._waiters == {"throttle": 0, "limit": 0, "retry": 0, "any": 0}


def test_client_stats_wall_waits_over_http():
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        portal.faults.add("500", times=3)
        fake = FakeTime()
        client = client_for(portal, fake)
        client.call("scope")
        waits = client.stats.wall_waits()
        assert set(waits) == {"throttle", "limit", "retry", "any"}
        assert waits["retry"] == pytest.approx(sum(fake.slept)) == pytest.approx(client.stats.retry_wait)
        assert waits["any"] == pytest.approx(waits["retry"]) and waits["limit"] == waits["throttle"] == 0
    assert ClientStats().wall_waits() == {"throttle": 0.0, "limit": 0.0, "retry": 0.0, "any": 0.0}


def test_a_method_refused_for_ever_gives_up_with_one_clear_error():
    # every crm.deal.list call answers 429 and nothing in between succeeds: after
    # max(max_retry_seconds, LIMIT_GIVE_UP) of probing the call fails, naming the method and the fix
    with SimPortal(size=50, seed=4, rate_limit=None) as portal:
        portal.faults.add("429", times=None, method="crm.deal.list")
        fake = FakeTime(portal)
        client = client_for(portal, fake, max_retry_seconds=20)
        with pytest.raises(RetryBudgetExceeded, match="OPERATION_TIME_LIMIT.*operating_time_threshold"):
            client.call("crm.deal.list", {"select": ["ID"], "start": -1})
        assert LIMIT_GIVE_UP - 60 <= sum(fake.slept) <= LIMIT_GIVE_UP
        # inside a batch (the reader's pause_method) the same budget holds
        other = client_for(portal, FakeTime(), max_retry_seconds=20)
        with pytest.raises(RetryBudgetExceeded):
            for _ in range(100):
                other.pause_method("crm.contact.list")
                other._wait_for_methods(["crm.contact.list"])
