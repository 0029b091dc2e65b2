"""Legacy CRM lists: crm.{contact,company,deal,lead,activity,product}.list/.fields and the later
crm.{quote,requisite,address,productsection}.list/.fields of the same family (UPPER_CASE fields,
strings on the wire, prefixed filter keys, unknown keys dropped, 50 rows a page from `start`;
docs/bitrix24-api-notes.md#legacy-crm-lists). An address has no ID: only `start` paging works."""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

from .. import query, refdata
from ..schema import LEGACY_STD, legacy_fields
from ..util import ci_get, php_intval, values_of
from ..wire import legacy_plan, render
from .paging import array_param, list_page, page_result
from .registry import Ctx, Result, method


def resolve_select(fields: list, select: Any) -> list:
    sel = [str(x) for x in values_of(select) if not isinstance(x, (dict, list))] if select else []
    if not sel:
        sel = ["*"]   # an empty select = "*" (no UFs): docs/bitrix24-api-notes.md#select
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


def _stage_keyfn(world: Any) -> Callable[[Any], int]:
    order = {}
    for k, (_, _, _, stages) in refdata.DEAL_PIPELINES.items():
        for i, s in enumerate(stages):
            order[s[0]] = k * 100 + i
    return lambda v: order.get(v, 10_000)


def legacy_list(ctx: Ctx, ent: str, params: dict) -> Result:
    world, opts = ctx.world, ctx.opts
    flt = array_param(params, "filter", "arFilter")
    order = array_param(params, "order", "arOrder")
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
    cache_key = _filter_key(ent, flt, bindings) if not ctx.portal.hooks else None
    page, total, offset, count = list_page(ctx, "legacy", table, comp, preds, ordl,
                                           out_of_range_first=opts.out_of_range_first_page, cache_key=cache_key)
    sel = resolve_select(fields, select)
    heavy = any(f.group in ("uf", "mf") for f in sel)
    plan = legacy_plan(sel, ent, ctx.clock, opts)
    rows = render([table.raw_at(p) for p in page], plan)
    return page_result(ctx, "legacy", rows, total, offset, count, heavy=heavy, skip=offset)


def _filter_key(ent: str, flt: Optional[dict], bindings: Any) -> Optional[tuple]:
    """Hashable description of a legacy list filter (for query.run's match cache), or None."""
    try:
        return (ent, json.dumps([flt or {}, bindings], sort_keys=True, default=str))
    except (TypeError, ValueError):
        return None


def _bindings_pred(table: Any, bindings: Any) -> Callable[[int], bool]:
    pairs = []
    for b in values_of(bindings):
        if isinstance(b, dict):
            t = ci_get(b, "OWNER_TYPE_ID")
            i = ci_get(b, "OWNER_ID")
            pairs.append((php_intval(t) if t is not None else None, php_intval(i) if i is not None else None))

    def pred(pos: int) -> bool:
        raw = table.raw_at(pos)
        for bd in raw.get("BINDINGS") or []:
            bt, bi = int(bd["OWNER_TYPE_ID"]), int(bd["OWNER_ID"])
            for t, i in pairs:
                if (t is None or t == bt) and (i is None or i == bi):
                    return True
        return False
    return pred


def legacy_fields_result(ctx: Ctx, ent: str) -> dict:
    return {f.code: f.descriptor() for f in legacy_fields(ctx.world, ent)}


def _register(ent: str) -> None:
    @method(f"crm.{ent}.list", "crm", is_list=True)
    def _list(ctx: Ctx, params: dict, ent: str = ent) -> Result:
        return legacy_list(ctx, ent, params)

    @method(f"crm.{ent}.fields", "crm")
    def _fields(ctx: Ctx, params: dict, ent: str = ent) -> dict:
        return legacy_fields_result(ctx, ent)


for _entity in LEGACY_STD:
    _register(_entity)
