"""The fault matrix: whatever the portal throws at a run, the destination ends equal to the portal.

Each case syncs deals (with products, comments and contacts), contacts and activities from a fresh
simulated portal with a fault injected, then compares the destination with the portal's ground
truth: no row lost, none duplicated by primary key, child tables consistent with their parents.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SUBS, query, source, tick

from bitrix24 import failed_streams
from simportal import SimPortal

STREAMS = ["deals", "contacts", "activities", "deal_products", "deal_comments"]
ROOT = Path(__file__).resolve().parent.parent


def assert_matches_portal(pipeline, portal):
    for table, entity in (("deals", "deal"), ("contacts", "contact"), ("activities", "activity")):
        truth = sorted(int(r["ID"]) for r in portal.ground_truth(entity))
        ids = [r[0] for r in query(pipeline, f"select id from {table} order by id")]
        assert ids == truth, f"{table}: {len(ids)} rows vs {len(truth)} on the portal"
    deal_ids = [int(r["ID"]) for r in portal.ground_truth("deal")]
    products = {(int(r["OWNER_ID"]), int(r["ID"])) for i in deal_ids for r in portal.ground_truth(f"deal_productrows:{i}")}
    stored = query(pipeline, "select owner_id, id from deal_products")
    assert len(stored) == len(set(stored)) and set(stored) == products
    comments = {(i, int(r["ID"])) for i in deal_ids for r in portal.ground_truth(f"deal_comments:{i}")}
    stored = query(pipeline, "select entity_id, id from deal_comments")
    assert len(stored) == len(set(stored)) and set(stored) == comments
    for deal_id, contact_ids in query(pipeline, "select id, contact_ids from deals"):
        expected = sorted(int(b["CONTACT_ID"]) for b in portal.ground_truth(f"deal_contacts:{deal_id}"))
        assert sorted(json.loads(contact_ids) if contact_ids else []) == expected


def sync(portal, pipeline, **kwargs):
    args = dict(streams=STREAMS, **SUBS)
    args.update(kwargs)
    return pipeline.run(source(portal, **args))


@pytest.fixture
def small_portal():
    with SimPortal(size=260, seed=21, rate_limit=None) as portal:
        yield portal


FAULTS = {
    "503 every other request": [("503", dict(times=12, every=2))],
    "503 burst of 20 in a row": [("503", dict(times=20, after=2))],
    "500, 502 and 504": [("500", dict(times=1, after=1)), ("502", dict(times=1, after=3)), ("504", dict(times=1, after=5))],
    "HTML page with 200": [("html200", dict(times=2, after=2))],
    "HTML page with 502": [("502", dict(times=2, after=4))],
    "truncated JSON": [("truncated_json", dict(times=2, after=2))],
    "invalid JSON": [("invalid_json", dict(times=2, after=3))],
    "connection reset": [("reset", dict(times=2, after=2))],
    "error inside a batch": [("command_error", dict(times=2, method="crm.deal.list", after=1)),
                             ("command_error", dict(times=1, method="crm.item.productrow.list"))],
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_fault_matrix(small_portal, make_pipeline, case):
    faults = [small_portal.faults.add(kind, **options) for kind, options in FAULTS[case]]
    pipeline = make_pipeline()
    sync(small_portal, pipeline)
    assert all(f.fired for f in faults), "a fault never fired"
    assert_matches_portal(pipeline, small_portal)


def test_read_timeout_on_a_slow_answer_is_retried(small_portal, make_pipeline):
    small_portal.options.slow_seconds = 2.5
    small_portal.faults.add("slow", times=1, after=2)
    pipeline = make_pipeline()
    sync(small_portal, pipeline, request_timeout=1)
    assert_matches_portal(pipeline, small_portal)


def test_operating_limit_429_on_one_method_while_others_go_on(make_pipeline):
    with SimPortal(size=260, seed=21, rate_limit=None, operating_limit=0.5, operating_bucket_seconds=0.3,
                   cost_model=lambda method, *a, **k: 0.3 if method == "crm.deal.list" else 0.01) as portal:
        pipeline = make_pipeline()
        # a high threshold: the client does not pause early, so Bitrix's 429 is what stops it
        sync(portal, pipeline, operating_time_threshold=600)
        blocked = [r for r in portal.log if r.http_status == 429
                   or any(not ok and method == "crm.deal.list" for _, method, _, ok in r.commands)]
        assert blocked, "the operating limit should have been hit"
        assert_matches_portal(pipeline, portal)


def test_operating_threshold_pauses_before_the_portal_blocks(make_pipeline, caplog):
    with SimPortal(size=260, seed=21, rate_limit=None, operating_limit=2.0, operating_bucket_seconds=0.3,
                   cost_model=lambda method, *a, **k: 0.3 if method == "crm.deal.list" else 0.01) as portal:
        pipeline = make_pipeline()
        sync(portal, pipeline, operating_time_threshold=0.5)
        assert 429 not in [r.http_status for r in portal.log]
        assert any("operating time" in r.getMessage() and "pausing" in r.getMessage() for r in caplog.records)
        assert_matches_portal(pipeline, portal)


@pytest.mark.parametrize("fail_fast", [True, False])
def test_retry_budget_ends_the_run_with_a_clear_message_and_next_run_resumes(small_portal, make_pipeline, fail_fast):
    pipeline = make_pipeline()
    small_portal.faults.add("500", times=10_000, after=3)
    if fail_fast:
        with pytest.raises(Exception) as failure:
            sync(small_portal, pipeline, max_retry_seconds=2, fail_fast=True)
        text = str(failure.value)
    else:  # each stream gives up on its own; the run ends and says which
        sync(small_portal, pipeline, max_retry_seconds=2)
        text = " ".join(failed_streams().values())
        assert failed_streams()
    assert "kept failing" in text
    small_portal.faults.clear()
    sync(small_portal, pipeline)
    assert_matches_portal(pipeline, small_portal)


def test_rate_limited_portal_with_default_throttle_gets_no_503(make_pipeline):
    # the real bucket (2/s, burst 50) and our throttle at the same settings: never a 503
    with SimPortal(size=260, seed=21, rate_limit=(20.0, 10)) as portal:
        pipeline = make_pipeline()
        sync(portal, pipeline, requests_per_second=20, request_burst=10)
        assert 503 not in [r.http_status for r in portal.log]
        assert_matches_portal(pipeline, portal)


def test_creates_edits_and_deletes_during_a_run(small_portal, make_pipeline):
    ids = sorted(int(r["ID"]) for r in small_portal.ground_truth("deal"))
    state = {"calls": 0}

    def mutate(portal, method, params):
        if method == "crm.deal.list":
            state["calls"] += 1
            if state["calls"] == 2:  # after the first page was read
                portal.update("deal", ids[3], TITLE="edited mid-run")
                portal.delete("deal", ids[5])
                portal.create("deal", TITLE="created mid-run")
                portal.update("contact", int(portal.ground_truth("contact")[0]["ID"]), NAME="Mid-run")

    small_portal.hooks.append(mutate)
    pipeline = make_pipeline()
    sync(small_portal, pipeline, detect_deletes="delete")
    small_portal.hooks.remove(mutate)
    tick(small_portal)
    sync(small_portal, pipeline, detect_deletes="delete")
    assert_matches_portal(pipeline, small_portal)
    assert query(pipeline, f"select title from deals where id = {ids[3]}") == [("edited mid-run",)]


@pytest.mark.parametrize("skew", [-3600 * 5, 3600 * 3])
def test_portal_clock_ahead_or_behind(small_portal, make_pipeline, skew):
    small_portal.options.clock_skew = skew
    pipeline = make_pipeline()
    sync(small_portal, pipeline)
    deal_id = int(small_portal.ground_truth("deal")[7]["ID"])
    small_portal.update("deal", deal_id, TITLE="after skew")
    tick(small_portal)
    sync(small_portal, pipeline)
    assert query(pipeline, f"select title from deals where id = {deal_id}") == [("after skew",)]
    assert_matches_portal(pipeline, small_portal)


def test_process_killed_mid_run_then_run_again(small_portal, tmp_path):
    """A real subprocess runs the pipeline script and is killed (SIGKILL) mid-extraction."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update({
        "SOURCES__BITRIX24__WEBHOOK_URL": small_portal.webhook_url,
        "SOURCES__BITRIX24__REQUESTS_PER_SECOND": "100",
        "SOURCES__BITRIX24__REQUEST_BURST": "1000",
        "SOURCES__BITRIX24__ENABLE_DEAL_PRODUCTS": "true",
        "SOURCES__BITRIX24__ENABLE_DEAL_COMMENTS": "true",
        "SOURCES__BITRIX24__EXTRACT_DEAL_CONTACTS": "true",
        "DLT_DATA_DIR": str(tmp_path / "dlt_data"),
    })
    command = [sys.executable, str(ROOT / "bitrix24_pipeline.py"), "--progress", "none", "--streams", ",".join(STREAMS)]
    small_portal.options.slow_seconds = 0.3
    small_portal.faults.add("slow", times=1000, after=4)  # keep the run going long enough to kill it
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(small_portal.log) < 8 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.wait()
    small_portal.faults.clear()
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr

    import dlt
    pipeline = dlt.attach("bitrix24", pipelines_dir=str(tmp_path / "dlt_data" / "pipelines"))
    assert_matches_portal(pipeline, small_portal)


def test_short_page_in_the_middle_of_a_chained_batch(small_portal, make_pipeline):
    """The table ends inside a batch: the commands after the short page run on a garbage `>ID`
    (their `$result` reference cannot resolve) and return rows again; none of them may land."""
    deals = len(small_portal.ground_truth("deal"))
    assert deals % 50 and deals < 49 * 50  # the end falls inside the first batch
    start = len(small_portal.log)
    pipeline = make_pipeline()
    sync(small_portal, pipeline)
    chain = next(r.commands for r in small_portal.log[start:] if any(c[1] == "crm.deal.list" for c in r.commands))
    executed = [c for c in chain if c[1] == "crm.deal.list"]
    assert len(executed) > deals // 50 + 1, "commands after the short page were executed"
    assert_matches_portal(pipeline, small_portal)
