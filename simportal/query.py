"""Filter / order / paging engine over ``store.Table`` (docs/bitrix24-api-notes.md#filters-and-order, docs/bitrix24-api-notes.md#paging).

Filters are compiled into predicates over row *positions*; conditions on ID become bisect bounds, so
an ``{">ID": x}`` keyset window with ``order ID ASC`` costs O(page), not O(N).
"""
from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from typing import Any, Callable, Optional, Sequence

from .errors import ApiError
from .schema import DATE, DT, FLOAT2, INT, MF, UF
from .store import IntCol
from .util import php_intval, values_of

OPS = (">=", "<=", "!><", "><", "=%", "%=", ">", "<", "=", "%", "@", "?")
NUMERIC_UF = {"integer", "double", "enumeration", "employee", "iblock_element", "iblock_section", "boolean"}

Pred = Callable[[int], bool]   # a compiled filter condition: table position -> matches


def split_key(key: str) -> tuple:
    """'!>=DATE_MODIFY' -> (negate, or_null, op, field)."""
    neg = ornull = False
    s = str(key)
    while s and s[0] in "!+":
        if s[0] == "!":
            neg = True
        else:
            ornull = True
        s = s[1:]
    for op in OPS:
        if s.startswith(op):
            if op == "!><":
                return True, ornull, "><", s[3:]
            return neg, ornull, op, s[len(op):]
    return neg, ornull, "", s


def value_class(f) -> str:
    """How a field compares: num | dt | date | str | mf."""
    if f is None:
        return "str"
    k = f.kind
    if k == MF:
        return "mf"
    if k == DT:
        return "dt"
    if k == DATE:
        return "date"
    if k in (INT, FLOAT2):
        return "num"
    if k == UF:
        t = f.uf_type
        if t == "datetime":
            return "dt"
        if t == "date":
            return "date"
        if t in NUMERIC_UF:
            return "num"
        return "str"
    if f.type in ("integer", "double", "user", "crm_company", "crm_contact", "crm_lead", "crm_deal",
                  "crm_category", "crm_entity"):
        return "num"
    if f.type == "datetime":
        return "dt"
    if f.type == "date":
        return "date"
    return "str"


def php_float(v) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        m = re.match(r"\s*([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)", v)
        return float(m.group(1)) if m else 0.0
    return 0.0  # arrays/objects: PHP casts "Array" -> 0


def _like_re(pattern: str, wrap: bool) -> re.Pattern:
    p = re.escape(pattern).replace("%", ".*").replace("_", ".")
    if wrap:
        p = ".*" + p + ".*"
    return re.compile(p, re.I | re.S)


