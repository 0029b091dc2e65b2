"""`--full-refresh --streams a,b` reloads exactly those streams and leaves every other table and cursor
as it was — into DuckDB and into PostgreSQL (skipped without a server, as in tests/test_postgres.py).

A named deal sub-resource brings `deals` along in the source: its table is dropped and reloaded, while
deals' table is kept and deals' cursor restarts (the sub-resource sees only the deals a run reads).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Callable, Dict

import duckdb
import test_postgres
from conftest import tick
from test_cli import run_cli

from simportal import SimPortal

pg = test_postgres.pg  # the PostgreSQL connection fixture (skips without a server)
FLAGS = {"SOURCES__BITRIX24__ENABLE_DEAL_PRODUCTS": "true"}


def cursors(tmp_path: Path, pipeline: str = "bitrix24") -> Dict[str, dict]:
    """The pipeline state's resource states (incremental cursors), by stream."""
    state = json.loads((tmp_path / "dlt_data" / "pipelines" / pipeline / "state.json").read_text())
    return state["sources"]["bitrix24"]["resources"]


def counts(query: Callable[[str], list], dataset: str) -> Dict[str, int]:
    """Rows per data table of the dataset."""
    tables = [r[0] for r in query(f"select table_name from information_schema.tables where table_schema = '{dataset}'")]
    return {t: query(f'select count(*) from "{dataset}"."{t}"')[0][0] for t in tables if not t.startswith("_dlt")}


def duckdb_query(path: Path) -> Callable[[str], list]:
    def query(sql: str) -> list:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()
    return query


def load_then_refresh(tmp_path: Path, portal: SimPortal, streams: str, query: Callable, dataset: str,
                      *args: str, env: dict | None = None) -> tuple:
    """Load everything, delete one deal with products on the portal, run --full-refresh --streams.

    Returns (counts before, counts after, cursors before, cursors after, the deleted deal's id).
    """
    env = {"SOURCES__BITRIX24__WEBHOOK_URL": portal.webhook_url, **FLAGS, **(env or {})}
    first = run_cli(tmp_path, "--dataset", dataset, *args, env=env)
    assert first.returncode == 0, first.stderr
    before, state_before = counts(query, dataset), cursors(tmp_path)
    deal_id = next(int(d["ID"]) for d in portal.ground_truth("deal") if portal.ground_truth(f"deal_productrows:{d['ID']}"))
    portal.delete("deal", deal_id)
    tick(portal)
    second = run_cli(tmp_path, "--dataset", dataset, "--full-refresh", "--streams", streams, *args, env=env)
    assert second.returncode == 0, second.stderr
    return before, counts(query, dataset), state_before, cursors(tmp_path), deal_id


def assert_others_untouched(before: dict, after: dict, state_before: dict, state_after: dict, reloaded: set) -> None:
    others = {t for t in before if t not in reloaded}
    assert {t: after.get(t) for t in others} == {t: before[t] for t in others}
    assert {s: state_after.get(s) for s in state_before if s not in reloaded} == \
        {s: v for s, v in state_before.items() if s not in reloaded}, "other streams' cursors changed"


def test_full_refresh_of_deals_leaves_everything_else(tmp_path):
    with SimPortal(size=80, seed=4, rate_limit=None) as portal:
        path = tmp_path / "bitrix24.duckdb"
        before, after, state_before, state_after, gone = load_then_refresh(
            tmp_path, portal, "deals", duckdb_query(path), "bitrix24_data")
        live = sorted(int(d["ID"]) for d in portal.ground_truth("deal"))
    assert len(before) > 30 and "contacts__phone" in before
    assert_others_untouched(before, after, state_before, state_after, {"deals"})
    ids = [r[0] for r in duckdb_query(path)("select id from bitrix24_data.deals order by id")]
    assert ids == live and gone not in ids, "deals were reloaded from scratch (the deleted deal is gone)"
    assert "deals" in state_after, "deals' cursor is set again by the reload"


def test_full_refresh_of_a_deal_sub_resource_keeps_the_deals_table(tmp_path):
    with SimPortal(size=80, seed=4, rate_limit=None) as portal:
        path = tmp_path / "bitrix24.duckdb"
        before, after, state_before, state_after, gone = load_then_refresh(
            tmp_path, portal, "deal_products", duckdb_query(path), "bitrix24_data")
        expected = sum(len(portal.ground_truth(f"deal_productrows:{d['ID']}")) for d in portal.ground_truth("deal"))
    query = duckdb_query(path)
    assert_others_untouched(before, after, state_before, state_after, {"deal_products", "deals"})
    assert after["deals"] == before["deals"], "deals' table is not dropped (the deleted deal stays)"
    assert query(f"select count(*) from bitrix24_data.deals where id = {gone}") == [(1,)]
    assert query(f"select count(*) from bitrix24_data.deal_products where owner_id = {gone}") == [(0,)]
    assert after["deal_products"] == expected, "deal_products reloaded for every deal on the portal"
    assert "deals" in state_after, "deals' cursor is set again by the full read"


def test_full_refresh_of_deals_in_postgres(tmp_path, pg):
    dataset = f"bitrix24_refresh_{uuid.uuid4().hex[:8]}"

    def query(statement: str) -> list:
        return test_postgres.sql(pg, statement)

    env = {"DESTINATION__POSTGRES__CREDENTIALS": test_postgres.dlt_credentials(test_postgres.DSN)}
    try:
        with SimPortal(size=80, seed=4, rate_limit=None) as portal:
            before, after, state_before, state_after, gone = load_then_refresh(
                tmp_path, portal, "deals", query, dataset, "--destination", "postgres", env=env)
            live = sorted(int(d["ID"]) for d in portal.ground_truth("deal"))
        assert len(before) > 30
        assert_others_untouched(before, after, state_before, state_after, {"deals"})
        assert [r[0] for r in query(f'select id from "{dataset}".deals order by id')] == live
        assert gone not in live
    finally:
        for schema in (dataset, f"{dataset}_staging"):
            query(f'drop schema if exists "{schema}" cascade')
