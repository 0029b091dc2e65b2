"""OAuth 2.0 credentials of a Bitrix24 application, and the session that keeps its tokens fresh.

Per the official docs (`settings/oauth` in bitrix24/b24restdocs): REST calls go to
`https://DOMAIN/rest/METHOD` with `auth=ACCESS_TOKEN`; an access token lives an hour, and the portal
then answers 401 `expired_token`; `GET https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token
&client_id=…&client_secret=…&refresh_token=…` answers a new pair, and the old refresh token stops
working (refresh tokens live 180 days). Errors of that endpoint: `invalid_request`, `invalid_client`,
`invalid_grant`, `invalid_scope`, `PAYMENT_REQUIRED`.

`OAuthSession` is what the client signs its requests with:

* one lock: a refresh is done by one thread; the others wait for it and then use the new token (a
  thread whose rejected token is older than the current one retries at once, without refreshing);
* every new pair is saved to the token store (`tokens.py`) *before* it is used, so a run killed right
  after a refresh leaves the new refresh token behind for the next run;
* on start, a pair in the store that descends from the configured refresh token wins over it (that
  token was spent by the refresh that produced the stored pair); a configured refresh token the store
  has never seen (the application was authorized again) wins over the store;
* a refresh the OAuth server refuses stops the run with one line naming the key to fix.

No token and no client secret is ever logged: the client's redaction filter learns each of them
before any request that carries it is sent.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import requests as _requests
from dlt.common import json
from dlt.common.configuration import configspec
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.requests import Session

from .config import _is_loopback
from .errors import ConfigurationError, OAuthError
from .tokens import FileTokenStore, default_store_path, store_lock

logger = logging.getLogger("bitrix24")

KEY = "sources.bitrix24.credentials"
DEFAULT_SERVER = "https://oauth.bitrix.info"  # the authorization server the docs name
REQUIRED = ("domain", "client_id", "client_secret", "refresh_token")
REFRESH_ATTEMPTS = 4  # network errors, 5xx or garbage from the OAuth server: tried this often
REFRESH_BACKOFF = 1.0  # s before the second attempt, doubling


@configspec
class Bitrix24OAuthCredentials(CredentialsConfiguration):
    """A Bitrix24 application's OAuth credentials, `[sources.bitrix24.credentials]`.

    `domain` is the portal (`acme.bitrix24.com`), `client_id` / `client_secret` the application's
    codes (its card on the portal, or the partner area), `refresh_token` the token the application's
    authorization handed over; `access_token` (optional) a current one; `oauth_server` the
    authorization server (regional ones exist); `token_store_path` where rotated pairs are kept.
    """

    domain: Optional[str] = None
    client_id: Optional[str] = None
    client_secret: Optional[TSecretStrValue] = None
    refresh_token: Optional[TSecretStrValue] = None
    access_token: Optional[TSecretStrValue] = None
    oauth_server: Optional[str] = DEFAULT_SERVER
    token_store_path: Optional[str] = None

    def is_set(self) -> bool:
        """Whether any credential is configured at all (dlt builds an empty one otherwise)."""
        return any(getattr(self, name) for name in REQUIRED + ("access_token",))

    def __str__(self) -> str:
        return f"Bitrix24 application {self.client_id or '?'} on {self.domain or '?'}"

    __repr__ = __str__


@dataclass(frozen=True)
class OAuthSettings:
    """Checked OAuth credentials. `repr` hides the secret and the tokens."""

    domain: str  # host[:port]
    base_url: str  # https://DOMAIN/rest/
    client_id: str
    client_secret: str
    refresh_token: str
    access_token: Optional[str]
    token_url: str  # <oauth_server>/oauth/token/
    store_path: Optional[str] = None
    key: str = KEY  # where these credentials are configured (error messages name its keys)

    def __repr__(self) -> str:
        return f"OAuthSettings(domain={self.domain!r}, client_id={self.client_id!r}, secrets=***)"

    def env(self, field: str) -> str:
        """The environment variable of one key, e.g. SOURCES__BITRIX24__CREDENTIALS__REFRESH_TOKEN."""
        return f"{self.key}.{field}".upper().replace(".", "__")


def _values(credentials: Any) -> Dict[str, Any]:
    if isinstance(credentials, Mapping):
        return dict(credentials)
    return {name: getattr(credentials, name, None) for name in Bitrix24OAuthCredentials.__annotations__}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_credentials(credentials: Any, key: str = KEY) -> OAuthSettings:
    """Check OAuth credentials (a `Bitrix24OAuthCredentials` or a dict) before any request."""
    values = _values(credentials)
    missing = [name for name in REQUIRED if not _text(values.get(name))]
    if missing:
        env = f"{key}.{missing[0]}".upper().replace(".", "__")
        also = f" (also missing: {', '.join(missing[1:])})" if missing[1:] else ""
        raise ConfigurationError(
            f"{key}.{missing[0]} is not set{also}. OAuth credentials need the portal's domain, the application's"
            f" client_id and client_secret and a refresh_token: put them under [{key}] in .dlt/secrets.toml or in"
            f" environment variables such as {env}."
        )
    domain, base_url = parse_address(values["domain"], f"{key}.domain", path_ok=("", "/", "/rest", "/rest/"))
    server = _text(values.get("oauth_server")) or DEFAULT_SERVER
    netloc, server_url = parse_address(server, f"{key}.oauth_server", path_ok=None)
    token_url = server_url if server_url.rstrip("/").endswith("/oauth/token") else server_url.rstrip("/") + "/oauth/token/"
    return OAuthSettings(domain=domain, base_url=base_url, client_id=_text(values["client_id"]),
                         client_secret=_text(values["client_secret"]), refresh_token=_text(values["refresh_token"]),
                         access_token=_text(values.get("access_token")) or None, token_url=token_url,
                         store_path=_text(values.get("token_store_path")) or None, key=key)


def parse_address(value: Any, key: str, path_ok: Optional[Tuple[str, ...]]) -> Tuple[str, str]:
    """`acme.bitrix24.com` or `https://acme.bitrix24.com/` -> (netloc, base URL). `path_ok` None: any
    path is kept (an OAuth server URL); plain http only on loopback."""
    text = _text(value)
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if not host or " " in text or parts.query or parts.fragment or parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"{key} {text!r} is not a host name or https:// URL such as acme.bitrix24.com.")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(f"{key} uses plain http:// for {host}; Bitrix24 only answers over https://.")
    if path_ok is not None and parts.path not in path_ok:
        raise ConfigurationError(f"{key} must be the portal's address only, such as acme.bitrix24.com; got a path"
                                 f" {parts.path!r}.")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if path_ok is None:
        return netloc, f"{parts.scheme}://{netloc}{parts.path}"
    return netloc, f"{parts.scheme}://{netloc}/rest/"


def digest(token: str) -> str:
    """A one-way fingerprint of a refresh token (the store remembers which one its chain started from)."""
    return hashlib.sha256(token.encode()).hexdigest()


def starting_pair(settings: OAuthSettings, stored: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The stored pair when it descends from the configured refresh token, else the configured one."""
    seed = digest(settings.refresh_token)
    if (isinstance(stored, dict) and stored.get("client_id") == settings.client_id
            and stored.get("domain") == settings.domain and isinstance(stored.get("refresh_token"), str)
            and seed in (stored.get("seed"), digest(stored["refresh_token"]))):
        logger.info("Bitrix24 OAuth: using the token pair saved %s (the configured refresh token was spent by"
                    " the refresh that produced it)", stored.get("saved_at") or "earlier")
        return dict(stored)
    return {"domain": settings.domain, "client_id": settings.client_id, "access_token": settings.access_token,
            "refresh_token": settings.refresh_token, "expires_at": None, "seed": seed}


