"""deal_products read in bulk with crm.item.productrow.list (200 deals a command), its validation and
its fallback to crm.deal.productrows.get per deal."""

from __future__ import annotations

import logging
import math

import pytest
from conftest import edit, query, source

from bitrix24 import ConfigurationError
from bitrix24.batch import _share
from bitrix24.products import BULK_METHOD, upper_key
from simportal import SimPortal
from simportal.methods.deal_children import PRODUCT_ROW_KEYS

PER_DEAL = "crm.deal.productrows.get"
STREAMS = ["deals", "deal_products"]
TECHNICAL = ("_dlt_load_id", "_dlt_id")


@pytest.fixture(scope="module")
def products_portal():
    """About 300 deals, 45 % of them with product rows: two groups of 200 deal ids per command."""
    with SimPortal(size=1000, seed=5, rate_limit=None) as portal:
        yield portal


def truth(portal: SimPortal) -> set:
    """(deal id, row id) of every product row on the portal."""
    deal_ids = [int(r["ID"]) for r in portal.ground_truth("deal")]
    return {(int(r["OWNER_ID"]), int(r["ID"])) for i in deal_ids for r in portal.ground_truth(f"deal_productrows:{i}")}


def stored(pipeline) -> set:
    rows = query(pipeline, "select owner_id, id from deal_products")
    assert len(rows) == len(set(rows)), "duplicate rows"
    return set(rows)


def columns(pipeline) -> list:
    rows = query(pipeline, "select column_name from information_schema.columns where table_name = 'deal_products'"
                           f" and table_schema = '{pipeline.dataset_name}'")
    return sorted(r[0] for r in rows if r[0] not in TECHNICAL)


def sync(portal, pipeline, **kwargs):
    return pipeline.run(source(portal, streams=STREAMS, enable_deal_products=True, **kwargs))


def fallbacks(caplog) -> list:
    """The log lines that announce the fall back to the per-deal method."""
    return [r for r in caplog.records if r.name == "bitrix24" and r.levelno >= logging.INFO
            and r.getMessage().startswith("deal_products: reading product rows with crm.deal.productrows.get")]


def test_auto_and_per_deal_load_the_same_rows(products_portal, make_pipeline, caplog):
    bulk, legacy = make_pipeline("bulk"), make_pipeline("legacy")
    products_portal.stats.reset()
    with caplog.at_level(logging.INFO, logger="bitrix24"):
        sync(products_portal, bulk, deal_products_method="auto")
    assert not fallbacks(caplog)
    assert products_portal.stats.commands(BULK_METHOD) > 0 and products_portal.stats.commands(PER_DEAL) == 0
    sync(products_portal, legacy, deal_products_method="per_deal")
    expected = truth(products_portal)
    assert stored(bulk) == stored(legacy) == expected
    assert columns(bulk) == columns(legacy)  # the stream's typing declares every column either way
    shared = sorted(upper_key(camel).lower() for camel, _ in PRODUCT_ROW_KEYS if camel != "taxName")
    assert len(shared) == 23
    select = f"select {', '.join(shared)} from deal_products order by owner_id, id"
    assert query(bulk, select) == query(legacy, select)
    # what only the per-deal method returns (README, deal_products), and only the bulk one
    for name, only in (("original_product_name", legacy), ("product_description", legacy), ("tax_name", bulk)):
        for pipeline in (bulk, legacy):
            filled = query(pipeline, f"select count({name}) from deal_products")[0][0]
            assert (filled > 0) == (pipeline is only) or name == "product_description", name
    # a deal without rows is in neither table (its tombstone is never stored)
    assert query(bulk, "select count(*) from deal_products where id = 0")[0][0] == 0


