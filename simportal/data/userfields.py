"""Values of the user fields (UF_CRM_*, ufCrm*_*): generated per type, or from a field added by a test.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

import random
import zlib
from typing import Any, Callable

from .. import refdata as R
from ..schema import Field, uf_from_user
from .common import DAY, ENT_CODE, mix


class UserFieldValues:
    def _gen_ufs(self, r, ent, id_, row, created) -> None:
        rnd = r.random
        plan = self._uf_plans.get(ent)
        if plan is None or plan[0] != len(self.ufs[ent]):
            plan = self._uf_plans[ent] = (len(self.ufs[ent]), self._uf_plan(ent))
        for code, f, empty, multiple, enum, g in plan[1]:
            if g is None:       # user-added field: its own random stream (or value_fn)
                row[code] = self.added_uf_value(ent, f, id_)
            elif rnd() < empty:
                row[code] = [] if multiple else None
            elif multiple:
                vals = [g(rnd, id_, created) for _ in range(1 + int(rnd() * 3))]
                row[code] = sorted(set(vals)) if enum else vals
            else:
                row[code] = g(rnd, id_, created)

    def _uf_plan(self, ent) -> list:
        out = []
        for f in self.ufs[ent]:
            builtin = f.value_fn is None and "_num" in f.extra
            out.append((f.code, f, f.empty_rate, f.multiple, f.uf_type == "enumeration",
                        self._uf_gen(f) if builtin else None))
        return out

    def added_uf_value(self, ent, f, id_) -> Any:
        if f.value_fn is not None:
            return f.value_fn(id_)
        r = random.Random(mix(self.seed, ENT_CODE["uf"] + zlib.crc32(f.code.encode()), id_))
        created = self.anchor - int(r.random() * 700 * DAY)
        return self.uf_value(r.random, f, id_, created)

    def uf_value(self, rnd, f: Field, id_, created) -> Any:
        if rnd() < f.empty_rate:
            return [] if f.multiple else None
        g = f.extra.get("_gen")
        if g is None:
            g = f.extra["_gen"] = self._uf_gen(f)
        if f.multiple:
            vals = [g(rnd, id_, created) for _ in range(1 + int(rnd() * 3))]
            return sorted(set(vals)) if f.uf_type == "enumeration" else vals
        return g(rnd, id_, created)

    def _uf_gen(self, f: Field) -> Callable[[Callable[[], float], int, int], Any]:
        """Value generator for one UF type: fn(rnd, id, created) -> raw value."""
        t = f.uf_type
        day_of = self.clock.day_of
        cur, src, cities, streets = R.CURRENCIES, R.DIRECTORIES["SOURCE"], R.CITIES, R.STREETS
        items = f.items or [(0, "")]
        users = self.active_users
        gens = {
            "string": lambda rnd, i, c: f"REF-{i}-{int(rnd() * 1000)}",
            "integer": lambda rnd, i, c: int(rnd() * 1000) - 100,
            "double": lambda rnd, i, c: round(rnd() * 1000, 4),
            "boolean": lambda rnd, i, c: 1 if rnd() < 0.4 else 0,
            "enumeration": lambda rnd, i, c: items[int(rnd() * len(items))][0],
            "datetime": lambda rnd, i, c: c + int((rnd() - 0.2) * 60 * DAY),
            "date": lambda rnd, i, c: day_of(c) + int(rnd() * 90),
            "money": lambda rnd, i, c: f"{int(rnd() * 1_000_000) / 100:.2f}|{cur[int(rnd() * 5)]}",
            "url": lambda rnd, i, c: f"https://example.com/{i}/{int(rnd() * 100)}",
            "address": lambda rnd, i, c: (f"{cities[int(rnd() * 8)][0]}, {streets[int(rnd() * 8)]}" +
                                          (f"|{cities[i % 8][3]}|{int(rnd() * 9999) + 1}" if rnd() < 0.7 else "")),
            "file": lambda rnd, i, c: {"id": 800_000 + i * 3 + int(rnd() * 3)},
            "employee": lambda rnd, i, c: users[int(rnd() * len(users))],
            "crm_status": lambda rnd, i, c: src[int(rnd() * 13)][0],
            "iblock_element": lambda rnd, i, c: 50 + int(rnd() * 20),
            "crm": lambda rnd, i, c: (f"D_{self.pick('deal', rnd)}" if rnd() < 0.6
                                      else f"CO_{self.pick('company', rnd)}"),
        }
        return gens.get(t, lambda rnd, i, c: f"value-{int(rnd() * 100)}")

    def add_user_field(self, ent, code, uf_type, multiple=False, label=None, items=None, value_fn=None) -> Field:
        f = uf_from_user(code, uf_type, multiple, label, items, value_fn, self._enum_next)
        if f.items:
            self._enum_next = max(i for i, _ in f.items) + 1
        self.ufs[ent].append(f)
        return f
