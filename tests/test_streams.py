"""Organisation, telephony, open lines, stage history, SPA and deal sub-resources; scopes."""

from __future__ import annotations

import logging
import math

import pytest
from conftest import SUBS, column_types, edit, query, source

from bitrix24 import ScopeError, failed_streams


def row_counts(pipeline):
    counts = dict(pipeline.last_trace.last_normalize_info.row_counts)
    return {k: v for k, v in counts.items() if not k.startswith("_dlt")}


def test_users_include_fired_and_are_typed(portal, full_load):
    pipeline = full_load
    truth = portal.ground_truth("user")
    assert query(pipeline, "select count(*) from users")[0][0] == len(truth)
    inactive = sum(1 for u in truth if u.get("ACTIVE") is False)
    assert inactive > 0
    assert query(pipeline, "select count(*) from users where active = false")[0][0] == inactive
    types = column_types(pipeline, "users")
    assert types["active"] == "BOOLEAN" and types["uf_department"] == "JSON" and types["id"] == "BIGINT"


def test_departments(portal, full_load):
    pipeline = full_load
    truth = portal.ground_truth("department")
    rows = query(pipeline, "select id, parent, uf_head from departments order by id")
    assert len(rows) == len(truth)
    assert any(r[1] is None for r in rows) and any(r[2] is None for r in rows)


def test_calls_and_open_lines(portal, full_load):
    pipeline = full_load
    assert query(pipeline, "select count(*) from calls")[0][0] == len(portal.ground_truth("call"))
    assert column_types(pipeline, "calls")["call_start_date"] == "TIMESTAMP WITH TIME ZONE"
    assert query(pipeline, "select count(*) from open_lines")[0][0] == len(portal.ground_truth("openline"))


def test_stage_history(portal, full_load):
    pipeline = full_load
    for table, entity in (("deal_stage_history", "deal_stage_history"), ("lead_stage_history", "lead_stage_history")):
        truth = portal.ground_truth(entity)
        assert truth
        assert query(pipeline, f"select count(*) from {table}")[0][0] == len(truth)
        types = column_types(pipeline, table)
        assert types["id"] == "BIGINT" and types["owner_id"] == "BIGINT"
        assert types["created_time"] == "TIMESTAMP WITH TIME ZONE"


def test_spa_streams_named_by_entity_type_id(portal, full_load):
    pipeline = full_load
    types = portal.ground_truth("spa_types")
    assert len(types) >= 2
    assert query(pipeline, "select count(*) from spa_types")[0][0] == len(types)
    for spa in types:
        entity_type_id = spa["entityTypeId"]
        items = portal.ground_truth(f"spa:{entity_type_id}")
        assert query(pipeline, f"select count(*) from spa_{entity_type_id}")[0][0] == len(items)
        fields = query(pipeline, f"select count(*) from spa_fields_{entity_type_id}")[0][0]
        assert fields > 5
        columns = column_types(pipeline, f"spa_{entity_type_id}")
        assert columns["updated_time"] == "TIMESTAMP WITH TIME ZONE" and columns["id"] == "BIGINT"


def test_deal_sub_resources_match_the_portal(portal, full_load):
    pipeline = full_load
    deal_ids = [int(r["ID"]) for r in portal.ground_truth("deal")]
    products = sum(len(portal.ground_truth(f"deal_productrows:{i}")) for i in deal_ids)
    comments = sum(len(portal.ground_truth(f"deal_comments:{i}")) for i in deal_ids)
    assert products and comments
    assert query(pipeline, "select count(*) from deal_products")[0][0] == products
    assert query(pipeline, "select count(*) from deal_comments")[0][0] == comments
    # contacts: every deal's CONTACT_IDS equals its bindings
    several = 0
    for deal_id, contact_ids in query(pipeline, "select id, contact_ids from deals"):
        bindings = portal.ground_truth(f"deal_contacts:{deal_id}")
        expected = sorted(int(b["CONTACT_ID"]) for b in bindings)
        import json
        got = sorted(json.loads(contact_ids)) if contact_ids else []
        assert got == expected, deal_id
        several += len(expected) > 1
    assert several > 0