@pytest.mark.parametrize("mode", ["ignored", "refused"])
def test_a_portal_that_ignores_or_refuses_the_array_falls_back(products_portal, make_pipeline, caplog, mode):
    products_portal.options.productrow_array = mode
    try:
        pipeline = make_pipeline()
        products_portal.stats.reset()
        with caplog.at_level(logging.INFO, logger="bitrix24"):
            sync(products_portal, pipeline)
    finally:
        products_portal.options.productrow_array = "ok"
    lines = fallbacks(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert ("ignores" if mode == "ignored" else "refused") in lines[0].getMessage()
    assert stored(pipeline) == truth(products_portal)
    assert products_portal.stats.requests_carrying(BULK_METHOD) == 1  # one answer was enough to tell
    deals = len(products_portal.ground_truth("deal"))
    assert products_portal.stats.commands(PER_DEAL) == deals


def test_a_portal_that_reads_one_id_of_the_array_is_caught_by_the_per_deal_check(fresh_portal, make_pipeline, caplog):
    """The array honoured for its first id only: rows of one deal at most, which the ownerId check
    cannot tell from the truth - the once-per-run check with crm.deal.productrows.get does."""
    fresh_portal.hooks.append(first_id_only)
    pipeline = make_pipeline()
    with caplog.at_level(logging.INFO, logger="bitrix24"):
        sync(fresh_portal, pipeline)
    lines = fallbacks(caplog)
    assert len(lines) == 1 and "crm.deal.productrows.get lists" in lines[0].getMessage()
    assert stored(pipeline) == truth(fresh_portal)


def first_id_only(portal, method, params):
    flt = params.get("filter")
    if method == BULK_METHOD and isinstance(flt, dict) and isinstance(flt.get("=ownerId"), list):
        flt["=ownerId"] = flt["=ownerId"][0]


def test_a_non_admin_webhook_falls_back(fresh_portal, make_pipeline, caplog):
    url = fresh_portal.add_webhook(crm_admin=False)
    pipeline = make_pipeline()
    with caplog.at_level(logging.INFO, logger="bitrix24"):
        sync(fresh_portal, pipeline, webhook_url=url)
    lines = fallbacks(caplog)
    assert len(lines) == 1 and "ACCESS_DENIED" in lines[0].getMessage()
    assert stored(pipeline) == truth(fresh_portal)
    # a non-admin whose check passes (it may read the id checked) reads in bulk
    fresh_portal.options.productrow_nonadmin_array = "ok"
    caplog.clear()
    fresh_portal.stats.reset()
    again = make_pipeline("again")
    with caplog.at_level(logging.INFO, logger="bitrix24"):
        sync(fresh_portal, again, webhook_url=url)
    assert not fallbacks(caplog) and fresh_portal.stats.commands(PER_DEAL) == 0
    assert stored(again) == truth(fresh_portal)


def test_full_sync_costs_one_request_per_2500_rows(make_pipeline, capsys):
    """More than 2,500 deals: two transformer calls, groups of 200 deals side by side in a batch."""
    with SimPortal(size=9000, seed=7, rate_limit=None) as portal:
        pipeline = make_pipeline()
        portal.stats.reset()
        sync(portal, pipeline)
        deals, rows = len(portal.ground_truth("deal")), len(truth(portal))
        requests = portal.stats.requests_carrying(BULK_METHOD) + portal.stats.requests_carrying(PER_DEAL)
        bound = math.ceil(rows / 2500) + math.ceil(deals / 2500) + 1
        with capsys.disabled():
            print(f"\ndeal_products: {deals} deals, {rows} rows, {requests} requests"
                  f" ({portal.stats.commands(BULK_METHOD)} commands; bound {bound}; per deal: {math.ceil(deals / 50)})")
        assert deals > 2500 and requests <= bound
        assert stored(pipeline) == truth(portal)


def test_incremental_run_replaces_exactly_the_edited_deal(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    sync(fresh_portal, pipeline)
    with_rows = [int(r["ID"]) for r in fresh_portal.ground_truth("deal")
                 if len(fresh_portal.ground_truth(f"deal_productrows:{r['ID']}")) >= 2]
    target, emptied = with_rows[0], with_rows[1]
    rows = fresh_portal.ground_truth(f"deal_productrows:{target}")
    changed = [dict(rows[0], PRICE=12.5, QUANTITY=3)] + [{"PRODUCT_NAME": "new row", "PRICE": 7.0}]
    fresh_portal.set_product_rows(target, changed)
    fresh_portal.set_product_rows(emptied, [])
    edit(fresh_portal, "deal", target, TITLE="products edited")
    edit(fresh_portal, "deal", emptied, TITLE="products removed")
    before = query(pipeline, f"select owner_id, id, price from deal_products where owner_id not in ({target}, {emptied})"
                             " order by owner_id, id")
    fresh_portal.stats.reset()
    start = len(fresh_portal.log)
    sync(fresh_portal, pipeline)
    asked = [params["filter"]["=ownerId"] for record in fresh_portal.log[start:]
             for _, method, params, _ in record.commands if method == BULK_METHOD]
    assert asked and all(sorted(int(i) for i in a) == sorted([target, emptied]) for a in asked)
    # rows of one deal of two: the once-per-run check asks crm.deal.productrows.get about the other
    assert fresh_portal.stats.commands(PER_DEAL) == 1
    assert fresh_portal.stats.requests_carrying(BULK_METHOD) + fresh_portal.stats.requests_carrying(PER_DEAL) == 2
    now = query(pipeline, f"select id, price, quantity from deal_products where owner_id = {target} order by id")
    assert [(r[1], r[2]) for r in now] == [(12.5, 3), (7.0, 1)] and now[0][0] == int(rows[0]["ID"])
    assert query(pipeline, f"select count(*) from deal_products where owner_id = {emptied}")[0][0] == 0
    after = query(pipeline, f"select owner_id, id, price from deal_products where owner_id not in ({target}, {emptied})"
                            " order by owner_id, id")
    assert after == before
    assert stored(pipeline) == truth(fresh_portal)


def test_one_deal_is_asked_with_a_plain_id(fresh_portal, make_pipeline):
    """A single deal (a routine incremental run) needs no array: it works on every portal."""
    pipeline = make_pipeline()
    sync(fresh_portal, pipeline)
    target = next(int(r["ID"]) for r in fresh_portal.ground_truth("deal")
                  if fresh_portal.ground_truth(f"deal_productrows:{r['ID']}"))
    edit(fresh_portal, "deal", target, TITLE="touched")
    fresh_portal.options.productrow_array = "refused"
    fresh_portal.stats.reset()
    sync(fresh_portal, pipeline)
    assert fresh_portal.stats.commands(PER_DEAL) == 0 and fresh_portal.stats.requests_carrying(BULK_METHOD) == 1
    assert stored(pipeline) == truth(fresh_portal)


@pytest.mark.parametrize("method", ["auto", "per_deal"])
def test_a_failed_command_is_retried_on_either_path(fresh_portal, make_pipeline, caplog, method):
    """A generic error inside a batch is retried; it is no reason to leave the bulk method."""
    fault = fresh_portal.faults.add("command_error", times=1, method=BULK_METHOD if method == "auto" else PER_DEAL)
    pipeline = make_pipeline()
    with caplog.at_level(logging.INFO, logger="bitrix24"):
        sync(fresh_portal, pipeline, deal_products_method=method)
    assert fault.fired and not fallbacks(caplog)
    assert stored(pipeline) == truth(fresh_portal)


def test_deal_products_method_is_checked(fresh_portal):
    with pytest.raises(ConfigurationError, match="deal_products_method"):
        source(fresh_portal, enable_deal_products=True, deal_products_method="bulk")


def test_camel_case_keys_become_the_per_deal_names():
    assert [upper_key(k) for k in ("ownerId", "priceAccount", "discountTypeId", "xmlId", "taxName", "id")] == [
        "OWNER_ID", "PRICE_ACCOUNT", "DISCOUNT_TYPE_ID", "XML_ID", "TAX_NAME", "ID"]


def test_commands_are_shared_by_expected_pages():
    assert sum(_share([9.0] * 13, 50)) == 50  # 13 groups of 200 deals: the batch is full
    assert _share([1.04], 50) == [3]  # one small group: a chain of three, not fifty
    assert _share([1.0] * 60, 50) == [1] * 50 + [0] * 10
    assert _share([20.0, 2.0], 50)[0] > _share([20.0, 2.0], 50)[1]
