"""Readers: the module-level generator functions behind every resource.

Each reader takes the shared client, its row of the stream table and the run's options, pages the
method with the batch reader, types the rows and yields them page by page (never the whole table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import dlt
import pendulum

from .batch import ListQuery, read_keyset
from .client import Bitrix24Client
from .fields import FieldTyping, static_descriptors
from .settings import Stream


@dataclass(frozen=True)
class Options:
    """Validated source options the readers need."""

    deal_category_ids: tuple = ()
    extras: Mapping[str, Any] = field(default_factory=dict)


def iso(moment: datetime) -> str:
    """A datetime as Bitrix filters want it: ISO 8601 with offset, whole seconds."""
    return pendulum.instance(moment).replace(microsecond=0).isoformat()


def descriptors(client: Bitrix24Client, method: str) -> Dict[str, Any]:
    """A `.fields` result, fetched once per run and shared by the entity and its fields stream."""
    return client.cached(("fields", method), lambda: _as_map(client.call(method).get("result")))


def _as_map(result: Any) -> Dict[str, Any]:
    if isinstance(result, dict) and isinstance(result.get("fields"), dict):
        result = result["fields"]  # crm.item.fields wraps its descriptors
    return dict(result) if isinstance(result, dict) else {}


def _with_columns(rows: List[Dict[str, Any]], typing: FieldTyping) -> Any:
    return dlt.mark.with_hints(rows, dlt.mark.make_hints(columns=list(typing.columns.values())))


# ---------------------------------------------------------------------------- quirks


def deal_categories(stream: Stream, options: Options) -> Dict[str, Any]:
    """Deals honour `deal_category_ids` (pipelines); none = every pipeline."""
    ids = list(options.deal_category_ids)
    if not ids:
        return {}
    return {"CATEGORY_ID": ids[0]} if len(ids) == 1 else {"@CATEGORY_ID": ids}


QUIRKS: Dict[str, Callable[[Stream, Options], Dict[str, Any]]] = {
    "deal_categories": deal_categories,
}


# ---------------------------------------------------------------------------- readers


def crm_list(
    client: Bitrix24Client,
    stream: Stream,
    options: Options,
    cursor: Optional[dlt.sources.incremental[Any]] = None,
) -> Iterator[Any]:
    """A legacy CRM list (`crm.deal.list` …) read by ID keyset, optionally within a cursor window.

    The window is [last cursor value, the portal's clock at the stream's start): a row edited while
    the run is in progress falls after the window and is picked up by the next run.
    """
    filters: Dict[str, Any] = dict(QUIRKS[stream.quirk](stream, options)) if stream.quirk else {}
    first_batch = 50
    if cursor is not None:
        upper = cursor.end_value or client.portal_now()
        lower = cursor.start_value
        if lower is not None:
            filters[f">={stream.cursor}"] = iso(lower)
            if cursor.end_value is None and lower != cursor.initial_value:
                first_batch = 1  # a routine incremental run: expect few changed rows
        filters[f"<{stream.cursor}"] = iso(upper)
    query = ListQuery(stream.method, params={"select": list(stream.select), "order": {"ID": "ASC"}}, filter=filters)

    key = ("fields", stream.fields_method)
    extra = None
    if stream.fields_method and not client.is_cached(key):
        extra = {"fields": stream.fields_method}

    def keep_fields(answer: Dict[str, Any]) -> None:
        if "fields" in answer["result"]:
            client.remember(key, _as_map(answer["result"]["fields"]))
        elif "fields" in answer["result_error"]:
            client.raise_command_error(stream.fields_method, answer["result_error"]["fields"])

    typing: Optional[FieldTyping] = None
    for page in read_keyset(client, query, first_batch=first_batch, extra=extra, on_extra=keep_fields):
        if typing is None:
            typing = FieldTyping(descriptors(client, stream.fields_method), stream.name)
            yield _with_columns(typing.convert_all(page), typing)
        else:
            yield typing.convert_all(page)


def fields(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """One row per field of an entity: `id` is the field code, the rest is the descriptor."""
    rows = [{"id": code, **descriptor} for code, descriptor in descriptors(client, stream.method).items()]
    if rows:
        yield rows


def unpaged(client: Bitrix24Client, stream: Stream, options: Options) -> Iterator[Any]:
    """A method that returns all its rows in one answer (`crm.status.list`)."""
    rows = client.call(stream.method, {"order": {"ID": "ASC"}}).get("result") or []
    typing = FieldTyping(static_descriptors(stream.types), stream.name)
    if rows:
        yield _with_columns(typing.convert_all(list(rows)), typing)


READERS: Dict[str, Callable[..., Iterator[Any]]] = {
    "crm_list": crm_list,
    "fields": fields,
    "unpaged": unpaged,
}
