"""Validation of the source's configuration.

Each check runs before any request and raises `ConfigurationError` naming the key
(`sources.bitrix24.<key>`) and the form expected. No message ever echoes the webhook code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import pendulum

from .errors import ConfigurationError

KEY = "sources.bitrix24"
WEBHOOK_FORM = "https://<portal>.bitrix24.<tld>/rest/<user id>/<webhook code>/"
_PATH_RE = re.compile(r"^/rest/(\d+)/([A-Za-z0-9_]+)/?$")
SYNC_TYPES = ("incremental", "full_table")


@dataclass(frozen=True)
class Webhook:
    """A parsed inbound webhook. `repr` hides the code."""

    base_url: str  # always ends with "/"
    host: str
    user_id: int
    code: str

    uses_tokens = False  # the code is in the URL; an OAuth session (oauth.py) signs each request instead
    kind = "webhook"
    url_key = f"{KEY}.webhook_url"

    def __repr__(self) -> str:
        return f"Webhook(host={self.host!r}, user_id={self.user_id}, code=***)"

    def watch(self, sink: Any) -> None:
        """`sink(secret)` for the secret of this endpoint (the client's log redaction)."""
        sink(self.code)

    def sign(self, params: Dict[str, Any]) -> Tuple[Dict[str, Any], int]:
        """The request's params as they are: the URL carries the credentials."""
        return params, 0

    @property
    def redacted(self) -> str:
        return self.base_url.replace(self.code, "***")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _path_hint(path: str) -> str:
    """What is probably wrong with a webhook URL's path (never echoing it: it holds the code)."""
    if re.search(r"\s|%20", path):
        return " It contains a space: copy the URL again exactly as Bitrix24 shows it."
    if re.search(r"/rest/[^/]+/[^/]+/[a-z]+\.[a-z.]+", path):
        return " It looks like a method name was left at the end: remove it."
    if re.match(r"^/rest/\d+/?$", path):  # /rest/1/: a user id and nothing after it
        return " The webhook code after the user id is missing: copy the whole URL Bitrix24 shows."
    if re.match(r"^/rest/[A-Za-z0-9_]+/?$", path):
        return " The user id segment is missing."
    return ""


def parse_webhook_url(url: Any) -> Webhook:
    """Parse and check an inbound webhook URL (`https://PORTAL/rest/USER_ID/CODE/`)."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(
            f"{KEY}.webhook_url is not set. Create an inbound webhook in Bitrix24 (Developer resources"
            f" > Other > Inbound webhook) and put its URL, of the form {WEBHOOK_FORM}, in"
            " .dlt/secrets.toml under [sources.bitrix24] or in the environment variable"
            " SOURCES__BITRIX24__WEBHOOK_URL."
        )
    url = url.strip()
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(
            f"{KEY}.webhook_url is not a URL of the form {WEBHOOK_FORM} (it has no https:// scheme"
            " or no host)."
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"{KEY}.webhook_url uses plain http:// for {host}; Bitrix24 webhooks only work over"
            " https://. Use the URL exactly as Bitrix24 shows it, starting with https://."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"{KEY}.webhook_url must not carry a query string or fragment; expected {WEBHOOK_FORM}."
        )
    match = _PATH_RE.match(parts.path)
    if not match:
        raise ConfigurationError(
            f"{KEY}.webhook_url for host {host} does not have the path /rest/<user id>/<webhook code>/"
            f" (expected {WEBHOOK_FORM}).{_path_hint(parts.path)}"
        )
    user_id, code = int(match.group(1)), match.group(2)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    base = f"{parts.scheme}://{netloc}/rest/{user_id}/{code}/"
    return Webhook(base_url=base, host=host, user_id=user_id, code=code)


def check_number(name: str, value: Any, lo: float, hi: float, integer: bool = False) -> float:
    """A number in (lo, hi]; `lo` is exclusive so zero and negatives are refused."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, str):
        try:
            value = float(value) if not integer else int(value)
            ok = True
        except ValueError:
            ok = False
    if ok and integer and float(value) != int(value):
        ok = False
    if not ok or not (lo < float(value) <= hi):
        kind = "a whole number" if integer else "a number"
        raise ConfigurationError(
            f"{KEY}.{name} must be {kind} greater than {lo:g} and at most {hi:g}; got {value!r}."
        )
    return int(value) if integer else float(value)


def check_category_ids(value: Any) -> List[int]:
    """`deal_category_ids`: a list of pipeline ids (0 is the default pipeline); empty = all."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(
            f"{KEY}.deal_category_ids must be a list of pipeline ids such as [0, 3]; got {value!r}."
        )
    ids = []
    for item in value:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if not isinstance(item, int) or isinstance(item, bool) or item < 0:
            raise ConfigurationError(
                f"{KEY}.deal_category_ids must contain whole numbers >= 0 (pipeline ids; 0 is the"
                f" default pipeline); got {item!r}."
            )
        ids.append(item)
    return sorted(set(ids))


def _parse_date(key: str, value: Any) -> pendulum.DateTime:
    """An ISO date or datetime (or a datetime object); a naive value is read as UTC."""
    if isinstance(value, datetime):
        return pendulum.instance(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    try:
        parsed = pendulum.parse(str(value), tz="UTC")
    except Exception:
        raise ConfigurationError(
            f"{KEY}.{key} {value!r} is not a date; use ISO 8601 such as 2024-01-01 or"
            " 2024-01-01T00:00:00+03:00."
        ) from None
    if isinstance(parsed, pendulum.DateTime):
        return parsed
    if isinstance(parsed, pendulum.Date):
        return pendulum.datetime(parsed.year, parsed.month, parsed.day, tz="UTC")
    raise ConfigurationError(f"{KEY}.{key} {value!r} is not a date; use ISO 8601 such as 2024-01-01.")


def check_start_date(value: Any, now: Optional[datetime] = None) -> Optional[pendulum.DateTime]:
    """`start_date`: an ISO date or datetime in the past; a naive value is read as UTC."""
    if value is None or value == "":
        return None
    parsed = _parse_date("start_date", value)
    if parsed > (now or pendulum.now("UTC")):
        raise ConfigurationError(
            f"{KEY}.start_date {value!r} is in the future, so nothing would ever be loaded; use a"
            " past date, or leave it unset to load everything."
        )
    return parsed


def check_end_date(value: Any, start: Optional[datetime]) -> Optional[pendulum.DateTime]:
    """`end_date`: the (excluded) upper end of a bounded window [start_date, end_date); an ISO date
    or datetime after `start_date`, which it needs; a naive value is read as UTC."""
    if value is None or value == "":
        return None
    parsed = _parse_date("end_date", value)
    if start is None:
        raise ConfigurationError(
            f"{KEY}.end_date {value!r} needs start_date too: together they bound one window"
            " [start_date, end_date). Set start_date (e.g. 2000-01-01 for everything before end_date),"
            " or leave end_date unset."
        )
    if parsed <= start:
        raise ConfigurationError(
            f"{KEY}.end_date {value!r} is not after start_date ({start.isoformat()}), so the window"
            " [start_date, end_date) would be empty; use a later end_date."
        )
    return parsed


def check_sync_types(
    value: Any, incremental_capable: Iterable[str], known: Iterable[str]
) -> Dict[str, str]:
    """`sync_types`: {stream: "incremental" | "full_table"}."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{KEY}.sync_types must be a table such as {{deals = \"full_table\"}}; got {value!r}."
        )
    capable, known = set(incremental_capable), set(known)
    out = {}
    for stream, kind in value.items():
        if stream not in known:
            raise ConfigurationError(
                f"{KEY}.sync_types names an unknown stream {stream!r}; known streams:"
                f" {', '.join(sorted(known))}."
            )
        if kind not in SYNC_TYPES:
            raise ConfigurationError(
                f"{KEY}.sync_types.{stream} must be \"incremental\" or \"full_table\"; got {kind!r}."
            )
        if kind == "incremental" and stream not in capable:
            raise ConfigurationError(
                f"{KEY}.sync_types.{stream} cannot be \"incremental\": the stream has no"
                " replication key. Use \"full_table\" or remove the entry."
            )
        out[stream] = kind
    return out


