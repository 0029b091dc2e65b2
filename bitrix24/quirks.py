"""Quirks: the small functions a row of the stream table names for what no reader covers.

Each is a plain function; a `Stream` row holds it in a typed field (`filters`, `page_fix`,
`row_fix`, `field_fix`, `per_id_command`, `bulk_rows`), so `grep` finds every stream a quirk
serves in `settings.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .batch import PAGE, command
from .client import Bitrix24Client, CommandError
from .errors import ApiError
from .fields import to_int
from .products import bulk_product_rows

if TYPE_CHECKING:  # the readers' options (streams.py imports the table, which imports this)
    from .streams import Options

__all__ = ["bulk_product_rows", "comment_command", "comment_rows", "deal_contact_ids", "deal_filters",
           "existing_deals", "product_rows_command", "task_descriptors"]


def deal_filters(options: "Options") -> Dict[str, Any]:
    """Deals honour `deal_category_ids` (pipelines); none = every pipeline."""
    ids = list(options.deal_category_ids)
    if not ids:
        return {}
    return {"CATEGORY_ID": ids[0]} if len(ids) == 1 else {"@CATEGORY_ID": ids}


def deal_contact_ids(client: Bitrix24Client, options: "Options", rows: List[Dict[str, Any]]) -> None:
    """`extract_deal_contacts`: CONTACT_IDS on each deal, 2,500 deals per request.

    `crm.item.list` (entityTypeId 2) returns `contactIds` for 50 deals per command (`@id` filter),
    so one batch covers all deals of one keyset answer; `crm.deal.contact.items.get` would need a
    command per deal. A deal deleted meanwhile is simply not in the answer.
    """
    if not options.extract_deal_contacts or not rows:
        return
    by_id = {to_int(row["ID"]): row for row in rows}
    ids = list(by_id)
    commands = {
        f"c{n}": command("crm.item.list", {"entityTypeId": 2, "select": ["id", "contactIds"],
                                           "filter": {"@id": ids[start:start + PAGE]}, "start": -1})
        for n, start in enumerate(range(0, len(ids), PAGE))
    }
    answer = client.run_commands(commands)
    for key in commands:
        if key in answer["result_error"]:
            _contact_ids_failed(answer["result_error"][key])
        result = answer["result"].get(key) or {}
        for item in (result.get("items") or []) if isinstance(result, dict) else []:
            deal = by_id.get(to_int(item.get("id")))
            if deal is not None:
                deal["CONTACT_IDS"] = [to_int(c) for c in item.get("contactIds") or []] or None


def _contact_ids_failed(error: CommandError) -> None:
    exc = error.exception()
    if not isinstance(exc, ApiError):
        raise exc
    raise ApiError(
        f"{exc} - it reads the deals' CONTACT_IDS; set sources.bitrix24.extract_deal_contacts = false"
        " to load deals without them.", code=exc.code, description=exc.description, method=exc.method,
    )


def existing_deals(client: Bitrix24Client, ids: List[Any]) -> set:
    """Which of these (at most 50) deals still exist."""
    rows = client.call("crm.deal.list", {"filter": {"@ID": list(ids)}, "select": ["ID"], "start": -1}).get("result")
    return {to_int(r.get("ID")) for r in rows or [] if isinstance(r, dict)}


def comment_command(deal_id: Any, start: Optional[int] = None) -> str:
    """One deal's timeline comments (from `start`: they page by `next`)."""
    params: Dict[str, Any] = {"filter": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal"}, "order": {"ID": "ASC"}}
    if start:
        params["start"] = start
    return command("crm.timeline.comment.list", params)


def product_rows_command(deal_id: Any, start: Optional[int] = None) -> str:
    """One deal's product rows (all of them in one answer: `start` is never needed)."""
    return command("crm.deal.productrows.get", {"id": deal_id})


def comment_rows(rows: List[Dict[str, Any]]) -> None:
    """FILES is an object keyed by file id; load it as a list of file descriptions."""
    for row in rows:
        files = row.get("FILES")
        if isinstance(files, dict):
            row["FILES"] = list(files.values()) or None


def task_descriptors(found: Dict[str, Any]) -> Dict[str, Any]:
    """`tasks.task.getFields` names fields in UPPER_SNAKE, `tasks.task.list` answers in camelCase;
    its types: `enum` (Y/N flags as bools, codes as text), `array`/`crm`/`disk_file` lists as json."""
    out: Dict[str, Any] = {}
    for code, descriptor in found.items():
        if not isinstance(descriptor, dict):
            continue
        kind = descriptor.get("type")
        values = descriptor.get("values")
        if kind == "enum":
            kind = "char" if isinstance(values, dict) and set(values) == {"Y", "N"} else "string"
        elif kind in ("array", "crm", "disk_file", "mail_message"):
            kind = "object"
        out[_camel(code)] = {**descriptor, "type": kind}
    return out


def _camel(upper: str) -> str:
    head, *rest = upper.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)
