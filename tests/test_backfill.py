"""A first sync in slices (bitrix24/backfill.py): each slice commits its rows with the walk's progress,
so a run that is stopped (SIGKILL, `max_run_minutes`) resumes where the last slice ended, in the
same window; edits and deletions made meanwhile reach the destination with the next incremental run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dlt
import pytest
from conftest import SUBS, source, tick
from test_faults import STREAMS, assert_matches_portal

from bitrix24 import pending_backfills, run_in_slices
from bitrix24.backfill import BACKFILL
from simportal import SimPortal

ROOT = Path(__file__).resolve().parent.parent
SIZE, SEED, SLICE = 1200, 33, 100  # about 350 deals, 300 contacts, 150 activities: a few slices each


@pytest.fixture
def big_portal():
    with SimPortal(size=SIZE, seed=SEED, rate_limit=None) as portal:
        yield portal


def new_pipeline(tmp_path: Path, name: str = "bf") -> dlt.Pipeline:
    return dlt.pipeline(f"{name}_{time.monotonic_ns()}", destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
                        dataset_name="bitrix24", pipelines_dir=str(tmp_path / f"{name}_pipelines"))


def maker(portal: SimPortal, **kwargs):
    def make(max_run_minutes=None):
        return source(portal, streams=STREAMS, backfill_slice_rows=SLICE, max_run_minutes=max_run_minutes,
                      **{**SUBS, **kwargs})
    return make


def requests_of(portal: SimPortal, since: int) -> int:
    return len(portal.log) - since


def test_a_sliced_first_sync_commits_each_slice_and_ends_equal_to_the_portal(big_portal, tmp_path):
    pipeline = new_pipeline(tmp_path)
    seen = []
    report = run_in_slices(pipeline, maker(big_portal), after_slice=lambda n, left: seen.append(dict(left)))
    deals = len(big_portal.ground_truth("deal"))
    assert report.complete and report.slices == len(seen) >= deals // SLICE
    # every slice but the last left a progress record whose bound only goes down
    bounds = [left["deals"]["bound"] for left in seen if "deals" in left]
    assert len(bounds) >= 2 and bounds == sorted(bounds, reverse=True)
    uppers = {left["deals"]["upper"] for left in seen if "deals" in left}
    assert len(uppers) == 1, "the window's top must stay fixed for the whole backfill"
    assert_matches_portal(pipeline, big_portal)
    state = pipeline.state["sources"]["bitrix24"]["resources"]["deals"]
    assert BACKFILL not in state
    newest = max(r["DATE_MODIFY"] for r in big_portal.ground_truth("deal"))
    assert state["incremental"]["DATE_MODIFY"]["last_value"].isoformat() == newest


def test_edits_and_deletions_during_a_backfill_arrive_with_the_next_incremental_run(big_portal, tmp_path):
    pipeline = new_pipeline(tmp_path)
    ids = sorted(int(r["ID"]) for r in big_portal.ground_truth("deal"))
    changes = {}

    def meanwhile(number, left):
        if number != 2 or "deals" not in left:
            return
        bound = left["deals"]["bound"]
        loaded = [i for i in ids if i >= bound]  # read in slices 1-2 (the walk goes down)
        unread = [i for i in ids if i < bound]
        tick(big_portal)
        big_portal.update("deal", loaded[0], TITLE="edited after it was loaded")
        big_portal.update("deal", unread[-1], TITLE="edited before it was read")
        big_portal.delete("deal", loaded[1])
        big_portal.delete("deal", unread[0])
        changes["new"] = big_portal.create("deal", TITLE="created during the backfill")
        changes.update(edited=(loaded[0], unread[-1]), deleted=(loaded[1], unread[0]))
        tick(big_portal)

    report = run_in_slices(pipeline, maker(big_portal, detect_deletes="delete"), after_slice=meanwhile)
    assert report.complete and changes
    tick(big_portal)
    pipeline.run(maker(big_portal, detect_deletes="delete")())
    assert_matches_portal(pipeline, big_portal)
    from conftest import query
    titles = dict(query(pipeline, f"select id, title from deals where id in {tuple(changes['edited'])}"))
    assert titles == {changes["edited"][0]: "edited after it was loaded", changes["edited"][1]: "edited before it was read"}
    assert query(pipeline, f"select count(*) from deals where id = {changes['new']}") == [(1,)]


def test_a_time_boxed_run_stops_at_a_slice_and_the_next_one_resumes(tmp_path):
    """`max_run_minutes` used up: the run ends after its first answers; resumed twice, the backfill costs
    only a few more requests than an uninterrupted one, and ends with the same rows."""
    with SimPortal(size=SIZE, seed=SEED, rate_limit=None) as portal:
        start = len(portal.log)
        whole = new_pipeline(tmp_path, "whole")
        assert run_in_slices(whole, maker(portal)).complete
        uninterrupted = requests_of(portal, start)
    with SimPortal(size=SIZE, seed=SEED, rate_limit=None) as portal:
        start = len(portal.log)
        pipeline = new_pipeline(tmp_path, "boxed")
        runs = []
        for minutes in (1e-4, 1e-4, None):  # two runs stopped by the clock, then one to the end
            runs.append(run_in_slices(pipeline, maker(portal), max_run_minutes=minutes))
        interrupted = requests_of(portal, start)
        assert [r.stopped_by_time for r in runs] == [True, True, False]
        assert runs[0].slices == runs[1].slices == 1 and runs[0].pending and runs[1].pending
        assert runs[2].complete and not pending_backfills(pipeline)
        # rows are the same, and the two interruptions cost a few requests each (scopes, fields)
        assert_matches_portal(pipeline, portal)
        print(f"requests: uninterrupted {uninterrupted}, interrupted twice {interrupted}")
        assert uninterrupted <= interrupted <= uninterrupted + 2 * 6, (uninterrupted, interrupted)


def cli_env(portal: SimPortal, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    env.update({
        "SOURCES__BITRIX24__WEBHOOK_URL": portal.webhook_url,
        "SOURCES__BITRIX24__REQUESTS_PER_SECOND": "100",
        "SOURCES__BITRIX24__REQUEST_BURST": "1000",
        "SOURCES__BITRIX24__ENABLE_DEAL_PRODUCTS": "true",
        "SOURCES__BITRIX24__ENABLE_DEAL_COMMENTS": "true",
        "SOURCES__BITRIX24__EXTRACT_DEAL_CONTACTS": "true",
        "DLT_DATA_DIR": str(tmp_path / "dlt_data"),
    })
    return env


def cli(*extra: str) -> list:
    return [sys.executable, str(ROOT / "bitrix24_pipeline.py"), "--progress", "none", "--streams", ",".join(STREAMS),
            "--slice-rows", str(SLICE), *extra]


def attached(tmp_path: Path) -> dlt.Pipeline:
    return dlt.attach("bitrix24", pipelines_dir=str(tmp_path / "dlt_data" / "pipelines"))


def test_a_backfill_killed_twice_resumes_from_its_last_committed_slice(big_portal, tmp_path):
    """SIGKILL right after a slice was committed (the run is then in its next slice), twice; each
    restart goes on below the committed bound, and the last run ends equal to the portal."""
    env = cli_env(big_portal, tmp_path)
    bounds = []
    for _ in range(2):
        process = subprocess.Popen(cli(), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        line = process.stdout.readline()
        while line and not line.startswith("Slice "):
            line = process.stdout.readline()
        assert line.startswith("Slice 1 loaded and committed"), process.stderr.read()
        process.send_signal(signal.SIGKILL)
        process.wait()
        saved = pending_backfills(attached(tmp_path))
        assert "deals" in saved, saved
        bounds.append(saved["deals"]["bound"])
    assert bounds[1] < bounds[0], "the second run must have resumed below the first one's bound"
    done = subprocess.run(cli(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "First sync not finished" not in done.stdout
    pipeline = attached(tmp_path)
    assert not pending_backfills(pipeline)
    assert_matches_portal(pipeline, big_portal)


def test_cli_max_minutes_exits_0_and_says_how_far_each_stream_got(big_portal, tmp_path):
    env = cli_env(big_portal, tmp_path)
    first = subprocess.run(cli("--max-minutes", "0.0001"), cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=180)
    assert first.returncode == 0, first.stderr
    assert "First sync not finished: the time given (--max-minutes) was used up" in first.stdout
    assert "  deals: 100 rows so far, ids below" in first.stdout
    rest = subprocess.run(cli(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert rest.returncode == 0, rest.stderr
    assert "First sync not finished" not in rest.stdout
    assert_matches_portal(attached(tmp_path), big_portal)


@pytest.mark.parametrize("argv, message", [
    (["--max-minutes", "0"], "--max-minutes: must be a number of minutes greater than 0"),
    (["--max-minutes", "soon"], "--max-minutes: must be a number of minutes greater than 0"),
    (["--slice-rows", "-5"], "--slice-rows: must be a whole number of rows"),
])
def test_bad_slice_options_are_one_error_line(tmp_path, argv, message):
    result = subprocess.run([sys.executable, str(ROOT / "bitrix24_pipeline.py"), *argv], cwd=tmp_path,
                            env={**os.environ, "DLT_DATA_DIR": str(tmp_path / "d")}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_source_option_validation():
    from bitrix24 import ConfigurationError, bitrix24_source

    for key, value in (("backfill_slice_rows", -1), ("backfill_slice_rows", 2.5), ("max_run_minutes", 0)):
        with pytest.raises(ConfigurationError, match=key):
            bitrix24_source(webhook_url="https://example.invalid/rest/1/abc/", spa_entity_type_ids=[], **{key: value})


def test_a_transformer_failing_in_a_slice_keeps_its_parents_progress(big_portal, tmp_path):
    """deal_comments fails for good in the second slice: deals keep the bound of the first slice
    (the deals of the failed slice are read again, with their comments, by the next run)."""
    from bitrix24 import failed_streams

    pipeline = new_pipeline(tmp_path)
    bounds = []

    def after(number, left):
        bounds.append(left.get("deals", {}).get("bound"))
        if number == 1:  # fail every comment command from now on, past its retries
            big_portal.faults.add("command_error", times=None, method="crm.timeline.comment.list")

    report = run_in_slices(pipeline, maker(big_portal), after_slice=after)
    assert "deal_comments" in report.failed and report.slices == 2
    assert list(failed_streams()) == ["deal_comments"]
    assert bounds[1] == bounds[0], "the failed slice's deals must be read again"
    big_portal.faults.clear()
    assert run_in_slices(pipeline, maker(big_portal)).complete
    assert_matches_portal(pipeline, big_portal)


def test_a_rolled_back_walk_records_no_more_progress():
    """The parent of a failed transformer keeps reading the rest of its slice (several answers at the
    default slice size): none of that may move the progress the rollback put back."""
    from bitrix24.backfill import Walk, finish
    from bitrix24.isolation import StateGuard

    state = {BACKFILL: {"bound": 500, "rows": 100}}
    guard = StateGuard(None)
    guard._state, guard._snapshot, guard._backfill = state, None, dict(state[BACKFILL])
    walk = Walk("deals", "DATE_MODIFY", by_id=False, down=True, bound=500, rows=100, resumed=True, state=state,
                guard=guard, slice_rows=200)
    walk.record([{"ID": 450, "DATE_MODIFY": None}], "ID")
    assert state[BACKFILL]["bound"] == 450
    guard.rollback()  # the transformer failed
    assert state[BACKFILL] == {"bound": 500, "rows": 100}
    walk.record([{"ID": 400, "DATE_MODIFY": None}], "ID")
    finish(walk, guard, complete=False, cursor=None)
    assert state[BACKFILL] == {"bound": 500, "rows": 100}
