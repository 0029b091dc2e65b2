"""A first sync under Airflow (`BITRIX24_WINDOWS=state`): each DAG run's task stops at the time box
(`BITRIX24_MAX_RUN_MINUTES`), commits what it read, and the next DAG run resumes below the committed
id bound; once the walk reaches the bottom, runs are incremental. Real Airflow, as in
tests/test_airflow.py (its environment and driver are reused)."""

from __future__ import annotations

import duckdb
from test_airflow import airflow_python, run_dag

from simportal import SimPortal

# A time box far below one answer's time: every task stops after the first answer of each stream
# (2,500 deals), so the slices do not depend on the machine's speed.
STATE_MODE = dict(BITRIX24_WINDOWS="state", BITRIX24_MAX_RUN_MINUTES="0.0001", SOURCES__BITRIX24__STREAMS='["deals"]')
NO_SUBS = dict(SOURCES__BITRIX24__ENABLE_DEAL_PRODUCTS="false", SOURCES__BITRIX24__ENABLE_DEAL_COMMENTS="false",
               SOURCES__BITRIX24__EXTRACT_DEAL_CONTACTS="false")


def _deals(db: str) -> tuple:
    with duckdb.connect(db, read_only=True) as con:
        ids = [r[0] for r in con.execute("select id from crm.deals").fetchall()]
        last = con.execute(
            "select count(*) from crm.deals where _dlt_load_id = (select max(load_id) from crm._dlt_loads)"
        ).fetchone()[0]
        titles = dict(con.execute("select id, title from crm.deals").fetchall())
    return ids, last, titles


def test_state_windows_resume_a_first_sync_across_dag_runs(tmp_path):
    python = airflow_python()
    db = str(tmp_path / "warehouse.duckdb")
    with SimPortal(size=9000, seed=11, rate_limit=None) as portal:
        everything = sorted(int(r["ID"]) for r in portal.ground_truth("deal"))
        assert 2500 < len(everything) <= 5000, "the portal must hold between one and two answers of deals"

        first = run_dag(python, tmp_path, portal, "2026-11-01T00:00:00+00:00", **STATE_MODE, **NO_SUBS)
        assert all(state == "success" for state in first["tasks"].values()), first["tasks"]
        ids, _, _ = _deals(db)
        assert sorted(ids) == everything[-2500:], "the time box must stop the walk after its first answer"

        # Edited meanwhile: after the backfill's fixed upper bound, so left to the first incremental run.
        edited = everything[-1]
        portal.update("deal", edited, TITLE="Edited during the backfill")

        second = run_dag(python, tmp_path, portal, "2026-11-02T00:00:00+00:00", **STATE_MODE, **NO_SUBS)
        assert all(state == "success" for state in second["tasks"].values()), second["tasks"]
        ids, last, titles = _deals(db)
        assert sorted(ids) == everything, "the resumed backfill must reach the bottom, no row lost or duplicated"
        assert last == len(everything) - 2500, "the resumed run must read only the ids below the committed bound"
        assert titles[edited] != "Edited during the backfill"

        third = run_dag(python, tmp_path, portal, "2026-11-03T00:00:00+00:00", **STATE_MODE, **NO_SUBS)
        assert all(state == "success" for state in third["tasks"].values()), third["tasks"]
        ids, last, titles = _deals(db)
    assert sorted(ids) == everything
    assert last == 1 and titles[edited] == "Edited during the backfill", "after the backfill, runs are incremental"
