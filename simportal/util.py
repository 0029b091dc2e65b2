"""PHP-flavoured helpers: parse_str, truthiness, array serialisation, JSON, dates.

Everything here mimics what the Bitrix PHP runtime does on the wire (docs/bitrix24-api-notes.md#request-parsing, docs/bitrix24-api-notes.md#answer-encoding, docs/bitrix24-api-notes.md#dates).
"""
from __future__ import annotations

import datetime as _dt
import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import unquote_plus

# ---------------------------------------------------------------- parse_str

_SEG_RE = re.compile(r"\[([^\]]*)\]")


def _next_index(d: dict) -> str:
    ints = [int(k) for k in d if isinstance(k, str) and k.lstrip("-").isdigit() and str(int(k)) == k]
    return str(max(ints) + 1 if ints else 0)


def _assign(target: dict, base: str, segments: list, value) -> None:
    path = [base] + segments
    cur = target
    for i, seg in enumerate(path):
        last = i == len(path) - 1
        if seg == "" and i > 0:
            seg = _next_index(cur)
        if last:
            cur[seg] = value
        else:
            nxt = cur.get(seg)
            if not isinstance(nxt, dict):
                nxt = {}
                cur[seg] = nxt
            cur = nxt


def _parse_key(raw: str) -> tuple:
    """PHP variable-name rules: base up to '[', consecutive [..] segments, '.'/' ' -> '_' in base."""
    raw = raw.lstrip(" ")
    pos = raw.find("[")
    if pos <= 0:
        if pos == 0:
            return None, []
        return raw.replace(".", "_").replace(" ", "_"), []
    base = raw[:pos].replace(".", "_").replace(" ", "_")
    rest = raw[pos:]
    segs = []
    i = 0
    while i < len(rest) and rest[i] == "[":
        j = rest.find("]", i)
        if j < 0:
            if not segs:  # unmatched bracket: PHP turns the first '[' into '_' and keeps the rest
                return (base + "_" + rest[1:]).replace(".", "_").replace(" ", "_"), []
            break
        segs.append(rest[i + 1:j])
        i = j + 1
    return base, segs


def parse_str(qs: str) -> dict:
    """PHP ``parse_str``: bracket syntax -> nested arrays; values always strings."""
    out: dict = {}
    if not qs:
        return out
    for pair in qs.split("&"):
        if not pair:
            continue
        k, sep, v = pair.partition("=")
        key = unquote_plus(k)
        base, segs = _parse_key(key)
        if not base:
            continue
        _assign(out, base, segs, unquote_plus(v))
    return listify(out)


def listify(x) -> Any:
    """Turn dicts whose keys are exactly "0".."n-1" (in order) into lists, recursively (PHP is-list rule)."""
    if isinstance(x, dict):
        x = {k: listify(v) for k, v in x.items()}
        if x and all(k == str(i) for i, k in enumerate(x)):
            return list(x.values())
        return x
    if isinstance(x, list):
        return [listify(v) for v in x]
    return x


def values_of(x) -> list:
    """Values of a PHP array (list or dict); scalars become a one-element list."""
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, list):
        return x
    if x is None:
        return []
    return [x]


def php_truthy(v) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, str):
        return v not in ("", "0")
    if isinstance(v, (list, dict)):
        return len(v) > 0
    return bool(v)


def php_intval(v) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        m = re.match(r"\s*([+-]?\d+)", v)
        return int(m.group(1)) if m else 0
    if isinstance(v, (list, dict)):
        return 1 if v else 0
    return 0


def php_map(d: dict) -> Any:
    """Serialise a PHP associative array: [] when empty, list when keys are 0..n-1, else object."""
    if not d:
        return []
    if all(str(k) == str(i) for i, k in enumerate(d)):
        return list(d.values())
    return d


def ci_get(params: dict, *names, default=None) -> Any:
    """Case-insensitive parameter lookup (first of several accepted spellings)."""
    if not isinstance(params, dict):
        return default
    lower = {str(k).lower(): k for k in params}
    for n in names:
        k = lower.get(n.lower())
        if k is not None:
            return params[k]
    return default


# ---------------------------------------------------------------- JSON

def json_bytes(obj, php_escapes: bool = True, raw_unicode: bool = True) -> bytes:
    """Encode like ``Bitrix\\Main\\Web\\Json::encode`` (approximately): raw UTF-8, escaped '/', '<', '>', '&', "'".

    raw_unicode=False emits \\uXXXX escapes instead (same JSON value, ~40% faster to encode)."""
    s = json.dumps(obj, ensure_ascii=not raw_unicode, separators=(",", ":"))
    if php_escapes:
        # these characters can only occur inside JSON strings, so plain replacement is safe
        s = (s.replace("/", "\\/").replace("<", "\\u003C").replace(">", "\\u003E")
             .replace("&", "\\u0026").replace("'", "\\u0027"))
    return s.encode("utf-8")


