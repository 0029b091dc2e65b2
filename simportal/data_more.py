"""Generators of the entities added after the seed: quotes, smart invoices (entityTypeId 31),
requisites and their addresses, product sections, currencies and tasks. Same rules as `data.py`:
compact columns at build time, every other field derived on demand from a seeded Random."""
from __future__ import annotations

from array import array

from . import refdata as R
from .store import IntCol, StrCol, Table

DAY = 86400


class MoreGen:
    def _build_more(self):
        size = self.size
        self._build_quotes(max(6, round(size * 0.05)))
        self._build_invoices(max(5, size // 40))
        self._build_requisites()
        self._build_sections()
        self._build_tasks(max(12, round(size * 0.1)))

    # ---------------------------------------------------------------- quotes (crm.quote.list)
    def _build_quotes(self, n):
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
    def _weighted_index(rnd, weights):
        x = rnd() * sum(weights)
        for i, w in enumerate(weights):
            x -= w
            if x < 0:
                return i
        return len(weights) - 1

    def _gen_quote(self, id_, pos):
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

    # ---------------------------------------------------------------- smart invoices (crm.item.list, 31)
    def _build_invoices(self, n):
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
        t = Table(key, self._gen_spa(etid), {"createdTime": IntCol(created), "updatedTime": IntCol(modified),
                                             "categoryId": cat, "stageId": stage},
                  modify_key="updatedTime", create_key="createdTime")
        t.ids = ids
        self.tables[key] = t
        self.init_ids[key] = array("q", ids)
        self.ufs[key] = []

    def _add_status(self, entity, code, name, sort, system, cat=None, sem=None, stage=False):
        row = {"ID": str(len(self.statuses) + 1), "ENTITY_ID": entity, "STATUS_ID": code, "NAME": name,
               "NAME_INIT": name if system == "Y" else "", "SORT": str(sort), "SYSTEM": system,
               "CATEGORY_ID": None if cat is None else str(cat)}
        if stage:
            color = R.STAGE_COLORS[sem]
            row.update({"COLOR": color, "SEMANTICS": sem, "EXTRA": {"SEMANTICS": R.EXTRA_SEM[sem], "COLOR": color}})
        self.statuses.append(row)

    # ---------------------------------------------------------------- requisites and addresses
    def _build_requisites(self):
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

    def _gen_requisite(self, id_, pos):
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

    def _gen_address(self, id_, pos):
        a, t = self.tables["address"], self.tables["requisite"]
        rnd = self.rng("address", id_).random
        rpos = t.pos(a.cols["ENTITY_ID"].a[pos])
        city, country, code, _ = R.CITIES[int(rnd() * len(R.CITIES))]
        return {"ADDRESS_1": R.STREETS[int(rnd() * len(R.STREETS))], "ADDRESS_2": None if rnd() < 0.6 else "Office 4",
                "CITY": city, "POSTAL_CODE": f"{int(rnd() * 90000) + 10000}", "REGION": None, "PROVINCE": None,
                "COUNTRY": country, "COUNTRY_CODE": None, "LOC_ADDR_ID": 1000 + id_,
                "ANCHOR_TYPE_ID": t.cols["ENTITY_TYPE_ID"].a[rpos] if rpos is not None else None,
                "ANCHOR_ID": t.cols["ENTITY_ID"].a[rpos] if rpos is not None else None, "_code": code}

    # ---------------------------------------------------------------- product sections
    def _build_sections(self):
        t = Table("productsection", self._gen_section, {})
        t.ids = array("q", (2 * i + 1 for i in range(len(R.PRODUCT_SECTIONS))))  # ids with gaps
        self.tables["productsection"] = t
        self.ufs["productsection"] = []

    def _gen_section(self, id_, pos):
        name, parent = R.PRODUCT_SECTIONS[pos]
        return {"ID": id_, "CATALOG_ID": 25, "SECTION_ID": None if parent is None else 2 * parent + 1,
                "NAME": name, "XML_ID": f"section{id_}", "CODE": name.lower()}

    # ---------------------------------------------------------------- tasks (tasks.task.list)
    def _build_tasks(self, n):
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

    def _gen_task(self, id_, pos):
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