class Compiler:
    """Compiles one filter against a table + field map.

    ``fields``: name -> Field (names as accepted in the filter); ``strict``: controllers raise
    INVALID_ARG_VALUE on unknown fields / bad values; legacy drops unknown fields silently.
    """

    def __init__(self, table, fields: dict, clock, strict=False, key_of=None, no_like=(), opts=None,
                 dt_error=None, allow_logic=False) -> None:
        self.table, self.fields, self.clock, self.strict = table, fields, clock, strict
        self.key_of = key_of or (lambda name: name)
        self.no_like = set(no_like)
        self.opts = opts
        self.dt_error = dt_error
        self.allow_logic = allow_logic
        self.lo, self.hi, self.idset = None, None, None
        self.id_names = {"ID", "id"}
        self.col_bounds: dict = {}   # rawkey -> [(op, value)] simple ranges on integer columns (for indexes)

    # id window -------------------------------------------------------------
    def _id_bound(self, op, neg, ornull, value) -> bool:
        if neg or ornull:
            return False
        if op in (">", ">=", "<", "<="):
            if isinstance(value, (list, dict)):
                return False
            if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*", value):
                mode = getattr(self.opts, "id_filter_text", "cast")
                if mode == "ignore":
                    return True
                if mode == "error":
                    raise ApiError("INVALID_ARG_VALUE", "Invalid filter: field 'ID' has invalid value")
            v = php_float(value)
            if op == ">":
                self.lo = max(self.lo if self.lo is not None else -(1 << 62), math.floor(v) + 1)
            elif op == ">=":
                self.lo = max(self.lo if self.lo is not None else -(1 << 62), math.ceil(v))
            elif op == "<":
                self.hi = min(self.hi if self.hi is not None else 1 << 62, math.ceil(v) - 1)
            else:
                self.hi = min(self.hi if self.hi is not None else 1 << 62, math.floor(v))
            return True
        if op in ("", "=", "@"):
            vals = values_of(value) if isinstance(value, (list, dict)) else (
                [x for x in str(value).split(",")] if op == "@" else [value])
            s = set()
            for x in vals:
                if isinstance(x, (list, dict)):
                    continue
                s.add(php_intval(x))
            self.idset = s if self.idset is None else (self.idset & s)
            return True
        return False

    # predicates --------------------------------------------------------------
    def compile(self, flt) -> list:
        preds = []
        if flt is None:
            return preds
        items = flt.items() if isinstance(flt, dict) else enumerate(flt)
        for key, value in items:
            key = str(key)
            if key.lower() == "logic":
                continue
            if isinstance(value, dict) and (key.isdigit() or key.lower() in ("0",)) and self.allow_logic:
                preds.append(self._group(value))
                continue
            neg, ornull, op, name = split_key(key)
            f = self.fields.get(name)
            if f is None:
                if self.strict:
                    raise ApiError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter")
                continue
            if name in self.id_names and self._id_bound(op, neg, ornull, value):
                continue
            preds.append(self._pred(f, self.key_of(name), op, neg, ornull, value, name))
        return preds

    def _group(self, grp: dict) -> Callable:
        logic = str(grp.get("logic", grp.get("LOGIC", "AND"))).upper()
        sub = Compiler(self.table, self.fields, self.clock, self.strict, self.key_of, self.no_like, self.opts,
                       self.dt_error, True)
        parts = []
        for k, v in grp.items():
            if str(k).lower() == "logic":
                continue
            if isinstance(v, dict) and str(k).isdigit():
                parts.append(sub._group_and(v))
            else:
                parts.extend(sub.compile({k: v}))
        for p in sub._bounds_pred():
            parts.append(p)
        if logic == "OR":
            return lambda pos: any(p(pos) for p in parts)
        return lambda pos: all(p(pos) for p in parts)

    def _group_and(self, grp) -> Pred:
        if "logic" in grp or "LOGIC" in grp:
            return self._group(grp)
        return self._group({**grp, "logic": "AND"})

    def _bounds_pred(self) -> list:
        """Within a logic group ID bounds can't be hoisted: turn them into predicates."""
        out = []
        ids = self.table.ids
        lo, hi, s = self.lo, self.hi, self.idset
        if lo is not None:
            out.append(lambda pos: ids[pos] >= lo)
        if hi is not None:
            out.append(lambda pos: ids[pos] <= hi)
        if s is not None:
            out.append(lambda pos: ids[pos] in s)
        self.lo = self.hi = self.idset = None
        return out

    def _coerce(self, vc, v, name, f=None) -> tuple:
        """Filter value -> comparable; returns (ok, value)."""
        if vc == "num":
            lenient = f is not None and f.uf_type == "boolean"   # Y/N silently becomes 0 (use 1/0)
            if self.strict and not lenient and not isinstance(v, (int, float)) and not (isinstance(v, str) and
                                                                         re.match(r"^\s*-?\d+(\.\d+)?\s*$", v)):
                if v is None or v == "":
                    return True, None
                raise ApiError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")
            if v is None or v == "":
                return True, None
            if isinstance(v, str) and v.upper() in ("Y", "N") and not self.strict:
                return True, php_float(v)   # "Y" -> 0 like PHP (boolean UFs need 1/0)
            return True, php_float(v)
        if vc in ("dt", "date"):
            if v is None or v == "":
                return True, None
            e = self.clock.parse(v)
            if e is None:
                if self.dt_error:
                    raise self.dt_error(name)
                if self.strict:
                    raise ApiError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")
                return False, None
            return True, e
        if v is None:
            return True, None
        if isinstance(v, bool):
            return True, "Y" if v else "N"
        if isinstance(v, (list, dict)):
            return True, "Array"
        return True, str(v)

    def _pred(self, f, rawkey, op, neg, ornull, value, name) -> Pred:
        vc = value_class(f)
        getter = self.table.getter(rawkey)
        day_start = self.clock.day_start
        if op == "%" and name in self.no_like:
            op = "="
        is_list = op in ("", "=", "@", "><") and isinstance(value, (list, dict))
        if op == "@" and not isinstance(value, (list, dict)):
            value, is_list = [x for x in str(value).split(",")], True
        if is_list:
            coerced = []
            for x in values_of(value):
                ok, c = self._coerce(vc, x, name, f)
                if ok:
                    coerced.append(c)
            cval = coerced
        else:
            ok, cval = self._coerce(vc, value, name, f)
            if not ok:
                mode = getattr(self.opts, "bad_date_filter", "nothing") if self.opts else "nothing"
                if mode == "ignore":
                    return lambda pos: True
                return lambda pos: False
        multi = f.multiple or vc == "mf"

        def norm(v) -> Any:
            if v is None:
                return None
            if vc == "date":
                return day_start(v)
            if vc == "str":
                return str(v).casefold() if not isinstance(v, (dict, list)) else v
            if vc == "num" and isinstance(v, str):
                return php_float(v)
            return v

        if vc == "str":
            if is_list:
                cval = [c.casefold() if isinstance(c, str) else c for c in cval]
            elif isinstance(cval, str):
                cval = cval.casefold()

        if op in ("", "="):
            if is_list:
                sset = set(cval)
                def test(x) -> bool:
                    return x in sset
            elif cval is None or cval == "":
                test = None  # emptiness test
            else:
                def test(x) -> bool:
                    return x == cval
        elif op == "@":
            sset = set(cval)
            def test(x) -> bool:
                return x in sset
        elif op in (">", ">=", "<", "<="):
            if cval is None:
                return lambda pos: False if not neg else True
            cols = getattr(self.table, "cols", {})
            if not neg and not ornull and vc in ("num", "dt") and isinstance(cols.get(rawkey), IntCol):
                self.col_bounds.setdefault(rawkey, []).append((op, cval))
            if op == ">":
                def test(x) -> bool:
                    return x is not None and x > cval
            elif op == ">=":
                def test(x) -> bool:
                    return x is not None and x >= cval
            elif op == "<":
                def test(x) -> bool:
                    return x is not None and x < cval
            else:
                def test(x) -> bool:
                    return x is not None and x <= cval
        elif op == "><":
            if not is_list or len(cval) < 2:
                return lambda pos: True
            a, b = cval[0], cval[1]
            def test(x) -> bool:
                return x is not None and a <= x <= b
        elif op in ("%", "?"):
            needle = cval if isinstance(cval, str) else str(cval)
            def test(x) -> bool:
                return x is not None and needle in str(x).casefold()
        elif op in ("=%", "%="):
            rx = _like_re(str(value), wrap=False)
            def test(x) -> bool:
                return x is not None and rx.fullmatch(str(x)) is not None
        else:
            return lambda pos: True

        if vc == "mf":
            def extract(pos) -> list:
                v = getter(pos)
                return [str(t[2]).casefold() for t in v] if v else []
        elif multi:
            def extract(pos) -> list:
                v = getter(pos)
                if v is None:
                    return []
                return [norm(x) for x in (v if isinstance(v, list) else [v])]
        else:
            def extract(pos) -> Any:
                return norm(getter(pos))

        if test is None:  # "= ''": empty / null
            if multi:
                def base(pos) -> bool:
                    return not extract(pos)
            else:
                def base(pos) -> bool:
                    return extract(pos) in (None, "", 0) if vc != "num" else extract(pos) in (None, 0)
        elif multi:
            def base(pos) -> bool:
                return any(test(x) for x in extract(pos))
        else:
            def base(pos) -> bool:
                return test(extract(pos))
        if neg:
            inner = base
            def base(pos) -> bool:
                return not inner(pos)
        if ornull:
            inner2 = base
            def base(pos) -> bool:
                return inner2(pos) or getter(pos) is None
        return base


