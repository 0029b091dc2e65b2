"""OAuth 2.0 for local/market applications, as the official docs describe it (`settings/oauth`).

The authorization server of the docs (`https://oauth.bitrix.info/oauth/token/`) is served on the
portal's own HTTP server under ``/oauth/token/`` (GET with a query string, or POST with a form or
JSON body), so a connector pointed at ``portal.base_url`` as its OAuth server talks to loopback.

* ``grant_type=refresh_token`` with ``client_id``, ``client_secret``, ``refresh_token`` answers a new
  pair: ``access_token``, ``refresh_token``, ``expires_in``, ``expires``, ``client_endpoint``,
  ``server_endpoint``, ``domain``, ``member_id``, ``scope``, ``status``, ``user_id``.
* Refresh tokens are single use: the one presented stops working once a new pair is issued; using it
  again (or an unknown one, or one of another application) answers ``invalid_grant``.
* Error codes of the docs (`settings/oauth/error-codes.md`): ``invalid_request`` (no or unknown
  grant_type, a missing parameter), ``invalid_client`` (unknown client_id, wrong secret, application
  removed from the portal), ``invalid_grant``; ``PAYMENT_REQUIRED`` when the application's paid period
  is over (``App.paid = False``). The status is 400 (401 for ``invalid_client``), as RFC 6749 section 5.2
  (https://www.rfc-editor.org/rfc/rfc6749#section-5.2).
* Access tokens live ``options.oauth_token_lifetime`` seconds of portal time (``epoch()``, so
  ``clock_skew`` expires them without waiting). A REST call ``/rest/METHOD`` with ``auth=TOKEN``
  (query, form or JSON body; batch too) answers 401 ``expired_token`` for an expired token and 401
  ``invalid_token`` for an unknown or revoked one.

Every issue and use is recorded in ``OAuthServer.events`` for tests, and ``listeners`` (callables
``fn(event, info)``) are called for each ("refresh", "use", "expired", "invalid", "refused").
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .errors import ApiError
from .util import ALL_SCOPES, Webhook  # what a valid access token stands for: the shape the REST code reads

TOKEN_ROUTE = "/oauth/token"


@dataclass
class App:
    """A local application installed on the portal."""

    client_id: str
    client_secret: str
    scopes: frozenset
    user_id: int = 1
    installed: bool = True
    paid: bool = True


@dataclass
class Grant:
    """One issued pair."""

    client_id: str
    access_token: str
    refresh_token: str
    expires_at: float
    issued_at: float
    refresh_live: bool = True   # False once used for a refresh, or revoked
    access_live: bool = True    # False once revoked
    replaced: Optional[str] = None  # the refresh token this pair was issued for


@dataclass
class Event:
    kind: str
    at: float
    token: str  # the token presented (the access token of a REST call, the refresh token of a refresh)
    issued: Optional[str] = None  # a refresh: the new refresh token
    expired_access: Optional[bool] = None  # a refresh: whether the access token it replaced had expired
    thread: Optional[str] = None


class OAuthServer:
    """Applications, token pairs and their log, for one portal."""

    def __init__(self, portal) -> None:
        self.portal = portal
        self.lock = threading.RLock()
        self.apps: Dict[str, App] = {}
        self.by_access: Dict[str, Grant] = {}
        self.by_refresh: Dict[str, Grant] = {}
        self.events: List[Event] = []
        self.listeners: List[Callable[[str, dict], None]] = []

    # ---------------------------------------------------------------- setup (the "install")
    def add_app(self, scopes=None, client_id: Optional[str] = None, client_secret: Optional[str] = None,
                user_id: int = 1) -> App:
        app = App(client_id or f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}",
                  client_secret or secrets.token_urlsafe(36), frozenset(ALL_SCOPES if scopes is None else scopes),
                  int(user_id))
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def install(self, app: App) -> Tuple[str, str]:
        """The first pair (what the install or the authorization-code step hands over): (access, refresh)."""
        with self.lock:
            grant = self._issue(app, None)
        return grant.access_token, grant.refresh_token

    def revoke(self, refresh_token: str) -> None:
        """The refresh token (and its access token) stop working: invalid_grant / invalid_token."""
        with self.lock:
            grant = self.by_refresh[refresh_token]
            grant.refresh_live = grant.access_live = False

    def uninstall(self, client_id: str) -> None:
        """The application is removed from the portal: every token of it stops working."""
        with self.lock:
            self.apps[client_id].installed = False
            for grant in self.by_refresh.values():
                if grant.client_id == client_id:
                    grant.refresh_live = grant.access_live = False

    # ---------------------------------------------------------------- for tests
    def of_kind(self, kind: str) -> List[Event]:
        with self.lock:
            return [e for e in self.events if e.kind == kind]

    def presented(self, refresh_token: str) -> int:
        """How many refresh requests presented this refresh token (accepted or not)."""
        return sum(1 for e in self.events if e.kind in ("refresh", "refused") and e.token == refresh_token)

    # ---------------------------------------------------------------- token endpoint
    def token_endpoint(self, params: dict) -> dict:
        grant_type = str(params.get("grant_type") or "")
        if grant_type != "refresh_token":
            raise _oauth_error("invalid_request", "Invalid grant_type" if grant_type else "grant_type is required")
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not params.get(k)]
        if missing:
            raise _oauth_error("invalid_request", f"{missing[0]} is required")
        with self.lock:
            try:
                return self._refresh(str(params["client_id"]), str(params["client_secret"]),
                                     str(params["refresh_token"]))
            except ApiError:
                self._record(Event("refused", self.portal.epoch(), str(params["refresh_token"]),
                                   thread=threading.current_thread().name))
                raise

    def _refresh(self, client_id: str, client_secret: str, refresh_token: str) -> dict:
        app = self.apps.get(client_id)
        if app is None or not app.installed or not secrets.compare_digest(app.client_secret, client_secret):
            raise _oauth_error("invalid_client", "Invalid client", 401)
        old = self.by_refresh.get(refresh_token)
        if old is None or old.client_id != client_id or not old.refresh_live:
            raise _oauth_error("invalid_grant", "Invalid grant")
        if not app.paid:
            raise _oauth_error("PAYMENT_REQUIRED", "Payment required")
        now = self.portal.epoch()
        old.refresh_live = False  # single use: the old refresh token is spent
        new = self._issue(app, refresh_token)
        self._record(Event("refresh", now, refresh_token, issued=new.refresh_token,
                           expired_access=now >= old.expires_at, thread=threading.current_thread().name))
        return self._answer(app, new)

    def _issue(self, app: App, replaced: Optional[str]) -> Grant:
        now = self.portal.epoch()
        lifetime = float(self.portal.options.oauth_token_lifetime)
        grant = Grant(app.client_id, secrets.token_hex(36), secrets.token_hex(36), now + lifetime, now,
                      replaced=replaced)
        self.by_access[grant.access_token] = grant
        self.by_refresh[grant.refresh_token] = grant
        return grant

    def _answer(self, app: App, grant: Grant) -> dict:
        base = self.portal.base_url
        return {"access_token": grant.access_token, "expires": int(grant.expires_at),
                "expires_in": int(round(grant.expires_at - grant.issued_at)), "scope": ",".join(sorted(app.scopes)),
                "domain": f"{self.portal.host}:{self.portal.port}", "server_endpoint": f"{base}/rest/",
                "status": "L", "client_endpoint": f"{base}/rest/", "member_id": self.portal.member_id,
                "user_id": app.user_id, "refresh_token": grant.refresh_token}

    # ---------------------------------------------------------------- REST calls with auth=
    def authenticate(self, token: str) -> Webhook:
        """The hook behind an access token, or ApiError expired_token / invalid_token (401).
        Listeners run outside the lock (a test may hold an answer back)."""
        now = self.portal.epoch()
        with self.lock:
            grant = self.by_access.get(token)
            app = self.apps.get(grant.client_id) if grant else None
            if grant is None or app is None or not grant.access_live or not app.installed:
                kind = "invalid"
            else:
                kind = "expired" if now >= grant.expires_at else "use"
        self._record(Event(kind, now, token, thread=threading.current_thread().name))
        if kind == "invalid":
            raise ApiError("invalid_token", "The access token provided is invalid.", 401)
        if kind == "expired":
            raise ApiError("expired_token", "The access token provided has expired.", 401)
        return Webhook(app.user_id, f"app:{app.client_id}", app.scopes)

    def _record(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)
        for fn in list(self.listeners):
            fn(event.kind, {"token": event.token, "issued": event.issued})


def _oauth_error(code: str, description: str, status: int = 400) -> ApiError:
    return ApiError(code, description, status)

