"""Methods added after the seed: crm.quote.*, crm.requisite.*, crm.address.*, crm.productsection.*
(legacy CRM lists: the family of crm.deal.list), crm.currency.list/.fields, tasks.task.list and
tasks.task.getFields. Behaviour as the official docs describe it (bitrix24/b24restdocs):

* crm.quote.list / .requisite.list / .productsection.list: `select` (`*`, `UF_*`), `filter` with the
  legacy prefixes, `order`, 50 rows a page from `start`; `start=-1` skips the count (total 0, no next).
* crm.address.list: the same engine, but an address has **no ID**: it is identified by
  (TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID) (crm-address-list.md), so only `start` paging works.
* crm.currency.list: every currency in one answer; `order` by lower-case field names (`sort`,
  `currency`); `total` is always 0 (crm-currency-list.md).
* tasks.task.list (scope `task`): filter, order and select take UPPER_SNAKE names (`>ID`,
  `>=CHANGED_DATE`, `UF_*` in select), the rows come back wrapped as `{"tasks": [...]}` with
  camelCase keys and string values (tasks-task-list.md); unknown filter keys are ignored; 50 a page
  from `start` (`start=-1`: no count, as the D7 controllers).
* tasks.task.getFields: `{"fields": {UPPER_NAME: {title, type, values?, default?}}}` with the
  types `integer`, `string`, `enum`, `datetime`, `double`, `array`, `crm`, `disk_file`
  (tasks-task-get-fields.md).
"""
from __future__ import annotations

from . import m_crm, query, refdata
from .methods import Ctx, Result, method, nav, page_result
from .schema import COMMON_TAIL, DATE, DT, FLOAT2, INT, STR, F
from .util import ci_get, values_of

QUOTE_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("TITLE", "string", "Name"),
    F("QUOTE_NUMBER", "string", "Quote #"),
    F("STATUS_ID", "crm_status", "Status", status="QUOTE_STATUS"),
    F("CURRENCY_ID", "crm_currency", "Currency"),
    F("OPPORTUNITY", "double", "Amount", FLOAT2),
    F("TAX_VALUE", "double", "Tax", FLOAT2),
    F("DEAL_ID", "crm_deal", "Deal", INT, settings={"parentEntityTypeId": 2}),
    F("LEAD_ID", "crm_lead", "Lead", INT, settings={"parentEntityTypeId": 1}),
    F("COMPANY_ID", "crm_company", "Company", INT),
    F("CONTACT_ID", "crm_contact", "Contact", INT, "D"),
    F("MYCOMPANY_ID", "crm_company", "Your company details", INT),
    F("BEGINDATE", "date", "Date created", DATE),
    F("CLOSEDATE", "date", "Expiration date", DATE),
    F("CLOSED", "char", "Closed"),
    F("OPENED", "char", "Available to everyone"),
    F("COMMENTS", "text", "Comment"),
    *COMMON_TAIL,
]

REQUISITE_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("ENTITY_TYPE_ID", "integer", "Parent type", INT, "QI"),
    F("ENTITY_ID", "integer", "Parent", INT, "QI"),
    F("PRESET_ID", "integer", "Template", INT, "Q"),
    F("DATE_CREATE", "datetime", "Created on", DT, "R"),
    F("DATE_MODIFY", "datetime", "Modified on", DT, "R"),
    F("CREATED_BY_ID", "user", "Created by", INT, "R"),
    F("MODIFY_BY_ID", "user", "Modified by", INT, "R"),
    F("NAME", "string", "Name", flags="Q"),
    F("CODE", "string", "Symbolic code"),
    F("XML_ID", "string", "External ID"),
    F("ORIGINATOR_ID", "string", "External source"),
    F("ACTIVE", "char", "Active"),
    F("ADDRESS_ONLY", "char", "Address only"),
    F("SORT", "integer", "Sort", INT),
    F("RQ_COMPANY_NAME", "string", "Company name"),
    F("RQ_NAME", "string", "Name"),
    F("RQ_INN", "string", "TIN"),
    F("RQ_KPP", "string", "KPP"),
    F("RQ_VAT_ID", "string", "VAT ID"),
]

