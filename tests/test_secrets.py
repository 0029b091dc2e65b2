"""The webhook code, OAuth tokens and the client secret never leave the process: not in logs, errors, dlt's
files (state, trace, packages) or the destination."""

import json
import logging
import os
import stat
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


def _oauth_runs(portal, tmp_path, monkeypatch):
    """Configured from the environment: a run with tokens rotating mid-run and faults, then a run that
    fails. Returns the pipeline and the failure's text."""
    portal.options.oauth_token_lifetime = 3.0  # ~5 uses (0.6 s each), with real-time margin under load
    app = portal.add_oauth_app()
    monkeypatch.setenv("SOURCES__BITRIX24__CREDENTIALS__DOMAIN", f"http://{app['domain']}")
    for key in ("client_id", "client_secret", "refresh_token", "access_token", "oauth_server"):
        monkeypatch.setenv(f"SOURCES__BITRIX24__CREDENTIALS__{key.upper()}", app[key])
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    portal.oauth.listeners.append(lambda kind, info: kind == "use" and tick(portal, 0.6))
    for n, kind in enumerate(("503", "reset", "html200", "500")):
        portal.faults.add(kind, times=1, after=3 * n + 1)
    pipeline = dlt.pipeline("secret_oauth", destination=dlt.destinations.duckdb(str(tmp_path / "secret.duckdb")),
                            dataset_name="bitrix24", pipelines_dir=str(tmp_path / "pipelines"))
    kwargs = dict(FAST, extract_deal_contacts=True, enable_deal_comments=True, enable_deal_products=True)
    pipeline.run(bitrix24_source(**kwargs))
    assert len(portal.oauth.of_kind("refresh")) >= 3, "tokens should have rotated mid-run"
    tick(portal)
    portal.faults.add("reset", times=1000)
    kwargs["max_retry_seconds"] = 1
    with pytest.raises(Exception) as failure:  # noqa: B017 - any failure; its text is what is checked
        pipeline.run(bitrix24_source(**kwargs))
    portal.faults.clear()
    return pipeline, "".join(traceback.format_exception(failure.value)) + repr(failure.value)


def test_oauth_tokens_and_client_secret_are_nowhere_after_runs(tmp_path, caplog, capfd, monkeypatch):
    """No access token, refresh token or client secret in logs, errors, dlt's files (state, trace,
    packages) or the destination - only in the token store, the one place they must be (owner-only)."""
    caplog.set_level(logging.DEBUG)
    with SimPortal(size=200, seed=9, rate_limit=None) as portal:
        pipeline, error_text = _oauth_runs(portal, tmp_path, monkeypatch)
        secrets = {next(iter(portal.oauth.apps.values())).client_secret}
        for grant in portal.oauth.by_refresh.values():
            secrets |= {grant.access_token, grant.refresh_token}
        out, err = capfd.readouterr()
        logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
        assert "auth=" not in logs
        pipelines = tmp_path / "pipelines"
        store = next((pipelines / ".bitrix24_tokens").glob("*.json"))
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        assert portal.oauth.of_kind("refresh")[-1].issued in store.read_text()  # the scan looks for the right strings
        for name, text in (("logs", logs), ("stdout", out), ("stderr", err), ("exception", error_text),
                           ("state", json.dumps(pipeline.state, default=str)),
                           ("destination", _all_text_in_duckdb(str(tmp_path / "secret.duckdb")))):
            assert not [s for s in secrets if s in text], f"an OAuth secret leaked into {name}"
        for path in pipelines.rglob("*"):
            if path.is_file() and path != store:
                data = path.read_bytes()
                assert not [s for s in secrets if s.encode() in data], f"an OAuth secret leaked into {path}"
