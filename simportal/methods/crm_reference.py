"""CRM reference lists: crm.status.list (every status and stage), crm.currency.list/.fields, crm.type.list
(the SPA types; CRM administrators only), crm.category.list (pipelines)
(docs/bitrix24-api-notes.md#crm-reference-lists)."""
from __future__ import annotations

import re

from .. import query, refdata
from ..errors import ApiError, generic
from ..schema import DT, INT, STR, F
from ..util import ci_get, php_intval
from .paging import ListTable, array_param, list_page, list_slice, page_result
from .registry import Ctx, Result, method

# ---------------------------------------------------------------- crm.status.list

STATUS_FIELDS = {n: F(n, t, n, k) for n, t, k in [
    ("ID", "integer", INT), ("ENTITY_ID", "string", STR), ("STATUS_ID", "string", STR), ("NAME", "string", STR),
    ("NAME_INIT", "string", STR), ("SORT", "integer", INT), ("SYSTEM", "char", STR),
    ("CATEGORY_ID", "integer", INT), ("COLOR", "string", STR), ("SEMANTICS", "string", STR)]}


@method("crm.status.list", "crm")
def crm_status_list(ctx: Ctx, params) -> Result:
    flt = array_param(params, "filter")
    order = array_param(params, "order")
    flt = flt if isinstance(flt, dict) else {}
    for k, v in flt.items():
        name = query.split_key(k)[3]
        if name in ("ENTITY_ID", "STATUS_ID", "SORT", "SEMANTICS") and isinstance(v, (list, dict)):
            raise generic(f"Filter by {name} must be a string")
    rows = ctx.world.statuses
    lt = ListTable(rows)
    comp = query.Compiler(lt, STATUS_FIELDS, ctx.clock, opts=ctx.opts)
    comp.id_names = set()
    preds = comp.compile(flt)
    ordl = query.parse_order(order if isinstance(order, dict) else None, STATUS_FIELDS,
                             keyfns={"SORT": lambda v: int(v), "ID": lambda v: int(v)})
    if not ordl:
        ordl = [("SORT", False, lambda v: int(v))]
    page, total, _ = query.run(lt, comp, preds, ordl, 0, 10 ** 9, True)
    out = [dict(rows[p]) for p in page]
    return Result(out, total=total, rows=len(out))


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
def crm_currency_list(ctx: Ctx, params) -> Result:
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
def crm_currency_fields(ctx: Ctx, params) -> dict:
    return {f.code: f.descriptor() for f in CURRENCY_FIELDS.values()}


# ---------------------------------------------------------------- crm.type.list, crm.category.list

TYPE_FIELDS = {n: F(n, t, n, k) for n, t, k in [
    ("id", "integer", INT), ("title", "string", STR), ("code", "string", STR), ("createdBy", "user", INT),
    ("entityTypeId", "integer", INT), ("customSectionId", "integer", INT), ("createdTime", "datetime", DT),
    ("updatedTime", "datetime", DT), ("updatedBy", "user", INT), ("isCategoriesEnabled", "char", STR),
    ("isStagesEnabled", "char", STR), ("isClientEnabled", "char", STR)]}


def spa_types(world) -> list:
    out = []
    for etid, spec in refdata.SPA_TYPES.items():
        created = world.t0 + spec["id"] * 86400
        row = {"id": spec["id"], "title": spec["title"], "code": spec["code"], "createdBy": 1,
               "entityTypeId": etid, "customSectionId": None}
        row.update(spec["flags"])
        row.update({"createdTime": created, "updatedTime": created + 3600, "updatedBy": 1})
        out.append(row)
    return out


def _check_type_order(order: dict) -> None:
    """An unknown `order` field: the ORM's error 100, the name as the controller converted it to UPPER_SNAKE
    (`ID` -> `I_D`) - docs/bitrix24-api-notes.md#crmtypelist."""
    for name in order:
        if str(name) not in TYPE_FIELDS:
            snake = re.sub(r"(?<!^)([A-Z])", r"_\1", str(name)).upper()
            raise ApiError(100, f"Unknown field definition `{snake}` ({snake}) for "
                                f"\\Bitrix\\Crm\\Model\\Dynamic\\Type Entity.")


@method("crm.type.list", "crm", is_list=True, controller=True)
def crm_type_list(ctx: Ctx, params) -> Result:
    if not ctx.hook.crm_admin:
        raise ApiError("ACCESS_DENIED", "Access denied")
    rows = spa_types(ctx.world)
    lt = ListTable(rows)
    flt = ci_get(params, "filter") or {}
    if not isinstance(flt, dict):
        flt = {}
    comp = query.Compiler(lt, TYPE_FIELDS, ctx.clock, strict=True, opts=ctx.opts, allow_logic=True)
    comp.id_names = set()
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    if isinstance(order, dict):
        _check_type_order(order)
    ordl = query.parse_order(order if isinstance(order, dict) else None, TYPE_FIELDS, strict=True)
    page, total, offset, count = list_page(ctx, "controller", lt, comp, preds, ordl, short=False)
    clock = ctx.clock
    out = []
    for p in page:
        r = dict(rows[p])
        r["createdTime"] = clock.fmt_dt(r["createdTime"])
        r["updatedTime"] = clock.fmt_dt(r["updatedTime"])
        out.append(r)
    return page_result(ctx, "controller", out, total, offset, count, wrap="types")


@method("crm.category.list", "crm", is_list=True, controller=True)
def crm_category_list(ctx: Ctx, params) -> Result:
    etid = php_intval(ci_get(params, "entityTypeId"))
    if etid != 2 and etid not in refdata.SPA_TYPES:
        raise ApiError("NOT_FOUND", "Smart process not found" if etid >= 128 else
                       f"Entity type {etid} does not support categories")
    rows = ctx.world.categories(etid)
    page, offset, count = list_slice(ctx, "controller", rows, short=False)
    return page_result(ctx, "controller", page, len(rows), offset, count, wrap="categories")
