"""Controller (D7) methods: crm.item.list/.fields, crm.type.list, crm.category.list, crm.stagehistory.list
(spec §9.7, §9.8, §9.12, §9.13).  Native JSON types, camelCase, wrapped results, strict filters."""
from __future__ import annotations

import dataclasses
import operator

from . import query, refdata
from .errors import ApiError
from .m_crm import ListTable, legacy_fields
from .methods import Ctx, method, nav, page_result
from .schema import DATE, DT, FILE, FLOAT2, INT, RAW, STR, F
from .util import ci_get, php_intval, values_of
from .wire import item_plan, render_items


def spa_std(etid: int) -> list:
    spec = refdata.type_spec(etid)
    cat0 = next(iter(spec["categories"]))
    st = f"SMART_INVOICE_STAGE_{cat0}" if etid in refdata.BUILTIN_TYPES else f"DYNAMIC_{etid}_STAGE_{cat0}"
    return [
        F("id", "integer", "ID", INT, "R", upper="ID"),
        F("xmlId", "string", "External ID", upper="XML_ID"),
        F("title", "string", "Name", upper="TITLE"),
        F("createdBy", "user", "Created by", INT, "R", upper="CREATED_BY"),
        F("updatedBy", "user", "Updated by", INT, "R", upper="UPDATED_BY"),
        F("movedBy", "user", "Moved by", INT, "R", upper="MOVED_BY"),
        F("createdTime", "datetime", "Created on", DT, "R", upper="CREATED_TIME"),
        F("updatedTime", "datetime", "Updated on", DT, "R", upper="UPDATED_TIME"),
        F("movedTime", "datetime", "Moved on", DT, "R", upper="MOVED_TIME"),
        F("categoryId", "crm_category", "Pipeline", INT, upper="CATEGORY_ID"),
        F("opened", "boolean", "Available to everyone", upper="OPENED"),
        F("stageId", "crm_status", "Stage", status=st, upper="STAGE_ID"),
        F("previousStageId", "crm_status", "Previous stage", flags="R", status=st, upper="PREVIOUS_STAGE_ID"),
        F("begindate", "date", "Start date", DATE, upper="BEGINDATE"),
        F("closedate", "date", "End date", DATE, upper="CLOSEDATE"),
        F("companyId", "crm_company", "Company", INT, settings={"parentEntityTypeId": 4}, upper="COMPANY_ID"),
        F("contactId", "crm_contact", "Contact", INT, "D", upper="CONTACT_ID"),
        F("contactIds", "crm_contact", "Contacts", INT, "M", upper="CONTACT_IDS"),
        F("opportunity", "double", "Amount", FLOAT2, upper="OPPORTUNITY"),
        F("isManualOpportunity", "boolean", "Manual amount", upper="IS_MANUAL_OPPORTUNITY"),
        F("taxValue", "double", "Tax", FLOAT2, upper="TAX_VALUE"),
        F("currencyId", "crm_currency", "Currency", upper="CURRENCY_ID"),
        F("mycompanyId", "crm_company", "My company details", INT, upper="MYCOMPANY_ID"),
        F("sourceId", "crm_status", "Source", status="SOURCE", upper="SOURCE_ID"),
        F("sourceDescription", "text", "Source information", upper="SOURCE_DESCRIPTION"),
        F("webformId", "integer", "Created by CRM form", INT, upper="WEBFORM_ID"),
        F("assignedById", "user", "Responsible person", INT, upper="ASSIGNED_BY_ID"),
        F("lastActivityBy", "user", "Last activity by", INT, "R", upper="LAST_ACTIVITY_BY"),
        F("lastActivityTime", "datetime", "Last activity", DT, "R", upper="LAST_ACTIVITY_TIME"),
        F("observers", "user", "Observers", INT, "M", upper="OBSERVERS"),
        F("parentId2", "crm_entity", "Deal", INT, settings={"parentEntityTypeId": 2}, upper="PARENT_ID_2"),
        F("entityTypeId", "integer", "Entity type", INT, "R", group="itemonly", upper="ENTITY_TYPE_ID"),
    ]


