"""The many-portals DAG (dags/bitrix24_portals_dag.py) in a real Airflow, against three simulated portals.

Reuses tests/test_airflow.py's Airflow environment (`.venv-airflow/`, built on first use) and its
layout: the DAG runs with `dag.test()` in a subprocess, from a dags folder laid out as the README
says to deploy it, and reaches the portals, which run here, over loopback. One of the three portals
has a wrong webhook code.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import duckdb
from conftest import tick
from test_airflow import DRIVER_HEAD, RUN_TIMEOUT, airflow_python
from test_airflow import dags_folder as deployed

from simportal import SimPortal

# Runs inside the Airflow environment: parse the dags folder; in "run" mode also run the DAG once.
DRIVER = DRIVER_HEAD + textwrap.dedent(
    """
    mode, logical_date, out, dags = sys.argv[1], pendulum.parse(sys.argv[2]), sys.argv[3], sys.argv[4]
    sys.path.append(dags)
    bag = DagBag(dags)
    dag = bag.dags.get("bitrix24_portals")
    if bag.import_errors or dag is None:
        json.dump({"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}, open(out, "w"))
        sys.exit(3)
    load = dag.get_task("load")
    report = {"tasks": sorted(dag.task_ids), "pool": load.pool, "limit": load.max_active_tis_per_dagrun,
              "mapped": type(load).__name__}
    if mode == "run":
        run = run_once(dag, logical_date)
        report["state"] = str(getattr(run.state, "value", run.state))
        report["instances"] = [[ti.task_id, ti.map_index, str(getattr(ti.state, "value", ti.state))]
                               for ti in run.get_task_instances()]
    json.dump(report, open(out, "w"))
    """
)

CONFIG_TOML = """\
[sources.bitrix24]
streams = ["deals", "contacts", "deal_products"]
enable_deal_products = true
spa_entity_type_ids = []
requests_per_second = 100
request_burst = 1000
max_retry_seconds = 30

[sources.bitrix24.portals.alpha]   # its webhook comes from the environment
streams = ["deals", "contacts"]

[sources.bitrix24.portals.gamma]
deal_category_ids = [0]
"""


def dags_folder(root: Path, beta: str, gamma: str) -> Path:
    """The many-portals DAG as deployed, with beta's and gamma's webhooks in dags/.dlt/secrets.toml."""
    return deployed(root, "bitrix24_portals_dag.py", CONFIG_TOML,
                    f'[sources.bitrix24.portals.beta]\nwebhook_url = "{beta}"\n\n'
                    f'[sources.bitrix24.portals.gamma]\nwebhook_url = "{gamma}"\n')


def airflow(python: Path, home: Path, mode: str, logical_date: str, alpha_url: str) -> dict:
    """Parse (and in "run" mode run once) the DAG in the Airflow environment; its JSON report."""
    dags = home / "dags"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOURCES__", "DESTINATION__", "AIRFLOW", "BITRIX24_", "PYTHONPATH"))}
    env.update(AIRFLOW_HOME=str(home / "airflow"), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", TMPDIR=str(home), RUNTIME__DLTHUB_TELEMETRY="false",
               SOURCES__BITRIX24__PORTALS__ALPHA__WEBHOOK_URL=alpha_url, BITRIX24_START_DATE="2025-01-01")
    log, report = home / f"{mode}-{logical_date[:10]}.log", home / "report.json"
    report.unlink(missing_ok=True)
    with open(log, "w") as out:
        if not (home / "airflow" / "airflow.db").exists():
            subprocess.run([str(python), "-m", "airflow", "db", "migrate"], env=env, stdout=out,
                           stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, check=True)
        done = subprocess.run([str(python), "-c", DRIVER, mode, logical_date, str(report), str(dags)], env=env,
                              stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
    text = log.read_text()
    assert report.exists(), f"the DAG reported nothing (exit {done.returncode}):\n{text[-4000:]}"
    result = json.loads(report.read_text())
    assert "import_errors" not in result, f"the DAG did not parse: {result['import_errors']}"
    result["log"] = text
    return result


def ids(home: Path, name: str, table: str, after_load: str = "") -> set:
    """Ids in a portal's dataset (in its own DuckDB file); with `after_load`, of later loads only."""
    where = f"where _dlt_load_id > '{after_load}'" if after_load else ""
    with duckdb.connect(str(home / "airflow" / f"bitrix24-{name}.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute(f"select id from bitrix24_{name}.{table} {where}").fetchall()}


def last_load(home: Path, name: str) -> str:
    with duckdb.connect(str(home / "airflow" / f"bitrix24-{name}.duckdb"), read_only=True) as con:
        return con.execute(f"select max(load_id) from bitrix24_{name}._dlt_loads").fetchone()[0]


def states(result: dict) -> dict:
    return {(task if index < 0 else f"{task}[{index}]"): state for task, index, state in result["instances"]}


def assert_first_run(home: Path, result: dict, alpha: SimPortal, gamma: SimPortal) -> None:
    """Portals task, three mapped loads (sorted by name): alpha and gamma loaded, beta failed in one line."""
    assert result["state"] == "failed", "a failed portal fails the DAG run"
    assert states(result) == {"portals": "success", "load[0]": "success", "load[1]": "failed",
                              "load[2]": "success"}, result["instances"]
    lines = [line for line in result["log"].splitlines() if line.startswith("error: portal beta:")]
    assert lines and "rejected the webhook" in lines[0] and "sources.bitrix24.portals.beta.webhook_url" in lines[0]
    assert "wrongcode123" not in result["log"]
    assert ids(home, "alpha", "deals") == {int(r["ID"]) for r in alpha.ground_truth("deal")}
    assert ids(home, "alpha", "contacts") == {int(r["ID"]) for r in alpha.ground_truth("contact")}
    default = {int(r["ID"]) for r in gamma.ground_truth("deal") if int(r["CATEGORY_ID"]) == 0}
    assert ids(home, "gamma", "deals") == default  # its own deal_category_ids
    assert ids(home, "gamma", "contacts") == {int(r["ID"]) for r in gamma.ground_truth("contact")}
    products = {int(r["OWNER_ID"]) for d in default for r in gamma.ground_truth(f"deal_productrows:{d}")}
    with duckdb.connect(str(home / "airflow" / "bitrix24-gamma.duckdb"), read_only=True) as con:
        owners = {r[0] for r in con.execute("select owner_id from bitrix24_gamma.deal_products").fetchall()}
    assert owners == products  # the shared [sources.bitrix24] options apply where a portal sets none


def test_one_mapped_task_per_portal(tmp_path):
    python = airflow_python()
    with SimPortal(size=120, seed=3, rate_limit=None) as alpha, SimPortal(size=80, seed=4, rate_limit=None) as gamma:
        beta = alpha.webhook_url.rsplit("/", 2)[0] + "/wrongcode123/"
        dags_folder(tmp_path, beta, gamma.webhook_url)
        parsed = airflow(python, tmp_path, "parse", "2026-01-02T00:00:00+00:00", alpha.webhook_url)
        assert parsed["tasks"] == ["load", "portals"] and parsed["mapped"].endswith("MappedOperator")
        assert (parsed["pool"], parsed["limit"]) == ("default_pool", 16)
        assert alpha.stats.http_requests() == 0 and gamma.stats.http_requests() == 0, "parsing asked a portal"

        first = airflow(python, tmp_path, "run", "2026-01-02T00:00:00+00:00", alpha.webhook_url)
        assert_first_run(tmp_path, first, alpha, gamma)
        loaded = {name: last_load(tmp_path, name) for name in ("alpha", "gamma")}

        edited = min(ids(tmp_path, "alpha", "deals"))
        tick(alpha)
        alpha.update("deal", edited, TITLE="Edited under Airflow")
        tick(alpha)
        alpha.stats.reset()
        gamma.stats.reset()
        second = airflow(python, tmp_path, "run", "2026-01-03T00:00:00+00:00", alpha.webhook_url)
    assert states(second)["load[0]"] == states(second)["load[2]"] == "success"
    assert ids(tmp_path, "alpha", "deals", loaded["alpha"]) == {edited}, "only the change, by alpha's own cursor"
    assert ids(tmp_path, "alpha", "contacts", loaded["alpha"]) == set()
    assert ids(tmp_path, "gamma", "deals", loaded["gamma"]) == set()
    assert gamma.stats.http_requests() <= 4, "an incremental run with no changes is about one request per stream"
