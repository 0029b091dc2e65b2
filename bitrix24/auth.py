"""Which credentials a portal is read with - an inbound webhook or an application's OAuth tokens -
and the client for them.

Self-contained on purpose: anything that names a portal (the source's own arguments, or one entry
of a table of portals) hands its `webhook_url` or its OAuth credentials to `resolve_auth`, and what
comes back to `make_client`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from .client import Bitrix24Client
from .config import KEY, WEBHOOK_FORM, Webhook, parse_webhook_url
from .errors import ConfigurationError
from .oauth import KEY as CREDENTIALS_KEY
from .oauth import Bitrix24OAuthCredentials, OAuthSession, OAuthSettings, parse_credentials

Auth = Union[Webhook, OAuthSettings]


class NotConfigured(ConfigurationError):
    """Neither a webhook URL nor OAuth credentials are configured."""


def _credentials_set(credentials: Any) -> bool:
    if credentials is None:
        return False
    if isinstance(credentials, Mapping):
        return any(credentials.get(k) for k in ("domain", "client_id", "client_secret", "refresh_token", "access_token"))
    is_set = getattr(credentials, "is_set", None)
    return bool(is_set()) if callable(is_set) else True


def resolve_auth(webhook_url: Any = None, credentials: Any = None, key: str = KEY,
                 credentials_key: str = CREDENTIALS_KEY) -> Auth:
    """Exactly one of a webhook URL and OAuth credentials, checked (no request is made)."""
    has_webhook = isinstance(webhook_url, Webhook) or (isinstance(webhook_url, str) and bool(webhook_url.strip()))
    has_oauth = isinstance(credentials, OAuthSettings) or _credentials_set(credentials)
    if has_webhook and has_oauth:
        raise ConfigurationError(
            f"Both {key}.webhook_url and OAuth credentials [{credentials_key}] are configured; configure exactly one"
            " of them (remove the other from .dlt/secrets.toml and the environment)."
        )
    if has_oauth:
        return credentials if isinstance(credentials, OAuthSettings) else parse_credentials(credentials, credentials_key)
    if has_webhook:
        return webhook_url if isinstance(webhook_url, Webhook) else parse_webhook_url(webhook_url)
    raise NotConfigured(
        f"No Bitrix24 credentials are configured: set {key}.webhook_url to an inbound webhook URL ({WEBHOOK_FORM}),"
        f" or an application's OAuth credentials (domain, client_id, client_secret, refresh_token) under"
        f" [{credentials_key}], in .dlt/secrets.toml or environment variables."
    )


def make_client(credentials_or_webhook: Any, *, token_store: Optional[Any] = None, **options: Any) -> Bitrix24Client:
    """A client for one portal: a webhook URL (or `Webhook`), or OAuth credentials (a
    `Bitrix24OAuthCredentials`, a dict of its keys, or `OAuthSettings`). `token_store` (OAuth only):
    where rotated pairs are kept (`tokens.TokenStore`; default a file, see tokens.py). `options`
    go to `Bitrix24Client` (requests_per_second, request_burst, timeouts, ...)."""
    auth = credentials_or_webhook
    if isinstance(auth, (Bitrix24OAuthCredentials, Mapping)):
        auth = parse_credentials(auth)
    if isinstance(auth, OAuthSettings):
        session = OAuthSession(auth, store=token_store, timeout=float(options.get("request_timeout", 60.0)))
        return Bitrix24Client(session, **options)
    if token_store is not None:
        raise ConfigurationError("token_store applies to OAuth credentials only; a webhook needs none.")
    return Bitrix24Client(auth, **options)
