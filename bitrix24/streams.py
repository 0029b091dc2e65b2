"""Readers: the module-level generator functions behind every resource.

Each reader takes the shared client, its row of the stream table and the run's options and pages
the method with the batch reader; `typed_reader`, the skeleton they share, checks the scope, types
the rows, hints the columns and applies the stream's error policies. Pages are yielded one by one
(never a whole table). The quirks a row names live in `quirks.py`.
"""


import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial, wraps
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import dlt
import pendulum

from . import backfill
from .batch import PAGE, ListQuery, read_keyset, read_per_id
from .client import Bitrix24Client, descriptor_map
from .errors import ApiError, MethodNotFoundError
from .fields import FieldTyping, static_descriptors, to_int
from .plan import has_scope
from .quirks import existing_deals
from .settings import DELETED, DELETED_AT, STREAMS, STREAMS_BY_NAME, TOMBSTONE, Stream

logger = logging.getLogger("bitrix24")


@dataclass(frozen=True)
class Options:
    """The run's settings, checked once (`bitrix24_source`): what to build and how to read it."""

    deal_category_ids: tuple = ()
    extract_deal_contacts: bool = False
    enable_deal_comments: bool = False  # on when asked for, or when `streams` names deal_comments
    enable_deal_products: bool = False  # on when asked for, or when `streams` names deal_products
    detect_deletes: Optional[str] = None  # None, "delete" or "mark"
    requested: Optional[tuple] = None  # streams the user named
    spa_ids: Optional[tuple] = None  # SPA types configured (None: discovered on the portal)
    sync_types: Mapping[str, str] = field(default_factory=dict)  # stream -> "incremental" / "full_table"
    bounds: tuple = (None, None)  # (start_date, end_date) of the date cursors, either may be None
    allow_external_schedulers: bool = False
    deal_products_method: str = "auto"  # "auto" (bulk, proved or fallen back) or "per_deal"
    backfill_slice_rows: Optional[int] = None  # a backfill stops after this many rows (None: never)
    max_run_seconds: Optional[float] = None  # a backfill stops at its next answer once the run is this old
    deal_comments_refresh_runs: int = 10  # the comment sweep's period in runs; 0 = off

    @property
    def scopes_at_run_time(self) -> bool:
        """SPA ids configured: the source was built without asking the portal, readers check scopes."""
        return self.spa_ids is not None

    def enabled(self, option: Optional[str]) -> bool:
        """Whether a stream behind this source flag (None: no flag) is on."""
        return option is None or bool(getattr(self, option))

    def incremental(self, stream: Stream) -> bool:
        """A stream with a replication key is read incrementally unless `sync_types` says full_table."""
        return stream.incremental_capable and self.sync_types.get(stream.name, "incremental") == "incremental"


def iso(moment: datetime) -> str:
    """A datetime as Bitrix filters want it: ISO 8601 with offset, whole seconds."""
    return pendulum.instance(moment).replace(microsecond=0).isoformat()


def descriptors(client: Bitrix24Client, method: str) -> Dict[str, Any]:
    """A `.fields` result, fetched once per run and shared by the entity and its fields stream.

    Those of the streams known when the source is built come with the scope request; the first
    stream that needs one that did not (an SPA's) fetches all such in one batch. A method that
    fails there is asked again on its own, which raises the precise error.
    """
    key = ("fields", method)
    if not client.is_cached(key):
        client.cached(("fields", "*"), client.prefetch_fields)
    return client.cached(key, lambda: descriptor_map(client.call(method).get("result")))


def typing_for(client: Bitrix24Client, stream: Stream) -> FieldTyping:
    if stream.fields_method:
        found = descriptors(client, stream.fields_method)
        if stream.field_fix:
            found = stream.field_fix(found)
        return FieldTyping(found, stream.name, parent=_multifield_parent(stream))
    return FieldTyping(static_descriptors(stream.types), stream.name)


def _multifield_parent(stream: Stream) -> Any:
    """(row id key, column) that puts the entity's id into each multi-field entry, so child tables
    such as `contacts__phone` carry `contact_id` (a Bitrix key) besides dlt's `_dlt_parent_id`."""
    parts = stream.method.split(".")
    if len(parts) == 3 and parts[0] == "crm" and parts[2] == "list":
        return stream.id_field, f"{parts[1].upper()}_ID"
    return None


