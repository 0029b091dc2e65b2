"""Fixtures: a simulated Bitrix24 portal over real HTTP on loopback, and DuckDB pipelines."""

from __future__ import annotations

import os
import uuid
from typing import Any, Dict

import dlt
import duckdb
import pytest

from simportal import SimPortal

# Tests pass every option explicitly; keep the repo's .dlt/ and the user's env out of them.
for key in list(os.environ):
    if key.startswith("SOURCES__BITRIX24__"):
        del os.environ[key]

FAST = dict(requests_per_second=100.0, request_burst=1000, max_retry_seconds=30)


@pytest.fixture(scope="session")
def portal():
    """A shared, read-only portal (size 600). Tests that change data use `fresh_portal`."""
    with SimPortal(size=600, seed=11, rate_limit=None) as p:
        yield p


@pytest.fixture
def fresh_portal():
    with SimPortal(size=300, seed=5, rate_limit=None) as p:
        yield p


@pytest.fixture
def make_pipeline(tmp_path):
    def make(name: str = "bx") -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=f"{name}_{uuid.uuid4().hex[:8]}",
            destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            dataset_name="bitrix24",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make


SUBS = dict(extract_deal_contacts=True, enable_deal_comments=True, enable_deal_products=True)


def load(tmp_path_factory, name: str, portal: SimPortal, dataset: str = "bitrix24", file_format=None, **kwargs: Any):
    """A pipeline in its own folder that has loaded `portal` once with the given source options."""
    path = tmp_path_factory.mktemp(name)
    pipeline = dlt.pipeline(name, destination=dlt.destinations.duckdb(str(path / f"{name}.duckdb")),
                            dataset_name=dataset, pipelines_dir=str(path / "pipelines"))
    info = pipeline.run(source(portal, **kwargs), loader_file_format=file_format)
    assert not info.has_failed_jobs
    return pipeline


@pytest.fixture(scope="session")
def full_load(portal, tmp_path_factory):
    """Every stream, deal options on, loaded once (jsonl files, as bitrix24_pipeline.py loads DuckDB)."""
    return load(tmp_path_factory, "full", portal, dataset="bitrix24_data", file_format="jsonl", **SUBS)


def source(portal: SimPortal, **kwargs: Any):
    from bitrix24 import bitrix24_source

    args: Dict[str, Any] = dict(webhook_url=portal.webhook_url, **FAST)
    args.update(kwargs)
    return bitrix24_source(**args)


def query(pipeline: dlt.Pipeline, sql: str):
    """Run SQL against the pipeline's DuckDB file, in its dataset."""
    path = pipeline.destination_client().config.credentials.database
    with duckdb.connect(path, read_only=True) as con:
        con.execute(f"SET schema = '{pipeline.dataset_name}'")
        return con.execute(sql).fetchall()


def column_types(pipeline: dlt.Pipeline, table: str) -> Dict[str, str]:
    rows = query(
        pipeline,
        f"select column_name, data_type from information_schema.columns where table_schema = '{pipeline.dataset_name}'"
        f" and table_name = '{table}'",
    )
    return dict(rows)


def tick(portal: SimPortal, seconds: float = 2.0) -> None:
    """Let portal time pass (its clock moves on; nothing sleeps).

    Runs are bounded by the portal clock at their start, in whole seconds, so an edit made in the
    same second a run starts belongs to the next run — in tests as on a real portal.
    """
    portal.options.clock_skew = float(portal.options.clock_skew) + seconds


def edit(portal: SimPortal, entity: str, row_id: int, **changes: Any) -> None:
    portal.update(entity, row_id, **changes)
    tick(portal)


# Hypothesis: the same examples on every run (CI cannot go red at random) and no example database
# (nothing replayed from a local `.hypothesis/`). HYPOTHESIS_PROFILE=explore draws new random ones.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
_hypothesis_settings.register_profile("explore", derandomize=False, database=None, max_examples=2000)
# fresh random examples at the usual count: for repeated whole-suite runs (the proof before resolving)
_hypothesis_settings.register_profile("fresh", derandomize=False, database=None)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))


def pytest_collection_modifyitems(config, items):
    """The Airflow tests (subprocesses in their own environment, the longest by far) go first, so that
    under `-n 2` they start at once while the rest is shared out."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/test_airflow") else 1)
