"""The child rows of a deal: crm.deal.productrows.get (one deal, UPPER_CASE), crm.item.productrow.list
(camelCase; many deals with an `=ownerId` array) and crm.deal.contact.items.get
(docs/bitrix24-api-notes.md#product-rows, docs/bitrix24-api-notes.md#crmitemproductrowlist-owner-arrays)."""
from __future__ import annotations

import operator
from typing import Optional

from .. import query
from ..errors import ApiError, generic
from ..util import ci_get, php_intval, values_of
from .paging import list_slice, page_result
from .registry import Ctx, Result, method

# ---------------------------------------------------------------- crm.deal.productrows.get, contacts

def _deal_id(params, message) -> int:
    v = ci_get(params, "id")
    if isinstance(v, (list, dict)) or php_intval(v) <= 0:
        raise generic(message)
    return php_intval(v)


@method("crm.deal.productrows.get", "crm")
def deal_productrows_get(ctx: Ctx, params) -> list:
    did = _deal_id(params, "The parameter id is invalid or not defined.")
    if ctx.world.tables["deal"].pos(did) is None:
        raise generic("Not found")
    out = []
    for r in ctx.world.productrows_raw(did):
        d = dict(r)
        d["ID"] = str(d["ID"])
        d["OWNER_ID"] = str(d["OWNER_ID"])
        out.append(d)
    return out


@method("crm.deal.contact.items.get", "crm")
def deal_contact_items_get(ctx: Ctx, params) -> list:
    did = _deal_id(params, "The parameter ownerEntityID is invalid or not defined.")
    t = ctx.world.tables["deal"]
    if t.pos(did) is None:
        raise generic("Not found.")
    raw = t.raw(did)
    return [{"CONTACT_ID": c, "SORT": s, "ROLE_ID": r, "IS_PRIMARY": p} for c, s, r, p in raw["_contacts"]]


# ---------------------------------------------------------------- crm.item.productrow.list

# camelCase key -> the key of crm.deal.productrows.get's row it comes from (None: derived).
# The controller leaves out reserveId, reserveQuantity, dateReserveEnd (and isAuto), and the
# legacy-only ORIGINAL_PRODUCT_NAME / PRODUCT_DESCRIPTION (docs/bitrix24-api-notes.md#product-rows).
PRODUCT_ROW_KEYS = (
    ("id", "ID"), ("ownerId", "OWNER_ID"), ("ownerType", "OWNER_TYPE"), ("productId", "PRODUCT_ID"),
    ("productName", "PRODUCT_NAME"), ("price", "PRICE"), ("priceAccount", "PRICE_ACCOUNT"),
    ("priceExclusive", "PRICE_EXCLUSIVE"), ("priceNetto", "PRICE_NETTO"), ("priceBrutto", "PRICE_BRUTTO"),
    ("quantity", "QUANTITY"), ("discountTypeId", "DISCOUNT_TYPE_ID"), ("discountRate", "DISCOUNT_RATE"),
    ("discountSum", "DISCOUNT_SUM"), ("taxRate", "TAX_RATE"), ("taxIncluded", "TAX_INCLUDED"),
    ("taxName", None), ("customized", "CUSTOMIZED"), ("measureCode", "MEASURE_CODE"),
    ("measureName", "MEASURE_NAME"), ("sort", "SORT"), ("xmlId", "XML_ID"), ("type", "TYPE"),
    ("storeId", "STORE_ID"),
)
ROW_ID_KEYS = {"id": "ID", "productid": "PRODUCT_ID"}  # the only filterable fields (docs)
OWNER_TYPES = {"D": "deal", "L": "lead", "Q": "quote", "SI": "invoice"}


def _row_camel(raw: dict) -> dict:
    out = {}
    for camel, upper in PRODUCT_ROW_KEYS:
        if upper is None:  # taxName
            out[camel] = f"VAT {int(raw['TAX_RATE'])}" if raw.get("TAX_RATE") else "No VAT"
            continue
        v = raw.get(upper)
        if upper == "PRICE_ACCOUNT" and v is not None:
            v = float(v)
        elif upper in ("ID", "OWNER_ID") and v is not None:
            v = int(v)
        out[camel] = v
    return out


