"""Generators of the non-core tables: users, departments, SPA items, stage history, timeline comments,
product rows, calls, open lines, directories.  Mixed into ``data.World``."""
from __future__ import annotations

import random
from array import array
from bisect import bisect_right

from . import refdata as R
from .schema import UF, Field
from .store import IntCol, StrCol, Table

DAY = 86400
PORTAL_HOST = "simportal.bitrix24.test"
ENT_CODE = {"lead": 1, "deal": 2, "contact": 3, "company": 4, "activity": 6, "product": 7, "user": 11,
            "department": 12, "call": 13, "openline": 14, "comment": 15, "prow": 16, "uf": 17,
            "spa128": 128, "spa1032": 1032}

def mix(seed: int, code: int, id_: int) -> int:
    return ((seed & 0xFFFFFFFF) * 1_000_003 + code) * 10_000_019 + id_




class ExtraGen:
    # ------------------------------------------------------------------ users / departments
    def _build_users(self):
        n = self.n_users
        rnd = self.seq_rng("user").random
        self.user_kind = {}   # id -> "employee" | "fired" | "extranet"
        for uid in range(1, n + 1):
            if uid <= 3:
                kind = "employee"
            elif uid in (4, n - 1):
                kind = "fired"
            elif uid in (5, n):
                kind = "extranet"
            else:
                x = rnd()
                kind = "fired" if x < 0.08 else "extranet" if x < 0.13 else "employee"
            self.user_kind[uid] = kind
        self.active_users = [u for u, k in self.user_kind.items() if k == "employee"]
        t = Table("user", self._gen_user, {"TIMESTAMP_X": IntCol()}, modify_key="TIMESTAMP_X")
        created, modified = self._times(n, rnd, 0.5)
        for i, uid in enumerate(range(1, n + 1)):
            t.ids.append(uid)
            t.cols["TIMESTAMP_X"].append(modified[i])
        self._user_reg = created
        self.tables["user"] = t

    def _gen_user(self, uid, pos):
        r = self.rng("user", uid)
        rnd = r.random
        kind = self.user_kind.get(uid, "employee")
        first = R.FIRST_NAMES[int(rnd() * len(R.FIRST_NAMES))]
        last = R.LAST_NAMES[int(rnd() * len(R.LAST_NAMES))]
        reg = self._user_reg[pos] if pos < len(self._user_reg) else self.anchor
        nd = self.n_departments
        dep = [] if kind == "extranet" else ([1] if uid == 1 else [1 + int(rnd() * nd)])
        if kind != "extranet" and rnd() < 0.1:
            dep.append(1 + int(rnd() * nd))
        row = {
            "ID": uid, "XML_ID": None if rnd() < 0.7 else f"ext{uid}", "ACTIVE": kind != "fired",
            "NAME": first, "LAST_NAME": last, "SECOND_NAME": "" if rnd() < 0.6 else None,
            "TITLE": None, "EMAIL": f"user{uid}@example.com",
            "LAST_LOGIN": None if rnd() < 0.2 else reg + int(rnd() * (self.anchor - reg)),
            "DATE_REGISTER": self.clock.day_of(reg), "TIME_ZONE": "" if rnd() < 0.7 else "Europe/Berlin",
            "TIME_ZONE_OFFSET": "0", "IS_ONLINE": "Y" if rnd() < 0.2 else "N",
            "TIMESTAMP_X": None, "LAST_ACTIVITY_DATE": True,
            "PERSONAL_GENDER": ["", "M", "F"][int(rnd() * 3)],
            "PERSONAL_PROFESSION": None, "PERSONAL_WWW": "" if rnd() < 0.8 else "https://example.org/~u",
            "PERSONAL_BIRTHDAY": None if rnd() < 0.5 else self.clock.day_of(self.anchor) - 9000 - int(rnd() * 9000),
            "PERSONAL_PHOTO": None if rnd() < 0.5 else f"https://{PORTAL_HOST}/upload/main/a1b/avatar{uid}.jpg",
            "PERSONAL_PHONE": None if rnd() < 0.6 else f"+1555{uid:07d}",
            "PERSONAL_MOBILE": None if rnd() < 0.5 else f"+1666{uid:07d}",
            "PERSONAL_CITY": None if rnd() < 0.5 else R.CITIES[int(rnd() * len(R.CITIES))][0],
            "PERSONAL_STATE": None, "PERSONAL_COUNTRY": None,
            "WORK_PHONE": None if rnd() < 0.5 else f"+1777{uid:07d}",
            "WORK_COMPANY": "Acme Corp" if kind != "extranet" else "Partner LLC",
            "WORK_POSITION": R.POSTS[int(rnd() * len(R.POSTS))] if rnd() < 0.8 else "",
            "WORK_CITY": None, "WORK_STATE": None, "WORK_COUNTRY": None,
            "UF_EMPLOYMENT_DATE": None if rnd() < 0.5 else self.clock.day_of(reg),
            "UF_DEPARTMENT": dep, "UF_PHONE_INNER": None if rnd() < 0.5 else str(100 + uid),
            "UF_SKYPE": None, "UF_INTERESTS": None,
            "USER_TYPE": "extranet" if kind == "extranet" else "employee",
        }
        return row

    def _build_departments(self):
        n = self.n_departments
        rnd = self.seq_rng("department").random
        self.dept_parent = {1: None}
        names = ["Acme Corp", "Sales Department", "R&D", "Support", "Marketing", "Finance", "HR", "Logistics"]
        t = Table("department", self._gen_department)
        for did in range(1, n + 1):
            t.ids.append(did)
            if did > 1:
                self.dept_parent[did] = 1 if did <= 4 else 1 + int(rnd() * (did - 1))
        self._dept_names = [names[i] if i < len(names) else f"Team {i}" for i in range(n)]
        self.tables["department"] = t

    def _gen_department(self, did, pos):
        r = self.rng("department", did)
        head = None if did == 3 or r.random() < 0.2 else self.active_users[int(r.random() * len(self.active_users))]
        name = self._dept_names[did - 1] if did - 1 < len(self._dept_names) else f"Team {did}"
        return {"ID": did, "NAME": name, "SORT": 500 if r.random() < 0.7 else 100 * (did % 5 + 1),
                "PARENT": self.dept_parent.get(did, 1), "UF_HEAD": head}


    # ---------------------------------------------------------------- SPA (crm.item)
    def _build_spa(self):
        for etid, spec in R.SPA_TYPES.items():
            key = f"spa{etid}"
            rnd = self.seq_rng(key).random
            n = self.n_spa[etid]
            ids = self._ids(n, rnd, 0.01)
            created, modified = self._times(n, rnd, 0.6)
            cat, stage = IntCol(), StrCol()
            cats = list(spec["categories"].items())
            for i in range(n):
                cid, (_, _, _, stages) = cats[0] if (len(cats) == 1 or rnd() < 0.75) else cats[1]
                cat.a.append(cid)
                stage.a.append(stage.code(stages[int(rnd() * len(stages))][0]))
            t = Table(key, self._gen_spa(etid), {"createdTime": IntCol(created), "updatedTime": IntCol(modified),
                                                 "categoryId": cat, "stageId": stage},
                      modify_key="updatedTime", create_key="createdTime")
            t.ids = ids
            self.tables[key] = t
            self.init_ids[key] = array("q", ids)
            self.ufs[key] = self._spa_ufs(etid, spec["id"])

    def _spa_ufs(self, etid, type_id):
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

    def _gen_spa(self, etid):
        spec = R.type_spec(etid)
        key = f"spa{etid}"
        flags = spec["flags"]

        def gen(id_, pos):
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

    # ---------------------------------------------------------------- stage history
    def _build_history(self):
        idx = {}
        for cat, (_, _, ent_id, stages) in R.DEAL_PIPELINES.items():
            proc = [s[0] for s in stages if s[2] is None]
            for i, (code, _, sem) in enumerate(stages):
                idx[code] = (cat, sem or "P", i, proc)
        for etid, spec in R.SPA_TYPES.items():
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

    def _hist_table(self, ent, stage_col, keyf, name, spa=False):
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

        def gen(id_, pos):
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

    def add_history(self, ent: str, owner_id: int, stage: str, type_id: int, when: int):
        h = self.hist_table_for(ent)
        cat = None
        if ent != "lead":
            cat = self.stage_info(stage)[0]
        h.append_row(h.max_id() + 1, {"OWNER_ID": owner_id, "CREATED_TIME": when, "TYPE_ID": type_id,
                                      "STAGE_ID": stage, "CATEGORY_ID": 0 if ent == "lead" else cat})

    # ---------------------------------------------------------------- children: comments, product rows
    def _build_children(self):
        n = len(self.init_ids["deal"])
        rnd = self.seq_rng("comment").random
        ncom, nrows = bytearray(n), bytearray(n)
        for i in range(n):
            x = rnd()
            ncom[i] = 0 if x < 0.8 else 1 + int(rnd() * 3)
            x = rnd()
            nrows[i] = 0 if x < 0.55 else 1 + int(rnd() * 4)
        heavy = min(2, n - 1)
        ncom[heavy] = 57     # one deal with more than 50 comments
        nrows[heavy] = 3
        self.heavy_comment_deal = self.init_ids["deal"][heavy]
        self.deal_ncom, self.deal_nrows = ncom, nrows
        self.deal_com_first = self._prefix(ncom, 1)
        self.deal_row_first = self._prefix(nrows, 1)
        self.extra_comments: dict = {}     # deal id -> [raw comment] added at run time
        self.comment_edits: dict = {}      # comment id -> new COMMENT text (generated or added comments)
        self.comment_deletes: dict = {}    # deal id -> {comment id} deleted at run time
        self.rows_override: dict = {}      # deal id -> [raw product row] replaced at run time
        self.contacts_override: dict = {}  # deal id -> [(contact, sort, role, primary)]
        self.next_comment_id = self.deal_com_first[-1] + ncom[-1] if n else 1
        self.next_row_id = self.deal_row_first[-1] + nrows[-1] if n else 1

    @staticmethod
    def _prefix(counts, start):
        out = array("q")
        cur = start
        for c in counts:
            out.append(cur)
            cur += c
        return out

    def comments_raw(self, deal_id: int) -> list:
        ip = self.init_pos("deal", deal_id)
        out = []
        if ip is not None and self.deal_ncom[ip]:
            t = self.tables["deal"]
            p = t.pos(deal_id)
            c = t.cols["DATE_CREATE"].a[p] if p is not None else self.t0
            r = random.Random(mix(self.seed, ENT_CODE["comment"], deal_id))
            rnd = r.random
            first = self.deal_com_first[ip]
            n = self.deal_ncom[ip]
            for k in range(n):
                cid = first + k
                when = c + int((self.anchor - c) * (k + rnd()) / (n + 1))
                author = self.user_pick(rnd)
                row = {"ID": cid, "ENTITY_ID": deal_id, "ENTITY_TYPE": "deal", "CREATED": when,
                       "COMMENT": R.COMMENTS[int(rnd() * 7)] or "Note", "AUTHOR_ID": author}
                if rnd() < 0.25:
                    fid = 300_000 + cid
                    row["FILES"] = {str(fid): {
                        "id": fid, "date": when, "type": "image" if rnd() < 0.5 else "file",
                        "name": f"scan_{cid}.png", "size": 1000 + int(rnd() * 90000),
                        "image": {"width": 640, "height": 480}, "authorId": author, "authorName": "",
                        "urlPreview": f"https://{PORTAL_HOST}/disk/showFile/{fid}/?&ncc=1&preview=Y",
                        "urlShow": f"https://{PORTAL_HOST}/disk/showFile/{fid}/?&ncc=1",
                        "urlDownload": f"https://{PORTAL_HOST}/disk/downloadFile/{fid}/?&ncc=1"}}
                out.append(row)
        out.extend(self.extra_comments.get(deal_id, []))
        gone = self.comment_deletes.get(deal_id)
        if gone:
            out = [r for r in out if r["ID"] not in gone]
        if self.comment_edits:
            out = [{**r, "COMMENT": self.comment_edits[r["ID"]]} if r["ID"] in self.comment_edits else r for r in out]
        return out

    def comment_owner(self, comment_id: int):
        """The deal a (not deleted) comment belongs to, or None."""
        ids = self.init_ids["deal"]
        ip = bisect_right(self.deal_com_first, comment_id) - 1
        owner = None
        if 0 <= ip < len(ids) and comment_id < self.deal_com_first[ip] + self.deal_ncom[ip]:
            owner = ids[ip]
        else:
            owner = next((d for d, rows in self.extra_comments.items() if any(r["ID"] == comment_id for r in rows)),
                         None)
        if owner is None or comment_id in self.comment_deletes.get(owner, ()):
            return None
        return owner

    def productrows_raw(self, deal_id: int) -> list:
        if deal_id in self.rows_override:
            return self.rows_override[deal_id]
        ip = self.init_pos("deal", deal_id)
        if ip is None or not self.deal_nrows[ip]:
            return []
        r = random.Random(mix(self.seed, ENT_CODE["prow"], deal_id))
        rnd = r.random
        first = self.deal_row_first[ip]
        out = []
        for k in range(self.deal_nrows[ip]):
            free = rnd() < 0.1
            pid = 0 if free else self.pick("product", rnd)
            name = f"Custom work #{k + 1}" if free else f"{R.PRODUCT_WORDS[pid % 14]} {pid}"
            netto = round(int(rnd() * 200_000) / 100.0, 2)
            disc_type = 2 if rnd() < 0.5 else 1
            rate = (5 * int(rnd() * 5)) if disc_type == 2 else 0
            disc = round(netto * rate / 100.0, 2) if disc_type == 2 else 0.0
            price = round(netto - disc, 2)
            qty = 1 + int(rnd() * 5) if rnd() < 0.8 else round(0.5 + rnd() * 3, 3)
            out.append({"ID": first + k, "OWNER_ID": deal_id, "OWNER_TYPE": "D", "PRODUCT_ID": pid,
                        "PRODUCT_NAME": name, "ORIGINAL_PRODUCT_NAME": name, "PRODUCT_DESCRIPTION": None,
                        "PRICE": price, "PRICE_EXCLUSIVE": price, "PRICE_NETTO": netto, "PRICE_BRUTTO": netto,
                        "PRICE_ACCOUNT": f"{price:.2f}", "QUANTITY": qty, "DISCOUNT_TYPE_ID": disc_type,
                        "DISCOUNT_RATE": rate, "DISCOUNT_SUM": disc, "TAX_RATE": None if rnd() < 0.6 else 20,
                        "TAX_INCLUDED": "Y" if rnd() < 0.5 else "N", "CUSTOMIZED": "Y",
                        "MEASURE_CODE": 796, "MEASURE_NAME": "pcs", "SORT": 10 * (k + 1),
                        "XML_ID": f"sale_basket_{first + k}", "TYPE": 1 if not free else 7, "STORE_ID": 0,
                        "RESERVE_ID": None, "DATE_RESERVE_END": None, "RESERVE_QUANTITY": None})
        return out

    # ---------------------------------------------------------------- telephony, open lines
    def _build_calls(self):
        n = self.n_calls
        rnd = self.seq_rng("call").random
        created, _ = self._times(n, rnd, 0.0)
        t = Table("call", self._gen_call, {"CALL_START_DATE": IntCol(created)}, create_key="CALL_START_DATE")
        t.ids = array("q", range(1, n + 1))
        self.tables["call"] = t

    def _gen_call(self, id_, pos):
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

    def _build_openlines(self):
        t = Table("openline", self._gen_openline, {"DATE_MODIFY": IntCol()}, modify_key="DATE_MODIFY")
        names = ["Website chat", "Telegram support", "VIP Support Line", "Instagram Direct"]
        self._ol_names = names
        for i in range(4):
            t.ids.append(i + 1)
            t.cols["DATE_MODIFY"].append(self.t0 + (i + 1) * 90 * DAY)
        self.tables["openline"] = t

    def _gen_openline(self, id_, pos):
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

    # ---------------------------------------------------------------- directories
    def _build_statuses(self):
        rows = []
        sid = 0

        def add(entity, code, name, sort, system, cat=None, sem=None, stage=False):
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
