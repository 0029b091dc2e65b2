"""Exceptions raised by the Bitrix24 source.

Every message says what happened and what to do about it, and never contains the webhook code, a token or
the client secret.
"""

from __future__ import annotations


class Bitrix24Error(Exception):
    """Base class of every error this source raises on purpose."""


class ConfigurationError(Bitrix24Error):
    """A configuration value is missing or malformed. Raised before any request is made."""


class AuthError(Bitrix24Error):
    """The portal rejected the webhook (wrong code, deleted webhook, blocked or deleted portal)."""


class OAuthError(AuthError):
    """An OAuth refresh failed for good (refused by the OAuth server, or the token store cannot be
    written). No stream can go on without a token, so this stops the whole run (`stops_run`)."""

    stops_run = True


class ScopeError(Bitrix24Error):
    """The webhook lacks the scope (permission group) a method needs."""

    def __init__(self, message: str, scope: str | None = None, method: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.method = method


class MethodNotFoundError(Bitrix24Error):
    """The portal does not know the method (a typo, or the module is switched off on the portal)."""

    def __init__(self, message: str, method: str | None = None) -> None:
        super().__init__(message)
        self.method = method


class ApiError(Bitrix24Error):
    """Bitrix answered with an error that retrying will not fix."""

    def __init__(self, message: str, code: str = "", description: str = "", method: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.description = description
        self.method = method


class RetryBudgetExceeded(Bitrix24Error):
    """Transient failures went on for longer than `max_retry_seconds`.

    Nothing already loaded is lost: incremental state only advances with loaded rows, so the next
    run resumes where this one stopped.
    """
