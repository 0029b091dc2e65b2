"""The deal_comments sweep: comments added, edited or deleted on deals that did not change (their
DATE_MODIFY stays put, as on a real portal) reach the destination within `deal_comments_refresh_runs`
incremental runs - exactly on the run whose turn is the deal's id modulo N - at a bounded cost."""

from __future__ import annotations

import logging
import math

import pytest
from conftest import query, source, tick

from bitrix24 import ConfigurationError, failed_streams
from bitrix24.client import latest_client
from simportal import SimPortal

N = 3
TIMELINE = "crm.timeline.comment.list"


def run(portal, pipeline, streams=("deal_comments",), **kwargs):
    kwargs.setdefault("deal_comments_refresh_runs", N)
    info = pipeline.run(source(portal, streams=list(streams), enable_deal_comments=True, **kwargs))
    assert not info.has_failed_jobs
    tick(portal)
    return info


def turn(pipeline):
    return pipeline.state["sources"]["bitrix24"]["resources"].get("deal_comments_sweep", {}).get("sweep_turn")


def stored(pipeline, deal_id):
    return query(pipeline, f"select id, comment from deal_comments where entity_id = {deal_id} order by id")


def on_portal(portal, deal_id):
    return [(int(c["ID"]), c["COMMENT"]) for c in portal.ground_truth(f"deal_comments:{deal_id}")]


def deal_ids(portal):
    return sorted(int(d["ID"]) for d in portal.ground_truth("deal"))


def test_the_simulated_portal_leaves_the_deal_alone(fresh_portal):
    deal = fresh_portal.world.heavy_comment_deal
    before = fresh_portal.ground_truth("deal", filter={"ID": deal})[0]["DATE_MODIFY"]
    first, second = (int(c["ID"]) for c in fresh_portal.ground_truth(f"deal_comments:{deal}")[:2])
    tick(fresh_portal, 5)
    owner = int(fresh_portal.ground_truth("deal", filter={"ID": deal})[0]["ASSIGNED_BY_ID"])
    added = fresh_portal.add_comment(deal, "by someone else", author_id=owner + 1)
    assert fresh_portal.update_comment(first, "edited") == deal
    assert fresh_portal.delete_comment(second) == deal
    assert fresh_portal.ground_truth("deal", filter={"ID": deal})[0]["DATE_MODIFY"] == before
    comments = on_portal(fresh_portal, deal)
    assert (first, "edited") in comments and second not in dict(comments) and added in dict(comments)
    with pytest.raises(KeyError):
        fresh_portal.delete_comment(second)
    # the crm module's rule, as a switch: a comment by another user than the responsible one touches the deal
    fresh_portal.options.comment_touches_deal = "other_author"
    fresh_portal.add_comment(deal, "by the responsible user", author_id=owner)
    assert fresh_portal.ground_truth("deal", filter={"ID": deal})[0]["DATE_MODIFY"] == before
    fresh_portal.add_comment(deal, "by another user", author_id=owner + 1)
    assert fresh_portal.ground_truth("deal", filter={"ID": deal})[0]["DATE_MODIFY"] != before


