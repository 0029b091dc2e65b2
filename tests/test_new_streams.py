"""Streams of issue 12: pipelines, quotes, smart invoices, requisites, addresses, currencies, product
sections, tasks; field_values; multi-field child tables carrying their parent's id.

The first part checks each new method of the simulated portal against what the official docs
(bitrix24/b24restdocs) say; the second loads them through the source."""

from __future__ import annotations

import logging

import requests
from conftest import column_types, edit, query, source

from simportal import SimPortal


def call(p: SimPortal, method: str, **params):
    r = requests.post(p.webhook_url + method, json=params, timeout=30)
    return r.status_code, r.json()


# ---------------------------------------------------------------- the simulated portal, per the docs


def test_category_list_wraps_the_pipelines_in_categories(portal):
    status, body = call(portal, "crm.category.list", entityTypeId=2)
    assert status == 200 and [c["id"] for c in body["result"]["categories"]] == [0, 1, 2]
    assert body["result"]["categories"][0]["isDefault"] == "Y" and body["total"] == 3


def test_quote_list_is_a_legacy_list(portal):
    status, body = call(portal, "crm.quote.list", select=["*", "UF_*"], order={"ID": "ASC"}, start=-1)
    assert status == 200 and len(body["result"]) == min(50, len(portal.ground_truth("quote")))
    assert body["total"] == 0 and "next" not in body  # start=-1: no count
    first = body["result"][0]
    assert isinstance(first["ID"], str) and first["STATUS_ID"] in {"DRAFT", "SENT", "RECEIVED", "APPROVED", "DECLAINED"}
    _, counted = call(portal, "crm.quote.list", filter={">ID": first["ID"]}, start=0)
    assert counted["total"] == len(portal.ground_truth("quote")) - 1
    _, fields = call(portal, "crm.quote.fields")
    assert fields["result"]["STATUS_ID"]["statusType"] == "QUOTE_STATUS"
    statuses = portal.ground_truth("status", filter={"ENTITY_ID": "QUOTE_STATUS"})
    assert [s["STATUS_ID"] for s in statuses][:2] == ["DRAFT", "SENT"]


def test_smart_invoices_are_items_of_entity_type_31(fresh_portal):
    status, body = call(fresh_portal, "crm.item.list", entityTypeId=31, select=["*"], order={"id": "ASC"}, start=-1)
    assert status == 200 and body["result"]["items"][0]["entityTypeId"] == 31 and "total" not in body
    _, fields = call(fresh_portal, "crm.item.fields", entityTypeId=31)
    assert fields["result"]["fields"]["stageId"]["statusType"].startswith("SMART_INVOICE_STAGE_")
    _, types = call(fresh_portal, "crm.type.list")
    assert 31 not in [t["entityTypeId"] for t in types["result"]["types"]]  # built-in types are not listed
    fresh_portal.options.smart_invoices = False
    status, body = call(fresh_portal, "crm.item.list", entityTypeId=31)
    assert status == 400 and body["error"] == "NOT_FOUND"


def test_requisite_and_productsection_lists_page_by_id(portal):
    for method, entity in (("crm.requisite.list", "requisite"), ("crm.productsection.list", "productsection")):
        truth = portal.ground_truth(entity)
        _, body = call(portal, method, order={"ID": "ASC"}, filter={">ID": truth[0]["ID"]}, start=-1)
        assert [r["ID"] for r in body["result"]] == [r["ID"] for r in truth[1:51]]
    _, fields = call(portal, "crm.requisite.fields")
    assert fields["result"]["ENTITY_TYPE_ID"]["type"] == "integer"


def test_address_list_has_no_id_and_pages_by_start(portal):
    _, body = call(portal, "crm.address.list", start=0)
    row = body["result"][0]
    assert "ID" not in row and {"TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID", "ANCHOR_ID"} <= set(row)
    keys = [(r["TYPE_ID"], r["ENTITY_TYPE_ID"], r["ENTITY_ID"]) for r in portal.ground_truth("address")]
    assert len(keys) == len(set(keys)) and body["total"] == len(keys)
    _, unpaged = call(portal, "crm.address.list", start=-1)
    assert unpaged["total"] == 0 and len(unpaged["result"]) == min(50, len(keys))


