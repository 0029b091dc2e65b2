"""The method registry: `@method(name, scope, ...)` registers a handler `fn(ctx, params)` under its
Bitrix method name; `Ctx` is what a handler gets, `Result` what a list handler answers.

Imports nothing of the handler modules: they import this one (docs/bitrix24-api-notes.md#methods-and-scopes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional


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
    def world(self) -> Any:
        return self.portal.world

    @property
    def clock(self) -> Any:
        return self.portal.clock

    @property
    def opts(self) -> Any:
        return self.portal.options


Handler = Callable[[Ctx, dict], Any]


@dataclass
class Method:
    name: str
    fn: Handler
    scopes: Optional[frozenset]   # None = no scope needed
    is_list: bool = False
    batchable: bool = True
    # D7 controller: intranet users only (docs/bitrix24-api-notes.md#errors: allowed_only_intranet_user)
    controller: bool = False


REGISTRY: dict[str, Method] = {}


def method(name: str, scope: str | tuple | None = None, is_list: bool = False, batchable: bool = True,
           controller: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated handler as the Bitrix method `name` (lower case: names are case-insensitive)."""
    scopes = None if scope is None else frozenset([scope] if isinstance(scope, str) else scope)

    def deco(fn: Handler) -> Handler:
        REGISTRY[name] = Method(name, fn, scopes, is_list, batchable, controller)
        return fn
    return deco
