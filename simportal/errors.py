"""API error type (docs/bitrix24-api-notes.md#answer-envelope, docs/bitrix24-api-notes.md#errors)."""
from __future__ import annotations


class ApiError(Exception):
    """A method/auth error: answered as {"error": code, "error_description": desc} with ``status``."""

    def __init__(self, code: str | int, description: str, status: int = 400, extra: dict | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.status = code, description, status
        self.extra = extra or {}

    def body(self) -> dict:
        d = {"error": self.code, "error_description": self.description}
        d.update(self.extra)
        return d


def generic(description: str) -> ApiError:
    """Legacy CRM style error: empty code, 400."""
    return ApiError("", description, 400)
