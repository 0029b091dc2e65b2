"""Readable views (`bitrix24/views.py`): `<table>_labeled` with columns named by Bitrix's labels and
codes resolved to labels, on DuckDB and on a real PostgreSQL (skipped without a server, except under
CI), over real HTTP against the simulated portal. Labels that collide, are empty, too long for
PostgreSQL's 63-byte identifiers or carry quotes, `%` and a newline still give a valid view."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, List

import dlt
import pytest
import requests
from conftest import query, source, tick
from test_postgres import DSN, dlt_credentials, pg  # noqa: F401  (pg: the server fixture, or skip)

from bitrix24.views import create_labeled_views, drop_labeled_views
from simportal import SimPortal

ROOT = Path(__file__).resolve().parent.parent
STREAMS = ["deals", "deal_fields", "statuses", "deal_categories", "contacts", "contact_fields"]
LONG = "Очень длинное название пользовательского поля сделки, вариант "  # 2 bytes a letter: > 63 bytes
LABELS = {  # deal user fields added to the portal: code -> label
    "UF_CRM_VIEW_DUP_A": "Comment",  # the title of the standard COMMENTS field, twice more
    "UF_CRM_VIEW_DUP_B": "Comment",
    "UF_CRM_VIEW_LONG_A": LONG + "A",  # the two agree on their first 63 bytes
    "UF_CRM_VIEW_LONG_B": LONG + "B",
    "UF_CRM_VIEW_ODD": 'Скидка "VIP" 100%\n(new)',
    "UF_CRM_VIEW_CODE": "stage_id",  # the name of a code column of the view
    "UF_CRM_VIEW_EMPTY": "",
}
ENUM, TIERS = "UF_CRM_VIEW_TIER", ["Gold", "Silver", "Bronze"]


def add_fields(portal: SimPortal) -> None:
    for code, label in LABELS.items():
        field = portal.add_user_field("deal", code, "string", label=label or None, value_fn=lambda i: f"v{i}")
        if not label:  # no listLabel, formLabel, filterLabel or title at all
            field.extra.update(listLabel="", formLabel="", filterLabel="", title="")
    portal.add_user_field("deal", ENUM, "enumeration", label="Tier", items=TIERS)


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request, tmp_path):
    """A function that makes a new pipeline into DuckDB or into its own PostgreSQL schema."""
    made: List[dlt.Pipeline] = []

    def make(name: str = "views") -> dlt.Pipeline:
        name = f"{name}_{uuid.uuid4().hex[:8]}"
        if request.param == "duckdb":
            destination = dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        else:
            request.getfixturevalue("pg")
            destination = dlt.destinations.postgres(credentials=dlt_credentials(DSN))
        made.append(dlt.pipeline(name, destination=destination, dataset_name=f"bx_{name}",
                                 pipelines_dir=str(tmp_path / "pipelines")))
        return made[-1]

    yield make
    if request.param == "postgres":
        for pipeline in made:
            with pipeline.sql_client() as client:
                client.drop_dataset() if client.has_dataset() else None


@pytest.fixture
def labeled_portal():
    with SimPortal(size=150, seed=23, rate_limit=None) as portal:
        add_fields(portal)
        yield portal


def columns(pipeline: dlt.Pipeline, view: str) -> List[str]:
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                                  " AND table_name = %s ORDER BY ordinal_position", pipeline.dataset_name, view)
    return [r[0] for r in rows]


def select(pipeline: dlt.Pipeline, view: str, *names: str) -> List[Dict[str, object]]:
    with pipeline.sql_client() as client:
        sql = ", ".join(client.escape_column_name(n, casefold=False) for n in names)
        rows = client.execute_sql(f"SELECT {sql} FROM {client.make_qualified_table_name(view)}")
    return [dict(zip(names, row)) for row in rows]


def portal_labels(portal: SimPortal) -> Dict[str, Dict[object, str]]:
    """The labels the portal itself gives: deal stages of every pipeline, sources, pipelines, tiers."""
    statuses = portal.ground_truth("status")
    call = lambda method, **params: requests.post(portal.webhook_url + method, json=params, timeout=30).json()  # noqa: E731
    items = call("crm.deal.fields")["result"][ENUM]["items"]
    return {
        "stage": {s["STATUS_ID"]: s["NAME"] for s in statuses if s["ENTITY_ID"].startswith("DEAL_STAGE")},
        "source": {s["STATUS_ID"]: s["NAME"] for s in statuses if s["ENTITY_ID"] == "SOURCE"},
        "pipeline": {c["id"]: c["name"] for c in call("crm.category.list", entityTypeId=2)["result"]["categories"]},
        "tier": {int(i["ID"]): i["VALUE"] for i in items},
    }


def test_views_name_columns_by_label_and_resolve_codes(labeled_portal, backend):
    pipeline = backend()
    pipeline.run(source(labeled_portal, streams=STREAMS))
    assert create_labeled_views(pipeline) == ["contacts_labeled", "deals_labeled"]
    names = columns(pipeline, "deals_labeled")
    # codes resolved to labels, the code column right after its label
    for label, code in (("Deal stage", "stage_id"), ("Pipeline", "category_id"), ("Source", "source_id"),
                        ("Tier", "uf_crm_view_tier"), ("Type", "type_id")):
        assert label in names and names[names.index(label) + 1] == code, (label, names)
    rows = select(pipeline, "deals_labeled", "ID", "Deal stage", "stage_id", "Pipeline", "category_id", "Tier",
                  "uf_crm_view_tier", "Source", "source_id")
    assert sorted(r["ID"] for r in rows) == sorted(int(d["ID"]) for d in labeled_portal.ground_truth("deal"))
    truth = portal_labels(labeled_portal)
    for row in rows:
        assert row["Deal stage"] == truth["stage"][row["stage_id"]], row
        assert row["Pipeline"] == truth["pipeline"][row["category_id"]], row
        assert row["Tier"] == (truth["tier"][row["uf_crm_view_tier"]] if row["uf_crm_view_tier"] is not None else None)
        assert row["Source"] == (truth["source"][row["source_id"]] if row["source_id"] is not None else None)
    assert {r["category_id"] for r in rows} == {0, 1, 2} and any(r["stage_id"].startswith("C2:") for r in rows)
    assert {r["Tier"] for r in rows} >= set(TIERS)


def test_odd_labels_still_give_a_valid_view(labeled_portal, backend):
    pipeline = backend()
    pipeline.run(source(labeled_portal, streams=STREAMS))
    create_labeled_views(pipeline)
    names = columns(pipeline, "deals_labeled")
    limit = pipeline.destination.capabilities().max_column_identifier_length
    assert len({n.casefold() for n in names}) == len(names), "names unique, whatever their case"
    assert all(0 < len(n.encode()) <= limit for n in names)
    assert {"Comment", "Comment (uf_crm_view_dup_a)", "Comment (uf_crm_view_dup_b)"} <= set(names)
    assert "stage_id (uf_crm_view_code)" in names and "stage_id" in names
    assert "uf_crm_view_empty" in names  # no label at all: the column's own name
    assert 'Скидка "VIP" 100% (new)' in names
    long = [n for n in names if n.startswith(LONG[:20])]
    assert len(long) == 2
    if limit >= len((LONG + "A").encode()):
        assert set(long) == {LONG + "A", LONG + "B"}
    else:  # cut to 63 bytes on a character boundary; the second gets the column's name or a number
        assert long[0] == (LONG + "A").encode()[:limit].decode("utf-8", "ignore").rstrip()
        assert long[1] != long[0] and len(long[1].encode()) <= limit
    values = select(pipeline, "deals_labeled", "ID", 'Скидка "VIP" 100% (new)', long[1], "uf_crm_view_empty")
    assert values and all(v['Скидка "VIP" 100% (new)'] in (None, f"v{v['ID']}") for v in values)
    assert any(v["uf_crm_view_empty"] == f"v{v['ID']}" for v in values)
    assert any(v[long[1]] == f"v{v['ID']}" for v in values), "the long label's column holds its field's values"


def test_views_follow_renamed_and_new_fields_on_the_next_run(labeled_portal, backend):
    pipeline = backend()
    pipeline.run(source(labeled_portal, streams=STREAMS))
    create_labeled_views(pipeline)
    assert "Tier" in columns(pipeline, "deals_labeled")
    tier = next(f for f in labeled_portal.world.ufs["deal"] if f.code == ENUM)
    tier.label = "Customer tier"
    tier.items.append((tier.items[-1][0] + 1, "Platinum"))
    labeled_portal.add_user_field("deal", "UF_CRM_VIEW_NEW", "string", label="Brand new field",
                                  value_fn=lambda i: f"n{i}")
    deal_id = int(labeled_portal.ground_truth("deal")[3]["ID"])
    tick(labeled_portal)
    labeled_portal.update("deal", deal_id, **{ENUM: tier.items[-1][0]})
    tick(labeled_portal)
    pipeline.run(source(labeled_portal, streams=STREAMS))
    create_labeled_views(pipeline)
    names = columns(pipeline, "deals_labeled")
    assert "Customer tier" in names and "Tier" not in names
    assert names[names.index("Brand new field") + 0] == "Brand new field"
    rows = {r["ID"]: r for r in select(pipeline, "deals_labeled", "ID", "Customer tier", "Brand new field")}
    assert rows[deal_id] == {"ID": deal_id, "Customer tier": "Platinum", "Brand new field": f"n{deal_id}"}


def test_drop_labeled_views_lets_a_full_refresh_drop_the_tables(labeled_portal, backend):
    pipeline = backend()
    pipeline.run(source(labeled_portal, streams=STREAMS))
    create_labeled_views(pipeline)
    assert drop_labeled_views(pipeline) == ["contacts_labeled", "deals_labeled"]
    assert columns(pipeline, "deals_labeled") == []
    pipeline.run(source(labeled_portal, streams=STREAMS), refresh="drop_sources")
    assert create_labeled_views(pipeline) == ["contacts_labeled", "deals_labeled"]


def test_a_destination_without_views_is_skipped_with_one_line(labeled_portal, tmp_path, caplog):
    pipeline = dlt.pipeline(f"fs_{uuid.uuid4().hex[:8]}", pipelines_dir=str(tmp_path / "pipelines"),
                            destination=dlt.destinations.filesystem(bucket_url=(tmp_path / "files").as_uri()),
                            dataset_name="bx")
    pipeline.run(source(labeled_portal, streams=["deals", "deal_fields"]))
    with caplog.at_level(logging.INFO, logger="bitrix24"):
        assert create_labeled_views(pipeline) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "bitrix24"]
    assert lines == ["labeled views skipped: the filesystem destination has no SQL views"]


def run_cli(tmp_path: Path, portal: SimPortal, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    environ.update(SOURCES__BITRIX24__WEBHOOK_URL=portal.webhook_url, SOURCES__BITRIX24__REQUESTS_PER_SECOND="50",
                   DLT_DATA_DIR=str(tmp_path / "dlt_data"), **env)
    return subprocess.run([sys.executable, str(ROOT / "bitrix24_pipeline.py"), "--progress", "none", *args],
                          cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300)


def test_the_cli_flag_and_the_config_key_create_the_views(labeled_portal, tmp_path):
    streams = "deals,deal_fields,statuses,deal_categories"
    result = run_cli(tmp_path, labeled_portal, "--streams", streams, "--labeled-views")
    assert result.returncode == 0, result.stderr
    assert "Labeled views (1): deals_labeled" in result.stdout
    pipeline = dlt.attach("bitrix24", pipelines_dir=str(tmp_path / "dlt_data" / "pipelines"))
    assert query(pipeline, 'SELECT COUNT(*) FROM deals_labeled WHERE "Deal stage" IS NOT NULL')[0][0] > 0
    result = run_cli(tmp_path, labeled_portal, "--streams", streams, "--full-refresh",
                     SOURCES__BITRIX24__LABELED_VIEWS="true")
    assert result.returncode == 0, result.stderr
    assert "Labeled views (1): deals_labeled" in result.stdout
    result = run_cli(tmp_path, labeled_portal, "--streams", streams)
    assert result.returncode == 0 and "Labeled views" not in result.stdout  # off unless asked for


def test_a_full_refresh_from_the_cli_into_postgres_keeps_working_with_views(labeled_portal, tmp_path, pg):  # noqa: F811
    dataset = f"bx_cli_{uuid.uuid4().hex[:8]}"
    env = dict(DESTINATION__POSTGRES__CREDENTIALS=dlt_credentials(DSN))
    try:
        every, some = ",".join(STREAMS), "deals,deal_fields,statuses"
        for args in (("--streams", every), ("--full-refresh", "--streams", every), ("--full-refresh", "--streams", some)):
            result = run_cli(tmp_path, labeled_portal, "--destination", "postgres", "--dataset", dataset,
                             "--labeled-views", *args, **env)
            assert result.returncode == 0, result.stderr
            assert "deals_labeled" in result.stdout
    finally:
        with pg.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
