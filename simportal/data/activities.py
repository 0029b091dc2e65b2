"""Activities (calls, e-mails, meetings, to-dos, open-line chats, tasks): owner and time columns, rows.

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from array import array

from .. import refdata as R
from ..store import IntCol, Table
from .common import DAY, PORTAL_HOST


class ActivityRows:
    def _build_activity(self, ids, rnd) -> None:
        n = len(ids)
        created, modified = self._times(n, rnd, 0.5)
        start, otype, oid = array("q"), array("q"), array("q")
        ents = [(2, "deal", 0.45), (3, "contact", 0.75), (1, "lead", 0.95), (4, "company", 1.0)]
        for i in range(n):
            x = rnd()
            code, ent, _ = next(e for e in ents if x < e[2])   # the last threshold is 1.0
            otype.append(code)
            oid.append(self.pick(ent, rnd))
            start.append(created[i] + int((rnd() - 0.3) * 5 * DAY))
        cols = {"CREATED": IntCol(created), "LAST_UPDATED": IntCol(modified), "START_TIME": IntCol(start),
                "OWNER_TYPE_ID": IntCol(otype), "OWNER_ID": IntCol(oid)}
        t = Table("activity", self._gen_activity, cols, modify_key="LAST_UPDATED", create_key="CREATED")
        t.ids = ids
        self.tables["activity"] = t

    _PROVIDERS = [  # (TYPE_ID, PROVIDER_ID, PROVIDER_TYPE_ID, subject, weight)
        (2, "VOXIMPLANT_CALL", "CALL", "Call", 0.35), (4, "CRM_EMAIL", "EMAIL", "E-mail", 0.6),
        (1, "CRM_MEETING", "MEETING", "Meeting", 0.7), (6, "CRM_TODO", "TODO", "To-do", 0.85),
        (6, "IMOPENLINES_SESSION", "IMOPENLINES_SESSION", "Open Channel chat", 0.93),
        (3, "TASKS", "TASK", "Task", 1.0)]

    def _gen_activity(self, id_, pos) -> dict:
        t = self.tables["activity"]
        cols = t.cols
        r = self.rng("activity", id_)
        rnd = r.random
        created = cols["CREATED"].a[pos]
        updated = cols["LAST_UPDATED"].a[pos]
        start = cols["START_TIME"].a[pos]
        otype, oid = cols["OWNER_TYPE_ID"].a[pos], cols["OWNER_ID"].a[pos]
        x = rnd()
        type_id, prov, ptype, subj, _ = next(p for p in self._PROVIDERS if x < p[4])   # the last weight is 1.0
        completed = rnd() < 0.7 or updated > created + DAY
        direction = 0 if type_id not in (2, 4) else (1 if rnd() < 0.5 else 2)
        end = start + (int(rnd() * 3600) if type_id != 6 else 0)
        resp = self.user_pick(rnd)
        # communication with a contact (or the owner's client)
        comm_cid = oid if otype == 3 else self.pick("contact", rnd)
        if type_id == 4:
            ctype, cval = "EMAIL", f"client{comm_cid}.0@example.com"
        elif type_id == 2:
            ctype, cval = "PHONE", f"+{int(rnd() * 9e10):011d}"
        else:
            ctype, cval = "", ""
        comms = []
        if type_id != 3 and rnd() < 0.9:
            comms.append({"ID": str(id_ * 3 + 7), "TYPE": ctype, "VALUE": cval, "ENTITY_ID": str(comm_cid),
                          "ENTITY_TYPE_ID": "3",
                          "ENTITY_SETTINGS": {"HONORIFIC": "", "NAME": R.FIRST_NAMES[comm_cid % 30],
                                              "SECOND_NAME": "", "LAST_NAME": R.LAST_NAMES[comm_cid % 25],
                                              "COMPANY_TITLE": "", "COMPANY_ID": ""}})
        bindings = [{"OWNER_TYPE_ID": str(otype), "OWNER_ID": str(oid)}]
        if otype != 3 and comms:
            bindings.append({"OWNER_TYPE_ID": "3", "OWNER_ID": str(comm_cid)})
        settings = {} if type_id != 4 else {"EMAIL_META": {"__email": f"client{comm_cid}.0@example.com",
                                                           "from": "sales@example.com", "replyTo": "", "to": "",
                                                           "cc": "", "bcc": ""}, "SANITIZE_ON_VIEW": 1}
        files = [] if rnd() < 0.9 else [{"id": 900_000 + id_,
                                          "url": f"https://{PORTAL_HOST}/bitrix/tools/crm_show_file.php?"
                                                 f"fileId={900_000 + id_}&ownerTypeId=6&ownerId={id_}"}]
        return {
            "ID": id_, "TYPE_ID": type_id, "PROVIDER_ID": prov, "PROVIDER_TYPE_ID": ptype,
            "PROVIDER_GROUP_ID": None,
            "ASSOCIATED_ENTITY_ID": 0 if type_id != 3 else 10_000 + id_,
            "SUBJECT": f"{subj} {R.FIRST_NAMES[comm_cid % 30]} {R.LAST_NAMES[comm_cid % 25]}",
            "END_TIME": end, "DEADLINE": end if type_id != 6 or rnd() < 0.5 else None,
            "COMPLETED": "Y" if completed else "N", "STATUS": 2 if completed else 1,
            "RESPONSIBLE_ID": resp, "PRIORITY": 2 if rnd() < 0.8 else 3, "NOTIFY_TYPE": 1 if rnd() < 0.6 else 0,
            "NOTIFY_VALUE": 15, "DESCRIPTION": "" if rnd() < 0.5 else "Discussed the [B]proposal[/B]",
            "DESCRIPTION_TYPE": 1 if rnd() < 0.6 else (2 if rnd() < 0.5 else 3), "DIRECTION": direction,
            "LOCATION": "", "SETTINGS": settings, "ORIGINATOR_ID": None, "ORIGIN_ID": None, "AUTHOR_ID": resp,
            "EDITOR_ID": resp if updated == created else self.user_pick(rnd),
            "PROVIDER_PARAMS": {} if type_id != 2 else {"RECORD_ID": 0},
            "PROVIDER_DATA": None, "RESULT_MARK": 0, "RESULT_VALUE": None, "RESULT_SUM": None,
            "RESULT_CURRENCY_ID": None, "RESULT_STATUS": 0, "RESULT_STREAM": 0, "RESULT_SOURCE_ID": None,
            "AUTOCOMPLETE_RULE": 0, "IS_INCOMING_CHANNEL": "Y" if direction == 1 else "N",
            "BINDINGS": bindings, "COMMUNICATIONS": comms, "FILES": files, "WEBDAV_ELEMENTS": [],
        }
