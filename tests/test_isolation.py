"""Stream isolation: a stream that fails for good after some of its pages stops alone, commits no
state change, and a clean run afterwards leaves the destination equal to the portal."""

from __future__ import annotations

import logging

import pytest
from conftest import SUBS, query, source
from test_faults import STREAMS, assert_matches_portal

from bitrix24 import failed_streams

HISTORY = ["deal_stage_history"]


def resource_state(pipeline, name):
    return pipeline.state["sources"]["bitrix24"]["resources"].get(name, {}).get("incremental")


def last_value(pipeline, name):
    """The stream's committed cursor value (None: none yet, the next run reads everything)."""
    state = resource_state(pipeline, name) or {}
    return next(iter(state.values()), {}).get("last_value")


def run(portal, pipeline, streams=STREAMS, **kwargs):
    return pipeline.run(source(portal, streams=streams, **SUBS, **kwargs))


def count(pipeline, table):
    return query(pipeline, f"select count(*) from {table}")[0][0]


def fail_for_good(portal, method, after):
    # `command_error` fails the command every time from the `after`-th one on: past its retries
    portal.faults.add("command_error", times=None, method=method, after=after)


def test_a_date_cursor_stream_failing_midway_stops_alone_and_keeps_its_cursor(fresh_portal, make_pipeline, caplog):
    pipeline = make_pipeline()
    run(fresh_portal, pipeline)  # a good run: every cursor set
    deals_cursor = resource_state(pipeline, "deals")
    # every deal changes: the next run has two pages of deals to read, and fails after the first
    for row in fresh_portal.ground_truth("deal"):
        fresh_portal.update("deal", int(row["ID"]), TITLE=f"renamed {row['ID']}")
    fresh_portal.create("contact", NAME="New", LAST_NAME="Contact")
    fresh_portal.options.clock_skew = float(fresh_portal.options.clock_skew) + 2
    fail_for_good(fresh_portal, "crm.deal.list", after=1)
    with caplog.at_level(logging.ERROR, logger="bitrix24"):
        run(fresh_portal, pipeline)
    assert list(failed_streams()) == ["deals"], failed_streams()
    assert "crm.deal.list" in failed_streams()["deals"]
    assert len([r for r in caplog.records if "Stream deals failed" in r.getMessage()]) == 1
    renamed = query(pipeline, "select count(*) from deals where title like 'renamed %'")[0][0]
    assert 0 < renamed < len(fresh_portal.ground_truth("deal")), "the fault must hit after some pages"
    assert resource_state(pipeline, "deals") == deals_cursor  # no state change committed
    # the others loaded and moved on
    assert count(pipeline, "contacts") == len(fresh_portal.ground_truth("contact"))
    fresh_portal.faults.clear()
    run(fresh_portal, pipeline)
    assert failed_streams() == {}
    assert_matches_portal(pipeline, fresh_portal)
    assert query(pipeline, "select count(*) from deals where title not like 'renamed %'")[0][0] == 0


def test_an_id_cursor_stream_failing_on_its_first_sync_commits_nothing(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    fail_for_good(fresh_portal, "crm.stagehistory.list", after=1)
    run(fresh_portal, pipeline, streams=HISTORY + ["contacts"])
    assert list(failed_streams()) == ["deal_stage_history"]
    assert 0 < count(pipeline, "deal_stage_history") < len(fresh_portal.ground_truth("deal_stage_history"))
    assert last_value(pipeline, "deal_stage_history") is None
    assert last_value(pipeline, "contacts")  # the other stream committed its cursor
    fresh_portal.faults.clear()
    run(fresh_portal, pipeline, streams=HISTORY + ["contacts"])
    truth = sorted(int(r["ID"]) for r in fresh_portal.ground_truth("deal_stage_history"))
    stored = [r[0] for r in query(pipeline, "select id from deal_stage_history order by id")]
    assert stored == truth


@pytest.mark.parametrize("stream, method, options", [
    ("deal_comments", "crm.timeline.comment.list", {}),
    ("deal_products", "crm.deal.productrows.get", {"deal_products_method": "per_deal"}),
])
def test_a_failing_transformer_keeps_its_parents_cursor_too(fresh_portal, make_pipeline, stream, method, options):
    pipeline = make_pipeline()
    fail_for_good(fresh_portal, method, after=30)
    run(fresh_portal, pipeline, **options)
    assert list(failed_streams()) == [stream]
    assert count(pipeline, "deals") == len(fresh_portal.ground_truth("deal"))  # the parent loaded ...
    assert last_value(pipeline, "deals") is None  # ... but reads its deals again next time
    assert last_value(pipeline, "contacts")
    fresh_portal.faults.clear()
    run(fresh_portal, pipeline, **options)
    assert_matches_portal(pipeline, fresh_portal)


def test_fail_fast_keeps_all_or_nothing(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    fail_for_good(fresh_portal, "crm.deal.list", after=1)
    with pytest.raises(Exception, match="crm.deal.list"):
        run(fresh_portal, pipeline, fail_fast=True)
    assert pipeline.first_run  # nothing was loaded, no state committed


def test_contact_ids_refused_names_the_switch(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    fail_for_good(fresh_portal, "crm.item.list", after=0)
    run(fresh_portal, pipeline, streams=["deals", "contacts"])
    assert "extract_deal_contacts = false" in failed_streams()["deals"]
    assert count(pipeline, "contacts") == len(fresh_portal.ground_truth("contact"))
