"""Readable views: one `<table>_labeled` view per entity table, its columns named by Bitrix's labels.

    pipeline.run(bitrix24_source())
    create_labeled_views(pipeline)      # deals_labeled, contacts_labeled, ... (bitrix24_pipeline.py
                                        # calls it after each load with `labeled_views = true`)

An entity table is one whose field descriptions were loaded too (`deals` with `deal_fields`,
`spa_128` with `spa_fields_128`, ...). Each column of the table appears once, named by its field's
label (`listLabel`, `formLabel`, `filterLabel` or `title`, as in the column descriptions), in the
table's order. A column whose values are codes - a single-value enumeration (the items of its
field description), a `crm_status` field (the `statuses` table; a stage field gets every
pipeline's stages) or the pipeline id (`deal_categories`, `spa_categories_<id>`) - appears twice:
under its label the code's label, and right after it under its own column name the code as stored
(`stage_id`, `category_id`, `uf_crm_...`). dlt's `_dlt_load_id` / `_dlt_id` keep their names.

Names are made valid for the destination: whitespace runs become one space, control characters
are dropped, an empty label falls back to the column name, a label too long for the destination
(PostgreSQL: 63 bytes) is cut on a character boundary, and a name already taken (compared without
case) gets the column name in brackets, then a number. Labels are resolved when the view is
created, so the views are dropped and created again on every call (a new or renamed field, a new
stage or pipeline shows up). The SQL goes through dlt's SQL client with dlt's quoting.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import dlt

from .fields import label_of
from .settings import STREAMS, spa_streams

logger = logging.getLogger("bitrix24")

SUFFIX = "_labeled"
CATEGORIES = {"deals": "deal_categories"}  # entity table -> its pipelines (SPA: spa_categories_<id>)
FIELD_COLUMNS = ("id", "type", "status_type", "is_multiple", "items", "list_label", "form_label", "filter_label",
                 "title")
LABEL_KEYS = {"list_label": "listLabel", "form_label": "formLabel", "filter_label": "filterLabel", "title": "title"}
_SPA = re.compile(r"^spa_(\d+)$")
_STAGE = re.compile(r"^(.*_STAGE)(_\d+)?$")


@dataclass(frozen=True)
class Field:
    """One row of a `*_fields` table."""

    code: str
    type: str
    label: Optional[str]
    status_type: Optional[str] = None
    multiple: bool = False
    items: Tuple[Tuple[Any, Any], ...] = ()


@dataclass
class Output:
    """One column of a view: its SQL and the name it asks for; `fixed` names are never changed."""

    expression: str
    wanted: str
    column: str
    fixed: bool = False


@dataclass
class Lookups:
    """The statuses and pipelines of the dataset, read once per call."""

    client: Any
    stored: Dict[str, Dict[str, Any]]
    cache: Dict[str, List[Tuple[Any, ...]]] = field(default_factory=dict)

    def rows(self, table: Optional[str], columns: Sequence[str], order: str) -> List[Tuple[Any, ...]]:
        present = self.stored.get(table or "") or {}
        if not table or not all(c in present for c in columns):
            return []
        if table not in self.cache:
            names = ", ".join(self.client.escape_column_name(c) for c in columns)
            sql = f"SELECT {names} FROM {self.client.make_qualified_table_name(table)}"
            sql += f" ORDER BY {self.client.escape_column_name(order)}" if order in present else ""
            self.cache[table] = [tuple(r) for r in self.client.execute_sql(sql) or []]
        return self.cache[table]

    def statuses(self, status_type: str) -> List[Tuple[Any, Any]]:
        """(code, label) of a status type; a stage type: the stages of every pipeline (DEAL_STAGE_n)."""
        stage = _STAGE.match(status_type)
        pattern = re.compile(f"^{re.escape(stage.group(1))}(_\\d+)?$") if stage else None
        rows = self.rows("statuses", ("entity_id", "status_id", "name"), "sort")
        return [(code, name) for entity, code, name in rows
                if entity == status_type or (pattern is not None and pattern.match(str(entity or "")))]

    def categories(self, table: Optional[str]) -> List[Tuple[Any, Any]]:
        return [(i, name) for i, name in self.rows(table, ("id", "name"), "sort")]


def entity_tables(table_names: Iterable[str]) -> Dict[str, Tuple[str, Optional[str]]]:
    """{entity table: (its `*_fields` table, its pipelines table or None)} for the tables given."""
    names = set(table_names)
    fields_of = {s.method: s.name for s in STREAMS if s.reader == "fields"}
    pairs = {s.name: (fields_of[s.fields_method], CATEGORIES.get(s.name)) for s in STREAMS
             if s.reader != "fields" and s.fields_method in fields_of}
    for name in names:
        match = _SPA.match(name)
        if match:
            items, fields, categories = spa_streams(int(match.group(1)))
            pairs[items.name] = (fields.name, categories.name)
    return {t: pair for t, pair in pairs.items() if t in names and pair[0] in names}


def create_labeled_views(pipeline: dlt.Pipeline, tables: Optional[Sequence[str]] = None) -> List[str]:
    """Drop and create `<table>_labeled` for every entity table in the pipeline's dataset (or only
    `tables`); returns the views created. A destination without SQL views (filesystem, ...) is
    skipped with one warning. A view that cannot be created is logged and left out."""
    if not pipeline.default_schema_name:
        return []  # nothing loaded yet
    job = _sql_job_client(pipeline)
    if job is None:
        return []
    schema = pipeline.default_schema
    pairs = {t: pair for t, pair in entity_tables(schema.tables).items() if tables is None or t in tables}
    created: List[str] = []
    with job:
        client = job.sql_client
        needed = set(pairs) | {p[0] for p in pairs.values()} | {p[1] for p in pairs.values() if p[1]} | {"statuses"}
        stored = {name: columns for name, columns in job.get_storage_tables(sorted(needed)) if columns}
        lookups = Lookups(client, stored)
        for table, (fields_table, categories) in sorted(pairs.items()):
            if table in stored and fields_table in stored:
                view = _create_view(client, schema, table, read_fields(client, stored, fields_table),
                                    lookups, categories)
                created += [view] if view else []
    logger.info("labeled views: %s", ", ".join(created) or "none")
    return created


def drop_labeled_views(pipeline: dlt.Pipeline) -> List[str]:
    """Drop the `<table>_labeled` views of the pipeline's entity tables (PostgreSQL refuses to drop a
    table a view depends on: call this before a run that drops tables, e.g. a full refresh)."""
    if not pipeline.default_schema_name:
        return []
    job = _sql_job_client(pipeline, quiet=True)
    if job is None:
        return []
    schema = pipeline.default_schema
    views = [schema.naming.normalize_table_identifier(t + SUFFIX) for t in entity_tables(schema.tables)]
    with job:
        for view in views:
            job.sql_client.execute_sql(f"DROP VIEW IF EXISTS {job.sql_client.make_qualified_table_name(view)}")
    return views


def _sql_job_client(pipeline: dlt.Pipeline, quiet: bool = False) -> Any:
    """The destination's SQL job client, or None (with one warning) when it has no SQL views."""
    from dlt.destinations.job_client_impl import SqlJobClientBase

    client = pipeline.destination_client()
    if isinstance(client, SqlJobClientBase):
        return client
    if not quiet:
        logger.warning("labeled views skipped: the %s destination has no SQL views",
                       pipeline.destination.destination_name)
    return None