def test_currency_list_is_one_answer_with_total_zero(portal):
    _, body = call(portal, "crm.currency.list", order={"sort": "desc"})
    assert body["total"] == 0 and [c["CURRENCY"] for c in body["result"]] == ["RUB", "EUR", "USD"]
    assert [c["BASE"] for c in body["result"]].count("Y") == 1
    _, fields = call(portal, "crm.currency.fields")
    assert fields["result"]["AMOUNT"]["type"] == "double"


def test_task_list_wraps_camel_case_rows_and_filters_in_upper_case(portal):
    truth = portal.ground_truth("task")
    _, body = call(portal, "tasks.task.list", select=["ID", "TITLE", "CHANGED_DATE", "UF_*"],
                   filter={">ID": truth[0]["id"]}, order={"ID": "ASC"}, start=0)
    rows = body["result"]["tasks"]
    assert [r["id"] for r in rows] == [t["id"] for t in truth[1:51]] and isinstance(rows[0]["id"], str)
    assert {"id", "title", "changedDate", "ufCrmTask"} <= set(rows[0]) and "CHANGED_DATE" not in rows[0]
    assert body["total"] == len(truth) - 1
    cutoff = truth[len(truth) // 2]["changedDate"]
    _, recent = call(portal, "tasks.task.list", select=["ID", "CHANGED_DATE"], filter={">=CHANGED_DATE": cutoff})
    assert recent["total"] == sum(1 for t in truth if t["changedDate"] >= cutoff)
    _, fields = call(portal, "tasks.task.getFields")
    assert fields["result"]["fields"]["STATUS"]["type"] == "enum" and "5" in fields["result"]["fields"]["STATUS"]["values"]


def test_task_methods_need_the_task_scope(portal):
    url = portal.add_webhook(scopes=["crm"])
    r = requests.post(url + "tasks.task.list", json={}, timeout=30)
    assert r.status_code in (401, 403) and r.json()["error"] == "insufficient_scope"


# ---------------------------------------------------------------- through the source


def test_new_tables_load_typed(portal, full_load):
    pipeline = full_load
    counts = {"quotes": "quote", "requisites": "requisite", "addresses": "address", "currencies": "currency",
              "product_sections": "productsection", "tasks": "task", "invoices": "spa:31"}
    for table, entity in counts.items():
        assert query(pipeline, f"select count(*) from {table}")[0][0] == len(portal.ground_truth(entity)), table
    assert query(pipeline, "select name from deal_categories order by id") == [("General",), ("Partners",), ("Service",)]
    assert query(pipeline, "select count(*) from spa_categories_128")[0][0] == 2
    assert column_types(pipeline, "tasks")["changed_date"] == "TIMESTAMP WITH TIME ZONE"
    assert column_types(pipeline, "tasks")["responsible_id"] == "BIGINT"
    assert column_types(pipeline, "tasks")["auditors"] == "JSON"
    assert column_types(pipeline, "quotes")["opportunity"].startswith("DECIMAL")
    assert column_types(pipeline, "invoices")["updated_time"] == "TIMESTAMP WITH TIME ZONE"
    assert column_types(pipeline, "addresses")["entity_id"] == "BIGINT"
    assert column_types(pipeline, "currencies")["base"] == "BOOLEAN"
    assert query(pipeline, "select count(*) from quote_fields")[0][0] > 10
    assert query(pipeline, "select count(*) from invoice_fields")[0][0] > 10


def test_field_values_resolve_codes_to_labels(full_load):
    pipeline = full_load
    stages = dict(query(pipeline, "select item_id, label from field_values where entity = 'deals' and field = 'STAGE_ID'"))
    assert stages["WON"] == "Deal won" and stages["C2:WON"] == "Done"  # every pipeline's stages
    enum = query(pipeline, "select f.id, v.label from deal_fields f join field_values v on v.entity = 'deals'"
                           " and v.field = f.id where f.type = 'enumeration'")
    assert enum and all(label for _, label in enum)
    assert query(pipeline, "select label from field_values where entity = 'tasks' and field = 'status'"
                           " and item_id = '5'") == [("Completed",)]
    unresolved = query(pipeline, "select count(*) from deals d left join field_values v on v.entity = 'deals'"
                                 " and v.field = 'SOURCE_ID' and v.item_id = d.source_id"
                                 " where d.source_id is not null and v.label is null")
    assert unresolved == [(0,)]


def test_multifield_child_rows_carry_their_parent_id(portal, full_load):
    pipeline = full_load
    rows = query(pipeline, "select p.contact_id, c.id from contacts__phone p join contacts c on c._dlt_id = p._dlt_parent_id")
    assert rows and all(a == b for a, b in rows)
    assert query(pipeline, "select count(*) from companies__email where company_id is null") == [(0,)]


def test_tasks_quotes_and_invoices_are_incremental(fresh_portal, make_pipeline):
    pipeline = make_pipeline()
    streams = ["tasks", "quotes", "invoices"]
    pipeline.run(source(fresh_portal, streams=streams))
    task = int(fresh_portal.ground_truth("task")[2]["id"])
    quote = int(fresh_portal.ground_truth("quote")[1]["ID"])
    invoice = int(fresh_portal.ground_truth("spa:31")[0]["id"])
    edit(fresh_portal, "task", task, TITLE="Edited task")
    edit(fresh_portal, "quote", quote, TITLE="Edited quote")
    edit(fresh_portal, "spa:31", invoice, title="Edited invoice")
    since = len(fresh_portal.log)
    pipeline.run(source(fresh_portal, streams=streams))
    counts = {k: v for k, v in pipeline.last_trace.last_normalize_info.row_counts.items() if not k.startswith("_dlt")}
    assert counts == {"tasks": 1, "quotes": 1, "invoices": 1}
    # the window reaches the portal (tasks spell the condition CHANGED_DATE): only changed tasks are read
    task_filters = [c[2].get("filter") or {} for r in fresh_portal.log[since:] for c in r.commands
                    if c[1] == "tasks.task.list"]
    assert task_filters and all(">CHANGED_DATE" in f and "<CHANGED_DATE" in f for f in task_filters), task_filters
    assert query(pipeline, f"select title from tasks where id = {task}") == [("Edited task",)]
    assert query(pipeline, "select count(*) from tasks")[0][0] == len(fresh_portal.ground_truth("task"))
    # full table on request: every row again, replaced
    pipeline.run(source(fresh_portal, streams=["tasks"], sync_types={"tasks": "full_table"}))
    assert query(pipeline, "select count(*) from tasks")[0][0] == len(fresh_portal.ground_truth("task"))


def test_a_portal_without_smart_invoices_skips_them_with_one_line(fresh_portal, make_pipeline, caplog):
    fresh_portal.options.smart_invoices = False
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="bitrix24"):
        info = pipeline.run(source(fresh_portal, streams=["invoices", "invoice_fields", "quotes"]))
    assert not info.has_failed_jobs
    lines = [r.getMessage() for r in caplog.records if "entityTypeId=31" in r.getMessage()]
    assert len(lines) == 1, lines
    assert query(pipeline, "select count(*) from quotes")[0][0] == len(fresh_portal.ground_truth("quote"))


def test_tasks_skipped_without_the_task_scope(fresh_portal, make_pipeline, caplog):
    url = fresh_portal.add_webhook(scopes=["crm"])
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING, logger="bitrix24"):
        pipeline.run(source(fresh_portal, webhook_url=url, streams=None))
    assert any("tasks (scope task)" in r.getMessage() for r in caplog.records)