def positions(table, comp: Compiler) -> Sequence[int]:
    """Candidate positions (range or list) from the ID bounds of a compiled filter."""
    ids = table.ids
    lo = 0 if comp.lo is None else bisect_left(ids, comp.lo)
    hi = len(ids) if comp.hi is None else bisect_right(ids, comp.hi)
    if comp.idset is not None:
        out = []
        for i in sorted(comp.idset):
            p = bisect_left(ids, i)
            if p < len(ids) and ids[p] == i and lo <= p < hi:
                out.append(p)
        return out
    return range(lo, max(lo, hi))


MATCH_CACHE_SIZE = 8


def run(table, comp: Compiler, preds: list, order: list, offset: int, limit: int, count: bool,
        out_of_range_first=False, cache_key=None) -> tuple[list, Optional[int], int]:
    """Execute a list query.

    order: list of (rawkey, desc, keyfn|None); empty => ID ASC.
    cache_key: a hashable description of the filter; with it, a counted (``start`` != -1) ID-ordered
    query keeps its matching positions until the table changes, so offset paging over a large table
    is O(page) per call instead of a scan (the simulated cost still charges the COUNT and the OFFSET).
    Returns (page positions, total or None, offset actually used).
    """
    cand = positions(table, comp)
    id_order = not order or (len(order) == 1 and order[0][0] in ("ID", "id"))
    desc = bool(order and order[0][1]) if id_order else False
    if len(preds) == 1:
        match = preds[0]
    elif preds:
        def match(pos, ps=tuple(preds)) -> bool:
            for p in ps:
                if not p(pos):
                    return False
            return True
    else:
        match = None

    if id_order:
        seq = cand[::-1] if desc else cand
        if match is None:
            total = len(seq)
            if out_of_range_first and offset >= total > 0:
                offset = 0
            return list(seq[offset:offset + limit]), (total if count else None), offset
        if count and cache_key is not None:
            allm = _matching(table, (cache_key, desc), seq, match)
            total = len(allm)
            if out_of_range_first and offset >= total > 0:
                offset = 0
            return allm[offset:offset + limit], total, offset
        page, matched = [], 0
        for p in seq:
            if match(p):
                if matched >= offset and len(page) < limit:
                    page.append(p)
                matched += 1
                if not count and len(page) >= limit:
                    break
        if count and out_of_range_first and offset >= matched > 0:
            offset = 0
            page = []
            for p in seq:
                if match(p):
                    page.append(p)
                    if len(page) >= limit:
                        break
        return page, (matched if count else None), offset

    fast = _index_run(table, comp, match, order, offset, limit, count, out_of_range_first)
    if fast is not None:
        return fast
    allm = [p for p in cand if match(p)] if match is not None else list(cand)
    ids = table.ids
    # stable multi-key sort: last key first; NULLs first on ASC (MySQL)
    allm.sort(key=lambda p: ids[p])
    for rawkey, d, keyfn in reversed(order):
        g = table.getter(rawkey)
        if keyfn is None:
            def k(p, g=g) -> tuple:
                v = g(p)
                if isinstance(v, (list, dict)):
                    v = str(v)
                return (v is not None, v if v is not None else 0)
        else:
            def k(p, g=g, kf=keyfn) -> Any:
                return kf(g(p))
        try:
            allm.sort(key=k, reverse=d)
        except TypeError:
            allm.sort(key=lambda p, g=g: str(g(p)), reverse=d)
    total = len(allm)
    if out_of_range_first and offset >= total > 0:
        offset = 0
    return allm[offset:offset + limit], (total if count else None), offset


