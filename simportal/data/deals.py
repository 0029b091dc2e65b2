"""Deals: the pipeline/stage/recurring columns, the row generator and the deal's contacts.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from .. import refdata as R
from ..store import IntCol, StrCol
from .common import weighted

HEAVY_DEAL_POS = 2   # position of the (never recurring) deal with > 50 timeline comments


class DealRows:
    def _build_deal_cols(self, t, n, rnd) -> None:
        cat, stage, rec = IntCol(), StrCol(), StrCol(["N", "Y"])
        codes = {k: [stage.code(s[0]) for s in p[3]] for k, p in R.DEAL_PIPELINES.items()}
        weights = R.DEAL_STAGE_WEIGHTS
        forced_rec = {3, n // 2}
        for i in range(n):
            x = rnd()
            k = 0 if x < 0.70 else 1 if x < 0.93 else 2
            if i == 1:
                k = 1
            cat.a.append(k)
            stage.a.append(codes[k][weighted(rnd, weights[k])])
            r_ = rnd() < 0.003 and i != HEAVY_DEAL_POS
            rec.a.append(1 if (i in forced_rec or r_) else 0)
        t.cols.update({"CATEGORY_ID": cat, "STAGE_ID": stage, "IS_RECURRING": rec})

    def stage_info(self, code: str) -> tuple:
        """stage code -> (category id, semantic 'P'/'S'/'F', index in pipeline, pipeline stages)."""
        return self._stage_index[code]

    def _gen_deal(self, id_, pos) -> dict:
        t, r, c, m = self._row_start("deal", id_, pos)
        rnd = r.random
        stage = t.cols["STAGE_ID"].get(pos)
        cat, sem, idx, _ = self.stage_info(stage)
        ip = self.init_pos("deal", id_)
        nh = self.deal_hist_n[ip] if ip is not None else 1
        moved = c + (m - c) * (nh - 1) // nh
        nrows = self.deal_nrows[ip] if ip is not None else 0
        if id_ in self.rows_override:
            nrows = len(self.rows_override[id_])
        cur = R.CURRENCIES[int(rnd() * 5)]
        a, b = rnd(), rnd()   # always drawn, so overriding product rows never shifts the other fields
        if nrows:
            opp = round(sum(p["PRICE"] * p["QUANTITY"] for p in self.productrows_raw(id_)), 2)
        else:
            opp = round(int(a * 2_000_000) / 100.0, 2) if b < 0.9 else 0.0
        contacts = self.deal_contacts_raw(id_, r)
        row = {"ID": id_,
               "TITLE": f"{R.DEAL_WORDS[int(rnd() * 10)]} #{id_}" if rnd() < 0.8 else f"Deal #{id_}",
               "TYPE_ID": None if rnd() < 0.1 else R.DIRECTORIES["DEAL_TYPE"][int(rnd() * 5)][0],
               "STAGE_SEMANTIC_ID": sem, "IS_NEW": "Y" if idx == 0 else "N",
               "IS_RETURN_CUSTOMER": "Y" if rnd() < 0.2 else "N", "IS_REPEATED_APPROACH": "N",
               "PROBABILITY": None if rnd() < 0.6 else int(rnd() * 10) * 10,
               "CURRENCY_ID": cur, "OPPORTUNITY": opp, "IS_MANUAL_OPPORTUNITY": "N" if nrows else "Y",
               "TAX_VALUE": 0.0,
               "COMPANY_ID": 0 if rnd() < 0.35 else self.pick("company", rnd),
               "CONTACT_ID": contacts[0][0] if contacts else None,
               "QUOTE_ID": None,
               "BEGINDATE": self.clock.day_of(c),
               "CLOSEDATE": self.clock.day_of(c) + 7 + int(rnd() * 60),
               "OPENED": "Y" if rnd() < 0.9 else "N", "CLOSED": "N" if sem == "P" else "Y",
               "COMMENTS": self._comment(rnd)}
        self._people(rnd, row, c, m)
        row["MOVED_BY_ID"] = row["ASSIGNED_BY_ID"] if nh > 1 else row["CREATED_BY_ID"]
        row["MOVED_TIME"] = moved
        row.update({"SOURCE_ID": None if rnd() < 0.2 else R.DIRECTORIES["SOURCE"][int(rnd() * 13)][0],
                    "SOURCE_DESCRIPTION": None, "LEAD_ID": None if rnd() < 0.7 else self.pick("lead", rnd),
                    "ADDITIONAL_INFO": None, "LOCATION_ID": None, "ORIGINATOR_ID": None, "ORIGIN_ID": None})
        self._utm(rnd, row)
        self._last_activity(rnd, row, c, m)
        spa_ids = self.init_ids.get("spa128")
        row["PARENT_ID_128"] = spa_ids[int(rnd() * len(spa_ids))] if (spa_ids and rnd() < 0.1) else None
        row["_contacts"] = contacts
        row["_contactIds"] = [x[0] for x in contacts]
        self._gen_ufs(r, "deal", id_, row, c)
        return row

    def deal_contacts_raw(self, deal_id, r) -> list:
        """[(contact_id, sort, role_id, is_primary)] - 0, 1 or several, exactly one primary."""
        rnd = r.random
        x = rnd()
        n = 0 if x < 0.3 else 1 if x < 0.75 else 2 + int(rnd() * 3)
        seen, out = set(), []
        for k in range(n):
            cid = self.pick("contact", rnd)
            if cid in seen:
                continue
            seen.add(cid)
            out.append((cid, 10 * (k + 1) * 10, 0, "Y" if not out else "N"))
        if deal_id in self.contacts_override:   # generated anyway so the row's random stream stays aligned
            return list(self.contacts_override[deal_id])
        return out
