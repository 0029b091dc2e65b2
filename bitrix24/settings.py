"""The stream table: every Bitrix24 stream the source knows, one row each.

A row names the destination table, the Bitrix method, the reader that pages it (see
`streams.READERS`), its scope, keys and how to type it. Adding a stream is adding a row here and,
for a quirk no reader covers, one small function in `streams.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM")


@dataclass(frozen=True)
class Stream:
    name: str  # destination table and resource name
    method: str  # the Bitrix method that lists the rows
    reader: str  # key of streams.READERS
    scope: str = "crm"  # webhook scope the method needs
    primary_key: Any = "ID"
    cursor: Optional[str] = None  # replication key; None = full table only
    fields_method: Optional[str] = None  # `.fields` method typing the rows
    select: Tuple[str, ...] = ()
    types: Mapping[str, str] = field(default_factory=dict)  # static typing (no `.fields` method)
    columns: Mapping[str, Any] = field(default_factory=dict)  # extra dlt column hints
    option: Optional[str] = None  # source flag that must be true for the stream to exist
    quirk: Optional[str] = None  # key of streams.QUIRKS adding method-specific params

    @property
    def incremental_capable(self) -> bool:
        return self.cursor is not None


_FIELD_COLUMNS = {
    "items": {"data_type": "json"},
    "settings": {"data_type": "json"},
    "values": {"data_type": "json"},
    "title": {"data_type": "text"},
}


def _entity(name: str, entity: str, cursor: str, select: Tuple[str, ...], quirk: Optional[str] = None) -> Stream:
    return Stream(
        name=name,
        method=f"crm.{entity}.list",
        reader="crm_list",
        cursor=cursor,
        fields_method=f"crm.{entity}.fields",
        select=select,
        quirk=quirk,
    )


def _fields(name: str, entity: str) -> Stream:
    return Stream(
        name=name,
        method=f"crm.{entity}.fields",
        reader="fields",
        primary_key="id",
        columns=_FIELD_COLUMNS,
    )


STREAMS: Tuple[Stream, ...] = (
    _entity("contacts", "contact", "DATE_MODIFY", ("*", "UF_*") + MULTIFIELDS),
    _entity("companies", "company", "DATE_MODIFY", ("*", "UF_*") + MULTIFIELDS),
    _entity("deals", "deal", "DATE_MODIFY", ("*", "UF_*"), quirk="deal_categories"),
    _entity("leads", "lead", "DATE_MODIFY", ("*", "UF_*") + MULTIFIELDS),
    # LAST_UPDATED, not CREATED: completing or editing an old activity moves LAST_UPDATED only.
    _entity("activities", "activity", "LAST_UPDATED", ("*", "COMMUNICATIONS")),
    _entity("products", "product", "TIMESTAMP_X", ("*",)),
    _fields("contact_fields", "contact"),
    _fields("company_fields", "company"),
    _fields("deal_fields", "deal"),
    _fields("lead_fields", "lead"),
    _fields("activity_fields", "activity"),
    _fields("product_fields", "product"),
    Stream(
        name="statuses",
        method="crm.status.list",
        reader="unpaged",
        types={"ID": "integer", "SORT": "integer", "SYSTEM": "char", "CATEGORY_ID": "integer"},
    ),
)

STREAMS_BY_NAME: Dict[str, Stream] = {s.name: s for s in STREAMS}
