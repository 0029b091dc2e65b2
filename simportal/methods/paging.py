"""List helpers shared by the method modules: `start` paging per family, the answer's `total`/`next`,
one page of a filtered table, array parameters, and a table adapter for small lists of dicts
(docs/bitrix24-api-notes.md#paging)."""
from __future__ import annotations

from array import array
from typing import Any, Callable, Optional

from .. import query
from ..errors import generic
from ..util import ci_get, php_intval
from .registry import Ctx, Result

PAGE = 50


def nav(ctx: Ctx, family: str) -> tuple[int, bool]:
    """Paging parameters from ``start``: (offset, count).

    family: legacy (offset rounded down to a page) | controller (the same) | orm (the exact offset);
    ``start=-1`` = no count (docs/bitrix24-api-notes.md#paging)."""
    s = php_intval(ctx.start) if ctx.start is not None else 0
    if s == -1:
        return 0, False
    if s < 0:
        s = 0
    if family == "orm":
        return s, True
    return s // PAGE * PAGE, True


def page_result(ctx: Ctx, family: str, rows: list, total: Optional[int], offset: int, count: bool,
                wrap: Optional[str] = None, heavy: bool = False, skip: int = 0) -> Result:
    """A Result with total/next per family rules (docs/bitrix24-api-notes.md#paging).

    ``skip`` feeds the cost model (rows skipped by legacy OFFSET paging)."""
    payload = rows if wrap is None else {wrap: rows}
    if not count:
        if family == "controller":
            t = 0 if ctx.opts.item_list_total_zero else None
        else:
            t = 0
        return Result(payload, total=t, next=None, rows=len(rows), heavy=heavy)
    nxt = offset + len(rows)
    return Result(payload, total=total, next=nxt if nxt < total else None, rows=len(rows),
                  counted=total, heavy=heavy, offset=skip)


def list_page(ctx: Ctx, family: str, table: Any, comp: query.Compiler, preds: list, order: list,
              short: bool = True, **run_kw: Any) -> tuple[list, Optional[int], int, bool]:
    """One page (50 rows) of a filtered, ordered table from ``start``: (positions, total, offset, count).

    ``short``: the `short_page` fault cuts the page (the methods that honour it); ``run_kw`` go to
    `query.run` (``out_of_range_first``, ``cache_key``)."""
    offset, count = nav(ctx, family)
    page, total, offset = query.run(table, comp, preds, order, offset, PAGE, count, **run_kw)
    if short and ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    return page, total, offset, count


def list_slice(ctx: Ctx, family: str, rows: list, short: bool = True) -> tuple[list, int, bool]:
    """One page (50 rows) of a list already filtered and ordered in memory: (rows, offset, count);
    ``short`` as in `list_page`."""
    offset, count = nav(ctx, family)
    page = rows[offset:offset + PAGE]
    if short and ctx.short_page:
        page = page[:ctx.opts.short_page_rows]
    return page, offset, count


def array_param(params: dict, *names: str) -> Any:
    """A parameter that must be an array (legacy CRM lists): None when absent or empty."""
    v = ci_get(params, *names)
    if v is None or v == "":
        return None
    if not isinstance(v, (dict, list)):
        raise generic(f"Parameter '{names[0]}' must be array.")
    return v


class ListTable:
    """Adapter so query.Compiler can filter a small list of dicts."""

    def __init__(self, rows: list) -> None:
        self.rows = rows
        self.ids = array("q", range(len(rows)))

    def getter(self, name: str) -> Callable[[int], Any]:
        rows = self.rows
        return lambda pos: rows[pos].get(name)

    def raw_at(self, pos: int) -> dict:
        return self.rows[pos]