def check_streams(value: Optional[Sequence[str]], known: Iterable[str]) -> Optional[List[str]]:
    """Explicitly selected streams; None = all available."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",") if s.strip()]
    if not value:
        raise ConfigurationError(
            f"{KEY}.streams is an empty list, so nothing would be loaded; name at least one stream, or"
            " remove the key to load every stream."
        )
    known = set(known)
    unknown = [s for s in value if s not in known]
    if unknown:
        raise ConfigurationError(
            f"Unknown stream(s) {', '.join(map(repr, unknown))}; known streams:"
            f" {', '.join(sorted(known))}."
        )
    return list(value)


def check_detect_deletes(value: Any) -> Optional[str]:
    """"delete" removes rows gone from the portal, "mark" flags them; off by default."""
    if value is True:
        return "delete"
    return _choice("detect_deletes", value, ("delete", "mark"), None, ("off", "none", False))


def check_deal_products_method(value: Any) -> str:
    """"auto" reads product rows in bulk where the portal proves it right; "per_deal" never tries."""
    return _choice("deal_products_method", value, ("auto", "per_deal"), "auto")


def _choice(key: str, value: Any, choices: Tuple[str, ...], default: Any, unset: Tuple[Any, ...] = ()) -> Any:
    """One of `choices`; None, "" (and `unset`) give `default`."""
    if value in (None, "") + unset:
        return default
    if value not in choices:
        words = [f'"{c}"' for c in choices] + (["unset"] if default is None else [])
        named = ", ".join(words[:-1]) + " or " + words[-1]
        raise ConfigurationError(f"sources.bitrix24.{key} must be {named}; got {value!r}.")
    return value


def check_refresh_runs(value: Any) -> int:
    """`deal_comments_refresh_runs`: every deal's comments are re-read within this many incremental
    runs (a whole number >= 1); 0 or None switches the sweep off."""
    if value is None or (value == 0 and not isinstance(value, bool)) or value == "0":
        return 0
    try:
        return int(check_number("deal_comments_refresh_runs", value, 0, 100_000, integer=True))
    except ConfigurationError:
        raise ConfigurationError(
            f"{KEY}.deal_comments_refresh_runs must be a whole number from 1 to 100000 (every deal's comments"
            f" are re-read within that many incremental runs), or 0 to switch the sweep off; got {value!r}."
        ) from None


def check_spa_ids(value: Any) -> Optional[List[int]]:
    if value is None:
        return None
    if isinstance(value, (int, str)):
        value = [value]
    try:
        ids = sorted({int(v) for v in value})
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"sources.bitrix24.spa_entity_type_ids must be a list of SPA entityTypeIds such as [128, 1032];"
            f" got {value!r}."
        ) from None
    if any(i <= 0 for i in ids):
        raise ConfigurationError("sources.bitrix24.spa_entity_type_ids must hold positive whole numbers.")
    return ids
