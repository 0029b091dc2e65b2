"""Methods without a scope: `scope` (the webhook's scopes) and `server.time` (the portal clock)."""
from __future__ import annotations

from .registry import Ctx, method


@method("scope")
def scope(ctx: Ctx, params) -> list:
    return sorted(ctx.hook.scopes)


@method("server.time")
def server_time(ctx: Ctx, params) -> str:
    return ctx.clock.fmt_dt(ctx.portal.epoch())
