"""The stream table: every Bitrix24 stream the source knows, one row each.

A row names the destination table, the Bitrix method, the reader that pages it (a key of
`streams.READERS`), its scope, keys, how to type it, what a missing method or a refused webhook
means for it, and the quirk functions it needs (`quirks.py`). Adding a stream is adding a row here
and, for a quirk no reader covers, one small function in `quirks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Tuple

from . import quirks

Reader = Literal["keyset", "fields", "unpaged", "pages", "limit_offset", "per_deal", "field_values",
                 "comment_sweep"]
Policy = Literal["fail", "skip"]  # "skip": one warning line, the stream loads nothing, the run goes on

MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM")
TOMBSTONE = "_tombstone"  # marker rows that clear a parent's child rows before the new ones land
DELETED = "_deleted"  # detect_deletes: hard-delete flag ("delete") or soft mark ("mark")
DELETED_AT = "_deleted_at"  # detect_deletes="mark": when the deletion was noticed (portal clock)


@dataclass(frozen=True)
class Stream:
    name: str  # destination table and resource name
    method: str  # the Bitrix method (may carry a query: "crm.item.fields?entityTypeId=128")
    reader: Reader  # how it pages: keyset (`>ID` chains), pages (`start`), unpaged, per_deal, ...
    scope: Tuple[str, ...] = ("crm",)  # any one of these webhook scopes suffices
    primary_key: Any = "ID"
    cursor: Optional[str] = None  # replication key; None = full table only
    fields_method: Optional[str] = None  # `.fields` method typing the rows
    types: Mapping[str, str] = field(default_factory=dict)  # static typing (no `.fields` method)
    params: Mapping[str, Any] = field(default_factory=dict)  # fixed params (select, order, …)
    filter_key: str = "filter"  # where conditions go ("FILTER" for user.get, voximplant)
    id_field: str = "ID"  # the keyset column
    items_key: Optional[str] = None  # result wrapped as {items_key: [...]}
    columns: Mapping[str, Any] = field(default_factory=dict)  # extra dlt column hints
    option: Optional[str] = None  # source flag that must be true for the stream to exist
    parent: Optional[str] = None  # for transformers: the stream whose rows they receive
    merge_key: Optional[str] = None  # child rows are replaced per value of this key
    # what an error means for this stream ("fail" raises it, "skip" skips the stream with one line):
    if_method_missing: Policy = "fail"  # the portal does not know the method (its module is off)
    if_type_absent: Policy = "fail"  # the entity type does not exist on the portal (NOT_FOUND)
    if_not_admin: Policy = "fail"  # ACCESS_DENIED: the method needs a CRM administrator's webhook
    # quirks (functions in quirks.py):
    filters: Optional[Callable[[Any], Dict[str, Any]]] = None  # options -> extra list conditions
    page_fix: Optional[Callable[[Any, Any, List[Dict[str, Any]]], None]] = None  # (client, options, page)
    row_fix: Optional[Callable[[List[Dict[str, Any]]], None]] = None  # per_deal: one deal's rows, before typing
    field_fix: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None  # the `.fields` result, before typing
    per_id_command: Optional[Callable[..., str]] = None  # per_deal: (deal id, start=None) -> one command
    follow_next: bool = False  # per_deal: a deal's rows page by `next` (comments)
    bulk_rows: Optional[Callable[[Any, List[Any]], Optional[Dict[int, List[Dict[str, Any]]]]]] = None
    # ^ per_deal: (client, deal ids) -> rows by deal id for many deals at once, or None (not usable)
    filter_names: Mapping[str, str] = field(default_factory=dict)  # row key -> its name in filters (tasks)
    table: Optional[str] = None  # destination table, when not the stream's name (two streams, one table)

    @property
    def reads_down(self) -> bool:
        """Keyset reads go downwards with the zero-prefixed bound (legacy CRM and D7 filters); user.get
        and voximplant (`FILTER`, other filter engines) read upwards without it."""
        return self.filter_key == "filter"

    @property
    def incremental_capable(self) -> bool:
        return self.cursor is not None

    def list_filters(self, options: Any) -> Dict[str, Any]:
        """The list conditions the source options add (`filters`: deals' pipelines), or none."""
        return dict(self.filters(options)) if self.filters else {}

    @property
    def append_only(self) -> bool:
        """The cursor is the id itself (stage history): the table only grows, read after the last id."""
        return self.cursor is not None and self.cursor == self.id_field

    @property
    def scans_deletions(self) -> bool:
        """`detect_deletes` applies: a keyset stream with a date cursor (an id cursor's rows stay)."""
        return self.reader == "keyset" and self.cursor is not None and not self.append_only

    def write_disposition(self, incremental: bool) -> Any:
        """A child table's rows are replaced per parent (delete-insert on `merge_key`); an incremental
        stream merges on its key; a full table is replaced."""
        if self.merge_key:
            return {"disposition": "merge", "strategy": "delete-insert"}
        return "merge" if incremental else "replace"

    def column_hints(self, incremental: bool, detect_deletes: Optional[str]) -> Dict[str, Any]:
        """The row's dlt column hints, and the deletion columns where an incremental run scans for
        deletions: `_deleted` a hard delete ("delete") or a flag with `_deleted_at` ("mark")."""
        columns = dict(self.columns)
        if incremental and detect_deletes and self.scans_deletions:
            hard = detect_deletes == "delete"
            columns[DELETED] = {"data_type": "bool", "hard_delete": True} if hard else {"data_type": "bool"}
            if not hard:
                columns[DELETED_AT] = {"data_type": "timestamp"}
        return columns

    @property
    def table_name(self) -> str:
        return self.table or self.name


_FIELD_COLUMNS = {
    "items": {"data_type": "json"},
    "settings": {"data_type": "json"},
    "values": {"data_type": "json"},
    "title": {"data_type": "text"},
}
_CHILD_COLUMNS = {TOMBSTONE: {"data_type": "bool", "hard_delete": True}}


def _entity(name: str, entity: str, cursor: str, select: Tuple[str, ...], **more: Any) -> Stream:
    return Stream(
        name=name,
        method=f"crm.{entity}.list",
        reader="keyset",
        cursor=cursor,
        fields_method=f"crm.{entity}.fields",
        params={"select": select, "order": {"ID": "ASC"}},
        **more,
    )


def _fields(name: str, method: str) -> Stream:
    return Stream(name=name, method=method, reader="fields", primary_key="id", columns=_FIELD_COLUMNS)


def _categories(name: str, entity_type_id: Any) -> Stream:
    """The pipelines (categories) of one CRM type: deals (2) or an SPA."""
    return Stream(name=name, method="crm.category.list", reader="pages", primary_key="id", id_field="id",
                  items_key="categories", params={"entityTypeId": entity_type_id},
                  types={"id": "integer", "sort": "integer", "entityTypeId": "integer", "isDefault": "char"})


def _module(name: str, method: str, reader: Reader, scope: Tuple[str, ...], **more: Any) -> Stream:
    """A stream of a module other than CRM (users, telephony, open lines, tasks): a portal that has
    the module switched off does not know its method, and the stream is skipped with one line."""
    return Stream(name=name, method=method, reader=reader, scope=scope, if_method_missing="skip", **more)


def _per_deal(name: str, method: str, option: str, deal_key: str, **more: Any) -> Stream:
    """A deal sub-resource: a transformer fed with the deals this run extracted, its rows keyed by
    (deal id, row id) and replaced per deal."""
    return Stream(name=name, method=method, reader="per_deal", parent="deals", option=option,
                  primary_key=(deal_key, "ID"), merge_key=deal_key, **{"columns": _CHILD_COLUMNS, **more})


def _history(name: str, entity_type_id: int, stage: str) -> Stream:
    return Stream(
        name=name,
        method="crm.stagehistory.list",
        reader="keyset",
        cursor="ID",  # append-only: the id only grows
        params={"entityTypeId": entity_type_id, "order": {"ID": "ASC"}},
        items_key="items",
        types={"ID": "integer", "TYPE_ID": "integer", "OWNER_ID": "integer", "CATEGORY_ID": "integer",
               "CREATED_TIME": "datetime", f"{stage}_ID": "string", f"{stage}_SEMANTIC_ID": "string"},
    )


TASK_SELECT = (
    "ID", "PARENT_ID", "TITLE", "DESCRIPTION", "MARK", "PRIORITY", "MULTITASK", "NOT_VIEWED", "REPLICATE", "GROUP_ID",
    "STAGE_ID", "CREATED_BY", "CREATED_DATE", "RESPONSIBLE_ID", "ACCOMPLICES", "AUDITORS", "CHANGED_BY",
    "CHANGED_DATE", "STATUS", "STATUS_CHANGED_BY", "CLOSED_BY", "CLOSED_DATE", "DATE_START", "DEADLINE",
    "ALLOW_CHANGE_DEADLINE", "TASK_CONTROL", "TIME_ESTIMATE", "COMMENTS_COUNT", "UF_*",
)

STREAMS: Tuple[Stream, ...] = (
    _entity("contacts", "contact", "DATE_MODIFY", ("*", "UF_*") + MULTIFIELDS),
    _entity("companies", "company", "DATE_MODIFY", ("*", "UF_*") + MULTIFIELDS),
    _entity("deals", "deal", "DATE_MODIFY", ("*", "UF_*"), filters=quirks.deal_filters,
            page_fix=quirks.deal_contact_ids),
    _entity("leads", "lead", "DATE_MODIFY", ("*", "UF_*") + MULTIFIELDS),
    # LAST_UPDATED, not CREATED: completing or editing an old activity moves LAST_UPDATED only.
    _entity("activities", "activity", "LAST_UPDATED", ("*", "COMMUNICATIONS")),
    _entity("products", "product", "TIMESTAMP_X", ("*",)),
    _fields("contact_fields", "crm.contact.fields"),
    _fields("company_fields", "crm.company.fields"),
    _fields("deal_fields", "crm.deal.fields"),
    _fields("lead_fields", "crm.lead.fields"),
    _fields("activity_fields", "crm.activity.fields"),
    _fields("product_fields", "crm.product.fields"),
    Stream(
        name="statuses",
        method="crm.status.list",
        reader="unpaged",
        params={"order": {"ENTITY_ID": "ASC", "SORT": "ASC"}},
        types={"ID": "integer", "SORT": "integer", "SYSTEM": "char", "CATEGORY_ID": "integer"},
    ),
    _history("deal_stage_history", 2, "STAGE"),
    _history("lead_stage_history", 1, "STATUS"),
    _module(
        "users", "user.get", "keyset", ("user", "user_basic", "user_brief"),
        # No usable modification time (TIMESTAMP_X comes back as {}): full table. Fired users too.
        params={"SORT": "ID", "ORDER": "ASC"},
        filter_key="FILTER",
        types={"ID": "integer", "ACTIVE": "boolean", "IS_ONLINE": "char", "UF_DEPARTMENT": "integer[]",
               "DATE_REGISTER": "date", "PERSONAL_BIRTHDAY": "date", "LAST_LOGIN": "datetime",
               "UF_EMPLOYMENT_DATE": "date", "TIMESTAMP_X": "object", "LAST_ACTIVITY_DATE": "object",
               "UF_PHONE_INNER": "string"},
    ),
    _module(
        "departments", "department.get", "pages", ("department",),
        params={"sort": "ID", "order": "ASC"},
        types={"ID": "integer", "SORT": "integer", "PARENT": "integer", "UF_HEAD": "user"},
    ),
    _module(
        "calls", "voximplant.statistic.get", "keyset", ("telephony",),
        cursor="CALL_START_DATE",
        params={"SORT": "ID", "ORDER": "ASC"},  # upper case: lower case is silently ignored
        filter_key="FILTER",
        types={"ID": "integer", "PORTAL_USER_ID": "user", "CALL_DURATION": "integer",
               "CALL_START_DATE": "datetime", "CALL_VOTE": "integer", "COST": "double",
               "CRM_ENTITY_ID": "integer", "CRM_ACTIVITY_ID": "integer", "REST_APP_ID": "integer",
               "TRANSCRIPT_ID": "integer", "TRANSCRIPT_PENDING": "char", "REDIAL_ATTEMPT": "integer",
               "RECORD_DURATION": "integer", "RECORD_FILE_ID": "integer", "CALL_TYPE": "integer"},
    ),
    _module(
        "open_lines", "imopenlines.config.list.get", "limit_offset", ("imopenlines",),
        params={"OPTIONS": {"QUEUE": "Y"}},
        types={"ID": "integer", "ACTIVE": "char", "CRM": "char", "CRM_CREATE_SECOND": "string",
               "QUEUE": "integer[]", "QUEUE_USERS_FIELDS": "object", "WORKTIME_DAYOFF": "object",
               "WORKTIME_HOLIDAYS": "object", "DATE_CREATE": "datetime", "DATE_MODIFY": "datetime",
               "MODIFY_USER_ID": "user"},
    ),
    # Pipelines and the rest added with issue 12 (docs: bitrix24/b24restdocs, see simportal/methods/).
    _categories("deal_categories", 2),
    _entity("quotes", "quote", "DATE_MODIFY", ("*", "UF_*")),
    _fields("quote_fields", "crm.quote.fields"),
    Stream(
        name="invoices",  # smart invoices: a built-in dynamic type, read like an SPA
        method="crm.item.list",
        reader="keyset",
        cursor="updatedTime",
        fields_method="crm.item.fields?entityTypeId=31",
        params={"entityTypeId": 31, "select": ("*",), "order": {"id": "ASC"}},
        primary_key="id",
        id_field="id",
        items_key="items",
        if_type_absent="skip",  # a portal still on the old invoices has no entityTypeId 31
    ),
    replace(_fields("invoice_fields", "crm.item.fields?entityTypeId=31"), if_type_absent="skip"),
    Stream(
        name="requisites",  # full table: DATE_MODIFY is not known to be set when a requisite is created
        method="crm.requisite.list",
        reader="keyset",
        fields_method="crm.requisite.fields",
        params={"select": ("*", "UF_*"), "order": {"ID": "ASC"}},
    ),
    Stream(
        name="addresses",  # no ID: keyed by type and owner, paged by `start` (counted)
        method="crm.address.list",
        reader="pages",
        fields_method="crm.address.fields",
        primary_key=("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"),
        id_field=("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"),  # type: ignore[arg-type]
        params={"order": {"ENTITY_TYPE_ID": "ASC", "ENTITY_ID": "ASC", "TYPE_ID": "ASC"}},
    ),
    Stream(
        name="currencies",
        method="crm.currency.list",
        reader="unpaged",
        primary_key="CURRENCY",
        fields_method="crm.currency.fields",
        params={"order": {"sort": "asc", "currency": "asc"}},  # lower-case names (docs)
    ),
    Stream(
        name="product_sections",
        method="crm.productsection.list",
        reader="keyset",
        fields_method="crm.productsection.fields",
        params={"select": ("*",), "order": {"ID": "ASC"}},
    ),
    _module(
        "tasks", "tasks.task.list", "keyset", ("task",),
        cursor="changedDate",
        fields_method="tasks.task.getFields",
        # rows come back camelCase inside {"tasks": [...]}; select, filter and order take UPPER_SNAKE
        params={"select": TASK_SELECT, "order": {"ID": "ASC"}},
        primary_key="id",
        id_field="id",
        items_key="tasks",
        filter_names={"id": "ID", "changedDate": "CHANGED_DATE"},
        field_fix=quirks.task_descriptors,
    ),
    Stream(
        name="field_values",  # every enumeration item and status of the run's `.fields`, with its label
        method="crm.status.list",
        reader="field_values",
        primary_key=("entity", "field", "item_id"),
        types={"entity": "string", "field": "string", "item_id": "string", "label": "string", "sort": "integer"},
    ),
    Stream(
        name="spa_types",
        method="crm.type.list",
        reader="pages",
        if_not_admin="skip",
        primary_key="id",
        items_key="types",
        params={"order": {"id": "ASC"}},
        types={"id": "integer", "entityTypeId": "integer", "createdTime": "datetime", "updatedTime": "datetime",
               "createdBy": "user", "updatedBy": "user", "customSectionId": "integer"},
    ),
    # Deal sub-resources: transformers fed with the deals this run extracted (product rows in bulk,
    # the others 50 deals a request).
    _per_deal(
        "deal_products", "crm.deal.productrows.get", "enable_deal_products", "OWNER_ID",
        per_id_command=quirks.product_rows_command,
        bulk_rows=quirks.bulk_product_rows,  # crm.item.productrow.list where the portal allows it
        types={"ID": "integer", "OWNER_ID": "integer", "PRODUCT_ID": "integer", "PRICE": "double",
               "PRICE_EXCLUSIVE": "double", "PRICE_NETTO": "double", "PRICE_BRUTTO": "double",
               "PRICE_ACCOUNT": "double", "QUANTITY": "double", "DISCOUNT_TYPE_ID": "integer",
               "DISCOUNT_RATE": "double", "DISCOUNT_SUM": "double", "TAX_RATE": "double",
               "TAX_INCLUDED": "char", "CUSTOMIZED": "char", "MEASURE_CODE": "integer", "SORT": "integer",
               "TYPE": "integer", "STORE_ID": "integer", "RESERVE_ID": "integer",
               "DATE_RESERVE_END": "date", "RESERVE_QUANTITY": "double", "OWNER_TYPE": "string",
               "PRODUCT_NAME": "string", "ORIGINAL_PRODUCT_NAME": "string", "PRODUCT_DESCRIPTION": "string",
               "MEASURE_NAME": "string", "XML_ID": "string", "TAX_NAME": "string"},
    ),
    _per_deal(
        "deal_comments", "crm.timeline.comment.list", "enable_deal_comments", "ENTITY_ID",
        columns={**_CHILD_COLUMNS, "FILES": {"data_type": "json"}},
        per_id_command=quirks.comment_command,
        follow_next=True,
        row_fix=quirks.comment_rows,
        types={"ID": "integer", "ENTITY_ID": "integer", "CREATED": "datetime", "AUTHOR_ID": "user",
               "FILES": "object", "COMMENT": "string", "ENTITY_TYPE": "string"},
    ),
)

# Comments do not reliably move a deal's DATE_MODIFY, so the transformer alone misses comments added,
# edited or deleted on deals that did not change: every incremental run also re-reads the comments of
# a rotating slice of all deals (`streams.comment_sweep`, `deal_comments_refresh_runs`), into the same
# table with the same keys.
STREAMS += (replace(next(s for s in STREAMS if s.name == "deal_comments"), name="deal_comments_sweep",
                    table="deal_comments", reader="comment_sweep", parent=None),)

# One SPA (smart process) type expands into these two rows; `{id}` is its entityTypeId.
SPA_ITEMS = Stream(
    name="spa_{id}",
    method="crm.item.list",
    reader="keyset",
    cursor="updatedTime",
    fields_method="crm.item.fields?entityTypeId={id}",
    params={"entityTypeId": "{id}", "select": ("*",), "order": {"id": "ASC"}},
    primary_key="id",
    id_field="id",
    items_key="items",
)
SPA_FIELDS = _fields("spa_fields_{id}", "crm.item.fields?entityTypeId={id}")
SPA_CATEGORIES = _categories("spa_categories_{id}", "{id}")
SPA_TEMPLATES = (SPA_ITEMS, SPA_FIELDS, SPA_CATEGORIES)


def spa_streams(entity_type_id: int) -> Tuple[Stream, ...]:
    """The two stream rows of one SPA type (named by its numeric entityTypeId, never its title)."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{id}", str(entity_type_id))
        if isinstance(value, Mapping):
            return {k: fill(v) for k, v in value.items()}
        return value

    return tuple(
        replace(t, name=fill(t.name), method=fill(t.method), fields_method=fill(t.fields_method), params=fill(t.params))
        for t in SPA_TEMPLATES
    )


STREAMS_BY_NAME: Dict[str, Stream] = {s.name: s for s in STREAMS}
