"""``SimPortal``: the public Python API of the simulated Bitrix24 portal."""
from __future__ import annotations

import datetime
import random
import string
import threading
import time
from typing import Any, Optional

from . import refdata
from .data import World
from .limits import Faults, LogRecord, OperatingLimiter, RateLimiter, RequestRecord, Stats, default_cost
from .methods import REGISTRY, Ctx, Result
from .methods.items import spa_std
from .oauth import OAuthServer
from .schema import DATE, DEFAULT_FULL_SELECT, DT, FLOAT2, FULL_SELECT, INT, MF, UF, Field, legacy_fields
from .util import ALL_SCOPES, Clock, Webhook

LEGACY = ("contact", "company", "deal", "lead", "activity", "product", "quote")


class Options:
    """Run-time switches (all mutable while the server runs).  Unknown names raise AttributeError."""
    DEFAULTS = dict(
        rate_limit=(2.0, 50),            # (drain per s, burst) leaky bucket per client IP, or None (docs/bitrix24-api-notes.md#limits)
        operating_limit=480.0,           # s per (webhook, method) per 10 buckets, or None = off (docs/bitrix24-api-notes.md#limits)
        operating_bucket_seconds=60.0,   # bucket length; window = 10 buckets
        cost_model=default_cost,         # fn(method, rows, heavy, counted_rows, offset) -> simulated seconds
        cost_sleep_scale=0.0,            # really sleep cost*scale seconds per command (benchmarks)
        clock_skew=0.0,                  # portal clock = real UTC time + skew seconds
        strict_https=False,              # True: every webhook call -> INVALID_REQUEST "Https required."
        auth_error_status=401,           # 401 (SRC/PYSDK) or 403 (DOCS) for auth/scope errors (docs/bitrix24-api-notes.md#errors)
        stagehistory_ints=True,          # crm.stagehistory.list ints (current) or strings (2022-23) (docs/bitrix24-api-notes.md#stage-history)
        item_list_total_zero=False,      # controllers with start=-1: omit total (SRC) or send total: 0 (DOCS)
        out_of_range_first_page=True,    # legacy lists: start beyond total -> first page again (docs/bitrix24-api-notes.md#paging)
        timeline_entity_id_int=False,    # crm.timeline.comment.list ENTITY_ID as int (SRC) or string (DOCS)
        comment_touches_deal=False,      # add_comment bumps the deal's DATE_MODIFY: False (never) or
                                         # "other_author" (author != ASSIGNED_BY_ID); edits/deletes never
        portal_deleted=False,            # True (403) or an int status: PORTAL_DELETED (docs/bitrix24-api-notes.md#errors)
        overload_block=False,            # True (401 SRC / 503 in DOCS mode) or int status: OVERLOAD_LIMIT
        no_subscription=False,           # ACCESS_DENIED "REST is available only by subscription."
        moved_to=None,                   # "host[:port]": answer 302 with Location on the new host
        slow_seconds=3.0,                # delay of the "slow" fault
        short_page_rows=17,              # rows returned by the "short_page" fault
        empty_multiple_uf_false=False,   # empty multiple UF as false instead of [] (docs/bitrix24-api-notes.md#field-metadata-and-values)
        bad_date_filter="nothing",       # unparseable date in a legacy filter: "nothing" matches / "ignore"
        openlines_default_limit=50,      # imopenlines PARAMS.limit default (DOCS 50/max 200); None = SRC no limit
        openlines_dates_as_objects=True,  # DATE_CREATE/DATE_MODIFY as {} (raw ORM DateTime) vs ISO (docs/bitrix24-api-notes.md#telephony-and-open-lines)
        php_escapes=True,                # escape / < > & ' like Bitrix Json::encode
        raw_unicode=True,                # non-ASCII as raw UTF-8 (Bitrix); False = \uXXXX (faster encoding)
        time_as_int=False,               # time.start/finish/processing as ints (newer portals, docs/bitrix24-api-notes.md#answer-envelope)
        embedded_refs=True,              # batch: substitute a $result[...] embedded in a longer string (docs/bitrix24-api-notes.md#result-reference-substitution)
        guard_5xx=False,                 # True (500) or an int status: a batch with a zero-prefixed
                                         # $result bound (`=0$result[`) answers that status with an HTML page
        id_filter_text="cast",           # text that is no number in an ID comparison: "cast" (intval -> 0),
                                         # "ignore" (condition dropped) or "error" (INVALID_ARG_VALUE)
        productrow_array="ok",           # crm.item.productrow.list with an array =ownerId: "ok" (rows of those
                                         # owners), "ignored" (the array dropped: rows of every deal) or
                                         # "refused" (INVALID_ARG_VALUE) (docs/bitrix24-api-notes.md#crmitemproductrowlist-owner-arrays; the docs disagree)
        productrow_nonadmin_array="denied",  # the array's read check falls on one id: a non-admin webhook gets
                                         # ACCESS_DENIED ("denied") or passes ("ok")
        log_enabled=True,                # keep p.log records
        request_log_enabled=True,        # keep p.requests (compact: per-command method + cost)
        smart_invoices=True,             # crm.item.list/.fields entityTypeId 31; False: NOT_FOUND (a portal
                                         # still on the old invoices)
        oauth_token_lifetime=3600.0,     # s of portal time an OAuth access token lives (docs: one hour)
    )

    def __init__(self, **kw) -> None:
        for k, v in self.DEFAULTS.items():
            object.__setattr__(self, k, v)
        for k, v in kw.items():
            setattr(self, k, v)

    def __setattr__(self, k, v) -> None:
        if k not in self.DEFAULTS:
            raise AttributeError(f"unknown SimPortal option {k!r}")
        if k == "rate_limit" and v is not None:
            v = (float(v[0]), float(v[1]))
        object.__setattr__(self, k, v)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.DEFAULTS}

    def __repr__(self) -> str:
        return f"Options({self.as_dict()!r})"