def _matching(table, key, seq, match) -> list:
    """All matching positions of an ID-ordered query, cached per table version (a few filters)."""
    cache = table.__dict__.setdefault("_mcache", {})
    ent = cache.get(key)
    if ent is not None and ent[0] == table.version and ent[1] == len(table.ids):
        return ent[2]
    allm = [p for p in seq if match(p)]
    if len(cache) >= MATCH_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = (table.version, len(table.ids), allm)
    return allm


def _sorted_index(table, rawkey, desc, tie_desc) -> tuple:
    """Positions sorted by (column value, id) - a lazily built, version-checked 'DB index'."""
    cache = table.__dict__.setdefault("_sidx", {})
    key = (rawkey, desc, tie_desc)
    ent = cache.get(key)
    if ent is not None and ent[0] == table.version and ent[3] == len(table.ids):
        return ent[1], ent[2]
    col, ids = table.cols[rawkey].a, table.ids
    vs, ts = (-1 if desc else 1), (-1 if tie_desc else 1)
    order = sorted(range(len(ids)), key=lambda p: (vs * col[p], ts * ids[p]))
    keys = [vs * col[p] for p in order]
    cache[key] = (table.version, order, keys, len(ids))
    return order, keys


def _index_run(table, comp, match, order, offset, limit, count, out_of_range_first) -> Optional[tuple]:
    """ORDER BY <int column> [, ID]: walk a sorted index from the bisected range bound (O(page))."""
    cols = getattr(table, "cols", None)
    if not cols or not order or len(order) > 2:
        return None
    rawkey, desc, keyfn = order[0]
    if keyfn is not None or not isinstance(cols.get(rawkey), IntCol):
        return None
    if len(order) == 2:
        if order[1][0] not in ("ID", "id"):
            return None
        tie_desc = order[1][1]
    else:
        tie_desc = False
    idx, keys = _sorted_index(table, rawkey, desc, tie_desc)
    lo, hi = 0, len(idx)
    for op, v in comp.col_bounds.get(rawkey, []):
        if desc:
            if op == ">":
                hi = min(hi, bisect_left(keys, -v))
            elif op == ">=":
                hi = min(hi, bisect_right(keys, -v))
            elif op == "<":
                lo = max(lo, bisect_right(keys, -v))
            else:
                lo = max(lo, bisect_left(keys, -v))
        else:
            if op == ">":
                lo = max(lo, bisect_right(keys, v))
            elif op == ">=":
                lo = max(lo, bisect_left(keys, v))
            elif op == "<":
                hi = min(hi, bisect_left(keys, v))
            else:
                hi = min(hi, bisect_right(keys, v))
    ids = table.ids
    idlo, idhi, idset = comp.lo, comp.hi, comp.idset
    page, matched = [], 0

    def ok(p) -> bool:
        i = ids[p]
        if (idlo is not None and i < idlo) or (idhi is not None and i > idhi) or (idset is not None and i not in idset):
            return False
        return match is None or match(p)

    def scan(off) -> list:
        nonlocal matched
        out, m = [], 0
        for j in range(lo, hi):
            p = idx[j]
            if ok(p):
                if m >= off and len(out) < limit:
                    out.append(p)
                m += 1
                if not count and len(out) >= limit:
                    break
        matched = m
        return out

    page = scan(offset)
    if count and out_of_range_first and offset >= matched > 0:
        offset = 0
        page = scan(0)
    return page, (matched if count else None), offset


def parse_order(order, fields: dict, strict=False, key_of=None, keyfns=None, ignore_unknown=False) -> list:
    """{FIELD: ASC|DESC} -> [(rawkey, desc, keyfn)]."""
    out = []
    if not order:
        return out
    if not isinstance(order, dict):
        if isinstance(order, list):
            return out
        return out
    key_of = key_of or (lambda n: n)
    for name, direction in order.items():
        f = fields.get(name)
        if f is None:
            if strict and not ignore_unknown:
                raise ApiError("INVALID_ARG_VALUE", f"Invalid order: field '{name}' is not allowed in order")
            continue
        d = str(direction).upper() == "DESC"
        out.append((key_of(name), d, (keyfns or {}).get(name)))
    return out
