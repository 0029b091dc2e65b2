"""deal_products at list speed: the product rows of many deals per command.

`crm.item.productrow.list` takes `=ownerType` "D" and `=ownerId`, and the crm module's controller
filters OWNER_ID by an array as well (docs/bitrix24-api-notes.md#crmitemproductrowlist-owner-arrays),
so one command lists the rows of up to 200 deals, 50 rows a page, chained on `>id` - about 2,500
rows per request instead of one command per deal. The official docs disagree on whether the array
is honoured, and the controller checks read access on one id only (a non-admin webhook may be
refused), so each run trusts the bulk method only after its answers prove it right; otherwise it
falls back to `crm.deal.productrows.get` per deal (`streams.per_deal`), with one log line saying why.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any, Dict, List, Optional

from .batch import MAX_COMMANDS, ListQuery, command, read_lanes
from .client import Bitrix24Client
from .errors import ApiError, MethodNotFoundError, ScopeError
from .fields import to_int

logger = logging.getLogger("bitrix24")

BULK_METHOD = "crm.item.productrow.list"
GROUP = 200  # deal ids per command: ~200 query variables, far below PHP's max_input_vars (1,000)
ROWS_PER_DEAL = 2.0  # first guess for sizing the chains; corrected by the groups that have ended
OFF = ("deal_products", "per deal")  # client cache key: why this run reads product rows per deal
TRUSTED = ("deal_products", "bulk trusted")  # client cache key: an answer proved the array honoured
CROSS_CHECK = ("deal_products", "cross-check")  # client cache key: the per-deal check's verdict

# camelCase keys of crm.item.productrow.list -> the UPPER_CASE keys crm.deal.productrows.get sends
# (the table's columns). Keys not listed are converted by rule (`taxName` -> TAX_NAME).
UPPER = {
    "id": "ID", "ownerId": "OWNER_ID", "ownerType": "OWNER_TYPE", "productId": "PRODUCT_ID",
    "productName": "PRODUCT_NAME", "price": "PRICE", "priceExclusive": "PRICE_EXCLUSIVE",
    "priceNetto": "PRICE_NETTO", "priceBrutto": "PRICE_BRUTTO", "priceAccount": "PRICE_ACCOUNT",
    "quantity": "QUANTITY", "discountTypeId": "DISCOUNT_TYPE_ID", "discountRate": "DISCOUNT_RATE",
    "discountSum": "DISCOUNT_SUM", "taxRate": "TAX_RATE", "taxIncluded": "TAX_INCLUDED",
    "customized": "CUSTOMIZED", "measureCode": "MEASURE_CODE", "measureName": "MEASURE_NAME",
    "sort": "SORT", "xmlId": "XML_ID", "type": "TYPE", "storeId": "STORE_ID",
}


class Untrusted(Exception):
    """The portal's answers to the bulk method cannot be trusted; the message says why."""


def upper_key(key: str) -> str:
    """`discountTypeId` -> `DISCOUNT_TYPE_ID`: the per-deal method's name for a bulk key, so both
    methods load into the same columns."""
    return UPPER.get(key) or re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()


def bulk_product_rows(client: Bitrix24Client, ids: List[Any]) -> Optional[Dict[int, List[Dict[str, Any]]]]:
    """{deal id: its rows, UPPER_CASE keys} for these deals (a deal with none is absent), or None:
    the run reads per deal - the portal proved the bulk method wrong now or earlier in the run."""
    if client.is_cached(OFF):
        return None
    deals = [d for d in (to_int(i) for i in ids) if d]
    try:
        found = _read(client, deals)
        _check(client, deals, found)
        return found
    except Untrusted as exc:
        reason = str(exc)
    except (ApiError, ScopeError, MethodNotFoundError) as exc:  # refused: access check, array, method
        reason = f"it was refused ({exc})"
    client.cached(OFF, partial(_log_fallback, reason))
    return None


def _query(group: List[int]) -> ListQuery:
    owner: Any = group if len(group) > 1 else group[0]  # one deal: a plain id works on every portal
    return ListQuery(BULK_METHOD, params={"order": {"id": "ASC"}}, filter={"=ownerType": "D", "=ownerId": owner},
                     id_field="id", items_key="productRows", guard=False)


def _read(client: Bitrix24Client, deals: List[int]) -> Dict[int, List[Dict[str, Any]]]:
    """All rows of these deals, groups of GROUP deals read side by side; a row of a deal that was
    not asked for means the portal ignores the array (stop at once)."""
    groups = [deals[start:start + GROUP] for start in range(0, len(deals), GROUP)]
    asked = [set(group) for group in groups]
    found: Dict[int, List[Dict[str, Any]]] = {}
    for n, rows in read_lanes(client, [_query(g) for g in groups], [len(g) * ROWS_PER_DEAL for g in groups]):
        for row in rows:
            owner = to_int(row.get("ownerId"))
            if owner not in asked[n]:
                raise Untrusted(f"it answered rows of deal {owner}, which was not asked for (the portal"
                                " ignores the =ownerId array)")
            found.setdefault(owner, []).append({upper_key(k): v for k, v in row.items()})
    return found


def _check(client: Bitrix24Client, deals: List[int], found: Dict[int, List[Dict[str, Any]]]) -> None:
    """Rows of two or more deals in one answer prove the array honoured. Rows of one deal or none
    could also come from a portal that reads one id of the array: once per run, the per-deal
    method is asked about up to 50 of the deals the bulk answer had no rows for."""
    if client.is_cached(TRUSTED) or len(deals) < 2:
        return
    if len(found) >= 2:
        client.remember(TRUSTED, True)
        return
    verdict = client.cached(CROSS_CHECK, partial(_cross_check, client, [d for d in deals if d not in found]))
    if verdict:
        raise Untrusted(verdict)


def _cross_check(client: Bitrix24Client, sample: List[int]) -> str:
    """'' when crm.deal.productrows.get agrees that these deals have no rows, else the reason."""
    sample = sample[:MAX_COMMANDS]
    answer = client.batch({f"c{n}": command("crm.deal.productrows.get", {"id": d}) for n, d in enumerate(sample)})
    for n, deal in enumerate(sample):
        rows = answer["result"].get(f"c{n}")
        if isinstance(rows, list) and rows:
            return (f"it answered no rows for deal {deal}, which crm.deal.productrows.get lists {len(rows)}"
                    " for (the portal reads only part of the =ownerId array)")
    return ""


def _log_fallback(reason: str) -> str:
    logger.warning(
        "deal_products: reading product rows with crm.deal.productrows.get, 50 deals a request, for this run:"
        " %s %s. Set sources.bitrix24.deal_products_method = \"per_deal\" to skip the bulk method.",
        BULK_METHOD, reason,
    )
    return reason
