"""Users (employees, fired, extranet) and departments.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from .. import refdata as R
from ..store import IntCol, Table
from .common import PORTAL_HOST


class Staff:
    def _build_users(self) -> None:
        n = self.n_users
        rnd = self.seq_rng("user").random
        self.user_kind = {}   # id -> "employee" | "fired" | "extranet"
        for uid in range(1, n + 1):
            if uid <= 3:
                kind = "employee"
            elif uid in (4, n - 1):
                kind = "fired"
            elif uid in (5, n):
                kind = "extranet"
            else:
                x = rnd()
                kind = "fired" if x < 0.08 else "extranet" if x < 0.13 else "employee"
            self.user_kind[uid] = kind
        self.active_users = [u for u, k in self.user_kind.items() if k == "employee"]
        t = Table("user", self._gen_user, {"TIMESTAMP_X": IntCol()}, modify_key="TIMESTAMP_X")
        created, modified = self._times(n, rnd, 0.5)
        for i, uid in enumerate(range(1, n + 1)):
            t.ids.append(uid)
            t.cols["TIMESTAMP_X"].append(modified[i])
        self._user_reg = created
        self.tables["user"] = t

    def _gen_user(self, uid, pos) -> dict:
        r = self.rng("user", uid)
        rnd = r.random
        kind = self.user_kind.get(uid, "employee")
        first = R.FIRST_NAMES[int(rnd() * len(R.FIRST_NAMES))]
        last = R.LAST_NAMES[int(rnd() * len(R.LAST_NAMES))]
        reg = self._user_reg[pos] if pos < len(self._user_reg) else self.anchor
        nd = self.n_departments
        dep = [] if kind == "extranet" else ([1] if uid == 1 else [1 + int(rnd() * nd)])
        if kind != "extranet" and rnd() < 0.1:
            dep.append(1 + int(rnd() * nd))
        row = {
            "ID": uid, "XML_ID": None if rnd() < 0.7 else f"ext{uid}", "ACTIVE": kind != "fired",
            "NAME": first, "LAST_NAME": last, "SECOND_NAME": "" if rnd() < 0.6 else None,
            "TITLE": None, "EMAIL": f"user{uid}@example.com",
            "LAST_LOGIN": None if rnd() < 0.2 else reg + int(rnd() * (self.anchor - reg)),
            "DATE_REGISTER": self.clock.day_of(reg), "TIME_ZONE": "" if rnd() < 0.7 else "Europe/Berlin",
            "TIME_ZONE_OFFSET": "0", "IS_ONLINE": "Y" if rnd() < 0.2 else "N",
            "TIMESTAMP_X": None, "LAST_ACTIVITY_DATE": True,
            "PERSONAL_GENDER": ["", "M", "F"][int(rnd() * 3)],
            "PERSONAL_PROFESSION": None, "PERSONAL_WWW": "" if rnd() < 0.8 else "https://example.org/~u",
            "PERSONAL_BIRTHDAY": None if rnd() < 0.5 else self.clock.day_of(self.anchor) - 9000 - int(rnd() * 9000),
            "PERSONAL_PHOTO": None if rnd() < 0.5 else f"https://{PORTAL_HOST}/upload/main/a1b/avatar{uid}.jpg",
            "PERSONAL_PHONE": None if rnd() < 0.6 else f"+1555{uid:07d}",
            "PERSONAL_MOBILE": None if rnd() < 0.5 else f"+1666{uid:07d}",
            "PERSONAL_CITY": None if rnd() < 0.5 else R.CITIES[int(rnd() * len(R.CITIES))][0],
            "PERSONAL_STATE": None, "PERSONAL_COUNTRY": None,
            "WORK_PHONE": None if rnd() < 0.5 else f"+1777{uid:07d}",
            "WORK_COMPANY": "Acme Corp" if kind != "extranet" else "Partner LLC",
            "WORK_POSITION": R.POSTS[int(rnd() * len(R.POSTS))] if rnd() < 0.8 else "",
            "WORK_CITY": None, "WORK_STATE": None, "WORK_COUNTRY": None,
            "UF_EMPLOYMENT_DATE": None if rnd() < 0.5 else self.clock.day_of(reg),
            "UF_DEPARTMENT": dep, "UF_PHONE_INNER": None if rnd() < 0.5 else str(100 + uid),
            "UF_SKYPE": None, "UF_INTERESTS": None,
            "USER_TYPE": "extranet" if kind == "extranet" else "employee",
        }
        return row

    def _build_departments(self) -> None:
        n = self.n_departments
        rnd = self.seq_rng("department").random
        self.dept_parent = {1: None}
        names = ["Acme Corp", "Sales Department", "R&D", "Support", "Marketing", "Finance", "HR", "Logistics"]
        t = Table("department", self._gen_department)
        for did in range(1, n + 1):
            t.ids.append(did)
            if did > 1:
                self.dept_parent[did] = 1 if did <= 4 else 1 + int(rnd() * (did - 1))
        self._dept_names = [names[i] if i < len(names) else f"Team {i}" for i in range(n)]
        self.tables["department"] = t

    def _gen_department(self, did, pos) -> dict:
        r = self.rng("department", did)
        head = None if did == 3 or r.random() < 0.2 else self.active_users[int(r.random() * len(self.active_users))]
        name = self._dept_names[did - 1] if did - 1 < len(self._dept_names) else f"Team {did}"
        return {"ID": did, "NAME": name, "SORT": 500 if r.random() < 0.7 else 100 * (did % 5 + 1),
                "PARENT": self.dept_parent.get(did, 1), "UF_HEAD": head}