def _owner_ids(ctx: Ctx, flt: dict) -> Optional[list]:
    """The deals whose rows to list: a list of ids, or None for every deal (an ignored array).

    Mirrors the controller: `=ownerType`/`=ownerId` required; one positive id the caller may read;
    an array passes the read check on one id only - for an admin always, for a non-admin webhook
    it fails unless `productrow_nonadmin_array` = "ok" (docs/bitrix24-api-notes.md#crmitemproductrowlist-owner-arrays)."""
    if "=ownerType" not in flt or "=ownerId" not in flt:
        raise ApiError("REQUIRED_ARG_MISSING", "Required filter keys are missing: =ownerType, =ownerId")
    otype, oid = str(flt["=ownerType"]), flt["=ownerId"]
    if otype not in OWNER_TYPES:
        raise ApiError("ACCESS_DENIED", "Access denied")
    if not isinstance(oid, (list, dict)):
        did = php_intval(oid)
        table = ctx.world.tables.get(OWNER_TYPES[otype])
        if did <= 0 or table is None or table.pos(did) is None:
            raise ApiError("ACCESS_DENIED", "Access denied")
        return [did] if otype == "D" else []
    mode = ctx.opts.productrow_array
    if mode == "refused":
        raise ApiError("INVALID_ARG_VALUE", "Invalid filter: field 'ownerId' has invalid value")
    if not ctx.hook.crm_admin and ctx.opts.productrow_nonadmin_array != "ok":
        raise ApiError("ACCESS_DENIED", "Access denied")
    if mode == "ignored":
        return None if otype == "D" else []
    return [php_intval(v) for v in values_of(oid)] if otype == "D" else []


def _row_conditions(flt: dict) -> list:
    """(field, op, value) for the id/productId conditions; other keys are ignored (docs)."""
    out = []
    for key, value in flt.items():
        neg, _, op, name = query.split_key(str(key))
        field = ROW_ID_KEYS.get(name.lower())
        if field is None or str(key) in ("=ownerType", "=ownerId"):
            continue
        op = ("!" if neg else "") + (op or "=")
        if op in ("@", "!@"):
            out.append((field, op, {php_intval(v) for v in values_of(value)}))
        elif isinstance(value, (list, dict)):
            if op not in ("=", "!="):  # comparison keys refuse arrays; equality ignores them
                raise ApiError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")
        elif op in ROW_OPS:
            out.append((field, op, php_intval(value)))
    return out


ROW_OPS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt,
           "<=": operator.le, "@": lambda v, s: v in s, "!@": lambda v, s: v not in s}


def _row_matches(raw: dict, conditions: list) -> bool:
    return all(ROW_OPS[op](int(raw.get(field) or 0), value) for field, op, value in conditions)


@method("crm.item.productrow.list", "crm", is_list=True, controller=True)
def crm_item_productrow_list(ctx: Ctx, params) -> Result:
    """Product rows of one CRM object - or of many, with `=ownerId` an array (`productrow_array`)."""
    flt = ci_get(params, "filter")
    if not isinstance(flt, dict):
        raise ApiError("REQUIRED_ARG_MISSING", "Required filter keys are missing: =ownerType, =ownerId")
    owners = _owner_ids(ctx, flt)
    conditions = _row_conditions(flt)
    deals = ctx.world.tables["deal"]
    if owners is None:
        owners = list(deals.ids)
    rows = [r for d in dict.fromkeys(owners) if deals.pos(d) is not None
            for r in ctx.world.productrows_raw(d) if _row_matches(r, conditions)]
    order = ci_get(params, "order")
    keys = [(str(k).lower(), str(d).upper() == "DESC") for k, d in order.items()] if isinstance(order, dict) else []
    keys = [(k, desc) for k, desc in keys if k in ("id", "sort")] or [("sort", False)]
    for k, desc in reversed(keys + [("id", keys[0][1])]):
        rows.sort(key=lambda r, k=k: int(r["ID" if k == "id" else "SORT"] or 0), reverse=desc)
    page, offset, count = list_slice(ctx, "controller", rows)
    return page_result(ctx, "controller", [_row_camel(r) for r in page], len(rows), offset, count,
                       wrap="productRows")