def test_added_edited_and_deleted_comments_arrive_on_their_turn(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    fresh_portal.stats.reset()
    run(fresh_portal, pipeline)  # first run: the transformer reads every deal, the sweep nothing
    ids = deal_ids(fresh_portal)
    assert fresh_portal.stats.commands(TIMELINE) == len(ids) + 1  # + the heavy deal's second page
    assert turn(pipeline) is None
    # one deal with two comments or more in each slice: add one, edit one, delete one (deal untouched)
    changed = {}
    for residue in range(N):
        deal = next(d for d in ids if d % N == residue and len(on_portal(fresh_portal, d)) >= 2)
        old = on_portal(fresh_portal, deal)
        assert stored(pipeline, deal) == old
        fresh_portal.add_comment(deal, f"added to {deal}")
        fresh_portal.update_comment(old[0][0], f"edited on {deal}")
        fresh_portal.delete_comment(old[1][0])
        changed[deal] = old
    tick(fresh_portal)
    for k in range(N):  # incremental run k sweeps the deals with id % N == k
        run(fresh_portal, pipeline)
        assert turn(pipeline) == k + 1
        assert query(pipeline, "select count(*) from deals")[0][0] == len(ids)
        for deal, old in changed.items():
            expected = on_portal(fresh_portal, deal) if deal % N <= k else old
            assert stored(pipeline, deal) == expected, (k, deal)
    run(fresh_portal, pipeline)  # the next round changes nothing
    for deal in changed:
        assert stored(pipeline, deal) == on_portal(fresh_portal, deal)
    assert turn(pipeline) == N + 1


def test_a_sweep_run_costs_one_request_per_50_deals_of_its_slice(make_pipeline):
    with SimPortal(size=3000, seed=7, rate_limit=None) as portal:
        pipeline = make_pipeline()
        run(portal, pipeline)
        ids = deal_ids(portal)
        for k in range(N):
            portal.stats.reset()
            run(portal, pipeline)
            swept = [d for d in ids if d % N == k]
            heavy = portal.world.heavy_comment_deal in swept  # 57 comments: one command more
            assert portal.stats.commands(TIMELINE) == len(swept) + heavy
            assert portal.stats.requests_carrying(TIMELINE) == math.ceil((len(swept) + heavy) / 50)
            stats = latest_client().stats
            # + the deals' list (nothing changed) and the scope request
            assert stats.total_requests <= math.ceil(len(ids) / (50 * N)) + 3, (k, dict(stats.http_requests))
            assert stats.total_requests == portal.stats.http_requests()


def test_the_sweep_failing_alone_keeps_its_turn(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    streams = ("deal_comments", "contacts")
    run(fresh_portal, pipeline, streams)
    run(fresh_portal, pipeline, streams)
    assert turn(pipeline) == 1
    deal = next(d for d in deal_ids(fresh_portal) if d % N == 1 and on_portal(fresh_portal, d))
    fresh_portal.update_comment(on_portal(fresh_portal, deal)[0][0], "edited while the sweep fails")
    contact = fresh_portal.create("contact", NAME="New", LAST_NAME="Contact")
    tick(fresh_portal)
    # no deal changed, so only the sweep calls the method; it fails for good from the first command on
    fresh_portal.faults.add("command_error", times=None, method=TIMELINE, after=0)
    run(fresh_portal, pipeline, streams)
    assert list(failed_streams()) == ["deal_comments_sweep"]
    assert turn(pipeline) == 1  # not moved on: the next run sweeps the same slice
    assert query(pipeline, f"select count(*) from contacts where id = {contact}") == [(1,)]
    assert stored(pipeline, deal) != on_portal(fresh_portal, deal)
    fresh_portal.faults.clear()
    run(fresh_portal, pipeline, streams)
    assert failed_streams() == {}
    assert turn(pipeline) == 2
    assert stored(pipeline, deal) == on_portal(fresh_portal, deal)


def test_without_the_destination_the_ids_come_from_an_id_only_scan(fresh_portal, make_pipeline, monkeypatch, caplog):
    import bitrix24.streams as streams

    pipeline = make_pipeline()
    run(fresh_portal, pipeline)
    deal = next(d for d in deal_ids(fresh_portal) if d % N == 0 and on_portal(fresh_portal, d))
    fresh_portal.update_comment(on_portal(fresh_portal, deal)[0][0], "edited")

    def unreadable(stream):
        raise RuntimeError("no SQL access")

    monkeypatch.setattr(streams, "_dataset_table", unreadable)
    fresh_portal.stats.reset()
    with caplog.at_level(logging.WARNING, logger="bitrix24"):
        run(fresh_portal, pipeline)
    assert any("listing them from the portal" in r.getMessage() for r in caplog.records)
    swept = [d for d in deal_ids(fresh_portal) if d % N == 0]
    heavy = fresh_portal.world.heavy_comment_deal in swept
    assert fresh_portal.stats.commands(TIMELINE) == len(swept) + heavy
    assert fresh_portal.stats.requests_carrying("crm.deal.list") == 2  # the deals' changes, then the id scan
    assert stored(pipeline, deal) == on_portal(fresh_portal, deal)


@pytest.mark.parametrize("off", [0, None, "0"])
def test_zero_switches_the_sweep_off(fresh_portal, make_pipeline, off):
    pipeline = make_pipeline()
    run(fresh_portal, pipeline, deal_comments_refresh_runs=off)
    fresh_portal.stats.reset()
    run(fresh_portal, pipeline, deal_comments_refresh_runs=off)
    assert fresh_portal.stats.commands(TIMELINE) == 0
    assert turn(pipeline) is None


def test_deals_as_full_table_need_no_sweep(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    run(fresh_portal, pipeline, sync_types={"deals": "full_table"})
    fresh_portal.stats.reset()
    run(fresh_portal, pipeline, sync_types={"deals": "full_table"})
    assert fresh_portal.stats.commands(TIMELINE) == len(deal_ids(fresh_portal)) + 1  # every deal once
    assert turn(pipeline) is None


@pytest.mark.parametrize("bad", [-1, 1.5, "often", True, 100_001, [3]])
def test_a_bad_refresh_period_names_the_key(fresh_portal, bad):
    fresh_portal.stats.reset()
    with pytest.raises(ConfigurationError, match=r"sources\.bitrix24\.deal_comments_refresh_runs .*0 to switch"):
        source(fresh_portal, enable_deal_comments=True, deal_comments_refresh_runs=bad)
    assert fresh_portal.stats.http_requests() == 0
