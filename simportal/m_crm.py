"""Legacy CRM methods: crm.{contact,company,deal,lead,activity,product}.list/.fields, crm.status.list,
crm.deal.productrows.get, crm.deal.contact.items.get, crm.timeline.comment.list (spec §9.1-9.11)."""
from __future__ import annotations

import json

from array import array

from . import query, refdata
from .errors import generic
from .methods import Ctx, Result, method, nav, page_result
from .schema import (ACTIVITY_STD, COMPANY_STD, CONTACT_STD, DEAL_STD, INT, LEAD_STD, PRODUCT_STD, STR, F)
from .util import ci_get, php_intval, values_of
from .wire import legacy_plan, render

STD = {"contact": CONTACT_STD, "company": COMPANY_STD, "deal": DEAL_STD, "lead": LEAD_STD,
       "activity": ACTIVITY_STD, "product": PRODUCT_STD}
FULL_SELECT = {"activity": ["*", "COMMUNICATIONS"], "product": ["*"]}
DEFAULT_FULL_SELECT = ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]


def legacy_fields(world, ent) -> list:
    return STD[ent] + world.ufs.get(ent, [])


def resolve_select(fields, select) -> list:
    sel = [str(x) for x in values_of(select) if not isinstance(x, (dict, list))] if select else []
    if not sel:
        sel = ["*"]   # SRC: empty select = "*" (no UFs) - spec §8.4 [CONFLICT]
    star, uf_star, prop_star = "*" in sel, "UF_*" in sel, "PROPERTY_*" in sel
    named = set(sel)
    out = []
    for f in fields:
        g = f.group
        if f.code == "ID":
            out.append(f)
        elif g == "std":
            if star or f.code in named or (prop_star and f.code.startswith("PROPERTY_")):
                out.append(f)
        elif g == "uf":
            if uf_star or f.code in named:
                out.append(f)
        elif g in ("mf", "extra"):
            if f.code in named:
                out.append(f)
    return out


def _array_param(params, *names):
    v = ci_get(params, *names)
    if v is None or v == "":
        return None
    if not isinstance(v, (dict, list)):
        raise generic(f"Parameter '{names[0]}' must be array.")
    return v


def _stage_keyfn(world):
    order = {}
    for k, (_, _, _, stages) in refdata.DEAL_PIPELINES.items():
        for i, s in enumerate(stages):
            order[s[0]] = k * 100 + i
    return lambda v: order.get(v, 10_000)


def legacy_list(ctx: Ctx, ent: str, params: dict):
    world, opts = ctx.world, ctx.opts
    flt = _array_param(params, "filter", "arFilter")
    order = _array_param(params, "order", "arOrder")
    select = ci_get(params, "select", "arSelect")
    if isinstance(flt, list):
        flt = {str(i): v for i, v in enumerate(flt)}
    fields = legacy_fields(world, ent)
    fmap = {f.code: f for f in fields if f.group != "hidden"}
    table = world.tables[ent]
    no_like = [f.code for f in fields if f.type in ("crm_status", "crm_company", "crm_contact")]
    comp = query.Compiler(table, fmap, ctx.clock, strict=False, no_like=no_like, opts=opts)
    bindings = None
    if ent == "activity" and flt:
        bkey = next((k for k in flt if str(k).upper() == "BINDINGS"), None)
        if bkey is not None:
            bindings = flt[bkey]
            flt = {k: v for k, v in flt.items() if k != bkey}
    preds = comp.compile(flt or {})
    if bindings:
        preds.append(_bindings_pred(table, bindings))
    if ent == "deal":
        keys = set((flt or {}).keys())
        if not ({"ID", "=ID", "@ID"} & keys) and not any(query.split_key(k)[3] == "IS_RECURRING" for k in keys):
            g = table.cols["IS_RECURRING"]
            code_n = g.code("N")
            arr = g.a
            preds.append(lambda pos: arr[pos] == code_n)
    keyfns = {"STAGE_ID": _stage_keyfn(world)} if ent == "deal" else None
    ordl = query.parse_order(order if isinstance(order, dict) else None, fmap, keyfns=keyfns)
    if not ordl:
        if ent == "activity":
            ordl = [("START_TIME", False, None)]
        elif ent == "product":
            ordl = [("SORT", False, None), ("ID", False, None)]
    elif ent == "product" and ordl[-1][0] != "ID":
        ordl.append(("ID", False, None))
    offset, count = nav(ctx, "legacy")
    cache_key = _filter_key(ent, flt, bindings) if count and not ctx.portal.hooks else None
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count,
                                    out_of_range_first=opts.out_of_range_first_page, cache_key=cache_key)
    if ctx.short_page:
        page = page[:opts.short_page_rows]
    sel = resolve_select(fields, select)
    heavy = any(f.group in ("uf", "mf") for f in sel)
    plan = legacy_plan(sel, ent, ctx.clock, opts)
    rows = render([table.raw_at(p) for p in page], plan)
    return page_result(ctx, "legacy", rows, total, offset, count, heavy=heavy, skip=offset)


def _filter_key(ent, flt, bindings):
    """Hashable description of a legacy list filter (for query.run's match cache), or None."""
    try:
        return (ent, json.dumps([flt or {}, bindings], sort_keys=True, default=str))
    except (TypeError, ValueError):
        return None


def _bindings_pred(table, bindings):
    pairs = []
    for b in values_of(bindings):
        if isinstance(b, dict):
            t = ci_get(b, "OWNER_TYPE_ID")
            i = ci_get(b, "OWNER_ID")
            pairs.append((php_intval(t) if t is not None else None, php_intval(i) if i is not None else None))

    def pred(pos):
        raw = table.raw_at(pos)
        for bd in raw.get("BINDINGS") or []:
            bt, bi = int(bd["OWNER_TYPE_ID"]), int(bd["OWNER_ID"])
            for t, i in pairs:
                if (t is None or t == bt) and (i is None or i == bi):
                    return True
        return False
    return pred


