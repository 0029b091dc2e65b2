"""Row generators of contacts, companies and leads (and the leads' status column).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

from .. import refdata as R
from ..store import StrCol
from .common import weighted


class ClientRows:
    def _build_lead_cols(self, t, n, rnd) -> None:
        st = StrCol()
        codes = [st.code(s[0]) for s in R.LEAD_PIPELINE[1]]
        for _ in range(n):
            st.a.append(codes[weighted(rnd, R.LEAD_STAGE_WEIGHTS)])
        t.cols["STATUS_ID"] = st

    def _gen_contact(self, id_, pos) -> dict:
        _, r, c, m = self._row_start("contact", id_, pos)
        rnd = r.random
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
        return self._client_row_end(r, "contact", id_, row, c, m, mf)

    def _gen_company(self, id_, pos) -> dict:
        _, r, c, m = self._row_start("company", id_, pos)
        rnd = r.random
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
        return self._client_row_end(r, "company", id_, row, c, m, mf)

    def _gen_lead(self, id_, pos) -> dict:
        t, r, c, m = self._row_start("lead", id_, pos)
        rnd = r.random
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
        return self._client_row_end(r, "lead", id_, row, c, m, mf)
