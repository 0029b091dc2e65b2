"""`World`: the portal's "database". Construction builds only compact per-entity arrays (ids, a few
columns used for filtering, child-row counts); each full row is derived on demand from
``Random(mix(seed, entity, id))``. The generators of each entity are mixins, one module each."""
from __future__ import annotations

import random
import time
import zlib
from array import array
from bisect import bisect_left
from typing import Optional

from ..schema import make_ufs
from ..store import Table
from .activities import ActivityRows
from .catalog import CatalogRows
from .clients import ClientRows
from .common import DAY, ENT_CODE, mix
from .crm import CrmTables
from .deal_children import DealChildren
from .deals import DealRows
from .directories import Directories
from .history import StageHistory
from .quotes import Quotes
from .requisites import Requisites
from .spa import SmartProcesses
from .staff import Staff
from .tasks import Tasks
from .telephony import Telephony
from .userfields import UserFieldValues

RATIOS = {"deal": 0.30, "contact": 0.25, "lead": 0.20, "activity": 0.15, "company": 0.08, "product": 0.02}
MINIMUM = {"deal": 8, "contact": 6, "lead": 5, "activity": 6, "company": 4, "product": 4}


class World(CrmTables, ClientRows, DealRows, ActivityRows, CatalogRows, UserFieldValues, Staff, SmartProcesses,
            StageHistory, DealChildren, Telephony, Directories, Quotes, Requisites, Tasks):
    """Every table of the portal, built at construction; rows generated on demand."""

    def __init__(self, size: int = 1000, seed: int = 42, clock=None, anchor: int | None = None) -> None:
        if not 1 <= size <= 5_000_000:
            raise ValueError("size must be between 1 and 5,000,000")
        self.size, self.seed, self.clock = size, seed, clock
        if anchor is None:  # today's UTC midnight: same data for instances created on the same day
            anchor = int(time.time()) // DAY * DAY
        self.anchor = int(anchor)
        self.t0 = self.anchor - 730 * DAY
        self.counts = {e: max(MINIMUM[e], round(size * RATIOS[e])) for e in RATIOS}
        self.n_users = min(600, max(12, 10 + size // 1700))
        self.n_departments = min(80, max(7, 5 + size // 10000))
        self.n_calls = min(200_000, max(15, size // 20))
        self.n_spa = {128: min(20_000, max(8, size // 100)), 1032: min(8_000, max(5, size // 250))}
        self.tables: dict[str, Table] = {}
        self.init_ids: dict[str, array] = {}
        self.ufs: dict[str, list] = {}
        eid = 79
        for ent in ("deal", "contact", "company", "lead"):
            self.ufs[ent], eid = make_ufs(ent, eid)
        self._enum_next = eid + 100
        self._uf_plans: dict = {}
        self.extra_hist: dict = {}
        self._build_users()
        self._build_departments()
        self._build_crm()
        self._build_spa()
        self._build_history()
        self._build_children()
        self._build_calls()
        self._build_openlines()
        self._build_statuses()
        self._build_more()

    @staticmethod
    def _code(ent: str) -> int:
        c = ENT_CODE.get(ent)
        return c if c is not None else 100_000 + zlib.crc32(ent.encode()) % 1_000_000

    def rng(self, ent: str, id_: int) -> random.Random:
        return random.Random(mix(self.seed, self._code(ent), id_))

    def seq_rng(self, ent: str) -> random.Random:
        return random.Random(mix(self.seed, self._code(ent), 0) ^ 0x5EED)

    def _ids(self, n: int, rnd, gap_rate: float = 0.02) -> array:
        ids = array("q")
        cur = 0
        for _ in range(n):
            cur += 1
            if rnd() < gap_rate:
                cur += 1 + int(rnd() * 3)
            ids.append(cur)
        return ids

    def _times(self, n: int, rnd, edit_rate: float = 0.55) -> tuple:
        created, modified = array("q"), array("q")
        span = self.anchor - self.t0 - 3600
        t0, anchor = self.t0, self.anchor
        for i in range(n):
            c = t0 + int((i + rnd()) * span / n)
            x = rnd()
            if x > edit_rate:
                m = c
            elif x > edit_rate * 0.4:
                m = c + int(rnd() * 3 * DAY)
            else:
                m = c + int(rnd() * (anchor - c))
            if m >= anchor:
                m = anchor - 1
            created.append(c)
            modified.append(m)
        return created, modified

    def pick(self, ent: str, rnd) -> int:
        ids = self.init_ids[ent]
        return ids[int(rnd() * len(ids))]

    def init_pos(self, ent: str, id_: int) -> Optional[int]:
        ids = self.init_ids[ent]
        i = bisect_left(ids, id_)
        return i if i < len(ids) and ids[i] == id_ else None

    def user_pick(self, rnd) -> int:
        a = self.active_users
        return a[int(rnd() * len(a))]

    def file_obj(self, fid: int) -> dict:
        return {"id": fid}

    def _build_more(self) -> None:
        size = self.size
        self._build_quotes(max(6, round(size * 0.05)))
        self._build_invoices(max(5, size // 40))
        self._build_requisites()
        self._build_sections()
        self._build_tasks(max(12, round(size * 0.1)))