def new_pair(old: Dict[str, Any], answer: Mapping[str, Any]) -> Dict[str, Any]:
    """The pair to store from a token answer (keeps the chain's seed)."""
    expires_in = answer.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) else None
    return {**old, "access_token": str(answer["access_token"]), "refresh_token": str(answer["refresh_token"]),
            "expires_at": time.time() + lifetime if lifetime is not None else None,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _needs_refresh(pair: Mapping[str, Any]) -> bool:
    """No access token yet, or one known to have expired (else the portal's 401 says so)."""
    expires_at = pair.get("expires_at")
    return not pair.get("access_token") or (isinstance(expires_at, (int, float)) and time.time() >= expires_at)


FIXES = {
    "invalid_grant": ("refresh_token", "the OAuth server refused the refresh token (invalid_grant): it was used"
                      " already, is older than 180 days, or the application was reinstalled or removed"),
    "invalid_client": ("client_secret", "the OAuth server refused the application (invalid_client): client_id or"
                       " client_secret is wrong, or the application is no longer installed on the portal"),
    "expired_token": ("refresh_token", "the refresh token has expired (expired_token)"),
    "PAYMENT_REQUIRED": ("client_id", "the application's paid or trial period is over (PAYMENT_REQUIRED)"),
}


def refresh_error(settings: OAuthSettings, code: str, store: str) -> OAuthError:
    """The one-line error of a refused refresh, naming the key to fix."""
    field, why = FIXES.get(code, ("refresh_token", f"the OAuth server refused the refresh ({code})"))
    fix = (f" authorize the application again and put its new refresh token in {settings.key}.{field} (or"
           f" {settings.env(field)}); the pair saved in {store} is replaced by the next refresh")
    if field != "refresh_token":
        fix = f" fix {settings.key}.{field} (or {settings.env(field)})"
    return OAuthError(f"Bitrix24 OAuth for {settings.domain}: {why}. To go on,{fix}.")


def request_tokens(settings: OAuthSettings, refresh_token: str, timeout: float, store: str,
                   sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """One refresh (retried on network errors, 5xx and garbage): the OAuth server's answer."""
    params = {"grant_type": "refresh_token", "client_id": settings.client_id,
              "client_secret": settings.client_secret, "refresh_token": refresh_token}
    why = ""
    for attempt in range(REFRESH_ATTEMPTS):
        if attempt:
            sleep(REFRESH_BACKOFF * 2 ** (attempt - 1))
        status, body, why = _get_token(settings.token_url, params, timeout)
        if isinstance(body, dict) and body.get("access_token") and body.get("refresh_token"):
            return body
        if isinstance(body, dict) and body.get("error"):
            raise refresh_error(settings, str(body["error"]), store)
        if status is not None and status < 500 and status != 429:
            break
    raise OAuthError(
        f"Bitrix24 OAuth for {settings.domain}: the OAuth server {urlsplit(settings.token_url).netloc} gave no token"
        f" answer ({why}). Check {settings.key}.oauth_server (default {DEFAULT_SERVER}) and the network, then run again."
    )


def _get_token(url: str, params: Dict[str, str], timeout: float) -> Tuple[Optional[int], Any, str]:
    """(status, parsed body, what went wrong); never an exception that could carry the URL."""
    try:
        resp = Session(timeout=timeout, raise_for_status=False).get(url, params=params, timeout=timeout)
    except _requests.RequestException as exc:
        return None, None, f"no answer: {type(exc).__name__}"
    try:
        body = json.loadb(resp.content) if resp.content else None
    except Exception:
        body = None
    return resp.status_code, body, f"HTTP {resp.status_code} without a token answer"


class OAuthSession:
    """One application install on one portal: the current pair, refreshed by one thread at a time.

    The client calls `sign(params)` for every attempt (the params with `auth`, and the pair's
    generation) and `renew(generation)` when the portal answers `expired_token` / `invalid_token`.
    """

    uses_tokens = True
    kind = "application"

    def __init__(self, settings: OAuthSettings, store: Any = None, timeout: float = 60.0) -> None:
        self.settings = settings
        self.store = store if store is not None else FileTokenStore(
            settings.store_path or default_store_path(settings.domain, settings.client_id))
        self.host = (urlsplit(settings.base_url).hostname or settings.domain).lower()
        self.base_url = settings.base_url
        self.url_key = f"{settings.key}.domain"
        self.timeout = timeout
        self.generation = 0  # +1 with every new pair
        self.refreshes = 0  # refreshes this session made (not pairs taken over from the store)
        self.reused = 0  # rejections answered by a pair another thread had renewed meanwhile
        self._lock = threading.Lock()
        self._sinks: List[Callable[[str], None]] = []
        self._failure: Optional[OAuthError] = None
        self._store_checked = False
        self._pair = starting_pair(settings, self.store.load())

    def __repr__(self) -> str:
        return f"OAuthSession(domain={self.settings.domain!r}, client_id={self.settings.client_id!r}, tokens=***)"

    @property
    def redacted(self) -> str:
        return self.base_url

    @property
    def store_name(self) -> str:
        return getattr(self.store, "path", None) or type(self.store).__name__

    def watch(self, sink: Callable[[str], None]) -> None:
        """`sink(secret)` for the client secret and every token, now and whenever a new one arrives."""
        self._sinks.append(sink)
        self._tell(self.settings.client_secret, self.settings.refresh_token, self.settings.access_token,
                   self._pair.get("access_token"), self._pair.get("refresh_token"))

    def _tell(self, *secrets: Optional[str]) -> None:
        for secret in filter(None, secrets):
            for sink in self._sinks:
                sink(secret)

    def sign(self, params: Dict[str, Any]) -> Tuple[Dict[str, Any], int]:
        """`params` with the current access token (refreshed first when there is none yet)."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if _needs_refresh(self._pair):
                self._refresh()
            return {**params, "auth": self._pair["access_token"]}, self.generation

    def renew(self, generation: int) -> None:
        """The portal rejected the token of `generation`: refresh, unless a newer pair came meanwhile."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if generation == self.generation:
                self._refresh()
            else:
                self.reused += 1

    def _refresh(self) -> None:
        """Under the lock: take a pair another process saved meanwhile, or refresh, save, then use."""
        try:
            with store_lock(self.store):
                if self._take_stored():
                    return
                self._check_store()
                answer = request_tokens(self.settings, self._pair["refresh_token"], self.timeout, self.store_name)
                pair = new_pair(self._pair, answer)
                self._tell(pair["access_token"], pair["refresh_token"])
                self._save(pair, "the refresh token it replaced is spent: authorize the application again and put"
                           f" the new refresh token in {self.settings.key}.refresh_token")
                self._use(pair)
                self.refreshes += 1
        except OAuthError as exc:
            self._failure = exc
            raise

    def _take_stored(self) -> bool:
        """Another process (or client) of the same chain refreshed meanwhile: use its pair."""
        stored = self.store.load()
        if (isinstance(stored, dict) and stored.get("seed") == self._pair.get("seed")
                and stored.get("refresh_token") and stored.get("refresh_token") != self._pair.get("refresh_token")):
            self._tell(stored.get("access_token"), stored.get("refresh_token"))
            self._use(dict(stored))
            return True
        return False

    def _check_store(self) -> None:
        """Before the first refresh spends a refresh token: prove the store takes a write."""
        if not self._store_checked:
            self._save(self._pair, f"nothing was spent; set {self.settings.key}.token_store_path to a writable file")
            self._store_checked = True

    def _save(self, pair: Dict[str, Any], consequence: str) -> None:
        try:
            self.store.save(pair)
        except Exception as exc:  # the message never quotes a custom store's exception: it could hold a token
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise OAuthError(f"Bitrix24 OAuth for {self.settings.domain}: the token store {self.store_name} could not"
                             f" be written ({detail}); {consequence}.") from None

    def _use(self, pair: Dict[str, Any]) -> None:
        self._pair = pair
        self.generation += 1