def read_fields(client: Any, stored: Dict[str, Dict[str, Any]], table: str) -> List[Field]:
    """The field descriptions of a `*_fields` table in the destination."""
    columns = [c for c in FIELD_COLUMNS if c in stored[table]]
    if "id" not in columns:
        return []
    names = ", ".join(client.escape_column_name(c) for c in columns)
    rows = client.execute_sql(f"SELECT {names} FROM {client.make_qualified_table_name(table)}") or []
    return [_field(dict(zip(columns, row))) for row in rows]


def _field(row: Dict[str, Any]) -> Field:
    items = row.get("items")
    if isinstance(items, str):  # DuckDB hands JSON back as text, PostgreSQL as Python objects
        try:
            items = json.loads(items)
        except ValueError:
            items = None
    pairs = tuple((i.get("ID"), i.get("VALUE")) for i in items or () if isinstance(i, dict)) \
        if isinstance(items, list) else ()
    label = label_of({LABEL_KEYS[k]: row.get(k) for k in LABEL_KEYS})
    return Field(code=str(row["id"]), type=str(row.get("type") or ""), label=label, status_type=row.get("status_type"),
                 multiple=bool(row.get("is_multiple")), items=pairs)


def _create_view(client: Any, schema: Any, table: str, fields: List[Field], lookups: Lookups,
                 categories: Optional[str]) -> Optional[str]:
    """Drop and create one view; its name, or None (logged) when the destination refused it."""
    view = schema.naming.normalize_table_identifier(table + SUFFIX)
    outputs = plan_columns(client, schema, lookups.stored[table], fields, lookups, categories)
    limit = client.capabilities.max_column_identifier_length or 255
    names = unique_names(outputs, limit)
    # a label keeps its case (PostgreSQL would fold it to lower case); code columns are folded as dlt folds them
    select = ", ".join(f"{o.expression} AS {client.escape_column_name(n, casefold=o.fixed)}"
                       for o, n in zip(outputs, names))
    qualified = client.make_qualified_table_name(view)
    statements = [f"DROP VIEW IF EXISTS {qualified}",
                  f"CREATE VIEW {qualified} AS SELECT {select} FROM {client.make_qualified_table_name(table)}"]
    try:
        if client.capabilities.supports_ddl_transactions:
            with client.begin_transaction():
                for statement in statements:
                    client.execute_sql(statement)
        else:
            for statement in statements:
                client.execute_sql(statement)
    except Exception as exc:
        logger.warning("labeled view %s not created: %s", view, " ".join(str(exc).split())[:300])
        return None
    return view