ADDRESS_STD = [
    F("TYPE_ID", "integer", "Address type", INT, "QI"),
    F("ENTITY_TYPE_ID", "integer", "Parent type", INT, "QI"),
    F("ENTITY_ID", "integer", "Parent", INT, "QI"),
    F("ADDRESS_1", "string", "Street, building"),
    F("ADDRESS_2", "string", "Suite / Apartment"),
    F("CITY", "string", "City"),
    F("POSTAL_CODE", "string", "Zip"),
    F("REGION", "string", "Region"),
    F("PROVINCE", "string", "State / Province"),
    F("COUNTRY", "string", "Country"),
    F("COUNTRY_CODE", "string", "Country code"),
    F("LOC_ADDR_ID", "integer", "Location address ID", INT),
    F("ANCHOR_TYPE_ID", "integer", "Main parent type", INT, "R"),
    F("ANCHOR_ID", "integer", "Main parent", INT, "R"),
]

SECTION_STD = [
    F("ID", "integer", "ID", INT, "R"),
    F("CATALOG_ID", "integer", "Catalog", INT, "Q"),
    F("SECTION_ID", "integer", "Parent section", INT),
    F("NAME", "string", "Name", flags="Q"),
    F("XML_ID", "string", "External ID"),
    F("CODE", "string", "Symbolic code"),
]

m_crm.STD.update({"quote": QUOTE_STD, "requisite": REQUISITE_STD, "address": ADDRESS_STD,
                  "productsection": SECTION_STD})
m_crm.FULL_SELECT.update({"quote": ["*", "UF_*"], "requisite": ["*", "UF_*"], "address": ["*"],
                          "productsection": ["*"]})
for _entity in ("quote", "requisite", "address", "productsection"):
    m_crm._register(_entity)


# ---------------------------------------------------------------- crm.currency.*

CURRENCY_FIELDS = {n: F(n, t, n, k) for n, t, k in [
    ("CURRENCY", "string", STR), ("AMOUNT_CNT", "integer", INT), ("AMOUNT", "double", STR), ("SORT", "integer", INT),
    ("BASE", "char", STR), ("FULL_NAME", "string", STR), ("LID", "string", STR), ("FORMAT_STRING", "string", STR),
    ("DEC_POINT", "string", STR), ("THOUSANDS_SEP", "string", STR), ("DECIMALS", "integer", INT),
    ("DATE_UPDATE", "datetime", STR)]}


def currency_rows(world) -> list:
    updated = world.clock.fmt_dt(world.t0 + 86400)
    return [{"CURRENCY": code, "AMOUNT_CNT": "1", "AMOUNT": amount, "SORT": str(sort), "BASE": base,
             "FULL_NAME": name, "LID": "en", "FORMAT_STRING": fmt, "DEC_POINT": ".", "THOUSANDS_SEP": ",",
             "DECIMALS": "2", "DATE_UPDATE": updated}
            for code, amount, sort, base, name, fmt in refdata.CURRENCY_ROWS]


@method("crm.currency.list", "crm")
def crm_currency_list(ctx: Ctx, params):
    rows = currency_rows(ctx.world)
    order = ci_get(params, "order")
    if isinstance(order, dict):  # field names in lower case (the docs' example: {"sort": "asc"})
        for name, direction in reversed(list(order.items())):
            key = str(name).upper()
            if str(name).islower() and key in CURRENCY_FIELDS:
                numeric = CURRENCY_FIELDS[key].kind == INT
                rows.sort(key=lambda r, k=key: int(r[k]) if numeric else r[k],
                          reverse=str(direction).upper() == "DESC")
    return Result(rows, total=0, rows=len(rows))


@method("crm.currency.fields", "crm")
def crm_currency_fields(ctx: Ctx, params):
    return {f.code: f.descriptor() for f in CURRENCY_FIELDS.values()}


# ---------------------------------------------------------------- tasks.task.*

