"""The Airflow DAG (dags/bitrix24_dag.py) in a real Airflow, against the simulated portal.

Airflow's dependencies would clash with ours, so Airflow lives in its own virtual environment,
built on first use and cached in `.venv-airflow/` at the repository root (about a minute; rebuilt
when requirements.txt or the Airflow version changes). The DAG runs there in a subprocess with
`dag.test()` from a dags folder laid out as the README says to deploy it (the DAG file, a copy of
the `bitrix24/` package, `.dlt/config.toml`); the simulated portal runs here and the subprocess
reaches it over loopback.

    BITRIX24_TEST_AIRFLOW="apache-airflow==2.10.5" pytest tests/test_airflow.py   # another Airflow

When the environment cannot be built (no network, no registry) the test is skipped, except under
CI (`CI` set), where that is a failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from simportal import SimPortal

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
CACHE = REPO / ".venv-airflow"
AIRFLOW = os.environ.get("BITRIX24_TEST_AIRFLOW", "apache-airflow==3.3.2")
INSTALL_TIMEOUT = 480
RUN_TIMEOUT = 600  # a guard against a hung DAG run, not a timing check: one run takes ~40 s alone, 150 s+ on a loaded machine

# The start of every driver script (run inside the Airflow environment): imports, and one DAG run
# through `dag.test` in Airflow 2 or 3, a failure ending it at once instead of waiting for a retry.
DRIVER_HEAD = textwrap.dedent(
    """
    import json, sys
    import airflow, pendulum
    from airflow.models import DagBag


    def run_once(dag, logical_date):
        for task in dag.tasks:
            task.retries = 0
        if airflow.__version__.startswith("2."):
            return dag.test(execution_date=logical_date)
        return dag.test(logical_date=logical_date, run_after=logical_date)

    """
)

# Parse the dags folder, run the DAG once, report as JSON.
DRIVER = DRIVER_HEAD + textwrap.dedent(
    """
    logical_date, out, dags = pendulum.parse(sys.argv[1]), sys.argv[2], sys.argv[3]
    sys.path.append(dags)  # as Airflow's DAG processor and task runner do: the package sits in the dags folder
    bag = DagBag(dags)
    if bag.import_errors or "bitrix24" not in bag.dags:
        json.dump({"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}, open(out, "w"))
        sys.exit(3)
    dag = bag.get_dag("bitrix24")
    run = run_once(dag, logical_date)
    json.dump({
        "airflow": airflow.__version__,
        "state": str(getattr(run.state, "value", run.state)),
        "interval": [run.data_interval_start.isoformat(), run.data_interval_end.isoformat()],
        "tasks": {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()},
    }, open(out, "w"))
    """
)


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"Airflow environment unavailable under CI: {reason}")
    pytest.skip(f"Airflow environment unavailable ({reason}); it is built on first use in {CACHE}/ with pip")


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def airflow_python() -> Path:
    """The interpreter of the cached Airflow environment, (re)built when its inputs changed."""
    env_dir = CACHE / re.sub(r"[^A-Za-z0-9.]+", "-", AIRFLOW).strip("-")  # one environment per Airflow version
    python = env_dir / "bin" / "python"
    inputs = [REPO / "requirements.txt", REPO / "bitrix24" / "requirements.txt"]
    key = hashlib.sha256(
        "\n".join([AIRFLOW, sys.version, *(p.read_text() for p in inputs if p.exists())]).encode()
    ).hexdigest()
    ready = env_dir / ".bitrix24-ready"
    failed = CACHE / f"{env_dir.name}.failed"  # a recent failed build is not retried outside CI
    log = CACHE / f"{env_dir.name}.install.log"
    with _locked(CACHE / "lock"):
        if ready.exists() and ready.read_text() == key and python.exists():
            return python
        if not os.environ.get("CI") and failed.exists() and time.time() - failed.stat().st_mtime < 3600:
            _unavailable(f"building it failed less than an hour ago; see {log}, or delete {failed} to retry now")
        shutil.rmtree(env_dir, ignore_errors=True)
        failed.touch()
        steps = [
            [sys.executable, "-m", "venv", str(env_dir)],
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
             AIRFLOW, "-r", str(REPO / "requirements.txt")],
        ]
        deadline = dt.datetime.now() + dt.timedelta(seconds=INSTALL_TIMEOUT)
        with open(log, "w") as out:
            for step in steps:
                left = (deadline - dt.datetime.now()).total_seconds()
                try:
                    done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=max(left, 1))
                except subprocess.TimeoutExpired:
                    shutil.rmtree(env_dir, ignore_errors=True)
                    _unavailable(f"installing {AIRFLOW} took over {INSTALL_TIMEOUT}s; see {log}")
                if done.returncode != 0:
                    shutil.rmtree(env_dir, ignore_errors=True)
                    _unavailable(f"`pip install {AIRFLOW} -r requirements.txt` into {env_dir} failed; see {log}")
        ready.write_text(key)
        failed.unlink(missing_ok=True)
        return python


CONFIG_TOML = """\
[sources.bitrix24]
extract_deal_contacts = true
enable_deal_comments = true
enable_deal_products = true
spa_entity_type_ids = [128]
requests_per_second = 100
request_burst = 1000
max_retry_seconds = 30
"""


def dags_folder(root: Path, dag_file: str = "bitrix24_dag.py", config: str = CONFIG_TOML,
                secrets: str | None = None) -> Path:
    """A dags folder as deployed: the DAG, the package, .airflowignore and dlt's config (and secrets)."""
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(DAGS / dag_file, dags / dag_file)
    shutil.copytree(REPO / "bitrix24", dags / "bitrix24", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dags / ".airflowignore").write_text("bitrix24/\n")
    (dags / ".dlt").mkdir()
    (dags / ".dlt" / "config.toml").write_text(config)
    if secrets is not None:
        (dags / ".dlt" / "secrets.toml").write_text(secrets)
    return dags


def run_dag(python: Path, home: Path, portal: SimPortal, logical_date: str, **settings: str) -> dict:
    """Run the DAG once (`dag.test`) in the Airflow environment; the parsed JSON report."""
    dags = home / "dags" if (home / "dags").exists() else dags_folder(home)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOURCES__", "DESTINATION__", "AIRFLOW", "BITRIX24_", "PYTHONPATH"))}
    env.update(
        AIRFLOW_HOME=str(home / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        TMPDIR=str(home),  # dlt's per-task working folders
        RUNTIME__DLTHUB_TELEMETRY="false",
        SOURCES__BITRIX24__WEBHOOK_URL=portal.webhook_url,  # the secret, from the environment
        DESTINATION__DUCKDB__CREDENTIALS=str(home / "warehouse.duckdb"),
        BITRIX24_DATASET="crm",
        BITRIX24_START_DATE="2023-01-01",
        **settings,
    )
    log = home / f"dag-{logical_date[:10]}.log"
    report = home / "report.json"
    report.unlink(missing_ok=True)
    with open(log, "w") as out:
        if not (home / "airflow" / "airflow.db").exists():
            subprocess.run([str(python), "-m", "airflow", "db", "migrate"], env=env, stdout=out,
                           stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, check=True)
        done = subprocess.run([str(python), "-c", DRIVER, logical_date, str(report), str(dags)], env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
    tail = log.read_text()[-4000:]
    assert report.exists(), f"the DAG run reported nothing (exit {done.returncode}):\n{tail}"
    result = json.loads(report.read_text())
    assert "import_errors" not in result, f"the DAG did not parse: {result['import_errors']}"
    assert done.returncode == 0 and result["state"] == "success", f"{result}\n{tail}"
    return result


def modified_in(portal: SimPortal, entity: str, start: str, end: str, key: str = "DATE_MODIFY", id_key: str = "ID") -> set:
    lo, hi = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    return {int(r[id_key]) for r in portal.ground_truth(entity) if lo <= dt.datetime.fromisoformat(r[key]) < hi}


def test_dag_loads_each_data_interval_into_duckdb(tmp_path):
    python = airflow_python()
    # Generated data ends at the anchor: 2023-01 .. 2024-12.
    with SimPortal(size=600, seed=3, rate_limit=None, anchor="2025-01-01T00:00:00+00:00") as portal:
        # Run 1: every stream, one yearly interval, 2024.
        first = run_dag(python, tmp_path, portal, "2025-01-01T00:00:00+00:00", BITRIX24_SCHEDULE="@yearly")
        assert first["interval"] == ["2024-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"]
        assert all(state == "success" for state in first["tasks"].values()), first["tasks"]
        deals_task = [t for t in first["tasks"] if "deals" in t.split("_", 1)[-1].split("-")]
        assert len(deals_task) == 1 and "deal_products" in deals_task[0] and "deal_comments" in deals_task[0], (
            f"deal sub-resources must run in the deals task: {sorted(first['tasks'])}"
        )
        assert len(first["tasks"]) > 10, "the source was not split into tasks"
        assert any(t.endswith("_spa_128") for t in first["tasks"]), "SPA ids come from dags/.dlt/config.toml"

        db = str(tmp_path / "warehouse.duckdb")
        in_2024 = modified_in(portal, "deal", *first["interval"])
        with duckdb.connect(db, read_only=True) as con:
            deals = {r[0] for r in con.execute("select id from crm.deals").fetchall()}
            contacts = {r[0] for r in con.execute("select id from crm.contacts").fetchall()}
            owners = {r[0] for r in con.execute("select owner_id from crm.deal_products").fetchall()}
            statuses = con.execute("select count(*) from crm.statuses").fetchone()[0]
            tables = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'crm'").fetchall()}
            spa = {r[0] for r in con.execute("select id from crm.spa_128").fetchall()} if "spa_128" in tables else set()
        assert deals == in_2024 and len(deals) > 20, "deals must be exactly those modified in the data interval"
        assert contacts == modified_in(portal, "contact", *first["interval"])
        assert owners and owners <= deals
        assert statuses > 0  # a full-table stream, in a task of its own
        assert spa == modified_in(portal, "spa:128", *first["interval"], key="updatedTime", id_key="id")

        # Run 2: a deal edited in June 2025 (portal clock set back), a monthly interval around it.
        edited = min(deals)
        portal.options.clock_skew = dt.datetime(2025, 6, 10, tzinfo=dt.timezone.utc).timestamp() - time.time()
        portal.update("deal", edited, TITLE="Edited under Airflow")
        portal.options.clock_skew = 0.0
        second = run_dag(python, tmp_path, portal, "2025-07-01T00:00:00+00:00", BITRIX24_SCHEDULE="@monthly",
                         SOURCES__BITRIX24__STREAMS='["deals"]')
        assert second["interval"] == ["2025-06-01T00:00:00+00:00", "2025-07-01T00:00:00+00:00"]
        with duckdb.connect(db, read_only=True) as con:
            rows = con.execute("select id, title from crm.deals where id = ?", [edited]).fetchall()
            total = con.execute("select count(*), count(distinct id) from crm.deals").fetchone()
            last_load = con.execute(
                "select count(*) from crm.deals where _dlt_load_id = (select max(load_id) from crm._dlt_loads)"
            ).fetchone()[0]
    assert rows == [(edited, "Edited under Airflow")]
    assert total == (len(deals), len(deals)), "the edited deal was duplicated instead of merged"
    assert last_load == 1, "the second run must load only the deal changed in its interval"
