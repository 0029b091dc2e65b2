"""Compact columnar row store.

A ``Table`` keeps only a sorted ``array`` of live IDs plus a few compact columns (the fields used
for filtering/ordering, e.g. DATE_MODIFY); every other field is derived on demand by a generator
function ``gen(id, pos) -> dict`` that is deterministic in (seed, entity, id).  Edits are kept in a
small per-id override dict; edits to column fields are written into the column.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any, Callable, Optional

NONE = -(1 << 63)  # null sentinel in integer columns


class IntCol:
    """int64 column; ``None`` stored as a sentinel."""
    kind = "int"

    def __init__(self, values=None) -> None:
        self.a = array("q") if values is None else values

    def get(self, pos) -> Optional[int]:
        v = self.a[pos]
        return None if v == NONE else v

    def set(self, pos, v) -> None:
        self.a[pos] = NONE if v is None else int(v)

    def append(self, v) -> None:
        self.a.append(NONE if v is None else int(v))

    def delete(self, pos) -> None:
        del self.a[pos]

    def getter(self) -> Callable[[int], Optional[int]]:
        a = self.a

        def g(pos) -> Optional[int]:
            v = a[pos]
            return None if v == NONE else v
        return g


class StrCol:
    """Interned-string column (array of indexes into a value list)."""
    kind = "str"

    def __init__(self, values=()) -> None:
        self.vals: list = []
        self.idx: dict = {}
        self.a = array("I")
        for v in values:
            self.code(v)

    def code(self, v) -> int:
        c = self.idx.get(v)
        if c is None:
            c = len(self.vals)
            self.vals.append(v)
            self.idx[v] = c
        return c

    def get(self, pos) -> Any:
        return self.vals[self.a[pos]]

    def set(self, pos, v) -> None:
        self.a[pos] = self.code(v)

    def append(self, v) -> None:
        self.a.append(self.code(v))

    def append_code(self, c: int) -> None:
        self.a.append(c)

    def delete(self, pos) -> None:
        del self.a[pos]

    def getter(self) -> Callable:
        a, vals = self.a, self.vals
        return lambda pos: vals[a[pos]]


class Table:
    CACHE_MAX = 4000   # raw rows kept per table (covers one 50-command batch)

    def __init__(self, name: str, gen, cols: dict | None = None, modify_key: str | None = None,
                 create_key: str | None = None) -> None:
        self.name = name
        self.gen = gen
        self.ids = array("q")
        self.cols: dict = cols or {}
        self.over: dict = {}
        self.modify_key = modify_key
        self.create_key = create_key
        self._cache: dict = {}
        self.version = 0

    def __len__(self) -> int:
        return len(self.ids)

    def pos(self, id_) -> int | None:
        try:
            id_ = int(id_)
        except (TypeError, ValueError):
            return None
        i = bisect_left(self.ids, id_)
        if i < len(self.ids) and self.ids[i] == id_:
            return i
        return None

    def max_id(self) -> int:
        return self.ids[-1] if self.ids else 0

    def raw(self, id_) -> Optional[dict]:
        r = self._cache.get(id_)
        if r is not None:
            return r
        p = self.pos(id_)
        if p is None:
            return None
        return self.raw_at(p)

    def raw_at(self, p: int) -> dict:
        id_ = self.ids[p]
        r = self._cache.get(id_)
        if r is not None:
            return r
        r = self.gen(id_, p)
        for name, col in self.cols.items():
            if not name.startswith("_"):
                r[name] = col.get(p)
        ov = self.over.get(id_)
        if ov:
            r.update(ov)
        if len(self._cache) >= self.CACHE_MAX:
            self._cache.clear()
        self._cache[id_] = r
        return r

    def getter(self, name: str) -> Callable[[int], Any]:
        """Fast accessor pos -> raw value of a field."""
        col = self.cols.get(name)
        if col is not None:
            return col.getter()
        ids = self.ids
        if name in ("ID", "id"):
            return lambda pos: ids[pos]
        raw_at = self.raw_at
        return lambda pos: raw_at(pos).get(name)

    def is_column(self, name: str) -> bool:
        return name in self.cols

    # mutation ------------------------------------------------------------
    def touch(self) -> None:
        self._cache.clear()
        self.version += 1

    def set_fields(self, id_, changes: dict) -> None:
        p = self.pos(id_)
        if p is None:
            raise KeyError(f"{self.name} {id_} not found")
        ov = self.over.setdefault(int(id_), {})
        for k, v in changes.items():
            col = self.cols.get(k)
            if col is not None:
                col.set(p, v)
            else:
                ov[k] = v
        self.touch()

    def append_row(self, id_: int, colvals: dict, overrides: dict | None = None) -> None:
        if self.ids and id_ <= self.ids[-1]:
            raise ValueError("ids must grow")
        self.ids.append(id_)
        for name, col in self.cols.items():
            col.append(colvals.get(name))
        if overrides:
            self.over[id_] = dict(overrides)
        self.touch()

    def delete(self, id_) -> None:
        p = self.pos(id_)
        if p is None:
            raise KeyError(f"{self.name} {id_} not found")
        del self.ids[p]
        for col in self.cols.values():
            col.delete(p)
        self.over.pop(int(id_), None)
        self.touch()
