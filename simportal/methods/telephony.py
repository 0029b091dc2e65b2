"""Telephony and open lines: voximplant.statistic.get (call records) and imopenlines.config.list.get
(docs/bitrix24-api-notes.md#telephony-and-open-lines)."""
from __future__ import annotations

from typing import Any

from .. import query
from ..errors import ApiError
from ..schema import CALL_FIELDS, DT, INT, STR, F
from ..util import ci_get, php_intval, values_of
from .paging import list_page, page_result
from .registry import Ctx, Result, method

# ---------------------------------------------------------------- voximplant.statistic.get

CALL_FILTER_FIELDS = {n: F(n, "string", n, INT if n in ("ID", "PORTAL_USER_ID", "CALL_DURATION", "CALL_VOTE",
                                                         "CRM_ENTITY_ID", "CRM_ACTIVITY_ID", "RECORD_FILE_ID",
                                                         "CALL_TYPE", "RECORD_DURATION", "SESSION_ID")
                         else DT if n == "CALL_START_DATE" else STR) for n in CALL_FIELDS}
CALL_OPS = {"", "!", "<", "<=", ">", ">=", "><", "!><", "?", "=", "!=", "%", "!%"}


def render_call(raw, clock) -> dict:
    out = {}
    for k in CALL_FIELDS:
        v = raw.get(k)
        if v is None:
            out[k] = None
        elif k == "CALL_START_DATE":
            out[k] = clock.fmt_dt(v)
        elif k == "RECORD_FILE_ID":
            out[k] = int(v)
        else:
            out[k] = str(v)
    return out


@method("voximplant.statistic.get", "telephony", is_list=True)
def voximplant_statistic_get(ctx: Ctx, params) -> Result:
    if not ctx.hook.call_stats:
        raise ApiError("ACCESS_DENIED", "Access denied!", 403)
    table = ctx.world.tables["call"]
    flt = ci_get(params, "FILTER")
    flt = flt if isinstance(flt, dict) else {}
    clean = {}
    for k, v in flt.items():
        neg, ornull, op, name = query.split_key(k)
        opstr = ("!" if neg else "") + op
        if name in CALL_FILTER_FIELDS and opstr in CALL_OPS and not ornull:
            clean[k] = v
    comp = query.Compiler(table, CALL_FILTER_FIELDS, ctx.clock, opts=ctx.opts)
    preds = comp.compile(clean)
    sort, order = ci_get(params, "SORT"), ci_get(params, "ORDER")
    ordl = []
    if sort in CALL_FILTER_FIELDS and order in ("ASC", "DESC"):   # upper case only (SRC)
        ordl = [(sort, order == "DESC", None)]
    page, total, offset, count = list_page(ctx, "orm", table, comp, preds, ordl, short=False)
    rows = [render_call(table.raw_at(p), ctx.clock) for p in page]
    return page_result(ctx, "orm", rows, total, offset, count)


# ---------------------------------------------------------------- imopenlines.config.list.get

OL_FIELDS = ["ID", "ACTIVE", "LINE_NAME", "CRM", "CRM_CREATE", "CRM_SOURCE", "CRM_FORWARD", "CRM_TRANSFER_CHANGE",
             "QUEUE_TIME", "NO_ANSWER_TIME", "QUEUE_TYPE", "CHECK_AVAILABLE", "WATCH_TYPING", "WORKTIME_ENABLE",
             "WORKTIME_FROM", "WORKTIME_TO", "WORKTIME_TIMEZONE", "WORKTIME_HOLIDAYS", "WORKTIME_DAYOFF",
             "WORKTIME_DAYOFF_RULE", "CLOSE_RULE", "WELCOME_MESSAGE", "LANGUAGE_ID", "XML_ID", "MODIFY_USER_ID",
             "DATE_CREATE", "DATE_MODIFY", "TEMPORARY"]
OL_FILTER_FIELDS = {n: F(n, "string", n, INT if n == "ID" else DT if n.startswith("DATE_") else STR)
                    for n in OL_FIELDS}


def _ol_param(p, name) -> Any:
    v = ci_get(p, name)
    if v is None:
        return None
    if name in ("select", "order", "filter") and not isinstance(v, (dict, list)):
        raise ApiError("INVALID_FORMAT", f"A wrong format for the PARAMS field '{name}' is passed")
    return v


@method("imopenlines.config.list.get", "imopenlines")
def imopenlines_config_list_get(ctx: Ctx, params) -> Result:
    p = ci_get(params, "PARAMS") or {}
    if not isinstance(p, dict):
        raise ApiError("INVALID_FORMAT", "A wrong format for the PARAMS field is passed")
    opts_ = ci_get(params, "OPTIONS") or {}
    select, order, flt = _ol_param(p, "select"), _ol_param(p, "order"), _ol_param(p, "filter")
    limit, offset = ci_get(p, "limit"), php_intval(ci_get(p, "offset") or 0)
    dflt = ctx.opts.openlines_default_limit
    if limit is None:
        limit = dflt
    elif dflt is not None:
        limit = min(php_intval(limit), 200)
    else:
        limit = php_intval(limit)
    table = ctx.world.tables["openline"]
    comp = query.Compiler(table, OL_FILTER_FIELDS, ctx.clock, opts=ctx.opts)
    preds = comp.compile(flt if isinstance(flt, dict) else {})
    ordl = query.parse_order(order if isinstance(order, dict) else None, OL_FILTER_FIELDS)
    page, _, _ = query.run(table, comp, preds, ordl, max(0, offset), limit if limit else 10 ** 9, False)
    names = [str(x).upper() for x in values_of(select)] if select else []
    fields = [f for f in OL_FIELDS if not names or "*" in names or f in names]
    dates_obj = ctx.opts.openlines_dates_as_objects
    queue = str(ci_get(opts_, "QUEUE") or "").upper() == "Y" if isinstance(opts_, dict) else False
    cqueue = str(ci_get(opts_, "CONFIG_QUEUE") or "").upper() == "Y" if isinstance(opts_, dict) else False
    users = ctx.world.tables["user"]
    rows = []
    for pos in page:
        raw = table.raw_at(pos)
        d = {}
        for f in fields:
            v = raw.get(f)
            if f in ("DATE_CREATE", "DATE_MODIFY"):
                v = {} if dates_obj else (ctx.clock.fmt_dt(v) if v else None)
            elif f == "ID":
                v = str(v)
            d[f] = v
        if queue:
            d["QUEUE"] = list(raw["_QUEUE"])
            qf = {}
            for uid in raw["_QUEUE"]:
                u = users.raw(uid) or {}
                qf[str(uid)] = {"USER_NAME": f"{u.get('NAME', '')} {u.get('LAST_NAME', '')}".strip(),
                                "USER_WORK_POSITION": u.get("WORK_POSITION") or None,
                                "USER_AVATAR": u.get("PERSONAL_PHOTO") or "",
                                "USER_AVATAR_ID": 312 + uid if u.get("PERSONAL_PHOTO") else None}
            d["QUEUE_USERS_FIELDS"] = qf
        if cqueue:
            d["CONFIG_QUEUE"] = [{"ENTITY_TYPE": "user", "ENTITY_ID": str(uid)} for uid in raw["_QUEUE"]]
        rows.append(d)
    return Result(rows, rows=len(rows))
