"""user.get/user.fields, department.get, voximplant.statistic.get, imopenlines.config.list.get, scope,
server.time (spec §9.14-9.17)."""
from __future__ import annotations

from . import query
from .errors import ApiError
from .methods import Ctx, Result, method, nav, page_result
from .schema import (CALL_FIELDS, DATE, DT, INT, STR, USER_BASIC, USER_BRIEF, USER_FIELDS_TITLES, F)
from .util import ci_get, php_intval, values_of

# ---------------------------------------------------------------- user.get

USER_DATE_FIELDS = {"DATE_REGISTER", "PERSONAL_BIRTHDAY", "UF_EMPLOYMENT_DATE"}
USER_DT_FIELDS = {"LAST_LOGIN"}
USER_OBJ_FIELDS = {"TIMESTAMP_X", "LAST_ACTIVITY_DATE"}
USER_RESERVED = {"sort", "order", "select", "filter", "admin_mode", "image_resize", "start", "auth"}
USER_FILTER_FIELDS = {n: F(n, "string", n, INT if n == "ID" else STR) for n in USER_FIELDS_TITLES}
for _n in USER_DATE_FIELDS:
    USER_FILTER_FIELDS[_n] = F(_n, "date", _n, DATE)
USER_FILTER_FIELDS["LAST_LOGIN"] = F("LAST_LOGIN", "datetime", "LAST_LOGIN", DT)


def _user_allowed(scopes) -> set | None:
    if "user" in scopes:
        return None
    allowed = set()
    if "user_basic" in scopes:
        allowed |= USER_BASIC
    if "user_brief" in scopes:
        allowed |= USER_BRIEF
    return allowed


