"""Method registry, call context and paging helpers shared by the method modules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from .util import php_intval

PAGE = 50


@dataclass
class Result:
    result: Any
    total: Optional[int] = None
    next: Optional[int] = None
    # cost-model inputs
    rows: int = 0
    heavy: bool = False
    counted: int = 0
    offset: int = 0


@dataclass
class Ctx:
    portal: Any
    hook: Any
    method: str
    start: Any = None          # raw top-level ``start`` (removed from params)
    short_page: bool = False   # fault: return a short page

    @property
    def world(self):
        return self.portal.world

    @property
    def clock(self):
        return self.portal.clock

    @property
    def opts(self):
        return self.portal.options


@dataclass
class Method:
    name: str
    fn: Callable
    scopes: Optional[frozenset]   # None = no scope needed
    is_list: bool = False
    batchable: bool = True
    controller: bool = False   # D7 controller: intranet users only (§6.2 allowed_only_intranet_user)


REGISTRY: dict[str, Method] = {}


def method(name, scope=None, is_list=False, batchable=True, controller=False):
    scopes = None if scope is None else frozenset([scope] if isinstance(scope, str) else scope)

    def deco(fn):
        REGISTRY[name] = Method(name, fn, scopes, is_list, batchable, controller)
        return fn
    return deco


def nav(ctx: Ctx, family: str):
    """Paging parameters from ``start`` (spec §3.2-3.4).

    family: legacy | controller | orm.  Returns (offset, count).
    """
    s = php_intval(ctx.start) if ctx.start is not None else 0
    if s == -1:
        return 0, False
    if s < 0:
        s = 0
    if family == "orm":
        return s, True
    return s // PAGE * PAGE, True


def page_result(ctx: Ctx, family: str, rows: list, total, offset: int, count: bool, wrap=None,
                heavy: bool = False, skip: int = 0) -> Result:
    """Build a Result with total/next per family rules (spec §3.3, §3.4).

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


def load_all():
    """Import the method modules so their @method decorators register."""
    from . import m_crm, m_item, m_more, m_other  # noqa: F401
    return REGISTRY
