"""Smart-process items (SPA entityTypeId 128 and 1032) and their user fields.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array
from typing import Callable

from .. import refdata as R
from ..schema import UF, Field
from ..store import IntCol, StrCol, Table


class SmartProcesses:
    def _build_spa(self) -> None:
        for etid, spec in R.SPA_TYPES.items():
            key = f"spa{etid}"
            rnd = self.seq_rng(key).random
            n = self.n_spa[etid]
            ids = self._ids(n, rnd, 0.01)
            created, modified = self._times(n, rnd, 0.6)
            cat, stage = IntCol(), StrCol()
            cats = list(spec["categories"].items())
            for _ in range(n):
                cid, (_, _, _, stages) = cats[0] if (len(cats) == 1 or rnd() < 0.75) else cats[1]
                cat.a.append(cid)
                stage.a.append(stage.code(stages[int(rnd() * len(stages))][0]))
            self._add_item_table(key, etid, ids, created, modified, cat, stage, self._spa_ufs(etid, spec["id"]))

    def _add_item_table(self, key: str, etid: int, ids: array, created: array, modified: array, cat: IntCol,
                        stage: StrCol, ufs: list) -> None:
        """Register the table of a crm.item type (an SPA, the smart invoices): compact columns, rows from
        `_gen_spa`."""
        t = Table(key, self._gen_spa(etid), {"createdTime": IntCol(created), "updatedTime": IntCol(modified),
                                             "categoryId": cat, "stageId": stage},
                  modify_key="updatedTime", create_key="createdTime")
        t.ids = ids
        self.tables[key] = t
        self.init_ids[key] = array("q", ids)
        self.ufs[key] = ufs

    def _spa_ufs(self, etid, type_id) -> list:
        out = []
        base = 1721812915 if etid == 128 else 1730000000
        defs = [(1, "money", False, "Budget"), (2, "enumeration", False, "Priority"), (3, "boolean", False, "Urgent"),
                (4, "date", False, "Due date"), (5, "string", True, "Serial numbers"), (6, "employee", False,
                                                                                       "Engineer")]
        for num, t, mult, label in defs:
            code = f"ufCrm{type_id}_{base}{num:03d}"
            items = None
            if t == "enumeration":
                items = [(self._enum_next + k, v) for k, v in enumerate(["Low", "Normal", "High"])]
                self._enum_next += 3
            f = Field(code, t, label, UF, multiple=mult, group="uf", uf_type=t, label=label, items=items,
                      empty_rate=0.25, upper=f"UF_CRM_{type_id}_{base}{num:03d}")
            f.extra["_num"] = num
            out.append(f)
        return out

    def _gen_spa(self, etid) -> Callable[[int, int], dict]:
        spec = R.type_spec(etid)
        key = f"spa{etid}"
        flags = spec["flags"]

        def gen(id_, pos) -> dict:
            t = self.tables[key]
            r = self.rng(key, id_)
            rnd = r.random
            c, m = t.cols["createdTime"].a[pos], t.cols["updatedTime"].a[pos]
            stage = t.cols["stageId"].get(pos)
            dates = flags["isBeginCloseDatesEnabled"] == "Y"
            client = flags["isClientEnabled"] == "Y"
            contacts = sorted({self.pick("contact", rnd) for _ in range(int(rnd() * 3))}) if client else []
            assigned = self.user_pick(rnd)
            row = {"id": id_, "xmlId": None, "title": f"{spec['title']} #{id_}", "createdBy": assigned,
                   "updatedBy": assigned if m == c else self.user_pick(rnd), "movedBy": assigned,
                   "movedTime": c, "opened": "Y" if rnd() < 0.8 else "N", "previousStageId": "",
                   "begindate": self.clock.day_of(c) if dates else None,
                   "closedate": self.clock.day_of(c) + 14 if dates else None,
                   "companyId": (0 if rnd() < 0.3 else self.pick("company", rnd)) if client else None,
                   "contactId": (contacts[0] if contacts else 0) if client else None,
                   "contactIds": contacts,
                   "opportunity": round(int(rnd() * 100000) / 100.0, 2), "isManualOpportunity": "Y",
                   "taxValue": 0.0, "currencyId": R.CURRENCIES[int(rnd() * 5)],
                   "mycompanyId": (self.init_ids["company"][0] if rnd() < 0.5 else 0) if client else None,
                   "sourceId": R.DIRECTORIES["SOURCE"][int(rnd() * 13)][0] if flags["isSourceEnabled"] == "Y"
                   else None,
                   "sourceDescription": None, "webformId": 0, "assignedById": assigned,
                   "lastActivityBy": assigned, "lastActivityTime": m,
                   "observers": sorted({self.user_pick(rnd) for _ in range(int(rnd() * 3))}),
                   "parentId2": self.pick("deal", rnd) if rnd() < 0.4 else None,
                   "entityTypeId": etid}
            row["stageSemanticId"] = self.stage_info(stage)[1]
            self._gen_ufs(r, key, id_, row, c)
            return row
        return gen
