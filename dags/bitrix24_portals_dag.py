"""Airflow DAG: every portal of the `[sources.bitrix24.portals]` table, one mapped task per portal.

The first task reads the portal names from dlt's configuration when the DAG *runs*; the load task
is mapped over them with dynamic task mapping (`.expand`), so adding or removing a portal is a
change of `.dlt/config.toml` / secrets, never of this file. Portals load side by side on whatever
executor the deployment uses (Local, Celery, Kubernetes); each portal's load is one task, so all of
its streams run in one process under one request-rate throttle and keep within that portal's limit
(Bitrix24 counts requests per portal: portals never share a limit, a portal's streams always do).

Each portal has its own pipeline (`bitrix24_NAME`) and dataset (default `bitrix24_NAME`); its state
(cursors, the progress of a first sync) lives in its dataset, so a task can run on any worker with
an empty disk. A run loads what changed since that portal's last load; a new portal's first sync
runs in slices and stops cleanly after BITRIX24_MAX_RUN_MINUTES, and the next DAG run resumes it.

Parsing this file imports neither dlt nor the source and reads no configuration: it makes no
request to any portal and does not need the secrets.

Settings (environment variables of the scheduler and the workers):

    BITRIX24_DESTINATION         dlt destination name (default duckdb: one file per portal,
                                 $AIRFLOW_HOME/bitrix24-NAME.duckdb; DuckDB takes one writer at a time)
    BITRIX24_SCHEDULE            schedule (default @daily)
    BITRIX24_START_DATE          first run (default 2026-01-01); no catch-up: each run loads up to now
    BITRIX24_MAX_PARALLEL        portals loading at once in one DAG run (default 16)
    BITRIX24_POOL                Airflow pool of the load tasks (default default_pool): its slots
                                 bound the portals loading at once across all DAGs
    BITRIX24_MAX_RUN_MINUTES     time box of a first sync per task (default 45; the task's
                                 execution_timeout is 15 minutes more)
    BITRIX24_TOKEN_DIR           OAuth token files (default $AIRFLOW_HOME/bitrix24_tokens): they must
                                 outlive the task; a volume every worker mounts on Celery/Kubernetes
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

try:  # Airflow 3
    from airflow.sdk import dag, get_current_context, task
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.exceptions import AirflowFailException
    from airflow.operators.python import get_current_context

DESTINATION = os.environ.get("BITRIX24_DESTINATION", "duckdb")
SCHEDULE = os.environ.get("BITRIX24_SCHEDULE", "@daily")
START_DATE = pendulum.parse(os.environ.get("BITRIX24_START_DATE", "2026-01-01"), tz="UTC")
MAX_PARALLEL = int(os.environ.get("BITRIX24_MAX_PARALLEL", "16"))
POOL = os.environ.get("BITRIX24_POOL", "default_pool")
MAX_RUN_MINUTES = float(os.environ.get("BITRIX24_MAX_RUN_MINUTES", "45"))
DAGS_FOLDER = os.path.dirname(os.path.abspath(__file__))


def dlt_folders() -> str:
    """dlt's project folder is the dags folder (for .dlt/); its working folder a fresh temporary one,
    removed after the task (each portal's state is restored from its dataset). Returns the latter."""
    import tempfile

    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    from bitrix24.tokens import use_airflow_token_dir

    use_airflow_token_dir()  # OAuth: rotated token pairs outlive the task's temporary folders
    work = tempfile.mkdtemp(prefix="dlt_bitrix24_")
    os.environ["DLT_PROJECT_DIR"] = DAGS_FOLDER
    os.environ["DLT_DATA_DIR"] = os.environ["DLT_LOCAL_DIR"] = work
    Container()[PluggableRunContext].reload_providers()
    return work


def destination(portal):
    """The destination by name; DuckDB gets one file per portal in $AIRFLOW_HOME, unless configured."""
    import dlt

    if DESTINATION != "duckdb" or dlt.secrets.get("destination.duckdb.credentials") is not None:
        return DESTINATION
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return dlt.destinations.duckdb(os.path.join(home, portal.duckdb_file))


@task
def portals() -> list:
    """The names in the portals table, read when the DAG runs (a bad table fails here, in one line)."""
    import shutil

    work = dlt_folders()
    try:
        from bitrix24.portals import portal_names

        return portal_names()
    finally:
        shutil.rmtree(work, ignore_errors=True)


@task(
    pool=POOL,  # its slots bound the portals loading at once across every DAG that uses it
    max_active_tis_per_dagrun=MAX_PARALLEL,  # ... and this, within one run of this DAG
    execution_timeout=timedelta(minutes=MAX_RUN_MINUTES + 15),
    map_index_template="{{ portal_name }}",  # the UI lists each mapped task by its portal
)
def load(portal: str) -> dict:
    """One portal, every stream in this one process, under one throttle: the portal's own limit."""
    import shutil

    get_current_context()["portal_name"] = portal
    work = dlt_folders()
    try:
        from bitrix24.portals import PortalLoadError, load_portal

        try:
            return load_portal(portal, destination, max_run_minutes=MAX_RUN_MINUTES)
        except PortalLoadError as exc:
            print(f"error: {exc}", flush=True)  # the one line, also at the end of the task's log
            if exc.permanent:  # a wrong webhook or setting: retrying cannot help
                raise AirflowFailException(str(exc)) from None
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dag(
    dag_id="bitrix24_portals",
    schedule=SCHEDULE,
    start_date=START_DATE,
    catchup=False,  # a run loads everything since each portal's last load: missed runs need no replay
    max_active_runs=1,  # never two loads of one portal at once (two throttles would double its rate)
    default_args={"owner": "dlt", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["dlt", "bitrix24"],
    doc_md=__doc__,
)
def bitrix24_portals():
    load.expand(portal=portals())


bitrix24_portals()
