"""The simulated portal into a real PostgreSQL through dlt's `postgres` destination.

Needs a server: by default postgresql://postgres@127.0.0.1:5432/test (trust auth; `.ci/start-postgres.sh`
starts one), or the DSN in BITRIX24_TEST_POSTGRES. Without a reachable server the tests are
skipped, except under CI (`CI` set), where that is a failure. Each run loads into its own schema
(dataset), dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from typing import Dict
from urllib.parse import urlsplit, urlunsplit

import dlt
import pytest
from conftest import source, tick

from simportal import SimPortal

DSN = os.environ.get("BITRIX24_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_ENABLE = (
    "start PostgreSQL on 127.0.0.1:5432 with a database `test` and trust auth for user postgres"
    " (bash .ci/start-postgres.sh does it), or set BITRIX24_TEST_POSTGRES=<dsn>"
)
LONG_FIELD = "UF_CRM_" + "X" * 70  # 77 characters; PostgreSQL identifiers stop at 63
FLAGS = dict(extract_deal_contacts=True, enable_deal_comments=True, enable_deal_products=True)
STREAMS = ["deals", "deal_products", "deal_comments", "contacts", "companies", "leads", "activities", "products",
           "statuses", "deal_fields", "users"]


def dlt_credentials(dsn: str) -> str:
    """dlt insists on a password; trust auth ignores it, so a DSN without one gets a placeholder."""
    parts = urlsplit(dsn)
    if parts.password is None and parts.username:
        host = parts.netloc.split("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:trust@{host}")
    return urlunsplit(parts)


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI but {reason}. To fix: {HOW_TO_ENABLE}.")
    pytest.skip(f"PostgreSQL tests skipped: {reason}. To enable: {HOW_TO_ENABLE}.")


@pytest.fixture(scope="module")
def pg():
    """A psycopg2 connection (autocommit) to the test server, or skip."""
    try:
        import psycopg2
    except ImportError:
        _unavailable("psycopg2 is not installed (pip install -r requirements-test.txt)")
    try:
        con = psycopg2.connect(DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        _unavailable(f"no server answers at {DSN} ({str(exc).strip().splitlines()[0]})")
    con.autocommit = True
    yield con
    con.close()


def sql(con, statement: str, *args):
    with con.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall() if cur.description else None


@pytest.fixture(scope="module")
def dataset(pg):
    name = f"bitrix24_test_{uuid.uuid4().hex[:10]}"
    yield name
    for schema in (name, f"{name}_staging"):
        sql(pg, f'drop schema if exists "{schema}" cascade')


@pytest.fixture(scope="module")
def pg_portal():
    with SimPortal(size=300, seed=17, rate_limit=None) as p:
        p.add_user_field("deal", LONG_FIELD, "string", value_fn=lambda i: f"v{i}")
        yield p


@pytest.fixture(scope="module")
def loaded(pg_portal, dataset, tmp_path_factory):
    pipeline = dlt.pipeline(
        pipeline_name=f"pg_{uuid.uuid4().hex[:8]}",
        destination=dlt.destinations.postgres(credentials=dlt_credentials(DSN)),
        dataset_name=dataset,
        pipelines_dir=str(tmp_path_factory.mktemp("pg_pipelines")),
    )
    info = pipeline.run(source(pg_portal, streams=STREAMS, **FLAGS))
    assert not info.has_failed_jobs
    return pipeline


def column_types(pg, dataset: str, table: str) -> Dict[str, str]:
    rows = sql(pg, "select column_name, data_type from information_schema.columns"
                   " where table_schema = %s and table_name = %s", dataset, table)
    return dict(rows)


def loaded_rows(pipeline: dlt.Pipeline) -> Dict[str, int]:
    counts = dict(pipeline.last_trace.last_normalize_info.row_counts)
    return {k: v for k, v in counts.items() if not k.startswith("_dlt")}


def test_every_stream_lands_in_postgres(pg, dataset, pg_portal, loaded):
    portal = pg_portal
    tables = {r[0] for r in sql(pg, "select table_name from information_schema.tables where table_schema = %s", dataset)}
    for table in STREAMS + ["contacts__phone", "_dlt_loads", "_dlt_pipeline_state"]:
        assert table in tables, f"{table} missing from {sorted(tables)}"
    for table, entity in (("deals", "deal"), ("contacts", "contact"), ("activities", "activity")):
        ids = [r[0] for r in sql(pg, f'select id from "{dataset}".{table} order by id')]
        assert ids == sorted(int(r["ID"]) for r in portal.ground_truth(entity)), table
    assert sql(pg, f'select count(*) from "{dataset}".deal_products')[0][0] > 0
    assert sql(pg, f'select count(*) from "{dataset}".deal_comments')[0][0] > 0


# dlt's data types and the PostgreSQL types its postgres destination creates for them.
PG_TYPES = {"bigint": "bigint", "double": "double precision", "decimal": "numeric", "bool": "boolean", "date": "date",
            "timestamp": "timestamp with time zone", "text": "character varying", "json": "jsonb", "time": "time without time zone",
            "wei": "numeric", "binary": "bytea"}


def test_columns_get_postgres_types(pg, dataset, loaded):
    deals = column_types(pg, dataset, "deals")
    assert deals["id"] == "bigint"
    assert deals["date_modify"] == "timestamp with time zone"
    assert deals["date_create"] == "timestamp with time zone"
    assert deals["opportunity"] in ("numeric", "double precision")  # Bitrix `double`: exact decimal or float
    assert deals["opened"] == "boolean" and deals["closed"] == "boolean"
    assert deals["begindate"] == "date" and deals["closedate"] == "date"
    assert deals["category_id"] == "bigint" and deals["assigned_by_id"] == "bigint"
    assert deals["title"] == "character varying"
    assert not any(name.endswith("__v_text") for name in deals), "a value did not convert"
    activities = column_types(pg, dataset, "activities")
    assert activities["communications"] == "jsonb" and activities["bindings"] == "jsonb"
    assert activities["last_updated"] == "timestamp with time zone" and activities["completed"] == "boolean"
    fields = column_types(pg, dataset, "deal_fields")
    assert fields["items"] == "jsonb" and fields["settings"] == "jsonb"
    assert any(t == "jsonb" for t in deals.values()), "multiple-value user fields load as jsonb"
    # Every column has the PostgreSQL type of the dlt type the source gave it.
    for table in ("deals", "contacts", "activities", "deal_products", "products"):
        columns = loaded.default_schema.get_table_columns(table)
        actual = column_types(pg, dataset, table)
        wrong = {c: (col["data_type"], actual.get(c)) for c, col in columns.items()
                 if col.get("data_type") and actual.get(c) != PG_TYPES[col["data_type"]]}
        assert not wrong, f"{table}: {wrong}"
    precision = sql(pg, "select numeric_precision, numeric_scale from information_schema.columns"
                        " where table_schema = %s and table_name = 'deals' and column_name = 'opportunity'", dataset)[0]
    hint = loaded.default_schema.get_table_columns("deals")["opportunity"]
    if hint["data_type"] == "decimal":  # the source's precision, else dlt's default for the destination
        expected = (hint["precision"], hint.get("scale", 0)) if hint.get("precision") else \
            tuple(loaded.destination.capabilities().decimal_precision)
        assert precision == expected, "decimal precision and scale"
    # Values survive the trip: timestamps are aware, booleans real.
    row = sql(pg, f'select date_modify, opened from "{dataset}".deals order by id limit 1')[0]
    assert row[0].tzinfo is not None and isinstance(row[1], bool)


def test_a_field_code_longer_than_postgres_identifiers_still_loads(pg, dataset, loaded):
    column = loaded.default_schema.naming.normalize_identifier(LONG_FIELD)
    assert len(column) <= 63 and column != LONG_FIELD.lower(), column
    assert column in column_types(pg, dataset, "deals")
    values = dict(sql(pg, f'select id, "{column}" from "{dataset}".deals'))
    assert values and all(value == f"v{deal_id}" for deal_id, value in values.items())
    # dlt keeps the shortened name; the deal_fields table keeps Bitrix's code.
    assert sql(pg, f'select count(*) from "{dataset}".deal_fields where id = %s', LONG_FIELD)[0][0] == 1


def test_an_edited_deal_is_merged_and_an_idle_run_loads_nothing(pg, dataset, pg_portal, loaded):
    portal = pg_portal
    table = f'"{dataset}".deals'
    total = sql(pg, f"select count(*) from {table}")[0][0]
    deal_id = int(portal.ground_truth("deal")[5]["ID"])

    tick(portal)
    loaded.run(source(portal, streams=STREAMS, **FLAGS))
    assert loaded_rows(loaded).get("deals", 0) == 0 and loaded_rows(loaded).get("contacts", 0) == 0, (
        f"a run with nothing changed loaded {loaded_rows(loaded)}"
    )

    portal.update("deal", deal_id, TITLE="Merged in Postgres")
    tick(portal)
    loaded.run(source(portal, streams=STREAMS, **FLAGS))
    assert loaded_rows(loaded)["deals"] == 1
    assert sql(pg, f"select title from {table} where id = %s", deal_id) == [("Merged in Postgres",)]
    assert sql(pg, f"select count(*), count(distinct id) from {table}")[0] == (total, total)