def plan_columns(client: Any, schema: Any, stored: Dict[str, Any], fields: List[Field], lookups: Lookups,
                 categories: Optional[str]) -> List[Output]:
    """The view's columns, in the table's order (see the module's docstring)."""
    by_column = {schema.naming.normalize_identifier(f.code): f for f in fields}
    out: List[Output] = []
    for column, hints in stored.items():
        sql = client.escape_column_name(column)
        if column.startswith("_dlt_"):
            out.append(Output(sql, column, column, fixed=True))
            continue
        found, part = _field_of(column, by_column)
        wanted = " ".join(filter(None, (found.label if found else None, part))) or column
        labels = label_map(found, hints.get("data_type"), lookups, categories) if found and not part else {}
        if labels:
            out.append(Output(case_expression(client, sql, labels), wanted, column))
            out.append(Output(sql, column, column, fixed=True))
        else:
            out.append(Output(sql, wanted, column))
    return out


def _field_of(column: str, by_column: Dict[str, Field]) -> Tuple[Optional[Field], Optional[str]]:
    """The field a column holds, and the part of it (`budget__amount`: the field, "amount")."""
    if column in by_column:
        return by_column[column], None
    head, _, part = column.rpartition("__")
    if head in by_column:
        return by_column[head], part
    return None, None


def label_map(found: Field, data_type: Optional[str], lookups: Lookups, categories: Optional[str]) -> Dict[Any, str]:
    """{stored code: label} of a coded column; empty for every other column (and multiple values)."""
    if found.multiple:
        return {}
    if found.type == "enumeration":
        pairs: List[Tuple[Any, Any]] = list(found.items)
    elif found.type == "crm_status" and found.status_type:
        pairs = lookups.statuses(str(found.status_type))
    elif found.type == "crm_category":
        pairs = lookups.categories(categories)
    else:
        return {}
    out: Dict[Any, str] = {}
    for code, label in pairs:
        key = _key(code, data_type)
        if key is not None and isinstance(label, str) and key not in out:
            out[key] = label
    return out


def _key(code: Any, data_type: Optional[str]) -> Any:
    text = str(code).strip() if code is not None else ""
    if data_type == "bigint":
        return int(text) if re.fullmatch(r"-?\d+", text) else None
    return text if data_type == "text" and text else None


def case_expression(client: Any, sql: str, labels: Dict[Any, str]) -> str:
    literal = client.capabilities.escape_literal
    whens = " ".join(f"WHEN {key if isinstance(key, int) else literal(key)} THEN {literal(label)}"
                     for key, label in labels.items())
    return f"CASE {sql} {whens} END"


def clean(label: str) -> str:
    """One line of printable text: whitespace runs become one space, control characters go."""
    text = " ".join(label.split())  # newlines and tabs too
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs")).strip()


def fit(text: str, suffix: str, limit: int) -> Optional[str]:
    """`text` cut to fit `limit` UTF-8 bytes with `suffix` after it (on a character boundary)."""
    room = limit - len(suffix.encode("utf-8"))
    if room <= 0:
        return None
    head = text.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip()
    return head + suffix if head else None


def unique_names(outputs: List[Output], limit: int) -> List[str]:
    """Names for the outputs: `fixed` ones first as they are, then each wanted name, or with the
    column in brackets, or a number, whichever is free first (compared without case)."""
    used = {o.wanted.casefold() for o in outputs if o.fixed}
    names: List[str] = []
    for o in outputs:
        if o.fixed:
            names.append(o.wanted)
            continue
        base = clean(o.wanted) or o.column
        suffixes = itertools.chain(("", f" ({o.column})"), (f" {n}" for n in itertools.count(2)))
        for suffix in suffixes:
            name = fit(base, suffix, limit) or fit(o.column, suffix, limit)
            if name and name.casefold() not in used:
                break
        used.add(name.casefold())
        names.append(name)
    return names
