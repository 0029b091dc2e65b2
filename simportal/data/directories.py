"""Statuses and stages (crm.status.list) and pipelines (crm.category.list).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from .. import refdata as R


class Directories:
    def _build_statuses(self) -> None:
        rows = []
        sid = 0

        def add(entity, code, name, sort, system, cat=None, sem=None, stage=False) -> None:
            nonlocal sid
            sid += 1
            row = {"ID": str(sid), "ENTITY_ID": entity, "STATUS_ID": code, "NAME": name,
                   "NAME_INIT": name if system == "Y" else "", "SORT": str(sort), "SYSTEM": system,
                   "CATEGORY_ID": None if cat is None else str(cat)}
            if stage:
                color = R.STAGE_COLORS[sem]
                row.update({"COLOR": color, "SEMANTICS": sem,
                            "EXTRA": {"SEMANTICS": R.EXTRA_SEM[sem] if code not in ("APOLOGY",) else "apology",
                                      "COLOR": color}})
            rows.append(row)

        for ent, items in R.DIRECTORIES.items():
            for i, (code, name) in enumerate(items):
                add(ent, code, name, 10 * (i + 1), "N" if code.startswith("UC_") else "Y")
        for i, (code, name, sem) in enumerate(R.LEAD_PIPELINE[1]):
            add("STATUS", code, name, 10 * (i + 1), "N" if "UC_" in code else "Y", sem=sem, stage=True)
        for cat, (_, _, ent, stages) in R.DEAL_PIPELINES.items():
            for i, (code, name, sem) in enumerate(stages):
                add(ent, code, name, 10 * (i + 1), "N" if "UC_" in code else "Y", cat=cat or None, sem=sem,
                    stage=True)
        for etid, spec in R.SPA_TYPES.items():
            for cat, (_, _, _, stages) in spec["categories"].items():
                for i, (code, name, sem) in enumerate(stages):
                    add(f"DYNAMIC_{etid}_STAGE_{cat}", code, name, 10 * (i + 1), "Y", cat=cat, sem=sem, stage=True)
        self.statuses = rows

    def categories(self, etid: int) -> list:
        if etid == 2:
            out = []
            for cid, (name, sort, _, _) in R.DEAL_PIPELINES.items():
                d = {"id": cid, "name": name, "sort": sort, "entityTypeId": 2, "isDefault": "Y" if cid == 0 else "N"}
                if cid:
                    d.update(originId="", originatorId="")
                out.append(d)
            return out
        spec = R.SPA_TYPES.get(etid)
        if not spec:
            return []
        return [{"id": cid, "name": name, "sort": sort, "entityTypeId": etid, "isDefault": "Y" if dflt else "N",
                 "originId": "", "originatorId": ""}
                for cid, (name, sort, dflt, _) in spec["categories"].items()]

    def _add_status(self, entity, code, name, sort, system, cat=None, sem=None, stage=False) -> None:
        row = {"ID": str(len(self.statuses) + 1), "ENTITY_ID": entity, "STATUS_ID": code, "NAME": name,
               "NAME_INIT": name if system == "Y" else "", "SORT": str(sort), "SYSTEM": system,
               "CATEGORY_ID": None if cat is None else str(cat)}
        if stage:
            color = R.STAGE_COLORS[sem]
            row.update({"COLOR": color, "SEMANTICS": sem, "EXTRA": {"SEMANTICS": R.EXTRA_SEM[sem], "COLOR": color}})
        self.statuses.append(row)
