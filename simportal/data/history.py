"""Stage history of deals, leads and SPA items, consistent with the current stage.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from .. import refdata as R
from ..store import IntCol, StrCol, Table


class StageHistory:
    def _build_history(self) -> None:
        idx = {}
        for cat, (_, _, _, stages) in R.DEAL_PIPELINES.items():
            proc = [s[0] for s in stages if s[2] is None]
            for i, (code, _, sem) in enumerate(stages):
                idx[code] = (cat, sem or "P", i, proc)
        for spec in R.SPA_TYPES.values():
            for cat, (_, _, _, stages) in spec["categories"].items():
                proc = [s[0] for s in stages if s[2] is None]
                for i, (code, _, sem) in enumerate(stages):
                    idx[code] = (cat, sem or "P", i, proc)
        lead_proc = [s[0] for s in R.LEAD_PIPELINE[1] if s[2] is None]
        self._lead_sem = {}
        for i, (code, _, sem) in enumerate(R.LEAD_PIPELINE[1]):
            idx["L:" + code] = (None, sem or "P", i, lead_proc)
            self._lead_sem[code] = sem or "P"
        self._stage_index = idx
        self.deal_hist_n, self.tables["deal_stage_history"] = self._hist_table(
            "deal", "STAGE_ID", lambda s: s, "deal_stage_history")
        self.lead_hist_n, self.tables["lead_stage_history"] = self._hist_table(
            "lead", "STATUS_ID", lambda s: "L:" + s, "lead_stage_history")
        for etid in R.SPA_TYPES:
            _, self.tables[f"spa{etid}_stage_history"] = self._hist_table(
                f"spa{etid}", "stageId", lambda s: s, f"spa{etid}_stage_history", spa=True)

    def _hist_table(self, ent, stage_col, keyf, name, spa=False) -> tuple:
        t = self.tables[ent]
        rnd = self.seq_rng(name).random
        ccol = "createdTime" if spa else "DATE_CREATE"
        mcol = "updatedTime" if spa else "DATE_MODIFY"
        created, modified = t.cols[ccol].a, t.cols[mcol].a
        stages = t.cols[stage_col]
        ns = bytearray()
        h = Table(name, None, {"OWNER_ID": IntCol(), "CREATED_TIME": IntCol(), "TYPE_ID": IntCol(),
                               "STAGE_ID": StrCol(), "CATEGORY_ID": IntCol()})
        oc, tc, ty, st, ca = (h.cols["OWNER_ID"].a, h.cols["CREATED_TIME"].a, h.cols["TYPE_ID"].a,
                              h.cols["STAGE_ID"], h.cols["CATEGORY_ID"].a)
        sidx = self._stage_index

        def gen(id_, pos) -> dict:
            return {"ID": id_, "SEM": sidx[keyf(st.get(pos))][1]}
        h.gen = gen
        hid = 0
        lead = ent == "lead"
        for pos in range(len(t.ids)):
            owner = t.ids[pos]
            code = stages.get(pos)
            cat, sem, i, proc = self._stage_index[keyf(code)]
            if sem == "P":
                path = proc[:proc.index(code) + 1]
            else:
                path = proc[:1 + int(rnd() * len(proc))] + [code]
            n = len(path)
            ns.append(n)
            c, m = created[pos], modified[pos]
            for k, s in enumerate(path):
                hid += 1
                h.ids.append(hid)
                oc.append(owner)
                tc.append(c + (m - c) * k // n)
                ty.append(1 if k == 0 else (3 if (k == n - 1 and sem != "P") else 2))
                st.append(s)
                ca.append(0 if lead else cat)
        return ns, h

    def hist_table_for(self, ent: str) -> Table:
        names = {"deal": "deal_stage_history", "lead": "lead_stage_history"}
        return self.tables[names.get(ent, f"{ent}_stage_history")]

    def add_history(self, ent: str, owner_id: int, stage: str, type_id: int, when: int) -> None:
        h = self.hist_table_for(ent)
        cat = None
        if ent != "lead":
            cat = self.stage_info(stage)[0]
        h.append_row(h.max_id() + 1, {"OWNER_ID": owner_id, "CREATED_TIME": when, "TYPE_ID": type_id,
                                      "STAGE_ID": stage, "CATEGORY_ID": 0 if ent == "lead" else cat})
