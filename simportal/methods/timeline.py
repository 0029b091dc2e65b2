"""Timeline and history: crm.timeline.comment.list (the comments of one record) and crm.stagehistory.list
(stage moves of deals, leads and SPAs) (docs/bitrix24-api-notes.md#timeline-comments,
docs/bitrix24-api-notes.md#stage-history)."""
from __future__ import annotations

from .. import query, refdata
from ..errors import ApiError, generic
from ..schema import DT, INT, STR, F
from ..util import ci_get, php_intval, values_of
from .paging import list_page, list_slice, nav, page_result
from .registry import Ctx, Result, method

# ---------------------------------------------------------------- crm.timeline.comment.list

COMMENT_FIELDS = ["ID", "ENTITY_ID", "ENTITY_TYPE", "CREATED", "COMMENT", "AUTHOR_ID", "FILES"]
ENTITY_TYPES = {"deal": "deal", "lead": "lead", "contact": "contact", "company": "company"}


@method("crm.timeline.comment.list", "crm", is_list=True)
def timeline_comment_list(ctx: Ctx, params) -> Result:
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
    total = len(rows)
    page, offset, count = list_slice(ctx, "legacy", rows)
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


# ---------------------------------------------------------------- crm.stagehistory.list

HIST_DEAL = ["ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "CATEGORY_ID", "STAGE_SEMANTIC_ID", "STAGE_ID"]
HIST_LEAD = ["ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "STATUS_SEMANTIC_ID", "STATUS_ID"]
HIST_KINDS = {"ID": INT, "TYPE_ID": INT, "OWNER_ID": INT, "CREATED_TIME": DT, "CATEGORY_ID": INT}
HIST_RAW = {"STAGE_SEMANTIC_ID": "SEM", "STATUS_SEMANTIC_ID": "SEM", "STATUS_ID": "STAGE_ID"}
TYPE_NAMES = {3: "CONTACT", 4: "COMPANY", 7: "QUOTE", 8: "REQUISITE", 14: "ORDER", 36: "SMART_DOCUMENT"}


@method("crm.stagehistory.list", "crm", is_list=True, controller=True)
def crm_stagehistory_list(ctx: Ctx, params) -> Result:
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

    def dt_error(name) -> ApiError:
        return ApiError("WRONG_DATETIME_FORMAT", f"Wrong datetime format in field '{name}'")

    flt = ci_get(params, "filter") or {}
    if not isinstance(flt, dict):
        flt = {}
    if table is None:
        offset, count = nav(ctx, "controller")
        return page_result(ctx, "controller", [], 0, offset, count, wrap="items")
    def key_of(n: str) -> str:
        return HIST_RAW.get(n, n)

    comp = query.Compiler(table, fmap, ctx.clock, strict=True, key_of=key_of, opts=ctx.opts, dt_error=dt_error)
    preds = comp.compile(flt)
    order = ci_get(params, "order")
    if isinstance(order, dict):
        order = {str(k).upper(): v for k, v in order.items()}
    ordl = query.parse_order(order if isinstance(order, dict) else None, fmap, strict=True, key_of=key_of,
                             ignore_unknown=True)
    page, total, offset, count = list_page(ctx, "controller", table, comp, preds, ordl)
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
