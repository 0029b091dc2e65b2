"""The universal crm.item.* methods: crm.item.list/.fields over the legacy entities (entityTypeId 1-4,
camelCase view), the SPAs and the smart invoices: native JSON types, wrapped results, strict filters
(docs/bitrix24-api-notes.md#universal-crm-item-methods)."""
from __future__ import annotations

import dataclasses

from .. import query, refdata
from ..errors import ApiError
from ..schema import DATE, DT, FILE, FLOAT2, INT, RAW, F, legacy_fields
from ..util import ci_get, php_intval, values_of
from ..wire import item_plan, render_items
from .paging import list_page, page_result
from .registry import Ctx, Result, method


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


def item_source(ctx: Ctx, params) -> tuple:
    etid = php_intval(ci_get(params, "entityTypeId"))
    w = ctx.world
    if etid in refdata.SPA_TYPES or (etid in refdata.BUILTIN_TYPES and ctx.opts.smart_invoices):
        t = w.tables[f"spa{etid}"]
        return etid, t, spa_std(etid) + w.ufs[f"spa{etid}"]
    if etid in ITEM_ENTITIES:
        ent = ITEM_ENTITIES[etid]
        return etid, w.tables[ent], legacy_item_fields(w, ent)
    raise ApiError("NOT_FOUND", "Smart process not found")


def _fmap(fields) -> dict:
    m = {}
    for f in fields:
        m[f.code] = f
        if f.upper:
            m.setdefault(f.upper, f)
    return m


def _item_select(fields, select) -> list:
    sel = [str(x) for x in values_of(select) if not isinstance(x, (dict, list))] if select else ["*"]
    if not sel:
        sel = ["*"]
    names = set(sel)
    star, uf = "*" in names, "UF_*" in names
    out = []
    for f in fields:
        if f.group == "fmonly":           # fm only via "*" (docs/bitrix24-api-notes.md#select)
            if star:
                out.append(f)
        elif f.code == "id" or star or f.code in names or (f.upper and f.upper in names) or (uf and f.dynamic):
            out.append(f)
    return out


@method("crm.item.list", "crm", is_list=True, controller=True)
def crm_item_list(ctx: Ctx, params) -> Result:
    etid, table, fields = item_source(ctx, params)
    fmap = _fmap([f for f in fields if f.group not in ("itemonly", "fmonly")])
    flt = ci_get(params, "filter") or {}
    if not isinstance(flt, (dict, list)):
        raise ApiError("INVALID_ARG_VALUE", "Invalid filter")
    if isinstance(flt, list):
        flt = {str(i): v for i, v in enumerate(flt)}

    def key_of(n: str) -> str:
        return fmap[n].extra.get("raw", fmap[n].code) if n in fmap else n
    comp = query.Compiler(table, fmap, ctx.clock, strict=True, key_of=key_of, opts=ctx.opts, allow_logic=True)
    comp.id_names = {"id", "ID"}
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    ordl = query.parse_order(order if isinstance(order, dict) else None, fmap, strict=True, key_of=key_of)
    ordl = [("ID" if k == "id" else k, d, fn) for k, d, fn in ordl]
    page, total, offset, count = list_page(ctx, "controller", table, comp, preds, ordl)
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
def crm_item_fields(ctx: Ctx, params) -> dict:
    _, _, fields = item_source(ctx, params)
    orig = str(ci_get(params, "useOriginalUfNames") or "N").upper() == "Y"
    out = {}
    for f in fields:
        if f.group in ("itemonly", "fmonly"):
            continue
        key = (f.upper or f.code) if (orig and f.dynamic) else f.code
        out[key] = f.descriptor(item_style=True)
    return {"fields": out}