TASK_FIELDS = [
    ("ID", "integer", "ID"), ("PARENT_ID", "integer", "Parent task"), ("TITLE", "string", "Name"),
    ("DESCRIPTION", "string", "Description"), ("MARK", "enum", "Rating"), ("PRIORITY", "enum", "Priority"),
    ("MULTITASK", "enum", "Multitask"), ("NOT_VIEWED", "enum", None), ("REPLICATE", "enum", "Recurring task"),
    ("GROUP_ID", "integer", "Project"), ("STAGE_ID", "integer", "Stage"), ("CREATED_BY", "integer", "Creator"),
    ("CREATED_DATE", "datetime", None), ("RESPONSIBLE_ID", "integer", "Assignee"),
    ("ACCOMPLICES", "array", None), ("AUDITORS", "array", None), ("CHANGED_BY", "integer", "Changed by"),
    ("CHANGED_DATE", "datetime", "Change date"), ("STATUS", "enum", "Status"),
    ("STATUS_CHANGED_BY", "integer", "Status changed by"), ("CLOSED_BY", "integer", "Closed by"),
    ("CLOSED_DATE", "datetime", "Closing date"), ("DATE_START", "datetime", "Start date"),
    ("DEADLINE", "datetime", "Deadline"), ("ALLOW_CHANGE_DEADLINE", "enum", None),
    ("TASK_CONTROL", "enum", "Accept work"), ("TIME_ESTIMATE", "integer", "Estimated time"),
    ("COMMENTS_COUNT", "integer", "Number of comments"),
]
TASK_UFS = [("UF_CRM_TASK", "crm", "CRM entities"), ("UF_TASK_WEBDAV_FILES", "disk_file", "Upload files"),
            ("UF_AUTO_274515931", "string", "Customer ticket")]
YES_NO = {"Y": "Yes", "N": "No"}
TASK_VALUES = {"MARK": {"P": "Positive", "N": "Negative"}, "PRIORITY": {"2": "High", "1": "Medium", "0": "Low"},
               "STATUS": {"2": "Pending", "3": "In Progress", "4": "Awaiting Control", "5": "Completed",
                          "6": "Deferred"}}
TASK_DATES = {n for n, t, _ in TASK_FIELDS if t == "datetime"}
TASK_KIND = {n: (INT if t == "integer" or n in ("PRIORITY", "STATUS") else DT if t == "datetime" else STR)
             for n, t, _ in TASK_FIELDS + TASK_UFS}
TASK_FMAP = {n: F(n, "integer" if k == INT else "datetime" if k == DT else "string", n, k)
             for n, k in TASK_KIND.items() if n not in ("ACCOMPLICES", "AUDITORS") and not n.startswith("UF_")}
TASK_DEFAULT_SELECT = [n for n, _, _ in TASK_FIELDS]


def task_key(upper: str) -> str:
    """UPPER_SNAKE -> the camelCase key tasks.task.list answers with (UF_CRM_TASK -> ufCrmTask)."""
    parts = upper.lower().split("_")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def _task_value(name, value, clock):
    if value is None:
        return None
    if name in TASK_DATES:
        return clock.fmt_dt(value)
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value)


@method("tasks.task.list", "task", is_list=True)
def tasks_task_list(ctx: Ctx, params):
    table = ctx.world.tables["task"]
    flt = ci_get(params, "filter")
    flt = {k: v for k, v in flt.items() if query.split_key(str(k))[3] in TASK_FMAP} if isinstance(flt, dict) else {}
    comp = query.Compiler(table, TASK_FMAP, ctx.clock, strict=False, opts=ctx.opts)
    comp.id_names = {"ID"}
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    ordl = query.parse_order(order if isinstance(order, dict) else None, TASK_FMAP)
    offset, count = nav(ctx, "controller")
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count)
    if ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    wanted = [str(s).upper() for s in values_of(ci_get(params, "select")) if isinstance(s, str)]
    names = [n for n in TASK_DEFAULT_SELECT if n in wanted or "*" in wanted] or list(TASK_DEFAULT_SELECT)
    if "UF_*" in wanted:
        names += [n for n, _, _ in TASK_UFS]
    else:
        names += [n for n, _, _ in TASK_UFS if n in wanted]
    if "ID" not in names:
        names.insert(0, "ID")
    clock = ctx.clock
    rows = []
    for p in page:
        raw = table.raw_at(p)
        rows.append({task_key(n): _task_value(n, raw.get(n), clock) for n in names})
    heavy = any(n.startswith("UF_") for n in names)
    return page_result(ctx, "controller", rows, total, offset, count, wrap="tasks", heavy=heavy)


@method("tasks.task.getfields", "task")  # method names are case-insensitive
def tasks_task_get_fields(ctx: Ctx, params):
    out = {}
    for name, typ, title in TASK_FIELDS + TASK_UFS:
        d = {"title": title, "type": typ}
        if typ == "enum":
            d["values"] = TASK_VALUES.get(name, YES_NO)
        if name == "ID":
            d["primary"] = True
        out[name] = d
    return {"fields": out}


