"""The child rows of deals: timeline comments and product rows (counts as columns, rows on demand).

A mixin of `World` (world.py): it reads the World's tables, counts and random streams."""
from __future__ import annotations

import random
from array import array
from bisect import bisect_right
from typing import Optional

from .. import refdata as R
from .common import ENT_CODE, PORTAL_HOST, mix


class DealChildren:
    def _build_children(self) -> None:
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
    def _prefix(counts, start) -> array:
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

    def comment_owner(self, comment_id: int) -> Optional[int]:
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
