"""The CRM core against the simulated portal: completeness, types, request counts."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from conftest import column_types, load, query

from simportal import SimPortal

CORE = ["contacts", "companies", "deals", "leads", "activities", "products", "statuses",
        "contact_fields", "company_fields", "deal_fields", "lead_fields", "activity_fields", "product_fields"]
ENTITIES = {"contacts": "contact", "companies": "company", "deals": "deal", "leads": "lead",
            "activities": "activity", "products": "product"}


@pytest.fixture(scope="module")
def core_load(portal, tmp_path_factory):
    portal.stats.reset()
    return load(tmp_path_factory, "core", portal, file_format="jsonl", streams=CORE)


@pytest.mark.parametrize("table", list(ENTITIES))
def test_every_row_of_every_entity_arrives_once(portal, core_load, table):
    truth = portal.ground_truth(ENTITIES[table])
    ids = [r[0] for r in query(core_load, f"select id from {table} order by id")]
    assert ids == sorted(int(r["ID"]) for r in truth)


def test_entity_values_match_the_portal(portal, core_load):
    truth = {int(r["ID"]): r for r in portal.ground_truth("deal")}
    rows = query(core_load, "select id, title, opportunity, stage_id, category_id, opened from deals")
    assert len(rows) == len(truth)
    for deal_id, title, opportunity, stage, category, opened in rows:
        wire = truth[deal_id]
        assert title == (wire["TITLE"] or None)
        assert opportunity == (Decimal(wire["OPPORTUNITY"]) if wire.get("OPPORTUNITY") not in (None, "") else None)
        assert stage == wire["STAGE_ID"] and category == int(wire["CATEGORY_ID"])
        assert opened == (wire["OPENED"] == "Y")


def test_columns_are_typed_from_field_metadata(core_load):
    deals = column_types(core_load, "deals")
    assert deals["id"] == "BIGINT"
    assert deals["opportunity"] == "DECIMAL(38,9)"
    assert deals["date_modify"] == "TIMESTAMP WITH TIME ZONE"
    assert deals["date_create"] == "TIMESTAMP WITH TIME ZONE"
    assert deals["opened"] == "BOOLEAN" and deals["closed"] == "BOOLEAN"
    assert deals["begindate"] == "DATE" and deals["closedate"] == "DATE"
    assert deals["category_id"] == "BIGINT" and deals["assigned_by_id"] == "BIGINT"
    assert not any(name.endswith("__v_text") for name in deals), "a value did not convert"
    activities = column_types(core_load, "activities")
    assert activities["last_updated"] == "TIMESTAMP WITH TIME ZONE"
    assert activities["completed"] == "BOOLEAN"
    assert activities["communications"] == "JSON"
    products = column_types(core_load, "products")
    assert products["price"] == "DECIMAL(38,9)" and products["timestamp_x"] == "TIMESTAMP WITH TIME ZONE"


def test_user_fields_of_every_type_are_typed(portal, core_load):
    fields = {r[0]: (r[1], r[2]) for r in query(core_load, "select id, type, is_multiple from deal_fields where id like 'UF_%'")}
    types = column_types(core_load, "deals")
    expected = {"integer": "BIGINT", "double": "DECIMAL(38,9)", "boolean": "BOOLEAN", "date": "DATE",
                "datetime": "TIMESTAMP WITH TIME ZONE", "enumeration": "BIGINT", "employee": "BIGINT",
                "string": "VARCHAR", "url": "VARCHAR", "crm_status": "VARCHAR"}
    seen = set()
    for code, (bitrix_type, multiple) in fields.items():
        column = code.lower()
        if multiple:
            if column in types:
                assert types[column] == "JSON", code
            continue
        if bitrix_type == "money":
            if f"{column}__amount" in types:
                assert types[f"{column}__amount"] == "DECIMAL(38,9)"
                seen.add("money")
            continue
        if bitrix_type in expected and column in types:
            assert types[column] == expected[bitrix_type], (code, bitrix_type)
            seen.add(bitrix_type)
    assert {"integer", "double", "boolean", "date", "datetime", "enumeration", "money"} <= seen


def test_multifields_load_as_child_tables(portal, core_load):
    truth = portal.ground_truth("contact")
    phones = sum(len(r.get("PHONE") or []) for r in truth)
    emails = sum(len(r.get("EMAIL") or []) for r in truth)
    assert phones and emails
    assert query(core_load, "select count(*) from contacts__phone")[0][0] == phones
    assert query(core_load, "select count(*) from contacts__email")[0][0] == emails
    # a phone joins back to its contact
    joined = query(core_load, "select count(*) from contacts__phone p join contacts c on p._dlt_parent_id = c._dlt_id")
    assert joined[0][0] == phones
    without = sum(1 for r in truth if not r.get("PHONE"))
    assert without > 0, "the portal should have contacts without phones"


def test_field_streams_hold_one_row_per_field(portal, core_load):
    for entity in ("deal", "contact", "company", "lead", "activity", "product"):
        rows = query(core_load, f"select id, type, title, is_required, is_read_only, is_multiple from {entity}_fields")
        codes = {r[0] for r in rows}
        assert "ID" in codes
        assert all(r[1] for r in rows)
    enum = query(core_load, "select items from deal_fields where type = 'enumeration' limit 1")
    assert enum and enum[0][0] and "VALUE" in enum[0][0]


def test_statuses_are_loaded(portal, core_load):
    truth = portal.ground_truth("status")
    assert query(core_load, "select count(*) from statuses")[0][0] == len(truth)
    types = column_types(core_load, "statuses")
    assert types["sort"] == "BIGINT" and types["system"] == "BOOLEAN"


def test_deal_list_requests_are_keyset_batches(portal, core_load):
    deals = len(portal.ground_truth("deal"))
    assert portal.stats.commands("crm.deal.list") <= math.ceil(deals / 50) + 50
    # nothing but batches and the single scope check went over the wire
    assert portal.stats.http_requests() == portal.stats.http_requests("batch") + portal.stats.http_requests("scope") \
        + portal.stats.http_requests("crm.status.list")


# Chained reads walk ids downwards with a zero-prefixed `<ID=0$result[...]` bound (bitrix24/batch.py):
# after a short page the reference stays unresolved, `ID < 0` matches nothing, and the rest of the
# batch costs the portal next to nothing. Whatever a portal does with that bound, no row is lost
# (docs/bitrix24-api-notes.md#result-reference-substitution).
PORTAL_READS_OF_THE_BOUND = {
    "substitutes embedded references (as Bitrix does)": {},
    "never substitutes embedded references": {"embedded_refs": False},
    "drops a non-numeric id condition": {"id_filter_text": "ignore"},
    "rejects a non-numeric id condition": {"id_filter_text": "error"},
}


@pytest.mark.parametrize("switch", list(PORTAL_READS_OF_THE_BOUND.values()), ids=list(PORTAL_READS_OF_THE_BOUND))
def test_chained_reads_are_complete_whatever_the_portal_does_with_the_bound(switch):
    from bitrix24.batch import ListQuery, read_keyset
    from bitrix24.client import Bitrix24Client

    with SimPortal(size=20000, seed=2, rate_limit=None, operating_limit=None, **switch) as sim:
        truth = sorted(int(r["ID"]) for r in sim.ground_truth("contact"))
        assert len(truth) % 50 == 0  # the read ends on a full page: the hardest case
        client = Bitrix24Client(sim.webhook_url)
        query = ListQuery("crm.contact.list", params={"select": ["*", "UF_*", "PHONE"], "order": {"ID": "ASC"}})
        got = [int(r["ID"]) for page in read_keyset(client, query) for r in page]
        assert sorted(got) == truth and len(got) == len(truth)
        pages = len(truth) // 50 + 1
        # 50 list commands a request; one more plain request where the bound is not substituted
        assert sim.stats.http_requests() <= -(-pages // 50) + (1 if switch.get("embedded_refs") is False else 0)
        if not switch:
            # the 49 commands after the last page cost the base 0.02 s each, not a page of rows each
            sim.options.id_filter_text = "ignore"
            before = sim.stats.operating("crm.contact.list")
            list(read_keyset(Bitrix24Client(sim.webhook_url), query))
            wasteful = sim.stats.operating("crm.contact.list") - before
            assert before < 0.75 * wasteful


def test_a_portal_that_ignores_the_id_filter_stops_the_read_instead_of_looping():
    from bitrix24 import ApiError
    from bitrix24.batch import ListQuery, read_keyset
    from bitrix24.client import Bitrix24Client

    def drop_id_bounds(portal, method, params):
        if method == "crm.contact.list":
            for key in [k for k in params.get("filter", {}) if str(k).lstrip("<>=").upper() == "ID"]:
                del params["filter"][key]

    with SimPortal(size=2000, seed=2, rate_limit=None, operating_limit=None) as sim:
        sim.hooks.append(drop_id_bounds)
        query = ListQuery("crm.contact.list", params={"select": ["ID"], "order": {"ID": "ASC"}})
        with pytest.raises(ApiError, match="ignore the id filter"):
            for _ in read_keyset(Bitrix24Client(sim.webhook_url), query):
                pass
        assert sim.stats.http_requests() <= 6
