"""Airflow DAG: load a Bitrix24 portal with dlt, one Airflow task per independent group of streams.

Deploy: put this file, the `bitrix24/` package and a `.dlt/` folder (config.toml; secrets.toml or
environment variables) in Airflow's dags folder, and add `dlt[<destination>]`, `requests` and
`pendulum` to the workers' Python (see the README, "Deploying on Airflow").

    dags/
      bitrix24_dag.py
      bitrix24/            # a copy of the source package
      .dlt/config.toml     # [sources.bitrix24] settings, read by dlt under Airflow
      .airflowignore       # "bitrix24/": no DAGs in there, skip parsing it

Settings (environment variables of the scheduler and the workers):

    SOURCES__BITRIX24__WEBHOOK_URL   the inbound webhook (or `webhook_url` in dags/.dlt/secrets.toml)
    BITRIX24_DESTINATION             dlt destination name (default duckdb; e.g. postgres, bigquery,
                                     snowflake, configured in dags/.dlt/ as usual)
    DESTINATION__DUCKDB__CREDENTIALS the DuckDB file (default $AIRFLOW_HOME/bitrix24.duckdb)
    BITRIX24_DATASET                 dataset / schema (default bitrix24_data)
    BITRIX24_SCHEDULE                schedule (default @daily)
    BITRIX24_START_DATE              first data interval (default 2026-01-01); runs catch up from it
    BITRIX24_WINDOWS                 interval (default): each run loads its data interval;
                                     state: each run loads what changed since the last committed
                                     cursor, so a first sync runs as a resumable backfill
    BITRIX24_DECOMPOSE               serialize (default), parallel-isolated or none
    BITRIX24_MAX_RUN_MINUTES         time box of a task's first sync of a state-driven stream (default
                                     45; each task's execution_timeout is 15 minutes more)
    BITRIX24_TOKEN_DIR               OAuth token files (default $AIRFLOW_HOME/bitrix24_tokens): they must
                                     outlive the task; a volume every worker mounts on Celery/Kubernetes

BITRIX24_WINDOWS=interval: every run loads exactly its data interval (`allow_external_schedulers=True`):
the date-cursor streams ask Bitrix24 for rows changed in [data_interval_start, data_interval_end).
Load the history before the DAG's start date once with `python bitrix24_pipeline.py` into the
same dataset (rows are merged on their primary keys), or with a backfill of the DAG. The streams
whose cursor is their id (stage history) follow the pipeline state, not the interval.

BITRIX24_WINDOWS=state: the intervals are ignored (no catch-up); every stream follows the pipeline
state as `python bitrix24_pipeline.py` does. A first sync of a big portal is then a backfill that
stops cleanly after BITRIX24_MAX_RUN_MINUTES, commits what it read, and the next DAG run resumes
it below the committed id bound; once it reaches the bottom, runs are incremental.

In both modes a state-driven first sync stops inside the task's timeout (execution_timeout is
BITRIX24_MAX_RUN_MINUTES + 15 minutes).

Parsing this file builds the source (dlt lays out the tasks from its streams), so the webhook URL
must be configured wherever DAGs are parsed. Smart-process (SPA) ids come from
`sources.bitrix24.spa_entity_type_ids` in the config, or none are loaded: with the ids given,
building the source makes no request, so parsing never waits on the portal.
"""

from __future__ import annotations

import os
from datetime import timedelta

import dlt
import pendulum
from dlt.helpers.airflow_helper import PipelineTasksGroup

try:  # Airflow 3
    from airflow.sdk import dag
except ImportError:  # Airflow 2
    from airflow.decorators import dag
from airflow.timetables.interval import CronDataIntervalTimetable

