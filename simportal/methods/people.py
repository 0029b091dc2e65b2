"""Users and departments: user.get/user.fields (scopes user, user_basic, user_brief) and department.get
(docs/bitrix24-api-notes.md#users, docs/bitrix24-api-notes.md#departments)."""
from __future__ import annotations

from typing import Any, Callable

from .. import query
from ..schema import DATE, DT, INT, STR, USER_BASIC, USER_BRIEF, USER_FIELDS_TITLES, F
from ..util import ci_get, php_intval, values_of
from .paging import list_page, page_result
from .registry import Ctx, Result, method

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


def _bool_flag(v) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() in ("y", "true", "1")


def render_user(raw, clock, allowed, select) -> dict:
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
def user_get(ctx: Ctx, params) -> Result:
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
            preds.append(lambda pos, want=want, neg=neg, g=g: (bool(g(pos)) == want) != neg)
        elif uname == "UF_DEPARTMENT":
            vals = {php_intval(x) for x in values_of(flt.pop(k))}
            g = table.getter("UF_DEPARTMENT")
            preds.append(lambda pos, vals=vals, neg=neg, g=g: bool(vals & set(g(pos) or [])) != neg)
        elif uname in ("NAME_SEARCH", "FIND"):
            needle = str(flt.pop(k)).casefold()
            preds.append(lambda pos, needle=needle: any(needle in str(table.raw_at(pos).get(f) or "").casefold()
                                                        for f in ("NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "WORK_POSITION")))
        elif name != uname:
            flt[k.replace(name, uname)] = flt.pop(k)
    comp = query.Compiler(table, USER_FILTER_FIELDS, ctx.clock, opts=ctx.opts)
    preds += comp.compile(flt)
    sort, order = ci_get(params, "sort"), ci_get(params, "order")
    ordl = []
    if sort and order and str(sort).upper() in USER_FILTER_FIELDS:
        ordl = [(str(sort).upper(), str(order).upper() == "DESC", None)]
    page, total, offset, count = list_page(ctx, "orm", table, comp, preds, ordl, short=False)
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
def user_fields(ctx: Ctx, params) -> dict:
    allowed = _user_allowed(ctx.hook.scopes)
    return {k: v for k, v in USER_FIELDS_TITLES.items() if allowed is None or k in allowed}


# ---------------------------------------------------------------- department.get

DEPT_FIELDS = {"ID": F("ID", "integer", "ID", INT), "NAME": F("NAME", "string", "NAME"),
               "SORT": F("SORT", "integer", "SORT", INT), "PARENT": F("PARENT", "integer", "PARENT", INT),
               "UF_HEAD": F("UF_HEAD", "integer", "UF_HEAD", INT)}


DEPT_FILTER_KEYS = ("ID", "NAME", "SORT", "PARENT", "UF_HEAD")   # the only filter keys kept; `>ID` is dropped


def _dept_condition(table: Any, key: str, value: Any) -> Callable[[int], bool]:
    """An exact match of one department field (an array: any of its values), as the intranet module filters."""
    values = list(values_of(value)) if isinstance(value, (list, dict)) else [value]
    get = table.getter(key)
    if key == "NAME":
        wanted = {str(v) for v in values}
        return lambda pos: get(pos) is not None and str(get(pos)) in wanted
    numbers = {php_intval(v) for v in values}
    return lambda pos: get(pos) is not None and int(get(pos)) in numbers


@method("department.get", "department", is_list=True)
def department_get(ctx: Ctx, params: dict) -> Result:
    """department.get: the query is read from `FILTER` when it is an array, else from the top level
    (upper-case field names filter; lower-case `sort`/`order` sort) - docs/bitrix24-api-notes.md#departments."""
    table = ctx.world.tables["department"]
    flt = ci_get(params, "FILTER")
    query_params = flt if isinstance(flt, dict) else params
    preds = [_dept_condition(table, k, v) for k, v in query_params.items() if k in DEPT_FILTER_KEYS]
    comp = query.Compiler(table, DEPT_FIELDS, ctx.clock, opts=ctx.opts)
    comp.compile({})
    sort = str(query_params.get("sort", query_params.get("SORT_BY", "")) or "").upper()
    order = str(query_params.get("order", "ASC") or "ASC").upper()
    ordl = [(sort, order == "DESC", None)] if sort in DEPT_FIELDS else []
    page, total, offset, count = list_page(ctx, "legacy", table, comp, preds, ordl, short=False,
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
