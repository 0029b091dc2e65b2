"""Independent batches in flight at once (`request_concurrency`), under the portal's request-rate
limit: the bucket is spent on overlapping requests, never overrun, and nothing changes in the data."""

from __future__ import annotations

import pytest
from conftest import query, source

from bitrix24 import ConfigurationError
from bitrix24.client import Bitrix24Client
from simportal import SimPortal

COMMENTS = "crm.timeline.comment.list"
# The portal's real bucket shape (burst 50 is far more than the test needs, so a small one is used to
# make the rate bind), with commands that take real time: 50 comment commands ~ 0.25 s a request.
RATE, BURST = 20.0, 5


@pytest.fixture(scope="module")
def limited_portal():
    """About 300 deals (seven 50-deal comment requests), the request-rate limit on, commands sleeping."""
    with SimPortal(size=1000, seed=8, rate_limit=(RATE, BURST), operating_limit=None, cost_sleep_scale=0.25) as p:
        yield p


def sync(portal, pipeline, concurrency):
    portal.stats.reset()
    del portal.requests[:]
    info = pipeline.run(source(portal, streams=["deals", "deal_comments"], enable_deal_comments=True,
                               requests_per_second=RATE, request_burst=BURST, request_concurrency=concurrency))
    assert not info.has_failed_jobs
    rejected = [r for r in portal.requests if r.http_status in (429, 503)]
    return portal.stats.snapshot()["peak_in_flight"], len(rejected)


def comments(pipeline):
    return query(pipeline, "select entity_id, id, comment from deal_comments order by entity_id, id")


def test_chunks_overlap_within_the_bucket_and_load_the_same_rows(limited_portal, make_pipeline):
    deals = len(limited_portal.ground_truth("deal"))
    assert deals > 4 * 50, "the test needs more 50-deal chunks than requests in flight"
    one, four = make_pipeline("one"), make_pipeline("four")
    peak_one, rejected_one = sync(limited_portal, one, 1)
    peak_four, rejected_four = sync(limited_portal, four, 4)
    # the portal answered several of the comment requests at once, and its bucket never overflowed
    assert peak_one <= 2  # a comment request, and at most the deals list beside it
    assert 3 <= peak_four <= 4 + 1  # four chunks of one call, plus at most the deals list
    assert rejected_one == rejected_four == 0
    expected = sorted((int(d["ID"]), int(r["ID"])) for d in limited_portal.ground_truth("deal")
                      for r in limited_portal.ground_truth(f"deal_comments:{d['ID']}"))
    got = comments(four)
    assert [(e, i) for e, i, _ in got] == expected
    assert got == comments(one)


def test_batches_yields_in_order_and_raises_in_place(limited_portal):
    client = Bitrix24Client(limited_portal.webhook_url, requests_per_second=RATE, request_burst=BURST,
                            request_concurrency=3, max_retry_seconds=30)
    deals = [int(r["ID"]) for r in limited_portal.ground_truth("deal")][:12]
    maps = [{"c0": f"crm.deal.productrows.get?id={d}"} for d in deals]
    answers = list(client.batches(maps))
    assert [a["result"]["c0"] for a in answers] == [limited_portal.ground_truth(f"deal_productrows:{d}") for d in deals]
    # a batch the portal refuses as a whole (more than 50 commands is refused before sending) raises
    # where it stands; the answers before it have been yielded
    bad = maps[:2] + [{f"c{n}": "scope" for n in range(51)}] + maps[2:4]
    seen = []
    with pytest.raises(ValueError, match="at most 50"):
        for answer in client.batches(bad):
            seen.append(answer["result"]["c0"])
    assert seen == [a["result"]["c0"] for a in answers[:2]]


@pytest.mark.parametrize("value", [0, 51, "four", 2.5])
def test_request_concurrency_is_checked(value):
    from bitrix24 import bitrix24_source

    with pytest.raises(ConfigurationError, match="request_concurrency"):  # before any request is made
        bitrix24_source(webhook_url="https://x.bitrix24.com/rest/1/abc/", request_concurrency=value)


def test_incremental_list_streams_extract_side_by_side(limited_portal, make_pipeline):
    """Each list stream is its own request chain; with an incremental cursor bound to the resource, dlt
    would run them one after another unless the resource is parallelized after binding."""
    limited_portal.stats.reset()
    streams = ["contacts", "companies", "leads", "deals"]
    info = make_pipeline("lists").run(source(limited_portal, streams=streams, requests_per_second=RATE,
                                             request_burst=BURST))
    assert not info.has_failed_jobs
    assert limited_portal.stats.snapshot()["peak_in_flight"] >= 3
