"""Requisites of companies and contacts, and their addresses (no ID of their own).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array

from .. import refdata as R
from ..store import IntCol, Table


class Requisites:
    def _build_requisites(self) -> None:
        """One requisite for most companies and a few contacts (ENTITY_TYPE_ID 4 / 3); each has a
        legal address (TYPE_ID 6) and some an actual one (TYPE_ID 1), bound to the requisite
        (ENTITY_TYPE_ID 8) and anchored to its company or contact."""
        rnd = self.seq_rng("requisite").random
        owners = [(4, c) for c in self.init_ids["company"] if rnd() < 0.75]
        owners += [(3, c) for c in self.init_ids["contact"] if rnd() < 0.05]
        owners.sort(key=lambda o: rnd())
        n = len(owners)
        created, modified = self._times(n, rnd, 0.3)
        t = Table("requisite", self._gen_requisite, {"DATE_CREATE": IntCol(created), "DATE_MODIFY": IntCol(modified),
                                                     "ENTITY_TYPE_ID": IntCol(array("q", (o[0] for o in owners))),
                                                     "ENTITY_ID": IntCol(array("q", (o[1] for o in owners)))},
                  modify_key="DATE_MODIFY", create_key="DATE_CREATE")
        t.ids = array("q", range(1, n + 1))
        self.tables["requisite"] = t
        self.ufs["requisite"] = []
        a = Table("address", self._gen_address, {"TYPE_ID": IntCol(), "ENTITY_TYPE_ID": IntCol(), "ENTITY_ID": IntCol()})
        seq = 0
        for rid in t.ids:
            for type_id in ((6, 1) if rnd() < 0.4 else (6,)):
                seq += 1
                a.ids.append(seq)
                a.cols["TYPE_ID"].append(type_id)
                a.cols["ENTITY_TYPE_ID"].append(8)
                a.cols["ENTITY_ID"].append(rid)
        self.tables["address"] = a
        self.ufs["address"] = []

    def _gen_requisite(self, id_, pos) -> dict:
        t = self.tables["requisite"]
        rnd = self.rng("requisite", id_).random
        etype = t.cols["ENTITY_TYPE_ID"].a[pos]
        company = etype == 4
        return {"ID": id_, "PRESET_ID": 1 if company else 3, "NAME": "Organization" if company else "Individual",
                "CODE": None, "XML_ID": None, "ORIGINATOR_ID": None, "ACTIVE": "Y", "ADDRESS_ONLY": "N", "SORT": 500,
                "CREATED_BY_ID": 1, "MODIFY_BY_ID": 1,
                "RQ_COMPANY_NAME": f"{R.COMPANY_WORDS[int(rnd() * len(R.COMPANY_WORDS))]} {R.COMPANY_SUFFIX[0]}"
                if company else None,
                "RQ_NAME": None if company else R.FIRST_NAMES[int(rnd() * len(R.FIRST_NAMES))],
                "RQ_INN": f"{int(rnd() * 9e9) + 10**9}", "RQ_KPP": None if not company else f"{int(rnd() * 9e8) + 10**8}",
                "RQ_VAT_ID": None if rnd() < 0.5 else f"DE{int(rnd() * 9e8) + 10**8}"}

    def _gen_address(self, id_, pos) -> dict:
        a, t = self.tables["address"], self.tables["requisite"]
        rnd = self.rng("address", id_).random
        rpos = t.pos(a.cols["ENTITY_ID"].a[pos])
        city, country, code, _ = R.CITIES[int(rnd() * len(R.CITIES))]
        return {"ADDRESS_1": R.STREETS[int(rnd() * len(R.STREETS))], "ADDRESS_2": None if rnd() < 0.6 else "Office 4",
                "CITY": city, "POSTAL_CODE": f"{int(rnd() * 90000) + 10000}", "REGION": None, "PROVINCE": None,
                "COUNTRY": country, "COUNTRY_CODE": None, "LOC_ADDR_ID": 1000 + id_,
                "ANCHOR_TYPE_ID": t.cols["ENTITY_TYPE_ID"].a[rpos] if rpos is not None else None,
                "ANCHOR_ID": t.cols["ENTITY_ID"].a[rpos] if rpos is not None else None, "_code": code}