class SimPortal:
    """A loopback fake of a Bitrix24 cloud portal.

    >>> with SimPortal(size=1000, seed=42, rate_limit=None) as p:
    ...     url = p.webhook_url          # http://127.0.0.1:PORT/rest/1/<code>/
    """

    def __init__(self, size: int = 1000, seed: int = 42, rate_limit=(2.0, 50), operating_limit=480.0,
                 tz_offset: str = "+03:00", anchor=None, host: str = "127.0.0.1", port: int = 0, **options) -> None:
        self.seed, self.size = seed, size
        self.clock = Clock(tz_offset)
        self.options = Options(rate_limit=rate_limit, operating_limit=operating_limit, **options)
        if anchor is not None and not isinstance(anchor, (int, float)):
            anchor = self.clock.to_epoch(anchor)
        self.world = World(size, seed, self.clock, anchor)
        self.stats = Stats()
        self.log: list = []
        self.requests: list = []          # RequestRecord per HTTP request (see request_log_enabled)
        self.control_token: Optional[str] = None   # set => /_sim/<token>/... control routes (see control.py)
        self.faults = Faults()
        self.hooks: list = []
        self.rate = RateLimiter()
        self.oplimit = OperatingLimiter()
        self.lock = threading.RLock()
        self.webhooks: dict = {}
        self._code_rng = random.Random(seed * 7919 + 17)
        self.host, self.port = host, port
        self._server = None
        self._thread = None
        self.default_webhook = self._new_hook(None, 1, True, True, None)
        self.member_id = "%032x" % self._code_rng.getrandbits(128)
        self.oauth = OAuthServer(self)   # /oauth/token/ and REST calls with auth= (see oauth.py)

    # ------------------------------------------------------------------ server lifecycle
    def start(self) -> str:
        from .server import Server
        if self._server is None:
            self._server = Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="simportal", daemon=True)
            self._thread.start()
        return self.webhook_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimPortal:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.hook_url(self.default_webhook)

    @property
    def domain(self) -> str:
        """The portal's address as an application's OAuth settings name it (here host:port, on loopback)."""
        return f"{self.host}:{self.port}"

    def add_oauth_app(self, scopes=None, **kw) -> dict:
        """Install a local application: its client_id and client_secret and a first token pair, plus
        the domain and the OAuth server URL (this server) a connector needs."""
        app = self.oauth.add_app(scopes, **kw)
        access, refresh = self.oauth.install(app)
        return {"domain": self.domain, "client_id": app.client_id, "client_secret": app.client_secret,
                "access_token": access, "refresh_token": refresh, "oauth_server": self.base_url}

    def hook_url(self, hook: Webhook) -> str:
        return f"{self.base_url}/rest/{hook.user_id}/{hook.code}/"

    # ------------------------------------------------------------------ webhooks
    def _new_hook(self, scopes, user_id, crm_admin, active, code, call_stats=True, expires_at=None) -> Webhook:
        if code is None:
            alphabet = string.ascii_lowercase + string.digits
            code = "".join(self._code_rng.choice(alphabet) for _ in range(16))
        sc = frozenset(ALL_SCOPES if scopes is None else scopes)
        if expires_at is not None and not isinstance(expires_at, (int, float)):
            expires_at = self.clock.to_epoch(expires_at)
        hook = Webhook(int(user_id), code, sc, crm_admin, active, call_stats, expires_at)
        self.webhooks[(hook.user_id, code)] = hook
        return hook

    def add_webhook(self, scopes=None, user_id=1, crm_admin=True, active=True, code=None, call_stats=True,
                    expires_at=None) -> str:
        """Register another webhook; returns its URL (valid after start()).

        scopes None = all scopes; crm_admin False => crm.type.list ACCESS_DENIED; call_stats False =>
        voximplant.statistic.get 403; a user_id of an extranet user => controller methods 403."""
        return self.hook_url(self._new_hook(scopes, user_id, crm_admin, active, code, call_stats, expires_at))

    def webhook(self, url: str) -> Webhook:
        """The Webhook object behind a URL returned by add_webhook() (to flip .active, .scopes...)."""
        parts = url.rstrip("/").split("/")
        return self.webhooks[(int(parts[-2]), parts[-1])]

    def auth_status(self, code: str) -> int:
        if self.options.auth_error_status == 403:
            return {"INVALID_REQUEST": 400, "NO_AUTH_FOUND": 401}.get(code, 403)
        return int(self.options.auth_error_status)

    # ------------------------------------------------------------------ clock, log
    def epoch(self) -> float:
        return time.time() + float(self.options.clock_skew)

    def now(self) -> datetime.datetime:
        """Portal clock as an aware datetime in the portal offset."""
        return self.clock.to_datetime(self.epoch())

    def record(self, ts, status, method, commands, op) -> None:
        if self.options.log_enabled:
            self.log.append(LogRecord(ts, status, method, list(commands), op))
        if self.options.request_log_enabled:
            self.requests.append(RequestRecord(ts, status, method, tuple(getattr(commands, "costs", ()))))

    def enable_control(self, token: Optional[str] = None) -> str:
        """Serve the control routes ``/_sim/<token>/...`` (see ``simportal/control.py``); returns their base URL."""
        if token is None:
            token = "".join(random.SystemRandom().choice(string.ascii_lowercase + string.digits) for _ in range(20))
        self.control_token = token
        return self.control_url

    @property
    def control_url(self) -> Optional[str]:
        return f"{self.base_url}/_sim/{self.control_token}/" if self.control_token else None

    # ------------------------------------------------------------------ internal calls (ground truth)
    def _call(self, method: str, params: dict, start=None) -> Result:
        hook = Webhook(0, "internal", frozenset(ALL_SCOPES), True, True, True)
        ctx = Ctx(self, hook, method, start)
        with self.lock:
            res = REGISTRY[method].fn(ctx, params)
        return res if isinstance(res, Result) else Result(res)

    def _keyset(self, method, params, id_key="ID", wrap=None, filter_key="filter", filter_id=None) -> list:
        out, last = [], 0
        while True:
            p = dict(params)
            p[filter_key] = {**params.get(filter_key, {}), f">{filter_id or id_key}": last}
            res = self._call(method, p, -1).result
            rows = res[wrap] if wrap else res
            out.extend(rows)
            if len(rows) < 50:
                return out
            last = int(rows[-1][id_key])

    def ground_truth(self, entity: str, **params) -> list:
        """Rows exactly as the list method returns them on the wire with the fullest select."""
        e = entity.lower()
        if e in LEGACY:
            p = {"select": FULL_SELECT.get(e, DEFAULT_FULL_SELECT), "order": {"ID": "ASC"}, **params}
            return self._keyset(f"crm.{e}.list", p)
        if e == "status":
            return self._call("crm.status.list", params).result
        if e in ("user", "department"):
            m = "user.get" if e == "user" else "department.get"
            out, start = [], 0
            while True:
                res = self._call(m, {"sort": "ID", "order": "ASC", **params}, start)
                out.extend(res.result)
                if res.next is None:
                    return out
                start = res.next
        if e == "call":
            return self._keyset("voximplant.statistic.get", {"SORT": "ID", "ORDER": "ASC", **params},
                                filter_key="FILTER")
        if e == "openline":
            out, offset = [], 0
            while True:
                p = {**params, "PARAMS": {"order": {"ID": "ASC"}, **params.get("PARAMS", {}), "limit": 50,
                                          "offset": offset}}
                rows = self._call("imopenlines.config.list.get", p).result
                out.extend(rows)
                if len(rows) < 50:
                    return out
                offset += 50
        if e in ("deal_stage_history", "lead_stage_history"):
            etid = 2 if e.startswith("deal") else 1
            return self._keyset("crm.stagehistory.list", {"entityTypeId": etid, "order": {"ID": "ASC"}, **params},
                                wrap="items")
        if e == "spa_types":
            return self._call("crm.type.list", params).result["types"]
        if e in ("requisite", "productsection"):
            return self._keyset(f"crm.{e}.list", {"select": ["*", "UF_*"], "order": {"ID": "ASC"}, **params})
        if e in ("address", "currency"):
            out, start = [], 0
            while True:
                res = self._call(f"crm.{e}.list", params, start)
                out.extend(res.result)
                if res.next is None:
                    return out
                start = res.next
        if e == "task":
            return self._keyset("tasks.task.list", {"select": ["*", "UF_*"], "order": {"ID": "ASC"}, **params},
                                id_key="id", wrap="tasks", filter_id="ID")
        kind, _, arg = e.partition(":")
        if kind == "spa":
            return self._keyset("crm.item.list", {"entityTypeId": int(arg), "select": ["*"],
                                                  "order": {"id": "ASC"}, **params}, id_key="id", wrap="items")
        if kind == "deal_productrows":
            return self._call("crm.deal.productrows.get", {"id": int(arg)}).result
        if kind == "deal_contacts":
            return self._call("crm.deal.contact.items.get", {"id": int(arg)}).result
        if kind == "deal_comments":
            out, start = [], 0
            while True:
                res = self._call("crm.timeline.comment.list", {"filter": {"ENTITY_ID": int(arg),
                                                                          "ENTITY_TYPE": "deal"},
                                                               "order": {"ID": "ASC"}, **params}, start)
                out.extend(res.result)
                if res.next is None:
                    return out
                start = res.next
        raise KeyError(f"unknown ground-truth entity {entity!r}")

    # ------------------------------------------------------------------ mutations
    def _table_key(self, entity: str) -> tuple:
        e = entity.lower()
        if e.startswith("spa:"):
            return f"spa{int(e[4:])}", e
        if e in LEGACY or e in ("user", "department", "call", "openline", "task"):
            return e, e
        raise KeyError(f"entity {entity!r} cannot be edited")

    def _fields(self, key) -> Optional[dict]:
        if key in LEGACY:
            return {f.code: f for f in legacy_fields(self.world, key)}
        if key.startswith("spa"):
            etid = int(key[3:])
            return {f.code: f for f in spa_std(etid) + self.world.ufs[key]}
        return None

    def _convert(self, f, v) -> Any:
        c = self.clock
        if v is None or f is None:
            return v
        k = f.kind
        if k == DT or (k == UF and f.uf_type == "datetime"):
            return c.to_epoch(v)
        if k == DATE or (k == UF and f.uf_type == "date"):
            return c.to_day(v)
        if k == INT:
            return [int(x) for x in v] if f.multiple else int(v)
        if k == FLOAT2:
            return float(v)
        if k == MF:
            out = []
            for i, x in enumerate(v):
                if isinstance(x, dict):
                    out.append((str(x.get("ID", 9_000_000 + i)), x.get("VALUE_TYPE", "WORK"), x.get("VALUE", ""),
                                f.code))
                else:
                    out.append((str(9_000_000 + i), "WORK", str(x), f.code))
            return out
        if k == UF:
            t = f.uf_type
            if t == "boolean":
                return 1 if v in (True, 1, "1", "Y", "y") else 0
            if t in ("integer", "enumeration", "employee", "iblock_element"):
                return [int(x) for x in v] if f.multiple else int(v)
            if t == "double":
                return float(v)
        return v

    def _prepare(self, key, changes: dict) -> dict:
        fields = self._fields(key)
        out = {}
        for name, v in changes.items():
            if fields is not None:
                f = fields.get(name)
                if f is None:
                    raise KeyError(f"{key} has no field {name!r}")
                v = self._convert(f, v)
            elif name in ("TIMESTAMP_X", "DATE_MODIFY", "CALL_START_DATE", "LAST_LOGIN") and v is not None:
                v = self.clock.to_epoch(v)
            elif name in ("DATE_REGISTER", "PERSONAL_BIRTHDAY") and v not in (None, ""):
                v = self.clock.to_day(v)
            out[name] = v
        return out

    def _stage_effects(self, key, table, id_, out, now, created=False) -> None:
        """Stage changes: semantic flags, MOVED_TIME and a stage-history row."""
        w = self.world
        if key == "deal" and "STAGE_ID" in out:
            cat, sem, idx, _ = w.stage_info(out["STAGE_ID"])
            out.setdefault("CATEGORY_ID", cat)
            out.update(STAGE_SEMANTIC_ID=sem, CLOSED="N" if sem == "P" else "Y", IS_NEW="Y" if idx == 0 else "N",
                       MOVED_TIME=now)
            w.add_history("deal", id_, out["STAGE_ID"], 1 if created else (2 if sem == "P" else 3), now)
        elif key == "lead" and "STATUS_ID" in out:
            sem = w._lead_sem[out["STATUS_ID"]]
            out.update(STATUS_SEMANTIC_ID=sem, MOVED_TIME=now)
            if sem != "P":
                out["DATE_CLOSED"] = now
            w.add_history("lead", id_, out["STATUS_ID"], 1 if created else (2 if sem == "P" else 3), now)
        elif key.startswith("spa") and "stageId" in out:
            cat, sem, idx, _ = w.stage_info(out["stageId"])
            out.update(stageSemanticId=sem, movedTime=now, categoryId=cat)
            w.add_history(key, id_, out["stageId"], 1 if created else (2 if sem == "P" else 3), now)

    def update(self, entity: str, id_: int, **changes) -> None:
        """Edit a row; bumps its modify key (DATE_MODIFY / LAST_UPDATED / TIMESTAMP_X / updatedTime) to now()."""
        key, _ = self._table_key(entity)
        with self.lock:
            t = self.world.tables[key]
            if t.pos(id_) is None:
                raise KeyError(f"{entity} {id_} not found")
            now = int(self.epoch())
            out = self._prepare(key, changes)
            self._stage_effects(key, t, int(id_), out, now)
            for mf, flag in (("PHONE", "HAS_PHONE"), ("EMAIL", "HAS_EMAIL")):
                if mf in out and key in ("contact", "company", "lead"):
                    out.setdefault(flag, "Y" if out[mf] else "N")
            if t.modify_key and t.modify_key not in changes:
                out[t.modify_key] = now
            t.set_fields(int(id_), out)

    def create(self, entity: str, **fields) -> int:
        """Insert a row with the next id; DATE_CREATE/DATE_MODIFY (or equivalents) = now()."""
        key, _ = self._table_key(entity)
        with self.lock:
            t = self.world.tables[key]
            new_id = max(t.max_id(), self.world.init_ids.get(key, [0])[-1] if self.world.init_ids.get(key) else 0) + 1
            now = int(self.epoch())
            out = self._prepare(key, fields)
            defaults = {"deal": {"CATEGORY_ID": 0, "STAGE_ID": "NEW", "IS_RECURRING": "N"},
                        "lead": {"STATUS_ID": "NEW"},
                        "activity": {"OWNER_TYPE_ID": 3, "OWNER_ID": self.world.init_ids["contact"][0],
                                     "START_TIME": now},
                        "product": {"SORT": 100}}.get(key, {})
            if key.startswith("spa"):
                etid = int(key[3:])
                cat0, spec = next(iter(refdata.SPA_TYPES[etid]["categories"].items()))
                defaults = {"categoryId": cat0, "stageId": spec[3][0][0]}
            if key == "deal" and "STAGE_ID" not in out and "CATEGORY_ID" in out and out["CATEGORY_ID"]:
                out["STAGE_ID"] = refdata.DEAL_PIPELINES[out["CATEGORY_ID"]][3][0][0]
            for k, v in defaults.items():
                out.setdefault(k, v)
            for k in (t.create_key, t.modify_key):
                if k:
                    out.setdefault(k, now)
            if key in ("deal", "lead") or key.startswith("spa"):
                self._stage_effects(key, t, new_id, out, now, created=True)
            colvals = {k: out[k] for k in t.cols if k in out}
            rest = {k: v for k, v in out.items() if k not in t.cols}
            t.append_row(new_id, colvals, rest)
            return new_id

    def delete(self, entity: str, id_: int) -> None:
        key, _ = self._table_key(entity)
        with self.lock:
            self.world.tables[key].delete(int(id_))

    def _bump_deal(self, deal_id, touch) -> None:
        t = self.world.tables["deal"]
        if t.pos(deal_id) is None:
            raise KeyError(f"deal {deal_id} not found")
        if touch:
            t.set_fields(int(deal_id), {"DATE_MODIFY": int(self.epoch())})
        else:
            t.touch()

    def set_product_rows(self, deal_id: int, rows: list, touch: bool = False) -> None:
        """Replace a deal's product rows (dicts as crm.deal.productrows.get returns them; missing keys get
        defaults, missing/None ID gets a new id).  OPPORTUNITY follows the rows.  DATE_MODIFY is bumped only
        with touch=True (whether crm.deal.productrows.set bumps it on a real portal is unconfirmed; use
        update() to model "the deal changed too")."""
        with self.lock:
            w = self.world
            out = []
            for k, r in enumerate(rows):
                r = dict(r)
                if r.get("ID") in (None, "", 0):
                    r["ID"] = w.next_row_id
                    w.next_row_id += 1
                r["ID"] = int(r["ID"])
                price = float(r.get("PRICE", 0.0))
                name = r.get("PRODUCT_NAME", f"Row {k + 1}")
                base = {"OWNER_ID": int(deal_id), "OWNER_TYPE": "D", "PRODUCT_ID": 0, "PRODUCT_NAME": name,
                        "ORIGINAL_PRODUCT_NAME": name, "PRODUCT_DESCRIPTION": None, "PRICE": price,
                        "PRICE_EXCLUSIVE": price, "PRICE_NETTO": price, "PRICE_BRUTTO": price,
                        "PRICE_ACCOUNT": f"{price:.2f}", "QUANTITY": 1, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 0,
                        "DISCOUNT_SUM": 0.0, "TAX_RATE": None, "TAX_INCLUDED": "N", "CUSTOMIZED": "Y",
                        "MEASURE_CODE": 796, "MEASURE_NAME": "pcs", "SORT": 10 * (k + 1), "XML_ID": None,
                        "TYPE": 1, "STORE_ID": 0, "RESERVE_ID": None, "DATE_RESERVE_END": None,
                        "RESERVE_QUANTITY": None}
                base.update(r)
                base["OWNER_ID"] = int(deal_id)
                out.append(base)
            w.rows_override[int(deal_id)] = out
            self._bump_deal(deal_id, touch)

    def set_deal_contacts(self, deal_id: int, contact_ids: list, touch: bool = False) -> None:
        """Replace a deal's contact bindings (first = primary); also changes the deal's CONTACT_ID."""
        with self.lock:
            self.world.contacts_override[int(deal_id)] = [
                (int(c), 100 * (k + 1), 0, "Y" if k == 0 else "N") for k, c in enumerate(contact_ids)]
            self._bump_deal(deal_id, touch)

    def add_comment(self, deal_id: int, comment: str = "New comment", author_id: int = 1, files: bool = False,
                    created=None) -> int:
        """Add a timeline comment to a deal.  The deal's DATE_MODIFY stays as it was unless
        `options.comment_touches_deal` is "other_author" and the author is not the deal's ASSIGNED_BY_ID
        (the crm module then touches the deal, asynchronously on a real portal; here at once)."""
        with self.lock:
            w = self.world
            if w.tables["deal"].pos(deal_id) is None:
                raise KeyError(f"deal {deal_id} not found")
            cid = w.next_comment_id
            w.next_comment_id += 1
            when = int(self.epoch()) if created is None else self.clock.to_epoch(created)
            row = {"ID": cid, "ENTITY_ID": int(deal_id), "ENTITY_TYPE": "deal", "CREATED": when,
                   "COMMENT": comment, "AUTHOR_ID": int(author_id)}
            if files:
                fid = 300_000 + cid
                row["FILES"] = {str(fid): {"id": fid, "date": when, "type": "file", "name": f"file_{cid}.pdf",
                                           "size": 1234, "image": None, "authorId": int(author_id),
                                           "authorName": "", "urlPreview": "", "urlShow": "", "urlDownload": ""}}
            w.extra_comments.setdefault(int(deal_id), []).append(row)
            if self.options.comment_touches_deal == "other_author":
                t = w.tables["deal"]
                if int(t.raw(int(deal_id)).get("ASSIGNED_BY_ID") or 0) != int(author_id):
                    t.set_fields(int(deal_id), {"DATE_MODIFY": int(self.epoch())})
            return cid

    def update_comment(self, comment_id: int, comment: str) -> int:
        """Change a comment's text (crm.timeline.comment.update); never touches the deal. Returns the deal id."""
        with self.lock:
            deal_id = self._comment_deal(comment_id)
            self.world.comment_edits[int(comment_id)] = comment
            return deal_id

    def delete_comment(self, comment_id: int) -> int:
        """Delete a comment (crm.timeline.comment.delete); never touches the deal. Returns the deal id."""
        with self.lock:
            deal_id = self._comment_deal(comment_id)
            self.world.comment_deletes.setdefault(deal_id, set()).add(int(comment_id))
            return deal_id

    def _comment_deal(self, comment_id: int) -> int:
        deal_id = self.world.comment_owner(int(comment_id))
        if deal_id is None or self.world.tables["deal"].pos(deal_id) is None:
            raise KeyError(f"comment {comment_id} not found")
        return int(deal_id)

    def add_user_field(self, entity: str, code: str, uf_type: str, multiple=False, label=None, items=None,
                       value_fn=None) -> Field:
        """Add a UF (legacy entities: UF_CRM_*; SPAs 'spa:128': ufCrm1_*) visible in *.fields and rows."""
        key, _ = self._table_key(entity)
        if key not in ("deal", "contact", "company", "lead") and not key.startswith("spa"):
            raise KeyError(f"{entity} has no user fields")
        with self.lock:
            f = self.world.add_user_field(key, code, uf_type, multiple, label, items, None)
            if value_fn is not None:
                f.value_fn = lambda id_, fn=value_fn, f=f: self._convert(f, fn(id_))
            if key.startswith("spa"):
                f.upper = "UF_" + code[2:].replace("Crm", "CRM_").upper() if code.startswith("uf") else code
                f.title = label or code
            self.world.tables[key].touch()
            return f