def _bool_flag(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() in ("y", "true", "1")


def render_user(raw, clock, allowed, select):
    out = {}
    for k in USER_FIELDS_TITLES:
        if k not in raw:
            continue
        if allowed is not None and k not in allowed:
            continue
        if select is not None and k not in select and k != "ID":
            continue
        v = raw[k]
        if v is None:
            continue   # null fields are omitted
        if k in USER_OBJ_FIELDS:
            v = {}
        elif k in USER_DATE_FIELDS:
            v = clock.fmt_date(v) if isinstance(v, int) else v
        elif k in USER_DT_FIELDS:
            v = clock.fmt_dt(v)
        elif k == "ID":
            v = str(v)
        elif k in ("UF_DEPARTMENT", "ACTIVE"):
            pass
        elif isinstance(v, int):
            v = str(v)
        out[k] = v
    return out


@method("user.get", ("user", "user_basic", "user_brief"), is_list=True)
def user_get(ctx: Ctx, params):
    table = ctx.world.tables["user"]
    flt = ci_get(params, "FILTER")
    if not isinstance(flt, dict):
        flt = {k: v for k, v in params.items() if str(k).lower() not in USER_RESERVED}
    flt = dict(flt)
    preds = []
    for k in list(flt):
        neg, _, op, name = query.split_key(k)
        uname = name.upper()
        if uname == "ACTIVE":
            want = _bool_flag(flt.pop(k))
            g = table.getter("ACTIVE")
            preds.append(lambda pos, want=want, neg=neg: (bool(g(pos)) == want) != neg)
        elif uname == "UF_DEPARTMENT":
            vals = {php_intval(x) for x in values_of(flt.pop(k))}
            g = table.getter("UF_DEPARTMENT")
            preds.append(lambda pos, vals=vals, neg=neg: bool(vals & set(g(pos) or [])) != neg)
        elif uname in ("NAME_SEARCH", "FIND"):
            needle = str(flt.pop(k)).casefold()
            preds.append(lambda pos: any(needle in str(table.raw_at(pos).get(f) or "").casefold()
                                         for f in ("NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "WORK_POSITION")))
        elif name != uname:
            flt[k.replace(name, uname)] = flt.pop(k)
    comp = query.Compiler(table, USER_FILTER_FIELDS, ctx.clock, opts=ctx.opts)
    preds += comp.compile(flt)
    sort, order = ci_get(params, "sort"), ci_get(params, "order")
    ordl = []
    if sort and order and str(sort).upper() in USER_FILTER_FIELDS:
        ordl = [(str(sort).upper(), str(order).upper() == "DESC", None)]
    offset, count = nav(ctx, "orm")
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count)
    allowed = _user_allowed(ctx.hook.scopes)
    sel = ci_get(params, "select")
    select = None
    if sel:
        names = {str(x).upper() for x in values_of(sel)}
        if "*" not in names:
            select = names | ({k for k in USER_FIELDS_TITLES if k.startswith("UF_")} if "UF_*" in names else set())
    rows = [render_user(table.raw_at(p), ctx.clock, allowed, select) for p in page]
    if not rows:
        return Result([])      # SRC: setNavData only if there is a result => no total
    return page_result(ctx, "orm", rows, total, offset, count)


@method("user.fields", ("user", "user_basic", "user_brief"))
def user_fields(ctx: Ctx, params):
    allowed = _user_allowed(ctx.hook.scopes)
    return {k: v for k, v in USER_FIELDS_TITLES.items() if allowed is None or k in allowed}


# ---------------------------------------------------------------- department.get

DEPT_FIELDS = {"ID": F("ID", "integer", "ID", INT), "NAME": F("NAME", "string", "NAME"),
               "SORT": F("SORT", "integer", "SORT", INT), "PARENT": F("PARENT", "integer", "PARENT", INT),
               "UF_HEAD": F("UF_HEAD", "integer", "UF_HEAD", INT)}


@method("department.get", "department", is_list=True)
def department_get(ctx: Ctx, params):
    table = ctx.world.tables["department"]
    flt = ci_get(params, "FILTER")
    if not isinstance(flt, dict):
        # top-level filter keys are the upper-case field names (lower-case sort/order are sorting params)
        flt = {k: v for k, v in params.items() if query.split_key(k)[3] in DEPT_FIELDS}
    comp = query.Compiler(table, DEPT_FIELDS, ctx.clock, opts=ctx.opts)
    preds = comp.compile(flt)
    sort = str(params.get("sort", params.get("SORT_BY", "")) or "").upper()
    order = str(params.get("order", "ASC") or "ASC").upper()
    ordl = [(sort, order == "DESC", None)] if sort in DEPT_FIELDS else []
    offset, count = nav(ctx, "legacy")
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count,
                                    out_of_range_first=ctx.opts.out_of_range_first_page)
    rows = []
    for p in page:
        r = table.raw_at(p)
        d = {"ID": str(r["ID"]), "NAME": r["NAME"], "SORT": int(r["SORT"])}
        if r.get("PARENT"):
            d["PARENT"] = str(r["PARENT"])
        if r.get("UF_HEAD"):
            d["UF_HEAD"] = str(r["UF_HEAD"])
        rows.append(d)
    return page_result(ctx, "legacy", rows, total, offset, count, skip=offset)


# ---------------------------------------------------------------- voximplant.statistic.get

CALL_FILTER_FIELDS = {n: F(n, "string", n, INT if n in ("ID", "PORTAL_USER_ID", "CALL_DURATION", "CALL_VOTE",
                                                         "CRM_ENTITY_ID", "CRM_ACTIVITY_ID", "RECORD_FILE_ID",
                                                         "CALL_TYPE", "RECORD_DURATION", "SESSION_ID")
                         else DT if n == "CALL_START_DATE" else STR) for n in CALL_FIELDS}
CALL_OPS = {"", "!", "<", "<=", ">", ">=", "><", "!><", "?", "=", "!=", "%", "!%"}


def render_call(raw, clock):
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
def voximplant_statistic_get(ctx: Ctx, params):
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
    offset, count = nav(ctx, "orm")
    page, total, offset = query.run(table, comp, preds, ordl, offset, 50, count)
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


def _ol_param(p, name):
    v = ci_get(p, name)
    if v is None:
        return None
    if name in ("select", "order", "filter") and not isinstance(v, (dict, list)):
        raise ApiError("INVALID_FORMAT", f"A wrong format for the PARAMS field '{name}' is passed")
    return v


@method("imopenlines.config.list.get", "imopenlines")
def imopenlines_config_list_get(ctx: Ctx, params):
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


# ---------------------------------------------------------------- scope, server.time

@method("scope")
def scope(ctx: Ctx, params):
    return sorted(ctx.hook.scopes)


@method("server.time")
def server_time(ctx: Ctx, params):
    return ctx.clock.fmt_dt(ctx.portal.epoch())