def _with_columns(rows: List[Dict[str, Any]], typing: FieldTyping) -> Any:
    """Attach column hints to a stream's first page.

    Keys the typing does not know and that are empty on every row of the page get a text hint, so
    dlt creates them (Bitrix's unknown fields are text) instead of warning about untyped columns.
    """
    columns = list(typing.columns.values())
    empty, filled = set(), set()
    for row in rows:
        for key, value in row.items():
            (empty if value is None else filled).add(key)
    for key in sorted(empty - filled - set(typing.columns)):
        columns.append({"name": key, "data_type": "text", "nullable": True})
    return dlt.mark.with_hints(rows, dlt.mark.make_hints(columns=columns))


# ---------------------------------------------------------------------------- the reader skeleton


@dataclass
class Untyped:
    """Rows a reader yields as they are: detect_deletes' markers and rows read back from the destination."""

    rows: List[Dict[str, Any]]


def typed_reader(read_pages: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """The skeleton every paging reader shares; `read_pages` keeps only how it pages.

    Streams whose scope the webhook lacks are skipped (sources built without asking the portal).
    Each page is typed in place, gets the stream's `page_fix`, and the first page carries the
    column hints. An error goes through the stream's policies (`skip_or_raise`)."""
    @wraps(read_pages)
    def reader(client: Bitrix24Client, stream: Stream, options: Options, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if not readable(client, stream, options):
            return
        try:
            typing = typing_for(client, stream)
            hinted = False
            for page in read_pages(client, stream, options, *args, **kwargs):
                if isinstance(page, Untyped):
                    yield page.rows
                    continue
                typing.convert_all(page)
                if stream.page_fix:
                    stream.page_fix(client, options, page)
                yield page if hinted else _with_columns(page, typing)
                hinted = True
        except ApiError as exc:
            skip_or_raise(client, stream, exc)
    return reader


ABSENT_CODES = ("NOT_FOUND", "ENTITY_TYPE_NOT_SUPPORTED")  # `if_type_absent`: the type is not on the portal


def skip_or_raise(client: Bitrix24Client, stream: Stream, exc: ApiError) -> None:
    """What an error means for this stream (`Stream.if_*`): skipped with one warning line, or raised.

    A CRM method exists on every portal, so a missing one is an error; a module's method (telephony,
    open lines, tasks) is missing where the module is switched off. Smart invoices are absent on a
    portal still on the old invoices; `crm.type.list` needs a CRM administrator's webhook."""
    if isinstance(exc, MethodNotFoundError):
        if stream.if_method_missing != "skip":
            raise exc
        logger.warning("Stream %s skipped: the portal does not offer %s (the module is probably switched off on"
                       " this portal).", stream.name, stream.method.split("?")[0])
    elif exc.code in ABSENT_CODES and stream.if_type_absent == "skip":
        key = ("absent", stream.fields_method or stream.method)
        if not client.is_cached(key):
            client.remember(key, True)
            logger.warning("Stream %s skipped: the portal has no %s (%s).", stream.name,
                           (stream.fields_method or stream.method).split("?")[-1], exc.description or exc.code)
    elif exc.code == "ACCESS_DENIED" and stream.if_not_admin == "skip":
        logger.warning("Stream %s skipped: %s needs a webhook of a CRM administrator.", stream.name, stream.method)
    else:
        raise exc


@dataclass(frozen=True)
class Window:
    """What a keyset stream reads this run: extra list conditions, where the id keyset starts, the
    commands of its first request, and the date window's top (fixed for a whole backfill)."""

    filters: Dict[str, Any]
    after: int = 0
    first_batch: int = 50
    upper: Any = None


def window(stream: Stream, cursor: Any, walk: Any, now: Callable[[], datetime]) -> Window:
    """The incremental window of a keyset stream; `cursor` is dlt's incremental (None: full table),
    `walk` the backfill this run continues (None: none), `now` the portal's clock.

    A date cursor reads [the last value, the portal's clock at the start): a row edited while the
    run goes on falls after the window and comes with the next run. Each run reads up to whole
    seconds, open, so a routine run's rows AT the last value were all there for the previous run:
    it starts after it (`>`); a first run or a backfill includes its start value (`>=`). A routine
    run expects few changed rows, so its first request carries 10 commands, not 50. An id cursor
    (append-only tables) starts the keyset after the last id.
    """
    if cursor is None:
        return Window({})
    lower = walk.lower if walk is not None else cursor.start_value
    routine = walk is None and lower is not None and cursor.end_value is None and lower != cursor.initial_value
    first_batch = 10 if routine else 50
    if stream.cursor == stream.id_field:
        below = {f"<{stream.id_field}": cursor.end_value} if cursor.end_value is not None else {}
        return Window(below, after=to_int(lower) or 0, first_batch=first_batch)
    upper = (walk.upper if walk is not None else None) or cursor.end_value or now()
    filters = {f"{'>' if routine else '>='}{stream.cursor}": iso(lower)} if lower is not None else {}
    filters[f"<{stream.cursor}"] = iso(upper)
    return Window(filters, first_batch=first_batch, upper=upper)


# ---------------------------------------------------------------------------- readers


@typed_reader
def keyset(
    client: Bitrix24Client,
    stream: Stream,
    options: Options,
    cursor: Optional[dlt.sources.incremental[Any]] = None,
    guard: Any = None,
) -> Iterator[Any]:
    """Any ID-orderable list, read by the chained-batch keyset technique, in the incremental
    `window`. A first sync is a backfill (`backfill.py`): it may stop after a slice and resume in a
    later run, in the same window."""
    filters = stream.list_filters(options)
    walk = backfill.begin(client, stream, options, cursor, guard, down=stream.reads_down)
    win = window(stream, cursor, walk, client.portal_now)
    if walk is not None and win.upper is not None:
        walk.upper = win.upper
    below = walk.bound if walk is not None and walk.down else None
    after = walk.bound if walk is not None and not walk.down and walk.bound else win.after
    pages = read_keyset(client, list_query(stream, {**filters, **win.filters}), after=after,
                        first_batch=win.first_batch, below=below, max_batch=walk.max_batch if walk is not None else 50)
    for page in pages:
        yield page
        if walk is not None:
            walk.record(page, stream.id_field)
            if walk.slice_full() and not page.last:  # the end of the list is no slice boundary
                pages.close()
                backfill.finish(walk, guard, complete=False, cursor=cursor)
                return
    if walk is not None:
        backfill.finish(walk, guard, complete=True, cursor=cursor)
    if options.detect_deletes and cursor is not None and stream.cursor != stream.id_field:
        for rows in deletions(client, stream, options, filters):
            yield Untyped(rows)


def list_query(stream: Stream, filters: Dict[str, Any], select: Optional[List[str]] = None) -> ListQuery:
    params = dict(stream.params)
    names = stream.filter_names
    if select is not None:
        params = {k: v for k, v in params.items() if k.lower() != "select"}
        params["select"] = [names.get(s, s) for s in select]
    if names:  # conditions on row keys the method spells differently in filters (tasks)
        filters = {_filter_name(key, names): value for key, value in filters.items()}
    return ListQuery(
        stream.method,
        params=params,
        filter=filters,
        filter_key=stream.filter_key,
        id_field=stream.id_field,
        items_key=stream.items_key,
        guard=stream.reads_down,
        filter_id=names.get(stream.id_field),
    )


def _filter_name(key: str, names: Mapping[str, str]) -> str:
    field = key.lstrip("<>=!@%")
    return key[:len(key) - len(field)] + names.get(field, field)


def deletions(client: Bitrix24Client, stream: Stream, options: Options, filters: Dict[str, Any]) -> Iterator[Any]:
    """`detect_deletes`: rows in the destination that the portal no longer has.

    A keyset scan that selects only the id (2,500 ids per request) lists what the portal holds;
    ids stored in the destination but missing there were deleted. In "delete" mode they go out as
    hard-delete rows; in "mark" mode the stored rows come back with `_deleted` = true and
    `_deleted_at` set.
    """
    stored = _stored_ids(stream)
    if not stored:
        return
    query = list_query(stream, filters, select=[stream.id_field])
    live: set = set()
    for page in read_keyset(client, query):
        live.update(to_int(row.get(stream.id_field)) for row in page)
    gone = sorted(stored - live)
    logger.info("%s: %d of %d stored rows are gone from the portal", stream.name, len(gone), len(stored))
    if not gone:
        return
    if options.detect_deletes == "delete":
        client.stats.add_tombstones(stream.name, len(gone))  # hard-delete markers, never stored
        yield [{stream.id_field: row_id, DELETED: True} for row_id in gone]
        return
    now = client.portal_now()
    for start in range(0, len(gone), 1000):
        rows = _stored_rows(stream, gone[start:start + 1000])
        for row in rows:
            row[DELETED], row[DELETED_AT] = True, now
        if rows:
            yield rows


# Streams extract side by side, and dlt's pipeline schema storage is not thread-safe (reading
# `default_schema` re-links the live schema: another thread sees it half reset). Every read of the
# destination's schema or data from a reader holds this lock.
DESTINATION = threading.RLock()


def _holding_destination(read: Callable[..., Any]) -> Callable[..., Any]:
    """`read` runs holding DESTINATION."""
    @wraps(read)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with DESTINATION:
            return read(*args, **kwargs)
    return locked


@_holding_destination
def _dataset_table(stream: Stream):
    """(dataset, table name, id column) in the destination, or None before the first load."""
    try:
        pipeline = dlt.current.pipeline()
        schema = pipeline.default_schema
    except Exception:
        return None
    naming = schema.naming
    table, column = naming.normalize_table_identifier(stream.name), naming.normalize_identifier(stream.id_field)
    if table not in schema.tables or column not in schema.tables[table].get("columns", {}):
        return None
    return pipeline.dataset(), table, column


@_holding_destination
def _stored_ids(stream: Stream) -> set:
    found = _dataset_table(stream)
    if found is None:
        return set()
    dataset, table, column = found
    sql = f"SELECT {column} FROM {table}"
    if _not_marked(table):
        sql += f" WHERE {_not_marked(table)}"
    try:
        return {int(r[0]) for r in dataset(sql).fetchall() if r[0] is not None}
    except Exception as exc:  # no table yet, or a destination without SQL access
        logger.warning("detect_deletes: could not read ids of %s from the destination (%s); skipped", table, exc)
        return set()


def _not_marked(table: str) -> str:
    """The SQL condition that leaves out rows detect_deletes="mark" marked deleted ("" if none can be)."""
    columns = dlt.current.pipeline().default_schema.tables[table]["columns"]
    if DELETED in columns and not columns[DELETED].get("hard_delete"):
        return f"({DELETED} IS NULL OR NOT {DELETED})"
    return ""


@_holding_destination
def _stored_rows(stream: Stream, ids: List[int]) -> List[Dict[str, Any]]:
    dataset, table, column = _dataset_table(stream)
    relation = dataset(f"SELECT * FROM {table} WHERE {column} IN ({', '.join(str(int(i)) for i in ids)})")
    names = [c[0] if isinstance(c, tuple) else c for c in relation.columns]
    schema_columns = dlt.current.pipeline().default_schema.tables[table]["columns"]
    as_json = {n for n, c in schema_columns.items() if c.get("data_type") == "json"}
    rows = []
    for values in relation.fetchall():
        row = {name: value for name, value in zip(names, values) if not name.startswith("_dlt_")}
        for name in as_json & row.keys():
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        row[stream.id_field] = row.pop(column)
        rows.append(row)
    return rows


def readable(client: Bitrix24Client, stream: Stream, options: Options) -> bool:
    """Scope check for sources built without a request (spa_entity_type_ids configured)."""
    if not options.scopes_at_run_time or has_scope(stream, client.scopes(), options.requested):
        return True
    logger.warning(
        "Stream %s skipped: the webhook lacks the scope %s. Add it to the inbound webhook in Bitrix24 to"
        " load the stream.",
        stream.name,
        " or ".join(stream.scope),
    )
    return False


def fields(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """One row per field of an entity: `id` is the field code, the rest is the descriptor."""
    if not readable(client, stream, options):
        return
    try:
        found = descriptors(client, stream.method)
    except ApiError as exc:
        skip_or_raise(client, stream, exc)
        return
    rows = [{"id": code, **descriptor} for code, descriptor in found.items()]
    if rows:
        yield rows


@typed_reader
def field_values(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """One row per enumeration item and per status of every `.fields` method of the run: (entity
    table, field code, item id, label, sort), so a code column joins to its label in one step.
    Enumeration items come from the descriptors' `items` (`values` for tasks); `crm_status` fields
    get the statuses of their `statusType` (the deal stage field: every pipeline's stages)."""
    owners = {s.fields_method: s for s in STREAMS if s.fields_method}  # `.fields` method -> its entity's stream
    statuses: Optional[List[Dict[str, Any]]] = None
    out: List[Dict[str, Any]] = []
    for method in client.fields_methods:
        owner = owners.get(method)
        entity = owner.name if owner else _spa_table(method)
        if entity is None:
            continue
        try:
            found = descriptors(client, method)
        except ApiError:
            continue  # the stream that needs it reports the error
        if owner is not None and owner.field_fix:
            found = owner.field_fix(found)
        for code, descriptor in found.items():
            if not isinstance(descriptor, dict):
                continue
            for sort, (item_id, label) in enumerate(_items(descriptor), start=1):
                out.append({"entity": entity, "field": code, "item_id": str(item_id), "label": label, "sort": sort})
            status_type = descriptor.get("statusType")
            if descriptor.get("type") == "crm_status" and status_type:
                if statuses is None:
                    statuses = client.call("crm.status.list", {"order": {"SORT": "ASC"}}).get("result") or []
                for row in statuses:
                    entity_id = str(row.get("ENTITY_ID") or "")
                    if entity_id == status_type or (status_type == "DEAL_STAGE" and entity_id.startswith("DEAL_STAGE_")):
                        out.append({"entity": entity, "field": code, "item_id": row.get("STATUS_ID"),
                                    "label": row.get("NAME"), "sort": to_int(row.get("SORT"))})
    if out:
        yield out


def _items(descriptor: Mapping[str, Any]) -> List[Any]:
    items = descriptor.get("items")
    if isinstance(items, list):
        return [(i.get("ID"), i.get("VALUE")) for i in items if isinstance(i, dict) and i.get("ID") is not None]
    values = descriptor.get("values")
    if descriptor.get("type") == "string" and isinstance(values, dict):  # tasks' enum codes (not Y/N flags)
        return list(values.items())
    return []


def _spa_table(method: str) -> Optional[str]:
    """`crm.item.fields?entityTypeId=128` -> `spa_128` (the items table)."""
    if method.startswith("crm.item.fields?entityTypeId="):
        return f"spa_{method.rsplit('=', 1)[1]}"
    return None


@typed_reader
def unpaged(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """A method that returns all its rows in one answer (`crm.status.list`)."""
    rows = client.call(stream.method, dict(stream.params)).get("result") or []
    if rows:
        yield list(rows)


@typed_reader
def pages(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """A short list paged by `start`/`next` (departments, SPA types): at most a few requests."""
    start: Optional[int] = 0
    seen: set = set()
    ids = stream.id_field
    key = (lambda r: tuple(r.get(k) for k in ids)) if isinstance(ids, tuple) else (lambda r: r.get(ids))
    while start is not None:
        envelope = client.call(stream.method, {**stream.params, "start": start})
        rows = envelope.get("result") or []
        if stream.items_key and isinstance(rows, dict):
            rows = rows.get(stream.items_key) or []
        fresh = [r for r in rows if key(r) not in seen]
        if not fresh:  # an out-of-range start returns the first page again on legacy methods
            break
        seen.update(key(r) for r in fresh)
        yield fresh
        start = to_int(envelope.get("next"))


@typed_reader
def limit_offset(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """`imopenlines.config.list.get`: its own PARAMS.limit/offset paging, until a short page."""
    offset = 0
    while True:
        params = {**stream.params, "PARAMS": {"order": {"ID": "ASC"}, "limit": PAGE, "offset": offset}}
        rows = client.call(stream.method, params).get("result") or []
        if rows:
            yield rows
        if len(rows) < PAGE:
            break
        offset += PAGE


@typed_reader
def per_deal(client: Bitrix24Client, stream: Stream, options: Options, deals: Any) -> Iterator[Any]:
    """Transformer: child rows of the deals this run extracted (up to 2,500 per call).

    The table merges with delete-insert on `stream.merge_key` (the deal id): a deal's new rows
    replace all its old ones, so a product removed from a deal disappears here too. A deal with no
    rows left sends one tombstone row, which clears its old rows and is itself never stored.
    """
    deals = deals if isinstance(deals, list) else [deals]
    ids = [d["ID"] for d in deals if isinstance(d, dict) and d.get("ID")]
    if not ids:
        return
    out: List[Dict[str, Any]] = []
    for deal_id, rows in child_rows(client, stream, options, ids):
        rows = [dict(r) for r in (rows or []) if isinstance(r, dict)]
        for row in rows:
            row[stream.merge_key] = deal_id  # some methods send it as text, some not at all
        if stream.row_fix:
            stream.row_fix(rows)
        if rows:  # delete-insert on the deal id replaces whatever the deal had before
            out.extend(rows)
        else:  # a deal with no child rows left: a tombstone clears the old ones
            out.append({stream.merge_key: deal_id, "ID": 0, TOMBSTONE: True})
            client.stats.add_tombstones(stream.table_name, 1)
    yield out


def child_rows(client: Bitrix24Client, stream: Stream, options: Options, ids: List[Any]) -> Iterator[Any]:
    """(deal id, its rows) for every deal: many deals per command where the stream can and the portal
    proves it right (`bulk_rows`: product rows, 2,500 a request, `products.py`); else one command per
    deal, 50 deals a request."""
    if stream.bulk_rows and options.deal_products_method == "auto":
        found = stream.bulk_rows(client, ids)
        if found is not None:
            return ((deal_id, found.get(to_int(deal_id)) or []) for deal_id in ids)
    make = stream.per_id_command
    return read_per_id(client, ids, make, follow_next=make if stream.follow_next else None,
                       exists=partial(existing_deals, client))


def comment_sweep(client: Bitrix24Client, stream: Stream, options: Options, isolation: Any = None) -> Iterator[Any]:
    """`deal_comments_sweep`: the comments of one N-th of all deals, another N-th each run.

    Adding, editing or deleting a comment does not reliably move the deal's DATE_MODIFY, so the
    transformer (the deals this run extracted) can miss it. This resource re-reads the comments of
    the stored deals whose id % N equals this run's turn (N = `deal_comments_refresh_runs`), so every
    deal's comments are refreshed within N runs, at about deals / (50·N) requests a run; same table,
    keys and tombstones as the transformer. The ids come from the destination (no request) or, when
    it cannot be read, from an id-only keyset scan (deals / 2,500 requests). While `deals` is read
    from scratch (first run, reset cursor, full table) nothing is swept: the transformer reads every
    deal's comments then. The turn (`sweep_turn` in the resource's state) moves on only after a
    complete sweep, so a sweep that fails is repeated by the next run.
    """
    runs = options.deal_comments_refresh_runs
    if not runs or not readable(client, stream, options):
        return
    deals = isolation.guard("deals") if isolation is not None else None
    if deals is not None and not deals.resumed:
        return
    own = isolation.guard(stream.name) if isolation is not None else None
    state = own.state if own is not None else dlt.current.resource_state(stream.name)
    turn = int(state.get("sweep_turn") or 0)
    ids = _sweep_ids(client, options, runs, turn % runs)
    logger.info("%s: turn %d of %d, comments of %d deals", stream.name, turn % runs + 1, runs, len(ids))
    for start in range(0, len(ids), 2500):
        yield from per_deal(client, stream, options, [{"ID": i} for i in ids[start:start + 2500]])
    state["sweep_turn"] = turn + 1


def _sweep_ids(client: Bitrix24Client, options: Options, runs: int, turn: int) -> List[int]:
    """The deal ids with id % runs == turn: those stored in the destination, or listed on the portal."""
    deals = STREAMS_BY_NAME["deals"]
    stored = _stored_sweep_ids(deals, runs, turn)
    if stored is not None:
        return stored
    query = list_query(deals, deals.list_filters(options), select=[deals.id_field])
    ids = (to_int(row.get(deals.id_field)) for page in read_keyset(client, query) for row in page)
    return sorted(i for i in ids if i and i % runs == turn)


@_holding_destination
def _stored_sweep_ids(deals: Stream, runs: int, turn: int) -> Optional[List[int]]:
    """The stored deal ids with id % runs == turn; None when the destination cannot say."""
    try:
        found = _dataset_table(deals)
        if found is None:
            return []  # no deals stored yet
        dataset, table, column = found
        sql = f"SELECT {column} FROM {table} WHERE {column} % {int(runs)} = {int(turn)}"
        if _not_marked(table):
            sql += f" AND {_not_marked(table)}"
        return sorted(int(r[0]) for r in dataset(sql, query_dialect="duckdb").fetchall() if r[0] is not None)
    except Exception as exc:
        logger.warning("deal_comments_sweep: could not read the deal ids from the destination (%s); listing"
                       " them from the portal (one request per 2,500 deals)", exc)
    return None


READERS: Dict[str, Callable[..., Iterator[Any]]] = {
    "keyset": keyset,
    "fields": fields,
    "unpaged": unpaged,
    "pages": pages,
    "limit_offset": limit_offset,
    "per_deal": per_deal,
    "field_values": field_values,
    "comment_sweep": comment_sweep,
}