def _camel(upper: str) -> str:
    special = {"CREATED_BY_ID": "createdBy", "MODIFY_BY_ID": "updatedBy", "MOVED_BY_ID": "movedBy",
               "DATE_CREATE": "createdTime", "DATE_MODIFY": "updatedTime", "PARENT_ID_128": "parentId128"}
    if upper in special:
        return special[upper]
    if upper.startswith("UF_CRM_"):
        return "ufCrm_" + upper[7:]
    parts = upper.lower().split("_")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


ITEM_ENTITIES = {1: "lead", 2: "deal", 3: "contact", 4: "company"}


def legacy_item_fields(world, ent: str) -> list:
    """crm.item view of a legacy entity: camelCase names, native types, ``fm`` for multifields."""
    out = []
    for f in legacy_fields(world, ent):
        if f.code == "CONTACT_IDS" and ent == "deal":
            g = dataclasses.replace(f, code="contactIds", group="std", upper="CONTACT_IDS",
                                    extra={"raw": "_contactIds"})
        elif f.group in ("mf", "hidden"):
            continue
        else:
            typ = "boolean" if f.type == "char" else f.type
            kind = RAW if f.kind == FILE else f.kind
            g = dataclasses.replace(f, code=_camel(f.code), type=typ, kind=kind, upper=f.code,
                                    extra={"raw": f.code})
        out.append(g)
    if ent != "deal":
        out.append(F("fm", "crm_multifield", "Multifields", RAW, "M", group="fmonly", upper="FM",
                     extra={"raw": "_fm"}))
    out.append(F("entityTypeId", "integer", "Entity type", INT, "R", group="itemonly", upper="ENTITY_TYPE_ID",
                 extra={"raw": "_etid"}))
    return out


def _fm(raw) -> list:
    out = []
    for code in ("PHONE", "EMAIL", "WEB", "IM"):
        for fid, vtype, value, type_id in raw.get(code) or []:
            out.append({"id": int(fid), "valueType": vtype, "value": value, "typeId": type_id})
    return out


def item_source(ctx: Ctx, params):
    etid = php_intval(ci_get(params, "entityTypeId"))
    w = ctx.world
    if etid in refdata.SPA_TYPES or (etid in refdata.BUILTIN_TYPES and ctx.opts.smart_invoices):
        t = w.tables[f"spa{etid}"]
        return etid, t, spa_std(etid) + w.ufs[f"spa{etid}"]
    if etid in ITEM_ENTITIES:
        ent = ITEM_ENTITIES[etid]
        return etid, w.tables[ent], legacy_item_fields(w, ent)
    raise ApiError("NOT_FOUND", "Smart process not found")


def _fmap(fields):
    m = {}
    for f in fields:
        m[f.code] = f
        if f.upper:
            m.setdefault(f.upper, f)
    return m


def _item_select(fields, select):
    sel = [str(x) for x in values_of(select) if not isinstance(x, (dict, list))] if select else ["*"]
    if not sel:
        sel = ["*"]
    names = set(sel)
    star, uf = "*" in names, "UF_*" in names
    out = []
    for f in fields:
        if f.group == "fmonly":           # fm only via "*" (spec §8.4)
            if star:
                out.append(f)
        elif f.code == "id" or star or f.code in names or (f.upper and f.upper in names) or (uf and f.dynamic):
            out.append(f)
    return out


@method("crm.item.list", "crm", is_list=True, controller=True)
def crm_item_list(ctx: Ctx, params):
    etid, table, fields = item_source(ctx, params)
    fmap = _fmap([f for f in fields if f.group not in ("itemonly", "fmonly")])
    flt = ci_get(params, "filter") or {}
    if not isinstance(flt, (dict, list)):
        raise ApiError("INVALID_ARG_VALUE", "Invalid filter")
    if isinstance(flt, list):
        flt = {str(i): v for i, v in enumerate(flt)}
    key_of = lambda n: fmap[n].extra.get("raw", fmap[n].code) if n in fmap else n
    comp = query.Compiler(table, fmap, ctx.clock, strict=True, key_of=key_of, opts=ctx.opts, allow_logic=True)
    comp.id_names = {"id", "ID"}
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    ordl = query.parse_order(order if isinstance(order, dict) else None, fmap, strict=True, key_of=key_of)
    ordl = [("ID" if k == "id" else k, d, fn) for k, d, fn in ordl]
    offset, count = nav(ctx, "controller")
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count)
    if ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    sel = _item_select(fields, ci_get(params, "select"))
    orig = str(ci_get(params, "useOriginalUfNames") or "N").upper() == "Y"
    plan = item_plan(sel, ctx.clock, ctx.opts, original_uf_names=orig)
    raws = [table.raw_at(p) for p in page]
    if etid in ITEM_ENTITIES:
        raws = [{**r, "_etid": etid, "_fm": _fm(r)} for r in raws]
    rows = render_items(raws, plan)
    heavy = any(f.dynamic for f in sel)
    return page_result(ctx, "controller", rows, total, offset, count, wrap="items", heavy=heavy)