def legacy_fields_result(ctx: Ctx, ent: str):
    return {f.code: f.descriptor() for f in legacy_fields(ctx.world, ent)}


def _register(ent):
    @method(f"crm.{ent}.list", "crm", is_list=True)
    def _list(ctx, params, ent=ent):
        return legacy_list(ctx, ent, params)

    @method(f"crm.{ent}.fields", "crm")
    def _fields(ctx, params, ent=ent):
        return legacy_fields_result(ctx, ent)


for _e in ("contact", "company", "deal", "lead", "activity", "product"):
    _register(_e)


# ---------------------------------------------------------------- crm.status.list

class ListTable:
    """Adapter so query.Compiler can filter a small list of dicts."""

    def __init__(self, rows):
        self.rows = rows
        self.ids = array("q", range(len(rows)))

    def getter(self, name):
        rows = self.rows
        return lambda pos: rows[pos].get(name)

    def raw_at(self, pos):
        return self.rows[pos]


STATUS_FIELDS = {n: F(n, t, n, k) for n, t, k in [
    ("ID", "integer", INT), ("ENTITY_ID", "string", STR), ("STATUS_ID", "string", STR), ("NAME", "string", STR),
    ("NAME_INIT", "string", STR), ("SORT", "integer", INT), ("SYSTEM", "char", STR),
    ("CATEGORY_ID", "integer", INT), ("COLOR", "string", STR), ("SEMANTICS", "string", STR)]}


@method("crm.status.list", "crm")
def crm_status_list(ctx: Ctx, params):
    flt = _array_param(params, "filter")
    order = _array_param(params, "order")
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


# ---------------------------------------------------------------- product rows / deal contacts

def _deal_id(params, message):
    v = ci_get(params, "id")
    if isinstance(v, (list, dict)) or php_intval(v) <= 0:
        raise generic(message)
    return php_intval(v)


@method("crm.deal.productrows.get", "crm")
def deal_productrows_get(ctx: Ctx, params):
    did = _deal_id(params, "The parameter id is invalid or not defined.")
    if ctx.world.tables["deal"].pos(did) is None:
        raise generic("Not found")
    out = []
    for r in ctx.world.productrows_raw(did):
        d = dict(r)
        d["ID"] = str(d["ID"])
        d["OWNER_ID"] = str(d["OWNER_ID"])
        out.append(d)
    return out


@method("crm.deal.contact.items.get", "crm")
def deal_contact_items_get(ctx: Ctx, params):
    did = _deal_id(params, "The parameter ownerEntityID is invalid or not defined.")
    t = ctx.world.tables["deal"]
    if t.pos(did) is None:
        raise generic("Not found.")
    raw = t.raw(did)
    return [{"CONTACT_ID": c, "SORT": s, "ROLE_ID": r, "IS_PRIMARY": p} for c, s, r, p in raw["_contacts"]]


# ---------------------------------------------------------------- timeline comments

COMMENT_FIELDS = ["ID", "ENTITY_ID", "ENTITY_TYPE", "CREATED", "COMMENT", "AUTHOR_ID", "FILES"]
ENTITY_TYPES = {"deal": "deal", "lead": "lead", "contact": "contact", "company": "company"}


@method("crm.timeline.comment.list", "crm", is_list=True)
def timeline_comment_list(ctx: Ctx, params):
    flt = ci_get(params, "filter") or {}
    if not isinstance(flt, dict):
        raise generic("Parameter 'filter' must be array.")
    eid = php_intval(ci_get(flt, "ENTITY_ID", "=ENTITY_ID"))
    etype = str(ci_get(flt, "ENTITY_TYPE", "=ENTITY_TYPE") or "").lower()
    if eid <= 0:
        raise generic("ENTITY_ID is not defined or invalid.")
    if etype not in ENTITY_TYPES:
        raise generic("ENTITY_TYPE is not defined or invalid.")
    table = ctx.world.tables.get(etype)
    if table is None or table.pos(eid) is None:
        raise generic("Access denied.")
    rows = ctx.world.comments_raw(eid) if etype == "deal" else []
    order = ci_get(params, "order")
    if isinstance(order, dict):
        for k, d in reversed(list(order.items())):
            if k in ("ID", "CREATED", "AUTHOR_ID"):
                rows = sorted(rows, key=lambda r, k=k: r[k], reverse=str(d).upper() == "DESC")
    offset, count = nav(ctx, "legacy")
    total = len(rows)
    page = rows[offset:offset + 50]
    if ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    sel = [str(x) for x in values_of(ci_get(params, "select"))]
    sel = [s for s in sel if s in COMMENT_FIELDS] or COMMENT_FIELDS
    if "ID" not in sel:
        sel = ["ID"] + sel
    clock = ctx.clock
    as_int = ctx.opts.timeline_entity_id_int
    out = []
    for r in page:
        d = {}
        for k in COMMENT_FIELDS:
            if k not in sel:
                continue
            v = r.get(k)
            if k == "FILES":
                if not v:
                    continue
                v = {fid: {**f, "date": clock.fmt_dt(f["date"])} for fid, f in v.items()}
            elif k == "CREATED":
                v = clock.fmt_dt(v)
            elif k in ("ID", "AUTHOR_ID"):
                v = str(v)
            elif k == "ENTITY_ID":
                v = int(v) if as_int else str(v)
            d[k] = v
        out.append(d)
    return page_result(ctx, "legacy", out, total, offset, count, skip=offset)
