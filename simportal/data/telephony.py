"""Call records (voximplant) and open lines (imopenlines).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array

from ..store import IntCol, Table
from .common import DAY


class Telephony:
    def _build_calls(self) -> None:
        n = self.n_calls
        rnd = self.seq_rng("call").random
        created, _ = self._times(n, rnd, 0.0)
        t = Table("call", self._gen_call, {"CALL_START_DATE": IntCol(created)}, create_key="CALL_START_DATE")
        t.ids = array("q", range(1, n + 1))
        self.tables["call"] = t

    def _gen_call(self, id_, pos) -> dict:
        r = self.rng("call", id_)
        rnd = r.random
        start = self.tables["call"].cols["CALL_START_DATE"].a[pos]
        x = rnd()
        code = "200" if x < 0.7 else "304" if x < 0.85 else "603" if x < 0.92 else "486"
        dur = int(rnd() * 900) if code == "200" else 0
        rec = code == "200" and rnd() < 0.5
        ctype = str([1, 2, 2, 3, 4, 5][int(rnd() * 6)])
        ent = ["CONTACT", "CONTACT", "COMPANY", "LEAD", None][int(rnd() * 5)]
        eid = self.pick(ent.lower(), rnd) if ent else None
        ext = rnd() < 0.3
        return {"ID": id_, "PORTAL_USER_ID": self.user_pick(rnd), "PORTAL_NUMBER": "reg1" if not ext else "3",
                "PHONE_NUMBER": f"{int(rnd() * 9e10) + 10**10}", "CALL_ID": f"externalCall.{id_:032x}.{start}"
                if ext else f"{id_:08X}.{start}.{int(rnd() * 1e6)}",
                "EXTERNAL_CALL_ID": None, "CALL_CATEGORY": "external" if ext else "",
                "CALL_LOG": None, "CALL_DURATION": dur, "CALL_START_DATE": start,
                "CALL_RECORD_URL": None, "CALL_VOTE": None if rnd() < 0.7 else 1 + int(rnd() * 5),
                "COST": f"{rnd() * 2:.4f}", "COST_CURRENCY": "" if ext else "USD", "CALL_FAILED_CODE": code,
                "CALL_FAILED_REASON": {"200": "", "304": "Missed call", "603": "Call declined",
                                       "486": "Busy"}[code],
                "CRM_ENTITY_TYPE": ent, "CRM_ENTITY_ID": eid, "CRM_ACTIVITY_ID": None if not ent else 5000 + id_,
                "REST_APP_ID": "3" if ext else None, "REST_APP_NAME": "My PBX" if ext else None,
                "TRANSCRIPT_ID": None, "TRANSCRIPT_PENDING": "N", "SESSION_ID": None if ext else 70000 + id_,
                "REDIAL_ATTEMPT": None, "COMMENT": None, "RECORD_DURATION": dur if rec else None,
                "RECORD_FILE_ID": 400_000 + id_ if rec else None, "CALL_TYPE": ctype}

    def _build_openlines(self) -> None:
        t = Table("openline", self._gen_openline, {"DATE_MODIFY": IntCol()}, modify_key="DATE_MODIFY")
        names = ["Website chat", "Telegram support", "VIP Support Line", "Instagram Direct"]
        self._ol_names = names
        for i in range(4):
            t.ids.append(i + 1)
            t.cols["DATE_MODIFY"].append(self.t0 + (i + 1) * 90 * DAY)
        self.tables["openline"] = t

    def _gen_openline(self, id_, pos) -> dict:
        r = self.rng("openline", id_)
        rnd = r.random
        queue = sorted({self.user_pick(rnd) for _ in range(1 + int(rnd() * 3))})
        name = self._ol_names[id_ - 1] if id_ - 1 < len(self._ol_names) else f"Line {id_}"
        return {"ID": id_, "ACTIVE": "N" if id_ == 4 else "Y", "LINE_NAME": name,
                "CRM": "Y", "CRM_CREATE": ["LEAD", "DEAL", "NONE"][id_ % 3], "CRM_SOURCE": "OPENLINE",
                "CRM_FORWARD": "Y", "CRM_TRANSFER_CHANGE": "Y", "QUEUE_TIME": "60", "NO_ANSWER_TIME": "60",
                "QUEUE_TYPE": ["evenly", "strictly", "all"][id_ % 3], "CHECK_AVAILABLE": "N",
                "WATCH_TYPING": "Y", "WORKTIME_ENABLE": "Y" if id_ % 2 else "N", "WORKTIME_FROM": "9",
                "WORKTIME_TO": "18.30", "WORKTIME_TIMEZONE": "Europe/Berlin",
                "WORKTIME_HOLIDAYS": [] if id_ % 2 else ["01.01", "25.12"], "WORKTIME_DAYOFF": ["SA", "SU"],
                "WORKTIME_DAYOFF_RULE": "text", "CLOSE_RULE": "text", "WELCOME_MESSAGE": "Y",
                "LANGUAGE_ID": "en", "XML_ID": None, "MODIFY_USER_ID": str(queue[0]),
                "DATE_CREATE": self.t0 + id_ * 30 * DAY, "TEMPORARY": "N", "_QUEUE": queue}
