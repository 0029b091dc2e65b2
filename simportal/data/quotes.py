"""Quotes and smart invoices (entityTypeId 31).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array

from .. import refdata as R
from ..store import IntCol, StrCol, Table


class Quotes:
    def _build_quotes(self, n) -> None:
        rnd = self.seq_rng("quote").random
        ids = self._ids(n, rnd)
        created, modified = self._times(n, rnd, 0.6)
        status = StrCol()
        codes = [status.code(s[0]) for s in R.QUOTE_STATUSES]
        for _ in range(n):
            status.a.append(codes[self._weighted_index(rnd, R.QUOTE_STATUS_WEIGHTS)])
        t = Table("quote", self._gen_quote, {"DATE_CREATE": IntCol(created), "DATE_MODIFY": IntCol(modified),
                                            "STATUS_ID": status}, modify_key="DATE_MODIFY", create_key="DATE_CREATE")
        t.ids = ids
        self.tables["quote"] = t
        self.init_ids["quote"] = array("q", ids)
        self.ufs["quote"] = []
        for i, (code, name, sem) in enumerate(R.QUOTE_STATUSES):
            self._add_status("QUOTE_STATUS", code, name, 10 * (i + 1), "Y", sem=sem, stage=True)

    @staticmethod
    def _weighted_index(rnd, weights) -> int:
        x = rnd() * sum(weights)
        for i, w in enumerate(weights):
            x -= w
            if x < 0:
                return i
        return len(weights) - 1

    def _gen_quote(self, id_, pos) -> dict:
        t = self.tables["quote"]
        rnd = self.rng("quote", id_).random
        c = t.cols["DATE_CREATE"].a[pos]
        status = t.cols["STATUS_ID"].get(pos)
        assigned = self.user_pick(rnd)
        deal = self.pick("deal", rnd) if rnd() < 0.6 else None
        return {"ID": id_, "TITLE": f"Quote #{id_}", "QUOTE_NUMBER": f"Q-{id_:05d}",
                "CURRENCY_ID": R.CURRENCIES[int(rnd() * 5)], "OPPORTUNITY": round(int(rnd() * 5_000_000) / 100.0, 2),
                "TAX_VALUE": 0.0, "DEAL_ID": deal, "LEAD_ID": None if rnd() < 0.8 else self.pick("lead", rnd),
                "COMPANY_ID": None if rnd() < 0.3 else self.pick("company", rnd),
                "CONTACT_ID": None if rnd() < 0.4 else self.pick("contact", rnd),
                "MYCOMPANY_ID": self.init_ids["company"][0], "BEGINDATE": self.clock.day_of(c),
                "CLOSEDATE": self.clock.day_of(c) + 30, "CLOSED": "Y" if status in ("APPROVED", "DECLAINED") else "N",
                "OPENED": "Y", "COMMENTS": None if rnd() < 0.7 else "Prices valid for 30 days",
                "ASSIGNED_BY_ID": assigned, "CREATED_BY_ID": assigned, "MODIFY_BY_ID": assigned}

    def _build_invoices(self, n) -> None:
        etid, key = 31, "spa31"
        spec = R.BUILTIN_TYPES[etid]
        rnd = self.seq_rng(key).random
        ids = self._ids(n, rnd, 0.01)
        created, modified = self._times(n, rnd, 0.6)
        cat, stage = IntCol(), StrCol()
        (cid, (_, _, _, stages)), = spec["categories"].items()
        for i, (code, _, sem) in enumerate(stages):
            self._stage_index[code] = (cid, sem or "P", i, [s[0] for s in stages if s[2] is None])
            self._add_status(f"SMART_INVOICE_STAGE_{cid}", code, _, 10 * (i + 1), "Y", cat=cid, sem=sem, stage=True)
        for _ in range(n):
            cat.a.append(cid)
            stage.a.append(stage.code(stages[int(rnd() * len(stages))][0]))
        self._add_item_table(key, etid, ids, created, modified, cat, stage, [])