DESTINATION = os.environ.get("BITRIX24_DESTINATION", "duckdb")
DATASET = os.environ.get("BITRIX24_DATASET", "bitrix24_data")
SCHEDULE = os.environ.get("BITRIX24_SCHEDULE", "@daily")
START_DATE = pendulum.parse(os.environ.get("BITRIX24_START_DATE", "2026-01-01"), tz="UTC")
# "serialize": one task per group of streams, one after another, sharing the pipeline state. Safe
# for incremental state, one writer at a time (DuckDB), and the tasks never compete for the
# portal's request-rate limit. "parallel-isolated": groups run side by side, each with its own
# pipeline state; mind that all of them draw on the same portal limit (2 requests/s).
DECOMPOSE = os.environ.get("BITRIX24_DECOMPOSE", "serialize")
MAX_RUN_MINUTES = float(os.environ.get("BITRIX24_MAX_RUN_MINUTES", "45"))
WINDOWS = os.environ.get("BITRIX24_WINDOWS", "interval")
if WINDOWS not in ("interval", "state"):
    raise ValueError(f"BITRIX24_WINDOWS={WINDOWS!r}: use interval (each run loads its data interval) or state "
                     "(each run loads what changed since the last run; a first sync resumes across runs)")


def spa_entity_type_ids() -> list:
    """SPA ids from the dlt config; none when unset (no discovery request while parsing)."""
    value = dlt.config.get("sources.bitrix24.spa_entity_type_ids")
    return [] if value is None else value


def destination():
    """The destination by name; DuckDB gets a fixed file (dlt's default lives in the task's
    temporary folder, which is different for every task)."""
    if DESTINATION != "duckdb" or dlt.secrets.get("destination.duckdb.credentials") is not None:
        return DESTINATION
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return dlt.destinations.duckdb(os.path.join(home, "bitrix24.duckdb"))


@dag(
    dag_id="bitrix24",
    # Data intervals, not points in time: Airflow 3 reads a cron string as a trigger with an empty
    # interval (start == end), which would give every run an empty window.
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=START_DATE,
    # interval: every interval is loaded once, none is skipped after a pause; state: a run loads
    # everything since the last one, so catching up would only repeat empty runs
    catchup=WINDOWS == "interval",
    max_active_runs=1,  # one run at a time: runs share the pipeline state and the portal's limits
    default_args={"owner": "dlt", "retries": 2, "retry_delay": timedelta(minutes=5),
                  "execution_timeout": timedelta(minutes=MAX_RUN_MINUTES + 15)},
    tags=["dlt", "bitrix24"],
    doc_md=__doc__,
)
def bitrix24_dag():
    # The tasks group sets dlt's project folder (the dags folder, for .dlt/) and a fresh working
    # folder: it must exist before dlt.pipeline() is called.
    tasks = PipelineTasksGroup("bitrix24", use_data_folder=False, wipe_local_data=True)
    from bitrix24 import bitrix24_source
    from bitrix24.tokens import use_airflow_token_dir

    use_airflow_token_dir()  # OAuth: rotated token pairs outlive the task's working folder

    pipeline = dlt.pipeline(
        pipeline_name="bitrix24",
        destination=destination(),
        dataset_name=DATASET,
        progress="log",
    )
    # fail_fast: a stream that fails fails its task, so Airflow retries it and the data interval is
    # never marked done with a stream missing (each task loads exactly its interval).
    # max_run_minutes: a first sync of a state-driven stream stops at its next answer once the task
    # has run this long (counted from its first request), commits what it read and ends within
    # execution_timeout; the next DAG run resumes it.
    source = bitrix24_source(spa_entity_type_ids=spa_entity_type_ids(), allow_external_schedulers=WINDOWS == "interval",
                             fail_fast=True, max_run_minutes=MAX_RUN_MINUTES)
    # Deal products, comments and contacts are transformers on `deals`: dlt keeps a resource and
    # its transformers in one task, so they always see the deals of that run.
    tasks.add_run(pipeline, source, decompose=DECOMPOSE, trigger_rule="all_success")


bitrix24_dag()