def test_sub_resources_cost_one_request_per_fifty_deals(portal, make_pipeline):
    pipeline = make_pipeline()
    deals = len(portal.ground_truth("deal"))
    portal.stats.reset()
    start = len(portal.log)
    pipeline.run(source(portal, streams=["deals", "deal_products", "deal_comments"], deal_products_method="per_deal",
                        **SUBS))
    log = portal.log[start:]
    per_method = {}
    for record in log:
        methods = {c[1] for c in record.commands} if record.commands else {record.method}
        for method in methods:
            per_method[method] = per_method.get(method, 0) + 1
    bound = math.ceil(deals / 50)
    assert per_method["crm.deal.productrows.get"] <= bound
    # CONTACT_IDS: crm.item.list returns contactIds for 50 deals a command, 2,500 deals a request
    assert per_method["crm.item.list"] <= math.ceil(deals / 2500) + 1
    assert "crm.deal.contact.items.get" not in per_method
    # comments: one more request for the deal with more than 50 comments at most
    assert per_method["crm.timeline.comment.list"] <= bound + 1
    assert portal.stats.commands("crm.deal.productrows.get") == deals


def test_incremental_sub_resources_touch_only_changed_deals(fresh_portal, make_pipeline):
    """The per-deal path (tests/test_products_bulk.py has the bulk one)."""
    pipeline = make_pipeline()
    per_deal = dict(enable_deal_products=True, deal_products_method="per_deal")
    pipeline.run(source(fresh_portal, streams=["deals", "deal_products"], **per_deal))
    with_rows = [int(r["ID"]) for r in fresh_portal.ground_truth("deal")
                 if fresh_portal.ground_truth(f"deal_productrows:{r['ID']}")]
    target = with_rows[0]
    before = len(fresh_portal.ground_truth(f"deal_productrows:{target}"))
    edit(fresh_portal, "deal", target, TITLE="products edited")
    fresh_portal.set_product_rows(target, fresh_portal.ground_truth(f"deal_productrows:{target}")[1:])
    fresh_portal.stats.reset()
    pipeline.run(source(fresh_portal, streams=["deals", "deal_products"], **per_deal))
    assert fresh_portal.stats.commands("crm.deal.productrows.get") == 1
    assert query(pipeline, f"select count(*) from deal_products where owner_id = {target}")[0][0] == before - 1
    total = sum(len(fresh_portal.ground_truth(f"deal_productrows:{i}")) for i in with_rows)
    assert query(pipeline, "select count(*) from deal_products")[0][0] == total


def test_missing_scope_skips_stream_with_one_warning(portal, make_pipeline, caplog):
    url = portal.add_webhook(scopes=["crm", "user", "department", "imopenlines"])
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="bitrix24"):
        pipeline.run(source(portal, webhook_url=url, streams=None))
    tables = set(row_counts(pipeline))
    assert "calls" not in tables and "deals" in tables and "users" in tables
    warnings = [r for r in caplog.records if "telephony" in r.getMessage()]
    assert len(warnings) == 1


def test_explicitly_selected_stream_without_scope_fails_clearly(portal):
    url = portal.add_webhook(scopes=["crm"])
    with pytest.raises(ScopeError, match="telephony"):
        list(source(portal, webhook_url=url, streams=["calls"]).resources)


def test_non_admin_webhook_skips_spa(portal, make_pipeline, caplog):
    url = portal.add_webhook(crm_admin=False)
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="bitrix24"):
        pipeline.run(source(portal, webhook_url=url))
    tables = set(row_counts(pipeline))
    assert not any(t.startswith("spa_") for t in tables)
    assert "deals" in tables and "calls" in tables
    assert any("CRM administrator" in r.getMessage() for r in caplog.records)


def test_configured_spa_ids_skip_discovery(portal, make_pipeline):
    entity_type_id = portal.ground_truth("spa_types")[0]["entityTypeId"]
    portal.stats.reset()
    src = source(portal, streams=[f"spa_{entity_type_id}"], spa_entity_type_ids=[entity_type_id])
    assert portal.stats.http_requests() == 0  # building the source asks the portal nothing
    pipeline = make_pipeline()
    pipeline.run(src)
    assert set(row_counts(pipeline)) == {f"spa_{entity_type_id}"}