@method("crm.item.fields", "crm", controller=True)
def crm_item_fields(ctx: Ctx, params):
    _, _, fields = item_source(ctx, params)
    orig = str(ci_get(params, "useOriginalUfNames") or "N").upper() == "Y"
    out = {}
    for f in fields:
        if f.group in ("itemonly", "fmonly"):
            continue
        key = (f.upper or f.code) if (orig and f.dynamic) else f.code
        out[key] = f.descriptor(item_style=True)
    return {"fields": out}


# ---------------------------------------------------------------- crm.type.list

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


@method("crm.type.list", "crm", is_list=True, controller=True)
def crm_type_list(ctx: Ctx, params):
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
    ordl = query.parse_order(order if isinstance(order, dict) else None, TYPE_FIELDS, strict=True)
    offset, count = nav(ctx, "controller")
    page, total, offset = query.run(lt, comp, preds, ordl, offset, 50, count)
    clock = ctx.clock
    out = []
    for p in page:
        r = dict(rows[p])
        r["createdTime"] = clock.fmt_dt(r["createdTime"])
        r["updatedTime"] = clock.fmt_dt(r["updatedTime"])
        out.append(r)
    return page_result(ctx, "controller", out, total, offset, count, wrap="types")


@method("crm.category.list", "crm", is_list=True, controller=True)
def crm_category_list(ctx: Ctx, params):
    etid = php_intval(ci_get(params, "entityTypeId"))
    if etid != 2 and etid not in refdata.SPA_TYPES:
        raise ApiError("NOT_FOUND", "Smart process not found" if etid >= 128 else
                       f"Entity type {etid} does not support categories")
    rows = ctx.world.categories(etid)
    offset, count = nav(ctx, "controller")
    page = rows[offset:offset + 50]
    return page_result(ctx, "controller", page, len(rows), offset, count, wrap="categories")


# ---------------------------------------------------------------- crm.stagehistory.list

