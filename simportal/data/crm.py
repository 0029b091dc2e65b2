"""The six legacy CRM tables (companies, contacts, leads, deals, activities, products) built as compact
columns, and the row parts their generators share (multifields, address, UTM, people, last activity).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

import random
from array import array
from typing import Optional

from .. import refdata as R
from ..store import IntCol, Table


class CrmTables:
    def _build_crm(self) -> None:
        c = self.counts
        # contacts / companies / leads / deals / activities / products
        for ent in ("company", "contact", "lead", "deal", "activity", "product"):
            rnd = self.seq_rng(ent).random
            ids = self._ids(c[ent], rnd)
            self.init_ids[ent] = array("q", ids)
            if ent == "activity":
                self._build_activity(ids, rnd)
                continue
            created, modified = self._times(c[ent], rnd, 0.6)
            if ent == "product":
                sort = array("q", (100 if rnd() < 0.7 else 10 * (1 + int(rnd() * 50)) for _ in range(len(ids))))
                t = Table(ent, self._gen_product, {"DATE_CREATE": IntCol(created), "TIMESTAMP_X": IntCol(modified),
                                                   "SORT": IntCol(sort)},
                          modify_key="TIMESTAMP_X", create_key="DATE_CREATE")
            else:
                gen = {"company": self._gen_company, "contact": self._gen_contact, "lead": self._gen_lead,
                       "deal": self._gen_deal}[ent]
                cols = {"DATE_CREATE": IntCol(created), "DATE_MODIFY": IntCol(modified)}
                t = Table(ent, gen, cols, modify_key="DATE_MODIFY", create_key="DATE_CREATE")
                if ent == "deal":
                    self._build_deal_cols(t, len(ids), rnd)
                elif ent == "lead":
                    self._build_lead_cols(t, len(ids), rnd)
            t.ids = ids
            self.tables[ent] = t

    def _multifields(self, r, ent_code, id_, phones, emails, webs, ims) -> dict:
        rnd = r.random
        out = {}
        base = ent_code * 100_000_000 + id_ * 10
        k = 0
        if phones:
            lst = []
            for _ in range(phones):
                lst.append((str(base + k), R.PHONE_TYPES[int(rnd() * 5)],
                            f"+{1 + int(rnd() * 98)}{int(rnd() * 1e9):09d}", "PHONE"))
                k += 1
            out["PHONE"] = lst
        if emails:
            lst = []
            for j in range(emails):
                lst.append((str(base + k), R.EMAIL_TYPES[int(rnd() * 3)], f"client{id_}.{j}@example.com", "EMAIL"))
                k += 1
            out["EMAIL"] = lst
        if webs:
            out["WEB"] = [(str(base + k), R.WEB_TYPES[int(rnd() * 3)], f"https://site{id_}.example.com", "WEB")]
            k += 1
        if ims:
            out["IM"] = [(str(base + k), R.IM_TYPES[int(rnd() * 5)], f"im_{id_}", "IM")]
        return out

    def _counts_mf(self, rnd) -> tuple:
        x = rnd()
        phones = 0 if x < 0.2 else 1 if x < 0.7 else 2 + int(rnd() * 2)
        x = rnd()
        emails = 0 if x < 0.3 else 1 if x < 0.85 else 2
        return phones, emails, rnd() < 0.15, rnd() < 0.1

    def _address(self, r, row, prefix="ADDRESS") -> None:
        rnd = r.random
        if rnd() < 0.7:
            for s in ("", "_2", "_CITY", "_POSTAL_CODE", "_REGION", "_PROVINCE", "_COUNTRY", "_COUNTRY_CODE",
                      "_LOC_ADDR_ID"):
                row[prefix + s] = None
            return
        city, country, cc, _ = R.CITIES[int(rnd() * len(R.CITIES))]
        row.update({prefix: R.STREETS[int(rnd() * len(R.STREETS))], prefix + "_2": None, prefix + "_CITY": city,
                    prefix + "_POSTAL_CODE": f"{int(rnd() * 99999):05d}", prefix + "_REGION": None,
                    prefix + "_PROVINCE": None, prefix + "_COUNTRY": country, prefix + "_COUNTRY_CODE": cc,
                    prefix + "_LOC_ADDR_ID": int(rnd() * 100000) + 1})

    def _utm(self, rnd, row) -> None:
        if rnd() < 0.85:
            row.update(UTM_SOURCE=None, UTM_MEDIUM=None, UTM_CAMPAIGN=None, UTM_CONTENT=None, UTM_TERM=None)
        else:
            row.update(UTM_SOURCE="google", UTM_MEDIUM="cpc", UTM_CAMPAIGN=f"spring_{int(rnd() * 9)}",
                       UTM_CONTENT=None, UTM_TERM="crm software")

    def _last_activity(self, rnd, row, c, m) -> None:
        if rnd() < 0.4:
            row["LAST_ACTIVITY_TIME"] = None
            row["LAST_ACTIVITY_BY"] = None
        else:
            row["LAST_ACTIVITY_TIME"] = c + int(rnd() * (m - c + 1))
            row["LAST_ACTIVITY_BY"] = self.user_pick(rnd)

    def _people(self, rnd, row, c, m) -> None:
        row["ASSIGNED_BY_ID"] = self.user_pick(rnd)
        row["CREATED_BY_ID"] = self.user_pick(rnd)
        row["MODIFY_BY_ID"] = row["CREATED_BY_ID"] if m == c else self.user_pick(rnd)

    def _comment(self, rnd) -> Optional[str]:
        x = rnd()
        if x < 0.6:
            return None
        return R.COMMENTS[int(rnd() * len(R.COMMENTS))]

    def _row_start(self, ent: str, id_: int, pos: int) -> tuple:
        """(table, the row's Random, created, modified) of a legacy CRM row about to be generated."""
        t = self.tables[ent]
        return t, self.rng(ent, id_), t.cols["DATE_CREATE"].a[pos], t.cols["DATE_MODIFY"].a[pos]

    def _client_row_end(self, r: random.Random, ent: str, id_: int, row: dict, c: int, m: int, mf: dict) -> dict:
        """The last fields of a contact, company or lead row: UTM, last activity, multifields, user fields."""
        self._utm(r.random, row)
        self._last_activity(r.random, row, c, m)
        row.update(mf)
        self._gen_ufs(r, ent, id_, row, c)
        return row
