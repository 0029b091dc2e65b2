"""Tasks (tasks.task.list).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array

from .. import refdata as R
from ..store import IntCol, Table
from .common import DAY


class Tasks:
    def _build_tasks(self, n) -> None:
        rnd = self.seq_rng("task").random
        ids = self._ids(n, rnd)
        created, modified = self._times(n, rnd, 0.7)
        status = IntCol()
        for _ in range(n):
            x = rnd()
            status.a.append(2 if x < 0.3 else 3 if x < 0.5 else 4 if x < 0.55 else 5 if x < 0.95 else 6)
        t = Table("task", self._gen_task, {"CREATED_DATE": IntCol(created), "CHANGED_DATE": IntCol(modified),
                                           "STATUS": status}, modify_key="CHANGED_DATE", create_key="CREATED_DATE")
        t.ids = ids
        self.tables["task"] = t
        self.init_ids["task"] = array("q", ids)

    def _gen_task(self, id_, pos) -> dict:
        t = self.tables["task"]
        rnd = self.rng("task", id_).random
        c = t.cols["CREATED_DATE"].a[pos]
        status = t.cols["STATUS"].a[pos]
        creator, responsible = self.user_pick(rnd), self.user_pick(rnd)
        crm = []
        if rnd() < 0.5:
            crm.append(f"D_{self.pick('deal', rnd)}")
        if rnd() < 0.3:
            crm.append(f"C_{self.pick('contact', rnd)}")
        deadline = None if rnd() < 0.3 else c + int(rnd() * 14 * DAY)
        return {"ID": id_, "PARENT_ID": None, "TITLE": f"{R.TASK_TITLES[int(rnd() * len(R.TASK_TITLES))]} #{id_}",
                "DESCRIPTION": "" if rnd() < 0.5 else "See the [B]deal[/B] for details",
                "MARK": None, "PRIORITY": 2 if rnd() < 0.2 else 1, "MULTITASK": "N", "NOT_VIEWED": "N",
                "REPLICATE": "N", "GROUP_ID": 0, "STAGE_ID": 0, "CREATED_BY": creator, "RESPONSIBLE_ID": responsible,
                "ACCOMPLICES": sorted({self.user_pick(rnd) for _ in range(int(rnd() * 2))}),
                "AUDITORS": sorted({self.user_pick(rnd) for _ in range(int(rnd() * 3))}),
                "CHANGED_BY": responsible, "STATUS_CHANGED_BY": responsible,
                "CLOSED_BY": responsible if status == 5 else None,
                "CLOSED_DATE": t.cols["CHANGED_DATE"].a[pos] if status == 5 else None,
                "DATE_START": c if status >= 3 else None, "DEADLINE": deadline,
                "ALLOW_CHANGE_DEADLINE": "Y" if rnd() < 0.5 else "N", "TASK_CONTROL": "N",
                "TIME_ESTIMATE": int(rnd() * 8) * 3600, "COMMENTS_COUNT": int(rnd() * 6),
                "UF_CRM_TASK": crm, "UF_TASK_WEBDAV_FILES": [],
                "UF_AUTO_274515931": None if rnd() < 0.6 else f"TICKET-{int(rnd() * 9000) + 1000}"}