HIST_DEAL = ["ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "CATEGORY_ID", "STAGE_SEMANTIC_ID", "STAGE_ID"]
HIST_LEAD = ["ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "STATUS_SEMANTIC_ID", "STATUS_ID"]
HIST_KINDS = {"ID": INT, "TYPE_ID": INT, "OWNER_ID": INT, "CREATED_TIME": DT, "CATEGORY_ID": INT}
HIST_RAW = {"STAGE_SEMANTIC_ID": "SEM", "STATUS_SEMANTIC_ID": "SEM", "STATUS_ID": "STAGE_ID"}
TYPE_NAMES = {3: "CONTACT", 4: "COMPANY", 7: "QUOTE", 8: "REQUISITE", 14: "ORDER", 36: "SMART_DOCUMENT"}


@method("crm.stagehistory.list", "crm", is_list=True, controller=True)
def crm_stagehistory_list(ctx: Ctx, params):
    etid = php_intval(ci_get(params, "entityTypeId"))
    w = ctx.world
    if etid == 1:
        table, names = w.tables["lead_stage_history"], HIST_LEAD
    elif etid == 2:
        table, names = w.tables["deal_stage_history"], HIST_DEAL
    elif etid in refdata.SPA_TYPES:
        table, names = w.tables[f"spa{etid}_stage_history"], HIST_DEAL
    elif etid in (5, 31):
        table, names = None, HIST_DEAL
    else:
        raise ApiError("ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {TYPE_NAMES.get(etid, etid)} is not supported")
    fmap = {n: F(n, "integer" if HIST_KINDS.get(n) == INT else "datetime" if n == "CREATED_TIME" else "string",
                 n, HIST_KINDS.get(n, STR)) for n in names}

    def dt_error(name):
        return ApiError("WRONG_DATETIME_FORMAT", f"Wrong datetime format in field '{name}'")

    flt = ci_get(params, "filter") or {}
    if not isinstance(flt, dict):
        flt = {}
    offset, count = nav(ctx, "controller")
    if table is None:
        return page_result(ctx, "controller", [], 0, offset, count, wrap="items")
    key_of = lambda n: HIST_RAW.get(n, n)
    comp = query.Compiler(table, fmap, ctx.clock, strict=True, key_of=key_of, opts=ctx.opts, dt_error=dt_error)
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    if isinstance(order, dict):
        order = {str(k).upper(): v for k, v in order.items()}
    ordl = query.parse_order(order if isinstance(order, dict) else None, fmap, strict=True, key_of=key_of,
                             ignore_unknown=True)
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count)
    if ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    sel = [str(x).upper() for x in values_of(ci_get(params, "select")) if isinstance(x, (str, int))]
    sel = [n for n in names if n in sel] or list(names)
    if "ID" not in sel:
        sel.insert(0, "ID")
    as_int = ctx.opts.stagehistory_ints
    clock = ctx.clock
    rows = []
    for p in page:
        raw = table.raw_at(p)
        d = {}
        for n in names:
            if n not in sel:
                continue
            v = raw.get(key_of(n))
            if n == "CREATED_TIME":
                v = clock.fmt_dt(v)
            elif HIST_KINDS.get(n) == INT and v is not None:
                v = int(v) if as_int else str(v)
            d[n] = v
        rows.append(d)
    return page_result(ctx, "controller", rows, total, offset, count, wrap="items")


# ---------------------------------------------------------------- crm.item.productrow.list

# camelCase key -> the key of crm.deal.productrows.get's row it comes from (None: derived).
# The controller leaves out reserveId, reserveQuantity, dateReserveEnd (and isAuto), and the
# legacy-only ORIGINAL_PRODUCT_NAME / PRODUCT_DESCRIPTION (spec §12).
PRODUCT_ROW_KEYS = (
    ("id", "ID"), ("ownerId", "OWNER_ID"), ("ownerType", "OWNER_TYPE"), ("productId", "PRODUCT_ID"),
    ("productName", "PRODUCT_NAME"), ("price", "PRICE"), ("priceAccount", "PRICE_ACCOUNT"),
    ("priceExclusive", "PRICE_EXCLUSIVE"), ("priceNetto", "PRICE_NETTO"), ("priceBrutto", "PRICE_BRUTTO"),
    ("quantity", "QUANTITY"), ("discountTypeId", "DISCOUNT_TYPE_ID"), ("discountRate", "DISCOUNT_RATE"),
    ("discountSum", "DISCOUNT_SUM"), ("taxRate", "TAX_RATE"), ("taxIncluded", "TAX_INCLUDED"),
    ("taxName", None), ("customized", "CUSTOMIZED"), ("measureCode", "MEASURE_CODE"),
    ("measureName", "MEASURE_NAME"), ("sort", "SORT"), ("xmlId", "XML_ID"), ("type", "TYPE"),
    ("storeId", "STORE_ID"),
)
ROW_ID_KEYS = {"id": "ID", "productid": "PRODUCT_ID"}  # the only filterable fields (docs)
OWNER_TYPES = {"D": "deal", "L": "lead", "Q": "quote", "SI": "invoice"}


def _row_camel(raw: dict) -> dict:
    out = {}
    for camel, upper in PRODUCT_ROW_KEYS:
        if upper is None:  # taxName
            out[camel] = f"VAT {int(raw['TAX_RATE'])}" if raw.get("TAX_RATE") else "No VAT"
            continue
        v = raw.get(upper)
        if upper == "PRICE_ACCOUNT" and v is not None:
            v = float(v)
        elif upper in ("ID", "OWNER_ID") and v is not None:
            v = int(v)
        out[camel] = v
    return out


def _owner_ids(ctx: Ctx, flt: dict):
    """The deals whose rows to list: a list of ids, or None for every deal (an ignored array).

    Mirrors the controller: `=ownerType`/`=ownerId` required; one positive id the caller may read;
    an array passes the read check on one id only - for an admin always, for a non-admin webhook
    it fails unless `productrow_nonadmin_array` = "ok" (spec §12)."""
    if "=ownerType" not in flt or "=ownerId" not in flt:
        raise ApiError("REQUIRED_ARG_MISSING", "Required filter keys are missing: =ownerType, =ownerId")
    otype, oid = str(flt["=ownerType"]), flt["=ownerId"]
    if otype not in OWNER_TYPES:
        raise ApiError("ACCESS_DENIED", "Access denied")
    if not isinstance(oid, (list, dict)):
        did = php_intval(oid)
        table = ctx.world.tables.get(OWNER_TYPES[otype])
        if did <= 0 or table is None or table.pos(did) is None:
            raise ApiError("ACCESS_DENIED", "Access denied")
        return [did] if otype == "D" else []
    mode = ctx.opts.productrow_array
    if mode == "refused":
        raise ApiError("INVALID_ARG_VALUE", "Invalid filter: field 'ownerId' has invalid value")
    if not ctx.hook.crm_admin and ctx.opts.productrow_nonadmin_array != "ok":
        raise ApiError("ACCESS_DENIED", "Access denied")
    if mode == "ignored":
        return None if otype == "D" else []
    return [php_intval(v) for v in values_of(oid)] if otype == "D" else []


def _row_conditions(flt: dict) -> list:
    """(field, op, value) for the id/productId conditions; other keys are ignored (docs)."""
    out = []
    for key, value in flt.items():
        neg, _, op, name = query.split_key(str(key))
        field = ROW_ID_KEYS.get(name.lower())
        if field is None or str(key) in ("=ownerType", "=ownerId"):
            continue
        op = ("!" if neg else "") + (op or "=")
        if op in ("@", "!@"):
            out.append((field, op, {php_intval(v) for v in values_of(value)}))
        elif isinstance(value, (list, dict)):
            if op not in ("=", "!="):  # comparison keys refuse arrays; equality ignores them
                raise ApiError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")
        elif op in ROW_OPS:
            out.append((field, op, php_intval(value)))
    return out


ROW_OPS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt,
           "<=": operator.le, "@": lambda v, s: v in s, "!@": lambda v, s: v not in s}