# ---------------------------------------------------------------- time

_OFF_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_offset(s: str) -> int:
    if s in ("Z", "z", "UTC"):
        return 0
    m = _OFF_RE.match(s)
    if not m:
        raise ValueError(f"bad UTC offset {s!r}")
    sec = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -sec if m.group(1) == "-" else sec


def offset_str(off: int) -> str:
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


_CLOCK_SERIAL = itertools.count(1)


class Clock:
    """Portal clock: formatting/parsing in the portal's fixed UTC offset."""

    def __init__(self, tz_offset: str = "+03:00") -> None:
        self.serial = next(_CLOCK_SERIAL)   # stable identity for caches (id() can be reused)
        self.off = parse_offset(tz_offset)
        self.suffix = offset_str(self.off)
        self.tz = _dt.timezone(_dt.timedelta(seconds=self.off))
        self._prefixes: dict = {}
        self._dates: dict = {}

    # formatting -------------------------------------------------------
    def _day_prefix(self, d: int) -> str:
        p = self._prefixes.get(d)
        if p is None:
            t = time.gmtime(d * 86400)
            p = self._prefixes[d] = "%04d-%02d-%02dT" % (t[0], t[1], t[2])
        return p

    def fmt_dt(self, epoch) -> str:
        """datetime field: ``YYYY-MM-DDTHH:MM:SS+03:00`` (PHP date('c') in the portal zone)."""
        d, s = divmod(int(epoch) + self.off, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{self._day_prefix(d)}{h:02d}:{m:02d}:{s:02d}{self.suffix}"

    def fmt_date(self, day: int) -> str:
        """date field with the ConvertDate quirk: local midnight + offset, printed in the portal zone."""
        r = self._dates.get(day)
        if r is None:
            r = self._dates[day] = self.fmt_dt(int(day) * 86400)
        return r

    def fmt_plain_date(self, day: int) -> str:
        t = time.gmtime(int(day) * 86400)
        return "%04d-%02d-%02d" % (t[0], t[1], t[2])

    def day_of(self, epoch) -> int:
        return int((int(epoch) + self.off) // 86400)

    def day_start(self, day: int) -> int:
        return int(day) * 86400 - self.off

    def to_datetime(self, epoch) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(epoch, self.tz)

    # parsing (a strtotime subset) --------------------------------------
    _ISO = re.compile(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
        r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$")
    _SITE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$")

    def parse(self, value) -> Optional[float]:
        """Filter value -> epoch seconds (float) or None when PHP strtotime would fail."""
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.tz)
            return value.timestamp()
        if isinstance(value, _dt.date):
            return float(self.day_start((value - _dt.date(1970, 1, 1)).days))
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            return None  # strtotime("1700000000") is not a timestamp
        if not isinstance(value, str):
            return None
        s = value.strip()
        if s.startswith("@") and s[1:].lstrip("-").isdigit():
            return float(int(s[1:]))
        m = self._ISO.match(s)
        if m:
            y, mo, d, hh, mi, ss, tz = m.groups()
            try:
                base = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                                    tzinfo=_dt.timezone.utc)
            except ValueError:
                return None
            off = self.off if tz is None else parse_offset(tz)
            return base.timestamp() - off
        m = self._SITE.match(s)
        if m:
            d, mo, y, hh, mi, ss = m.groups()
            try:
                base = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                                    tzinfo=_dt.timezone.utc)
            except ValueError:
                return None
            return base.timestamp() - self.off
        return None

    def to_epoch(self, value) -> int:
        """Internal-API helper: datetime / ISO string / number -> int epoch."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        e = self.parse(value)
        if e is None:
            raise ValueError(f"cannot interpret {value!r} as a datetime")
        return int(e)

    def to_day(self, value) -> Optional[int]:
        if isinstance(value, _dt.datetime):
            return self.day_of(self.parse(value))
        if isinstance(value, _dt.date):
            return (value - _dt.date(1970, 1, 1)).days
        if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
            d = _dt.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
            return (d - _dt.date(1970, 1, 1)).days
        if isinstance(value, int):
            return value
        raise ValueError(f"cannot interpret {value!r} as a date")


# every scope a webhook can have (`add_webhook(scopes=None)`)
ALL_SCOPES = ("crm", "user", "user_basic", "user_brief", "department", "telephony", "imopenlines", "catalog", "task")


@dataclass
class Webhook:
    """Who a request acts as: an inbound webhook, or the user behind a valid OAuth access token."""

    user_id: int
    code: str
    scopes: frozenset
    crm_admin: bool = True
    active: bool = True
    call_stats: bool = True
    expires_at: Optional[float] = None   # epoch; expired => INVALID_CREDENTIALS (presumed: docs/bitrix24-api-notes.md#unconfirmed-and-version-dependent-behaviour)
