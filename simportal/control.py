"""Control routes for a portal running in another process (benchmarks, demos).

Off unless ``SimPortal.enable_control()`` (or ``python -m simportal --control``) set a token; then
``/_sim/<token>/<command>`` answers JSON (GET or POST with a JSON body). The webhook routes and the
Bitrix behaviour are unchanged; control requests are not counted, logged or rate limited.

| command | body / query | answer |
|---|---|---|
| ``info`` | – | size, seed, webhook URL, portal clock, rows per entity (``counts``), visible (non-recurring) deals, histogram of comments per visible deal |
| ``stats`` | – | ``stats.snapshot()``: HTTP requests per top-level method, commands and operating seconds per method |
| ``requests`` | ``?since=N&clear=1`` | the compact request log from index N: ``[timestamp, http_status, method, [[cmd_method, seconds], ...]]`` |
| ``reset`` | – | clears stats, logs, the leaky bucket and the operating-time windows |
| ``options`` | ``{"name": value, ...}`` | sets options (``rate_limit`` as ``[drain, burst]`` or null); answers the JSON-able options |
| ``clock`` | ``{"advance": seconds}`` | moves the portal clock (``clock_skew``) forward |
| ``oauth_app`` | ``{"scopes": [...]}`` (optional) | installs a local application (``add_oauth_app``): ``domain``, ``client_id``, ``client_secret``, ``access_token``, ``refresh_token``, ``oauth_server``; the access tokens' lifetime is the option ``oauth_token_lifetime`` (seconds) |
| ``oauth_events`` | – | refreshes, refused refreshes, uses, expired and invalid tokens: ``{kind: count}`` |
| ``touch`` | ``{"fraction": 0.01, "entities": ["deal", ...], "salt": "x"}`` | edits every 1/fraction-th row of each entity (``update``: bumps its modify key to now); answers the ids |
"""
from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs, urlsplit

TOUCH_FIELDS = {"deal": "TITLE", "contact": "NAME", "company": "TITLE", "lead": "TITLE",
                "activity": "SUBJECT", "product": "NAME"}


class _Reply:
    def __init__(self, status: int, data) -> None:
        self.status = status
        self.body = json.dumps(data, separators=(",", ":"), default=str).encode()
        self.ctype = "application/json; charset=utf-8"
        self.headers = {}


def handle_control(portal, h, path: str, body: bytes) -> _Reply:
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[1] != portal.control_token:
        return _Reply(404, {"error": "unknown control route"})
    command = parts[2]
    query = {k: v[-1] for k, v in parse_qs(urlsplit(h.path).query).items()}
    try:
        data = json.loads(body.decode()) if body else {}
    except ValueError:
        return _Reply(400, {"error": "body must be JSON"})
    fn = COMMANDS.get(command)
    if fn is None:
        return _Reply(404, {"error": f"unknown control command {command!r}", "commands": sorted(COMMANDS)})
    try:
        return _Reply(200, fn(portal, data or {}, query))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return _Reply(400, {"error": f"{type(exc).__name__}: {exc}"})


def _info(portal, data, query) -> dict:
    w = portal.world
    deals = w.tables["deal"]
    rec = deals.cols["IS_RECURRING"]
    yes = rec.code("Y")
    visible = [deals.ids[p] for p in range(len(deals.ids)) if rec.a[p] != yes]
    hist: Counter = Counter()
    for deal_id in visible:
        ip = w.init_pos("deal", deal_id)
        hist[(w.deal_ncom[ip] if ip is not None else 0) + len(w.extra_comments.get(deal_id, ()))
             - len(w.comment_deletes.get(deal_id, ()))] += 1
    return {
        "size": portal.size, "seed": portal.seed, "webhook_url": portal.webhook_url,
        "now": portal.now().isoformat(),
        "counts": {e: len(t.ids) for e, t in w.tables.items() if hasattr(t, "ids")},
        "visible_deals": len(visible),
        "deal_comment_hist": {str(k): v for k, v in sorted(hist.items())},
    }


def _stats(portal, data, query) -> dict:
    return portal.stats.snapshot()


def _requests(portal, data, query) -> dict:
    since = int(query.get("since", data.get("since", 0)))
    out = [[r.timestamp, r.http_status, r.method, r.costs] for r in portal.requests[since:]]
    if str(query.get("clear", data.get("clear", ""))) in ("1", "true", "True"):
        del portal.requests[:]
    return out


def _reset(portal, data, query) -> dict:
    portal.stats.reset()
    del portal.log[:]
    del portal.requests[:]
    portal.rate.reset()
    portal.oplimit.reset()
    return {"ok": True}


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def _options(portal, data, query) -> dict:
    for name, value in data.items():
        if name == "cost_model":
            raise ValueError("cost_model cannot be set over the control route")
        if name == "rate_limit" and value is not None:
            value = (float(value[0]), float(value[1]))
        setattr(portal.options, name, value)
    return {k: v for k, v in portal.options.as_dict().items() if _jsonable(v)}


def _clock(portal, data, query) -> dict:
    portal.options.clock_skew = float(portal.options.clock_skew) + float(data.get("advance", 0))
    return {"clock_skew": portal.options.clock_skew, "now": portal.now().isoformat()}


def _touch(portal, data, query) -> dict:
    fraction = float(data.get("fraction", 0.01))
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    step = max(1, round(1 / fraction))
    salt = str(data.get("salt", "touched"))
    touched = {}
    for entity in data.get("entities", list(TOUCH_FIELDS)):
        table = portal.world.tables[entity]
        ids = [int(i) for i in table.ids]
        chosen = ids[step // 2::step]
        for row_id in chosen:
            portal.update(entity, row_id, **{TOUCH_FIELDS[entity]: f"{salt} {entity} {row_id}"})
        touched[entity] = chosen
    return {"touched": touched, "now": portal.now().isoformat()}


def _oauth_app(portal, data, query) -> dict:
    return portal.add_oauth_app(data.get("scopes"))


def _oauth_events(portal, data, query) -> dict:
    with portal.oauth.lock:
        return dict(Counter(e.kind for e in portal.oauth.events))


COMMANDS = {"oauth_app": _oauth_app, "oauth_events": _oauth_events, "info": _info, "stats": _stats, "requests": _requests, "reset": _reset, "options": _options,
            "clock": _clock, "touch": _touch}
