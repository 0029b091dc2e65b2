"""The webhook code never leaves the process: not in logs, errors, dlt's files or the destination."""

import logging
import os
import traceback
from pathlib import Path

import dlt
import duckdb
import pytest
from conftest import FAST, tick

from bitrix24 import bitrix24_source
from simportal import SimPortal


def _all_text_in_duckdb(path: str) -> str:
    chunks = []
    with duckdb.connect(path, read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        for schema, table in tables:
            for row in con.execute(f'select * from "{schema}"."{table}"').fetchall():
                chunks.append(repr(row))
    return "\n".join(chunks)


def test_webhook_code_is_nowhere_after_a_run_with_faults(tmp_path, caplog, capfd, monkeypatch):
    with SimPortal(size=200, seed=9, rate_limit=None) as portal:
        code = portal.webhook_url.rstrip("/").rsplit("/", 1)[-1]
        assert len(code) >= 8
        # the realistic way to configure: the environment (or secrets.toml)
        monkeypatch.setenv("SOURCES__BITRIX24__WEBHOOK_URL", portal.webhook_url)
        monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
        caplog.set_level(logging.DEBUG)
        # one fault every few requests, so no single call backs off for long
        for n, kind in enumerate(("503", "500", "reset", "html200", "truncated_json", "502", "503")):
            portal.faults.add(kind, times=1, after=3 * n + 1)
        pipelines = tmp_path / "pipelines"
        db = str(tmp_path / "secret.duckdb")
        pipeline = dlt.pipeline("secret", destination=dlt.destinations.duckdb(db), dataset_name="bitrix24",
                                pipelines_dir=str(pipelines))
        kwargs = dict(FAST, extract_deal_contacts=True, enable_deal_comments=True, enable_deal_products=True)
        kwargs["max_retry_seconds"] = 60
        pipeline.run(bitrix24_source(**kwargs))
        assert any("retrying" in r.getMessage() for r in caplog.records), "faults should have been retried"

        # a run that fails: the error text must not carry the code either
        tick(portal)
        portal.faults.add("reset", times=1000)
        kwargs["max_retry_seconds"] = 1
        with pytest.raises(Exception) as failure:
            pipeline.run(bitrix24_source(**kwargs))
        portal.faults.clear()
        error_text = "".join(traceback.format_exception(failure.value)) + repr(failure.value)

        out, err = capfd.readouterr()
        logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
        assert logs and "QUERY_LIMIT_EXCEEDED" in logs or "503" in logs
        for name, text in (("logs", logs), ("stdout", out), ("stderr", err), ("exception", error_text)):
            assert code not in text, f"webhook code leaked into {name}"
        for path in Path(pipelines).rglob("*"):
            if path.is_file():
                assert code.encode() not in path.read_bytes(), f"webhook code leaked into {path}"
        assert code not in _all_text_in_duckdb(db)
        assert portal.webhook_url not in os.environ.get("NOTHING", "")
