"""Counting mode: the exact request sequence of a per-page contender, computed instead of run.

Used where running a contender for real would take far too long on the bench machine (a million
rows through one request per page and per deal). Each plan lists the requests the contender makes
for the portal's row counts (``/_sim/<token>/info``) with every command's simulated cost from the
portal's own cost model, so request counts and operating time are exact up to the tiny boundary
effects noted below; ``run.py --check-plans`` (on by default) prints each plan next to the measured
run at the sizes where the contender does run.

Boundary effects: incremental runs assume the touched rows are all visible (a touched recurring
deal is hidden by crm.deal.list) and rest_api's ``>=`` filter re-reads the rows sharing the last
cursor value (one or two rows).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from simportal.limits import default_cost  # noqa: E402

Request = Tuple[str, Sequence[Tuple[str, float]], int]

# (table, entity, method, heavy select?) in the order every contender reads them
LISTS = [("contacts", "contact", "crm.contact.list", True), ("companies", "company", "crm.company.list", True),
         ("deals", "deal", "crm.deal.list", True), ("leads", "lead", "crm.lead.list", True),
         ("activities", "activity", "crm.activity.list", False), ("products", "product", "crm.product.list", False)]
LIST_ENTITIES = [e for _, e, _, _ in LISTS]
PAGE = 50


def _rows(info: Dict, entity: str) -> int:
    return int(info["visible_deals"]) if entity == "deal" else int(info["counts"][entity])


def _comment_counts(info: Dict, deals: int) -> List[int]:
    """Comments per deal for `deals` deals, spread evenly over the portal's distribution."""
    every: List[int] = []
    for c, n in sorted((int(k), v) for k, v in info["deal_comment_hist"].items()):
        every.extend([c] * n)
    if not every or deals <= 0:
        return []
    if deals >= len(every):
        return every
    step = len(every) / deals
    return [every[int(i * step)] for i in range(deals)]


def _offset_pages(method: str, n: int, heavy: bool) -> List[Tuple[str, float]]:
    """Commands of start/next paging with counting over n matching rows: start = 0, 50, ..."""
    pages = max(1, math.ceil(n / PAGE))
    return [(method, default_cost(method, rows=min(PAGE, n - PAGE * p), heavy=heavy, counted_rows=n,
                                  offset=PAGE * p)) for p in range(pages)]


def _changed(info: Dict, phase: str, touched: Dict[str, int], entity: str, cursor_misses: bool = False) -> int:
    if phase == "full":
        return _rows(info, entity)
    if cursor_misses:
        return 0
    return int(touched.get(entity, 0))


def per_page(info: Dict, phase: str, touched: Dict[str, int], activity_created: bool) -> List[Request]:
    """One request per list page (counted, offset) and per deal per sub-resource."""
    out: List[Request] = []
    for _table, entity, method, heavy in LISTS:
        n = _changed(info, phase, touched, entity, cursor_misses=activity_created and entity == "activity")
        pages = _offset_pages(method, n, heavy)
        if entity != "deal":
            out.extend((method, [cmd], 1) for cmd in pages)
            continue
        comments = _comment_counts(info, n)
        for p, cmd in enumerate(pages):
            out.append((method, [cmd], 1))
            for c in comments[p * PAGE:(p + 1) * PAGE]:
                out.append(("crm.deal.productrows.get", [("crm.deal.productrows.get", default_cost("x"))], 1))
                out.append(("crm.deal.contact.items.get", [("crm.deal.contact.items.get", default_cost("x"))], 1))
                for k in _offset_pages("crm.timeline.comment.list", c, False):
                    out.append(("crm.timeline.comment.list", [k], 1))
    return out


def reference(info: Dict, phase: str, touched: Dict[str, int]) -> List[Request]:
    return per_page(info, phase, touched, activity_created=True)


def rest_api(info: Dict, phase: str, touched: Dict[str, int]) -> List[Request]:
    return per_page(info, phase, touched, activity_created=False)


def fb24(info: Dict, phase: str, touched: Dict[str, int]) -> List[Request]:
    """get_all: the first page alone, the rest as start=50, 100, ... commands, 50 per batch; per-deal
    calls 50 per batch (comments: the first page of each deal only)."""
    out: List[Request] = []
    deals = 0
    for _table, entity, method, heavy in LISTS:
        n = _changed(info, phase, touched, entity)
        pages = _offset_pages(method, n, heavy)
        out.append((method, [pages[0]], 1))
        for i in range(1, len(pages), PAGE):
            out.append(("batch", pages[i:i + PAGE], 1))
        if entity == "deal":
            deals = n
    for method in ("crm.deal.productrows.get", "crm.deal.contact.items.get"):
        for i in range(0, deals, PAGE):
            out.append(("batch", [(method, default_cost("x"))] * min(PAGE, deals - i), 1))
    comments = _comment_counts(info, deals)
    for i in range(0, deals, PAGE):
        out.append(("batch", [("crm.timeline.comment.list",
                               default_cost("x", rows=min(PAGE, c), counted_rows=c)) for c in comments[i:i + PAGE]], 1))
    return out


def ours(info: Dict, phase: str, touched: Dict[str, int]) -> List[Request]:
    """The connector: chained keyset batches (2,500 rows a request), 50 deals per sub-resource request."""
    out: List[Request] = [("scope", [("scope", default_cost("scope"))], 1)]
    for _table, entity, method, heavy in LISTS:
        n = _changed(info, phase, touched, entity)
        pages = [(method, default_cost(method, rows=min(PAGE, n - PAGE * p), heavy=heavy))
                 for p in range(n // PAGE + 1)]  # keyset: until a short page
        fields = [(method.replace(".list", ".fields"), default_cost("x"))]
        first = 1 if phase != "full" else PAGE - 1
        batches = [fields + pages[:first]] + [pages[i:i + PAGE] for i in range(first, len(pages), PAGE)]
        for b in batches:
            if b:
                out.append(("batch", b, 1))
        if entity == "deal":
            comments = _comment_counts(info, n)
            for i in range(0, n, PAGE):
                chunk = comments[i:i + PAGE]
                for m in ("crm.deal.contact.items.get", "crm.deal.productrows.get"):
                    out.append(("batch", [(m, default_cost("x"))] * len(chunk), 1))
                out.append(("batch", [("crm.timeline.comment.list", default_cost("x", rows=min(PAGE, c), counted_rows=c))
                                      for c in chunk], 1))
    return out


PLANS: Dict[str, Callable[[Dict, str, Dict[str, int]], List[Request]]] = {
    "reference": reference, "rest_api": rest_api, "fb24": fb24, "ours": ours}
