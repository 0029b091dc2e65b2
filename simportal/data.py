"""Deterministic seeded data generator (the portal's "database").

Construction builds only compact per-entity arrays (ids, a few columns used for filtering, child-row
counts); each full row is derived on demand from ``Random(mix(seed, entity, id))``.
"""
from __future__ import annotations

import random
import time
import zlib
from array import array
from bisect import bisect_left

from . import refdata as R
from .data_extra import ENT_CODE, PORTAL_HOST, ExtraGen, mix
from .data_more import MoreGen
from .schema import Field, make_ufs, uf_from_user
from .store import IntCol, StrCol, Table

RATIOS = {"deal": 0.30, "contact": 0.25, "lead": 0.20, "activity": 0.15, "company": 0.08, "product": 0.02}
MINIMUM = {"deal": 8, "contact": 6, "lead": 5, "activity": 6, "company": 4, "product": 4}
DAY = 86400
HEAVY_DEAL_POS = 2   # position of the (never recurring) deal with > 50 timeline comments


def _weighted(rnd, weights):
    total = sum(weights)
    x = rnd() * total
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return len(weights) - 1


class World(ExtraGen, MoreGen):
    def __init__(self, size: int = 1000, seed: int = 42, clock=None, anchor: int | None = None):
        if not 1 <= size <= 5_000_000:
            raise ValueError("size must be between 1 and 5,000,000")
        self.size, self.seed, self.clock = size, seed, clock
        if anchor is None:  # today's UTC midnight: same data for instances created on the same day
            anchor = int(time.time()) // DAY * DAY
        self.anchor = int(anchor)
        self.t0 = self.anchor - 730 * DAY
        self.counts = {e: max(MINIMUM[e], round(size * RATIOS[e])) for e in RATIOS}
        self.n_users = min(600, max(12, 10 + size // 1700))
        self.n_departments = min(80, max(7, 5 + size // 10000))
        self.n_calls = min(200_000, max(15, size // 20))
        self.n_spa = {128: min(20_000, max(8, size // 100)), 1032: min(8_000, max(5, size // 250))}
        self.tables: dict[str, Table] = {}
        self.init_ids: dict[str, array] = {}
        self.ufs: dict[str, list] = {}
        eid = 79
        for ent in ("deal", "contact", "company", "lead"):
            self.ufs[ent], eid = make_ufs(ent, eid)
        self._enum_next = eid + 100
        self._uf_plans: dict = {}
        self.extra_hist: dict = {}
        self._build_users()
        self._build_departments()
        self._build_crm()
        self._build_spa()
        self._build_history()
        self._build_children()
        self._build_calls()
        self._build_openlines()
        self._build_statuses()
        self._build_more()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _code(ent: str) -> int:
        c = ENT_CODE.get(ent)
        return c if c is not None else 100_000 + zlib.crc32(ent.encode()) % 1_000_000

    def rng(self, ent: str, id_: int) -> random.Random:
        return random.Random(mix(self.seed, self._code(ent), id_))

    def seq_rng(self, ent: str) -> random.Random:
        return random.Random(mix(self.seed, self._code(ent), 0) ^ 0x5EED)

    def _ids(self, n: int, rnd, gap_rate: float = 0.02) -> array:
        ids = array("q")
        cur = 0
        for _ in range(n):
            cur += 1
            if rnd() < gap_rate:
                cur += 1 + int(rnd() * 3)
            ids.append(cur)
        return ids

    def _times(self, n: int, rnd, edit_rate: float = 0.55):
        created, modified = array("q"), array("q")
        span = self.anchor - self.t0 - 3600
        t0, anchor = self.t0, self.anchor
        for i in range(n):
            c = t0 + int((i + rnd()) * span / n)
            x = rnd()
            if x > edit_rate:
                m = c
            elif x > edit_rate * 0.4:
                m = c + int(rnd() * 3 * DAY)
            else:
                m = c + int(rnd() * (anchor - c))
            if m >= anchor:
                m = anchor - 1
            created.append(c)
            modified.append(m)
        return created, modified

    def pick(self, ent: str, rnd) -> int:
        ids = self.init_ids[ent]
        return ids[int(rnd() * len(ids))]

    def init_pos(self, ent: str, id_: int):
        ids = self.init_ids[ent]
        i = bisect_left(ids, id_)
        return i if i < len(ids) and ids[i] == id_ else None

    def user_pick(self, rnd) -> int:
        a = self.active_users
        return a[int(rnd() * len(a))]

    def file_obj(self, fid: int) -> dict:
        return {"id": fid}

    # ------------------------------------------------------------------ CRM tables
    def _build_crm(self):
        c = self.counts
        # contacts / companies / leads / deals / activities / products
        for ent in ("company", "contact", "lead", "deal", "activity", "product"):
            rnd = self.seq_rng(ent).random
            ids = self._ids(c[ent], rnd)
            self.init_ids[ent] = array("q", ids)
            if ent == "activity":
                self._build_activity(ids, rnd)
                continue
            created, modified = self._times(c[ent], rnd, 0.6)
            if ent == "product":
                sort = array("q", (100 if rnd() < 0.7 else 10 * (1 + int(rnd() * 50)) for _ in range(len(ids))))
                t = Table(ent, self._gen_product, {"DATE_CREATE": IntCol(created), "TIMESTAMP_X": IntCol(modified),
                                                   "SORT": IntCol(sort)},
                          modify_key="TIMESTAMP_X", create_key="DATE_CREATE")
            else:
                gen = {"company": self._gen_company, "contact": self._gen_contact, "lead": self._gen_lead,
                       "deal": self._gen_deal}[ent]
                cols = {"DATE_CREATE": IntCol(created), "DATE_MODIFY": IntCol(modified)}
                t = Table(ent, gen, cols, modify_key="DATE_MODIFY", create_key="DATE_CREATE")
                if ent == "deal":
                    self._build_deal_cols(t, len(ids), rnd)
                elif ent == "lead":
                    self._build_lead_cols(t, len(ids), rnd)
            t.ids = ids
            self.tables[ent] = t

    def _build_deal_cols(self, t, n, rnd):
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
            stage.a.append(codes[k][_weighted(rnd, weights[k])])
            r_ = rnd() < 0.003 and i != HEAVY_DEAL_POS
            rec.a.append(1 if (i in forced_rec or r_) else 0)
        t.cols.update({"CATEGORY_ID": cat, "STAGE_ID": stage, "IS_RECURRING": rec})

    def _build_lead_cols(self, t, n, rnd):
        st = StrCol()
        codes = [st.code(s[0]) for s in R.LEAD_PIPELINE[1]]
        for _ in range(n):
            st.a.append(codes[_weighted(rnd, R.LEAD_STAGE_WEIGHTS)])
        t.cols["STATUS_ID"] = st

    def _build_activity(self, ids, rnd):
        n = len(ids)
        created, modified = self._times(n, rnd, 0.5)
        start, otype, oid = array("q"), array("q"), array("q")
        ents = [(2, "deal", 0.45), (3, "contact", 0.75), (1, "lead", 0.95), (4, "company", 1.0)]
        for i in range(n):
            x = rnd()
            for code, ent, th in ents:
                if x < th:
                    break
            otype.append(code)
            oid.append(self.pick(ent, rnd))
            start.append(created[i] + int((rnd() - 0.3) * 5 * DAY))
        cols = {"CREATED": IntCol(created), "LAST_UPDATED": IntCol(modified), "START_TIME": IntCol(start),
                "OWNER_TYPE_ID": IntCol(otype), "OWNER_ID": IntCol(oid)}
        t = Table("activity", self._gen_activity, cols, modify_key="LAST_UPDATED", create_key="CREATED")
        t.ids = ids
        self.tables["activity"] = t

    # ---------------------------------------------------------------- row generators
    def _multifields(self, r, ent_code, id_, phones, emails, webs, ims):
        rnd = r.random
        out = {}
        base = ent_code * 100_000_000 + id_ * 10
        k = 0
        if phones:
            lst = []
            for j in range(phones):
                lst.append((str(base + k), R.PHONE_TYPES[int(rnd() * 5)],
                            f"+{1 + int(rnd() * 98)}{int(rnd() * 1e9):09d}", "PHONE"))
                k += 1
            out["PHONE"] = lst
        if emails:
            lst = []
            for j in range(emails):
                lst.append((str(base + k), R.EMAIL_TYPES[int(rnd() * 3)], f"client{id_}.{j}@example.com", "EMAIL"))
                k += 1
            out["EMAIL"] = lst
        if webs:
            out["WEB"] = [(str(base + k), R.WEB_TYPES[int(rnd() * 3)], f"https://site{id_}.example.com", "WEB")]
            k += 1
        if ims:
            out["IM"] = [(str(base + k), R.IM_TYPES[int(rnd() * 5)], f"im_{id_}", "IM")]
        return out

    def _counts_mf(self, rnd):
        x = rnd()
        phones = 0 if x < 0.2 else 1 if x < 0.7 else 2 + int(rnd() * 2)
        x = rnd()
        emails = 0 if x < 0.3 else 1 if x < 0.85 else 2
        return phones, emails, rnd() < 0.15, rnd() < 0.1

    def _address(self, r, row, prefix="ADDRESS"):
        rnd = r.random
        if rnd() < 0.7:
            for s in ("", "_2", "_CITY", "_POSTAL_CODE", "_REGION", "_PROVINCE", "_COUNTRY", "_COUNTRY_CODE",
                      "_LOC_ADDR_ID"):
                row[prefix + s] = None
            return
        city, country, cc, _ = R.CITIES[int(rnd() * len(R.CITIES))]
        row.update({prefix: R.STREETS[int(rnd() * len(R.STREETS))], prefix + "_2": None, prefix + "_CITY": city,
                    prefix + "_POSTAL_CODE": f"{int(rnd() * 99999):05d}", prefix + "_REGION": None,
                    prefix + "_PROVINCE": None, prefix + "_COUNTRY": country, prefix + "_COUNTRY_CODE": cc,
                    prefix + "_LOC_ADDR_ID": int(rnd() * 100000) + 1})

    def _utm(self, rnd, row):
        if rnd() < 0.85:
            row.update(UTM_SOURCE=None, UTM_MEDIUM=None, UTM_CAMPAIGN=None, UTM_CONTENT=None, UTM_TERM=None)
        else:
            row.update(UTM_SOURCE="google", UTM_MEDIUM="cpc", UTM_CAMPAIGN=f"spring_{int(rnd() * 9)}",
                       UTM_CONTENT=None, UTM_TERM="crm software")

    def _last_activity(self, rnd, row, c, m):
        if rnd() < 0.4:
            row["LAST_ACTIVITY_TIME"] = None
            row["LAST_ACTIVITY_BY"] = None
        else:
            row["LAST_ACTIVITY_TIME"] = c + int(rnd() * (m - c + 1))
            row["LAST_ACTIVITY_BY"] = self.user_pick(rnd)

    def _people(self, rnd, row, c, m):
        row["ASSIGNED_BY_ID"] = self.user_pick(rnd)
        row["CREATED_BY_ID"] = self.user_pick(rnd)
        row["MODIFY_BY_ID"] = row["CREATED_BY_ID"] if m == c else self.user_pick(rnd)

    def _comment(self, rnd):
        x = rnd()
        if x < 0.6:
            return None
        return R.COMMENTS[int(rnd() * len(R.COMMENTS))]

    def _gen_contact(self, id_, pos):
        t = self.tables["contact"]
        r = self.rng("contact", id_)
        rnd = r.random
        c, m = t.cols["DATE_CREATE"].a[pos], t.cols["DATE_MODIFY"].a[pos]
        ph, em, web, im = self._counts_mf(rnd)
        mf = self._multifields(r, 3, id_, ph, em, web, im)
        row = {"ID": id_,
               "HONORIFIC": None if rnd() < 0.6 else R.DIRECTORIES["HONORIFIC"][int(rnd() * 4)][0],
               "NAME": R.FIRST_NAMES[int(rnd() * len(R.FIRST_NAMES))],
               "SECOND_NAME": None if rnd() < 0.7 else (R.SECOND_NAMES[int(rnd() * 5)] if rnd() < 0.7 else ""),
               "LAST_NAME": R.LAST_NAMES[int(rnd() * len(R.LAST_NAMES))] if rnd() < 0.9 else None,
               "PHOTO": None if rnd() < 0.9 else self.file_obj(500_000 + id_),
               "BIRTHDATE": None if rnd() < 0.6 else self.clock.day_of(c) - 7000 - int(rnd() * 15000),
               "TYPE_ID": None if rnd() < 0.1 else R.DIRECTORIES["CONTACT_TYPE"][int(rnd() * 4)][0],
               "SOURCE_ID": None if rnd() < 0.15 else R.DIRECTORIES["SOURCE"][int(rnd() * 13)][0],
               "SOURCE_DESCRIPTION": None if rnd() < 0.9 else "Met at the expo",
               "POST": None if rnd() < 0.5 else R.POSTS[int(rnd() * len(R.POSTS))]}
        self._address(r, row)
        row["COMMENTS"] = self._comment(rnd)
        row["OPENED"] = "Y" if rnd() < 0.9 else "N"
        row["EXPORT"] = "Y"
        row["HAS_PHONE"] = "Y" if ph else "N"
        row["HAS_EMAIL"] = "Y" if em else "N"
        row["HAS_IMOL"] = "Y" if im else "N"
        self._people(rnd, row, c, m)
        row["COMPANY_ID"] = None if rnd() < 0.4 else self.pick("company", rnd)
        row["LEAD_ID"] = None if rnd() < 0.8 else self.pick("lead", rnd)
        row["ORIGINATOR_ID"] = None
        row["ORIGIN_ID"] = None
        row["ORIGIN_VERSION"] = None
        row["FACE_ID"] = None
        self._utm(rnd, row)
        self._last_activity(rnd, row, c, m)
        row.update(mf)
        self._gen_ufs(r, "contact", id_, row, c)
        return row

    def _gen_company(self, id_, pos):
        t = self.tables["company"]
        r = self.rng("company", id_)
        rnd = r.random
        c, m = t.cols["DATE_CREATE"].a[pos], t.cols["DATE_MODIFY"].a[pos]
        ph, em, web, im = self._counts_mf(rnd)
        mf = self._multifields(r, 4, id_, ph, em, web or rnd() < 0.5, im)
        title = f"{R.COMPANY_WORDS[int(rnd() * len(R.COMPANY_WORDS))]} {R.COMPANY_SUFFIX[int(rnd() * 10)]}"
        row = {"ID": id_, "TITLE": title,
               "COMPANY_TYPE": R.DIRECTORIES["COMPANY_TYPE"][int(rnd() * 5)][0],
               "LOGO": None if rnd() < 0.85 else self.file_obj(600_000 + id_)}
        self._address(r, row)
        row["ADDRESS_LEGAL"] = None
        self._address(r, row, "REG_ADDRESS")
        row.update({"BANKING_DETAILS": None if rnd() < 0.8 else "IBAN DE00 0000 0000 0000",
                    "INDUSTRY": None if rnd() < 0.2 else R.DIRECTORIES["INDUSTRY"][int(rnd() * 11)][0],
                    "EMPLOYEES": None if rnd() < 0.3 else f"EMPLOYEES_{1 + int(rnd() * 4)}",
                    "CURRENCY_ID": R.CURRENCIES[int(rnd() * 5)],
                    "REVENUE": None if rnd() < 0.4 else round(rnd() * 5e6, 2),
                    "OPENED": "Y", "COMMENTS": self._comment(rnd),
                    "HAS_PHONE": "Y" if ph else "N", "HAS_EMAIL": "Y" if em else "N", "HAS_IMOL": "N",
                    "IS_MY_COMPANY": "Y" if id_ == self.init_ids["company"][0] else "N"})
        self._people(rnd, row, c, m)
        row["LEAD_ID"] = None if rnd() < 0.85 else self.pick("lead", rnd)
        row["ORIGINATOR_ID"] = None
        row["ORIGIN_ID"] = None
        row["ORIGIN_VERSION"] = None
        self._utm(rnd, row)
        self._last_activity(rnd, row, c, m)
        row.update(mf)
        self._gen_ufs(r, "company", id_, row, c)
        return row

    def stage_info(self, code: str):
        """stage code -> (category id, semantic 'P'/'S'/'F', index in pipeline, pipeline stages)."""
        return self._stage_index[code]

    def _gen_deal(self, id_, pos):
        t = self.tables["deal"]
        r = self.rng("deal", id_)
        rnd = r.random
        c, m = t.cols["DATE_CREATE"].a[pos], t.cols["DATE_MODIFY"].a[pos]
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

    def deal_contacts_raw(self, deal_id, r):
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

    def _gen_lead(self, id_, pos):
        t = self.tables["lead"]
        r = self.rng("lead", id_)
        rnd = r.random
        c, m = t.cols["DATE_CREATE"].a[pos], t.cols["DATE_MODIFY"].a[pos]
        status = t.cols["STATUS_ID"].get(pos)
        sem = self._lead_sem[status]
        ip = self.init_pos("lead", id_)
        nh = self.lead_hist_n[ip] if ip is not None else 1
        ph, em, web, im = self._counts_mf(rnd)
        mf = self._multifields(r, 1, id_, ph, em, web, im)
        first = R.FIRST_NAMES[int(rnd() * len(R.FIRST_NAMES))]
        row = {"ID": id_, "TITLE": f"Lead #{id_}" if rnd() < 0.5 else f"Request from {first}",
               "HONORIFIC": None if rnd() < 0.7 else R.DIRECTORIES["HONORIFIC"][int(rnd() * 4)][0],
               "NAME": first, "SECOND_NAME": None, "LAST_NAME": R.LAST_NAMES[int(rnd() * len(R.LAST_NAMES))],
               "BIRTHDATE": None if rnd() < 0.8 else self.clock.day_of(c) - 8000 - int(rnd() * 12000),
               "COMPANY_TITLE": None if rnd() < 0.5 else R.COMPANY_WORDS[int(rnd() * len(R.COMPANY_WORDS))],
               "SOURCE_ID": None if rnd() < 0.1 else R.DIRECTORIES["SOURCE"][int(rnd() * 13)][0],
               "SOURCE_DESCRIPTION": None, "STATUS_DESCRIPTION": None, "STATUS_SEMANTIC_ID": sem,
               "POST": None if rnd() < 0.6 else R.POSTS[int(rnd() * len(R.POSTS))]}
        self._address(r, row)
        row.update({"CURRENCY_ID": R.CURRENCIES[int(rnd() * 5)],
                    "OPPORTUNITY": round(int(rnd() * 5_000_000) / 100.0, 2) if rnd() < 0.6 else 0.0,
                    "IS_MANUAL_OPPORTUNITY": "N" if rnd() < 0.7 else "Y", "OPENED": "Y",
                    "COMMENTS": self._comment(rnd),
                    "HAS_PHONE": "Y" if ph else "N", "HAS_EMAIL": "Y" if em else "N", "HAS_IMOL": "Y" if im else "N"})
        self._people(rnd, row, c, m)
        row["MOVED_BY_ID"] = row["ASSIGNED_BY_ID"]
        row["MOVED_TIME"] = c + (m - c) * (nh - 1) // nh
        row["COMPANY_ID"] = 0 if rnd() < 0.7 else self.pick("company", rnd)
        row["CONTACT_ID"] = None if rnd() < 0.6 else self.pick("contact", rnd)
        row["IS_RETURN_CUSTOMER"] = "N"
        row["DATE_CLOSED"] = row["MOVED_TIME"] if sem != "P" else None
        row["ORIGINATOR_ID"] = None
        row["ORIGIN_ID"] = None
        self._utm(rnd, row)
        self._last_activity(rnd, row, c, m)
        row.update(mf)
        self._gen_ufs(r, "lead", id_, row, c)
        return row

    _PROVIDERS = [  # (TYPE_ID, PROVIDER_ID, PROVIDER_TYPE_ID, subject, weight)
        (2, "VOXIMPLANT_CALL", "CALL", "Call", 0.35), (4, "CRM_EMAIL", "EMAIL", "E-mail", 0.6),
        (1, "CRM_MEETING", "MEETING", "Meeting", 0.7), (6, "CRM_TODO", "TODO", "To-do", 0.85),
        (6, "IMOPENLINES_SESSION", "IMOPENLINES_SESSION", "Open Channel chat", 0.93),
        (3, "TASKS", "TASK", "Task", 1.0)]

    def _gen_activity(self, id_, pos):
        t = self.tables["activity"]
        cols = t.cols
        r = self.rng("activity", id_)
        rnd = r.random
        created = cols["CREATED"].a[pos]
        updated = cols["LAST_UPDATED"].a[pos]
        start = cols["START_TIME"].a[pos]
        otype, oid = cols["OWNER_TYPE_ID"].a[pos], cols["OWNER_ID"].a[pos]
        x = rnd()
        for type_id, prov, ptype, subj, th in self._PROVIDERS:
            if x < th:
                break
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

    def _gen_product(self, id_, pos):
        r = self.rng("product", id_)
        rnd = r.random
        name = f"{R.PRODUCT_WORDS[int(rnd() * len(R.PRODUCT_WORDS))]} {chr(65 + int(rnd() * 26))}{id_}"
        vid = 9000 + id_ * 4
        color = None if rnd() < 0.3 else {"VALUE_ID": str(vid), "VALUE": R.COLORS[int(rnd() * 6)]}
        ntags = int(rnd() * 3)
        tags = None if not ntags else [{"VALUE_ID": str(vid + 1 + k), "VALUE": f"tag{k}"} for k in range(ntags)]
        warranty = None if rnd() < 0.7 else {"VALUE_ID": str(vid + 3), "VALUE": str(12 * (1 + int(rnd() * 3)))}
        return {"ID": id_, "CATALOG_ID": 23, "NAME": name, "CODE": f"product_{id_}",
                "ACTIVE": "Y" if rnd() < 0.9 else "N", "SECTION_ID": None if rnd() < 0.3 else 40 + int(rnd() * 8),
                "XML_ID": str(id_), "DESCRIPTION": None if rnd() < 0.6 else "<p>Great product</p>",
                "DESCRIPTION_TYPE": "text" if rnd() < 0.6 else "html",
                "PRICE": round(int(rnd() * 500_000) / 100.0, 2), "CURRENCY_ID": R.CURRENCIES[int(rnd() * 5)],
                "VAT_ID": 1 if rnd() < 0.5 else None, "VAT_INCLUDED": "Y" if rnd() < 0.7 else "N",
                "MEASURE": 5 if rnd() < 0.8 else 9,
                "PREVIEW_PICTURE": None if rnd() < 0.8 else {
                    "id": 700_000 + id_,
                    "showUrl": f"/bitrix/components/bitrix/crm.product.file/download.php?productId={id_}"
                               f"&fieldName=PREVIEW_PICTURE&dynamic=N&fileId={700_000 + id_}",
                    "downloadUrl": f"/rest/1/x/crm.product.download?productId={id_}&fileId={700_000 + id_}"},
                "DETAIL_PICTURE": None,
                "CREATED_BY": 1, "MODIFIED_BY": self.user_pick(rnd),
                "PROPERTY_101": color, "PROPERTY_102": tags, "PROPERTY_103": warranty}

    # ---------------------------------------------------------------- user fields
    def _gen_ufs(self, r, ent, id_, row, created):
        rnd = r.random
        plan = self._uf_plans.get(ent)
        if plan is None or plan[0] != len(self.ufs[ent]):
            plan = self._uf_plans[ent] = (len(self.ufs[ent]), self._uf_plan(ent))
        for code, f, empty, multiple, enum, g in plan[1]:
            if g is None:       # user-added field: its own random stream (or value_fn)
                row[code] = self.added_uf_value(ent, f, id_)
            elif rnd() < empty:
                row[code] = [] if multiple else None
            elif multiple:
                vals = [g(rnd, id_, created) for _ in range(1 + int(rnd() * 3))]
                row[code] = sorted(set(vals)) if enum else vals
            else:
                row[code] = g(rnd, id_, created)

    def _uf_plan(self, ent):
        out = []
        for f in self.ufs[ent]:
            builtin = f.value_fn is None and "_num" in f.extra
            out.append((f.code, f, f.empty_rate, f.multiple, f.uf_type == "enumeration",
                        self._uf_gen(f) if builtin else None))
        return out

    def added_uf_value(self, ent, f, id_):
        if f.value_fn is not None:
            return f.value_fn(id_)
        r = random.Random(mix(self.seed, ENT_CODE["uf"] + zlib.crc32(f.code.encode()), id_))
        created = self.anchor - int(r.random() * 700 * DAY)
        return self.uf_value(r.random, f, id_, created)

    def uf_value(self, rnd, f: Field, id_, created):
        if rnd() < f.empty_rate:
            return [] if f.multiple else None
        g = f.extra.get("_gen")
        if g is None:
            g = f.extra["_gen"] = self._uf_gen(f)
        if f.multiple:
            vals = [g(rnd, id_, created) for _ in range(1 + int(rnd() * 3))]
            return sorted(set(vals)) if f.uf_type == "enumeration" else vals
        return g(rnd, id_, created)

    def _uf_gen(self, f: Field):
        """Value generator for one UF type: fn(rnd, id, created) -> raw value."""
        t = f.uf_type
        day_of = self.clock.day_of
        cur, src, cities, streets = R.CURRENCIES, R.DIRECTORIES["SOURCE"], R.CITIES, R.STREETS
        items = f.items or [(0, "")]
        users = self.active_users
        gens = {
            "string": lambda rnd, i, c: f"REF-{i}-{int(rnd() * 1000)}",
            "integer": lambda rnd, i, c: int(rnd() * 1000) - 100,
            "double": lambda rnd, i, c: round(rnd() * 1000, 4),
            "boolean": lambda rnd, i, c: 1 if rnd() < 0.4 else 0,
            "enumeration": lambda rnd, i, c: items[int(rnd() * len(items))][0],
            "datetime": lambda rnd, i, c: c + int((rnd() - 0.2) * 60 * DAY),
            "date": lambda rnd, i, c: day_of(c) + int(rnd() * 90),
            "money": lambda rnd, i, c: f"{int(rnd() * 1_000_000) / 100:.2f}|{cur[int(rnd() * 5)]}",
            "url": lambda rnd, i, c: f"https://example.com/{i}/{int(rnd() * 100)}",
            "address": lambda rnd, i, c: (f"{cities[int(rnd() * 8)][0]}, {streets[int(rnd() * 8)]}" +
                                          (f"|{cities[i % 8][3]}|{int(rnd() * 9999) + 1}" if rnd() < 0.7 else "")),
            "file": lambda rnd, i, c: {"id": 800_000 + i * 3 + int(rnd() * 3)},
            "employee": lambda rnd, i, c: users[int(rnd() * len(users))],
            "crm_status": lambda rnd, i, c: src[int(rnd() * 13)][0],
            "iblock_element": lambda rnd, i, c: 50 + int(rnd() * 20),
            "crm": lambda rnd, i, c: (f"D_{self.pick('deal', rnd)}" if rnd() < 0.6
                                      else f"CO_{self.pick('company', rnd)}"),
        }
        return gens.get(t, lambda rnd, i, c: f"value-{int(rnd() * 100)}")

    def add_user_field(self, ent, code, uf_type, multiple=False, label=None, items=None, value_fn=None) -> Field:
        f = uf_from_user(code, uf_type, multiple, label, items, value_fn, self._enum_next)
        if f.items:
            self._enum_next = max(i for i, _ in f.items) + 1
        self.ufs[ent].append(f)
        return f

