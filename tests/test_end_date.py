"""`end_date`: a bounded window [start_date, end_date) of the date-cursor streams (dlt's `end_value`),
loaded in one load, that leaves the pipeline's cursors (and an unfinished backfill) as they were."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest import query, source

from bitrix24 import ConfigurationError, pending_backfills, run_in_slices
from bitrix24.config import check_end_date, check_start_date


def window(portal, entity: str = "deal", key: str = "DATE_MODIFY"):
    """start and end (a quarter and three quarters into the rows' modification times) and the ids
    modified in [start, end)."""
    truth = sorted(portal.ground_truth(entity), key=lambda r: parse(r[key]))
    start, end = truth[len(truth) // 4][key], truth[3 * len(truth) // 4][key]
    inside = ids_in(portal, entity, start, end, key)
    assert 0 < len(inside) < len(truth)
    return start, end, inside


def ids_in(portal, entity: str, start: str, end: str, key: str = "DATE_MODIFY"):
    return {int(r["ID"]) for r in portal.ground_truth(entity) if parse(start) <= parse(r[key]) < parse(end)}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def cursor_state(pipeline, stream: str):
    resources = pipeline.state.get("sources", {}).get("bitrix24", {}).get("resources", {})
    return resources.get(stream, {}).get("incremental")


def test_a_bounded_run_loads_only_the_window_and_keeps_no_cursor(fresh_portal, make_pipeline):
    start, end, inside = window(fresh_portal)
    pipeline = make_pipeline()
    make = lambda max_run_minutes=None: source(fresh_portal, streams=["deals", "contacts"], start_date=start,  # noqa: E731
                                               end_date=end, backfill_slice_rows=20, max_run_minutes=max_run_minutes)
    report = run_in_slices(pipeline, make)
    assert report.slices == 1 and report.complete, "a bounded window is read in one load, never sliced"
    assert {r[0] for r in query(pipeline, "select id from deals")} == inside
    contacts = ids_in(fresh_portal, "contact", start, end)
    assert contacts and {r[0] for r in query(pipeline, "select id from contacts")} == contacts
    assert not cursor_state(pipeline, "deals"), "dlt keeps no cursor for a bounded window"
    # the next run without end_date is still a first sync: everything, and from then on incremental
    pipeline.run(source(fresh_portal, streams=["deals"]))
    assert query(pipeline, "select count(*) from deals")[0][0] == len(fresh_portal.ground_truth("deal"))
    assert cursor_state(pipeline, "deals")["DATE_MODIFY"]["last_value"] is not None


def test_a_bounded_run_leaves_an_unfinished_backfill_to_the_next_run(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    pipeline.run(source(fresh_portal, streams=["deals"], backfill_slice_rows=50))
    left = pending_backfills(pipeline)
    assert "deals" in left
    start, end, inside = window(fresh_portal)
    bounded = lambda max_run_minutes=None: source(fresh_portal, streams=["deals"], start_date=start,  # noqa: E731
                                                  end_date=end, backfill_slice_rows=50)
    report = run_in_slices(pipeline, bounded)
    assert report.slices == 1, "no slice after slice of a window that cannot move the backfill on"
    assert pending_backfills(pipeline) == left, "the backfill's progress is untouched"
    assert inside <= {r[0] for r in query(pipeline, "select id from deals")}
    report = run_in_slices(pipeline, lambda max_run_minutes=None: source(fresh_portal, streams=["deals"],
                                                                         backfill_slice_rows=50))
    assert report.complete and not pending_backfills(pipeline)
    assert query(pipeline, "select count(*) from deals")[0][0] == len(fresh_portal.ground_truth("deal"))


def test_end_date_is_checked_like_start_date():
    start = check_start_date("2024-01-01")
    assert check_end_date("2024-02-01", start) == datetime(2024, 2, 1, tzinfo=timezone.utc)  # naive = UTC
    assert check_end_date("2024-01-01T05:00:00+03:00", start) == datetime(2024, 1, 1, 2, tzinfo=timezone.utc)
    assert check_end_date(None, start) is None and check_end_date("", None) is None
    with pytest.raises(ConfigurationError, match=r"sources\.bitrix24\.end_date 'soon' is not a date"):
        check_end_date("soon", start)
    with pytest.raises(ConfigurationError, match=r"end_date '2023-12-31' is not after start_date"):
        check_end_date("2023-12-31", start)
    with pytest.raises(ConfigurationError, match="not after start_date"):
        check_end_date("2024-01-01", start)
    with pytest.raises(ConfigurationError, match="needs start_date"):
        check_end_date("2024-02-01", None)
    future = (datetime.now(timezone.utc) + timedelta(days=30)).date().isoformat()
    assert check_end_date(future, start) is not None  # a window may reach past today


def test_the_source_refuses_a_bad_end_date_before_any_request(fresh_portal):
    fresh_portal.stats.reset()
    with pytest.raises(ConfigurationError, match="end_date"):
        list(source(fresh_portal, streams=["deals"], start_date="2024-03-01", end_date="2024-02-01").resources)
    assert fresh_portal.stats.http_requests() == 0
