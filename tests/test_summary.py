"""The run summary of bitrix24_pipeline.py tells the truth: data rows only (no tombstone or hard-delete
marker rows), the rows an interrupted earlier run's package carried, wall-time waits, failed streams."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from conftest import SUBS, query, source

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bitrix24_pipeline
from bitrix24 import SliceReport  # noqa: E402


def rows_this_run(text: str) -> dict:
    """{table: (rows this run, rows in table)} from a summary's table."""
    found = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[1].replace(",", "").isdigit():
            found[parts[0]] = (int(parts[1].replace(",", "")), parts[2].replace(",", ""))
    return found


def test_first_load_counts_no_tombstone_rows(fresh_portal, make_pipeline):
    deals = fresh_portal.ground_truth("deal")
    assert any(not fresh_portal.ground_truth(f"deal_productrows:{d['ID']}") for d in deals), "some deals have no products"
    pipeline = make_pipeline()
    started = time.monotonic()
    pipeline.run(source(fresh_portal, streams=["deals", "deal_products", "deal_comments"], **SUBS),
                 loader_file_format="jsonl")
    table = rows_this_run(bitrix24_pipeline.summary(pipeline, started))
    for name in ("deal_products", "deal_comments"):
        stored = query(pipeline, f"select count(*) from {name}")[0][0]
        assert table[name] == (stored, str(stored)), name


def test_marker_rows_are_not_data_rows():
    trace = SimpleNamespace(last_normalize_info=SimpleNamespace(
        row_counts={"deals": 9, "deal_products": 30, "_dlt_pipeline_state": 1}))
    stats = SimpleNamespace(tombstones=Counter(deal_products=12, deals=2))  # deals: detect_deletes markers
    assert bitrix24_pipeline.data_rows(trace, stats) == {"deals": 7, "deal_products": 18}
    assert bitrix24_pipeline.data_rows(trace, SimpleNamespace()) == {"deals": 9, "deal_products": 30}


def test_rows_of_an_interrupted_run_are_shown():
    lines = bitrix24_pipeline.table_lines({"deals": 5}, {"deals": 105}, {"deals": 100, "contacts": 40})
    assert "of which from an earlier run" in lines[0]
    deals = next(line for line in lines if line.startswith("deals")).split()
    assert deals[1:] == ["105", "105", "100"]
    assert "of which 140 rows from an earlier interrupted run" in lines[-1]


def test_waits_are_wall_time_when_the_client_measures_them():
    class Stats(SimpleNamespace):
        def wall_waits(self):
            return {"throttle": 1.5, "limit": 0.0, "retry": 2.0, "any": 3.0}

    text = bitrix24_pipeline.wait_text(Stats())
    assert "waited 3.0s (wall time)" in text and "1.5s on the request-rate limit" in text
    old = SimpleNamespace(throttle_wait=4.0, limit_wait=0.0, retry_wait=1.0)
    assert "summed over threads" in bitrix24_pipeline.wait_text(old)


def test_failed_streams_are_listed_and_end_the_run_with_one_error_line(monkeypatch, capsys):
    failures = {"calls": "calls failed: the webhook lacks telephony; add the scope",
                "deals": "deals failed: HTTP 503 for 900 s; run again later"}
    client = SimpleNamespace(failures=failures, stats=SimpleNamespace(
        total_requests=3, commands=Counter(a=3), throttle_wait=0.0, limit_wait=0.0, retry_wait=0.0))
    pipeline = SimpleNamespace(last_trace=None, dataset=lambda: None)
    monkeypatch.setattr(bitrix24_pipeline, "latest_client", lambda: client)
    report = SliceReport(slices=1, failed=dict(failures))
    monkeypatch.setattr(bitrix24_pipeline, "run", lambda args, url: (pipeline, {}, report))
    monkeypatch.setattr(bitrix24_pipeline, "is_duckdb", lambda p: False)
    assert bitrix24_pipeline.main(["--progress", "none"]) == 1
    out, err = capsys.readouterr()
    assert "calls: calls failed: the webhook lacks telephony" in out and "deals: deals failed" in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: 2 stream(s) failed: calls, deals") and "next run resumes" in last
