"""Docs match the code: every SQL query in the README runs against a full load (with its readable
views) and returns rows."""

import re
from pathlib import Path

import pytest
from conftest import query

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
QUERIES = re.findall(r"```sql\n(.*?)```", README, flags=re.S)


def test_readme_has_the_day_one_queries():
    assert len(QUERIES) >= 4


@pytest.fixture(scope="module")
def labeled(full_load):
    """The full load with its readable views (README, "Readable views")."""
    from bitrix24 import create_labeled_views

    assert "deals_labeled" in create_labeled_views(full_load)
    return full_load


@pytest.mark.parametrize("sql", QUERIES, ids=[f"query{i}" for i in range(len(QUERIES))])
def test_readme_query_runs(labeled, sql):
    rows = query(labeled, sql)
    assert rows, "the query returned nothing on a full demo load"


def test_stream_table_in_readme_lists_every_stream():
    from bitrix24 import STREAMS

    for stream in STREAMS:
        assert f"`{stream.name}`" in README, stream.name