def _row_matches(raw: dict, conditions: list) -> bool:
    return all(ROW_OPS[op](int(raw.get(field) or 0), value) for field, op, value in conditions)


@method("crm.item.productrow.list", "crm", is_list=True, controller=True)
def crm_item_productrow_list(ctx: Ctx, params):
    """Product rows of one CRM object - or of many, with `=ownerId` an array (`productrow_array`)."""
    flt = ci_get(params, "filter")
    if not isinstance(flt, dict):
        raise ApiError("REQUIRED_ARG_MISSING", "Required filter keys are missing: =ownerType, =ownerId")
    owners = _owner_ids(ctx, flt)
    conditions = _row_conditions(flt)
    deals = ctx.world.tables["deal"]
    if owners is None:
        owners = list(deals.ids)
    rows = [r for d in dict.fromkeys(owners) if deals.pos(d) is not None
            for r in ctx.world.productrows_raw(d) if _row_matches(r, conditions)]
    order = ci_get(params, "order")
    keys = [(str(k).lower(), str(d).upper() == "DESC") for k, d in order.items()] if isinstance(order, dict) else []
    keys = [(k, desc) for k, desc in keys if k in ("id", "sort")] or [("sort", False)]
    for k, desc in reversed(keys + [("id", keys[0][1])]):
        rows.sort(key=lambda r, k=k: int(r["ID" if k == "id" else "SORT"] or 0), reverse=desc)
    offset, count = nav(ctx, "controller")
    page = rows[offset:offset + 50]
    if ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    return page_result(ctx, "controller", [_row_camel(r) for r in page], len(rows), offset, count,
                       wrap="productRows")