def test_incremental_runs_of_history_calls_and_spa(fresh_portal, make_pipeline):
    spa = fresh_portal.ground_truth("spa_types")[0]["entityTypeId"]
    streams = ["deal_stage_history", "lead_stage_history", "calls", f"spa_{spa}", "users"]
    pipeline = make_pipeline()
    pipeline.run(source(fresh_portal, streams=streams))
    item = fresh_portal.ground_truth(f"spa:{spa}")[0]
    deal = next(r for r in fresh_portal.ground_truth("deal") if r["STAGE_ID"] == "NEW")
    fresh_portal.update(f"spa:{spa}", int(item["id"]), title="renamed item")
    fresh_portal.update("deal", int(deal["ID"]), STAGE_ID="PREPARATION")  # appends a stage-history row
    fresh_portal.create("call", PORTAL_USER_ID="1", CALL_DURATION="42")
    edit(fresh_portal, "lead", int(fresh_portal.ground_truth("lead")[0]["ID"]), TITLE="touched")
    fresh_portal.stats.reset()
    pipeline.run(source(fresh_portal, streams=streams))
    counts = row_counts(pipeline)
    assert counts.get(f"spa_{spa}") == 1
    assert counts.get("deal_stage_history") == 1 and "lead_stage_history" not in counts
    assert counts.get("calls") == 1
    assert counts.get("users") == len(fresh_portal.ground_truth("user"))  # full table: replaced
    assert query(pipeline, f"select title from spa_{spa} where id = {item['id']}") == [("renamed item",)]
    for table, entity in (("deal_stage_history", "deal_stage_history"), ("calls", "call")):
        assert query(pipeline, f"select count(*) from {table}")[0][0] == len(fresh_portal.ground_truth(entity))


def test_stage_history_with_string_values(make_pipeline):
    from simportal import SimPortal

    with SimPortal(size=120, seed=4, rate_limit=None, stagehistory_ints=False) as old_portal:
        assert isinstance(old_portal.ground_truth("deal_stage_history")[0]["ID"], str)
        pipeline = make_pipeline()
        pipeline.run(source(old_portal, streams=["deal_stage_history"]))
        truth = sorted(int(r["ID"]) for r in old_portal.ground_truth("deal_stage_history"))
        assert [r[0] for r in query(pipeline, "select id from deal_stage_history order by id")] == truth
        assert column_types(pipeline, "deal_stage_history")["owner_id"] == "BIGINT"
        edit(old_portal, "deal", int(old_portal.ground_truth("deal")[0]["ID"]), STAGE_ID="WON")
        pipeline.run(source(old_portal, streams=["deal_stage_history"]))
        assert row_counts(pipeline).get("deal_stage_history") == 1


def test_source_built_without_requests_checks_scopes_when_it_runs(portal, make_pipeline, caplog):
    url = portal.add_webhook(scopes=["crm", "user", "department", "imopenlines"])
    spa = [t["entityTypeId"] for t in portal.ground_truth("spa_types")]
    portal.stats.reset()
    src = source(portal, webhook_url=url, spa_entity_type_ids=spa)
    assert portal.stats.http_requests() == 0
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="bitrix24"):
        pipeline.run(src)
    tables = set(row_counts(pipeline))
    assert "calls" not in tables and "deals" in tables and f"spa_{spa[0]}" in tables
    assert len([r for r in caplog.records if "telephony" in r.getMessage()]) == 1
    # a scope error at run time stops that stream alone (fail_fast: the run)
    make_pipeline().run(source(portal, webhook_url=url, spa_entity_type_ids=spa, streams=["calls", "statuses"]))
    assert "telephony" in failed_streams()["calls"] and list(failed_streams()) == ["calls"]
    with pytest.raises(Exception, match="telephony"):
        make_pipeline().run(source(portal, webhook_url=url, spa_entity_type_ids=spa, streams=["calls"], fail_fast=True))


def test_naming_a_sub_resource_stream_switches_it_on(portal):
    # one rule for the library and the command line: a stream named in `streams` is wanted
    from bitrix24 import bitrix24_source

    src = bitrix24_source(webhook_url=portal.webhook_url, streams=["deals", "deal_products"])
    assert set(src.resources) == {"deals", "deal_products"}
    src = bitrix24_source(webhook_url=portal.webhook_url, streams=["deal_comments"])
    assert set(src.resources) == {"deals", "deal_comments", "deal_comments_sweep"}
    src = bitrix24_source(webhook_url=portal.webhook_url, streams=["deals"])
    assert set(src.resources) == {"deals"}  # off unless named or switched on
