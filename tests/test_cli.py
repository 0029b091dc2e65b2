"""bitrix24_pipeline.py: bad input gives one clear message, no traceback, nothing written."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from simportal import SimPortal

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(ROOT / "bitrix24_pipeline.py")


def run_cli(tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    environ.update(env or {})
    environ.setdefault("SOURCES__BITRIX24__REQUESTS_PER_SECOND", "50")
    environ["DLT_DATA_DIR"] = str(tmp_path / "dlt_data")  # pipelines' state stays in the test folder
    return subprocess.run([sys.executable, SCRIPT, "--progress", "none", *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def assert_clean_failure(result: subprocess.CompletedProcess, tmp_path: Path, *phrases: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, (phrase, result.stderr)
    assert not list(tmp_path.rglob("*.duckdb")), "nothing may be written for a configuration error"


@pytest.fixture(scope="module")
def cli_portal():
    with SimPortal(size=60, seed=2, rate_limit=None) as portal:
        yield portal


def test_help_lists_options(tmp_path):
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0
    for option in ("--destination", "--dataset", "--streams", "--full-refresh", "--demo", "--progress"):
        assert option in result.stdout


# Bad input that fails before any request (webhook URLs, option values, broken .dlt files, unknown
# destinations, ...) is the table in tests/test_bad_inputs.py; the cases here need a portal to answer.


def test_wrong_code(tmp_path, cli_portal):
    url = cli_portal.webhook_url.rsplit("/", 2)[0] + "/wrongcode123/"
    result = run_cli(tmp_path, env={"SOURCES__BITRIX24__WEBHOOK_URL": url})
    assert_clean_failure(result, tmp_path, "rejected the webhook", "Create a new inbound webhook")
    assert "wrongcode123" not in result.stderr


def test_unreachable_host(tmp_path):
    # nothing listens on this loopback port
    result = run_cli(tmp_path, env={"SOURCES__BITRIX24__WEBHOOK_URL": "http://127.0.0.1:9/rest/1/abcdef123456/"})
    assert_clean_failure(result, tmp_path, "Could not reach", "webhook_url")


def test_url_that_answers_html(tmp_path):
    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rest/1/abcdef123456/"
        result = run_cli(tmp_path, env={"SOURCES__BITRIX24__WEBHOOK_URL": url})
    finally:
        server.shutdown()
    assert_clean_failure(result, tmp_path, "Could not reach the Bitrix24 REST API", "HTML")


def test_deleted_portal(tmp_path):
    with SimPortal(size=20, seed=2, rate_limit=None) as portal:
        portal.options.portal_deleted = True
        result = run_cli(tmp_path, env={"SOURCES__BITRIX24__WEBHOOK_URL": portal.webhook_url})
    assert_clean_failure(result, tmp_path, "deleted or is closed")


@pytest.mark.parametrize(
    "key, value, phrase",
    [
        ("DEAL_CATEGORY_IDS", "[1, 77]", "does not have: 77"),  # only the portal knows its pipelines
    ],
)
def test_bad_options(tmp_path, cli_portal, key, value, phrase):
    result = run_cli(tmp_path, env={"SOURCES__BITRIX24__WEBHOOK_URL": cli_portal.webhook_url,
                                    f"SOURCES__BITRIX24__{key}": value})
    assert_clean_failure(result, tmp_path, phrase)


def test_streams_flag_loads_only_those(tmp_path, cli_portal):
    result = run_cli(tmp_path, "--streams", "deals,deal_products,statuses",
                     env={"SOURCES__BITRIX24__WEBHOOK_URL": cli_portal.webhook_url})
    assert result.returncode == 0, result.stderr
    assert "deals" in result.stdout and "statuses" in result.stdout and "contacts " not in result.stdout
    assert "deal_products" in result.stdout  # naming a sub-resource stream switches it on
    assert (tmp_path / "bitrix24.duckdb").exists()


@pytest.mark.parametrize("option, value, phrase", [
    ("overload_block", 503, "blocked REST access"),
    ("overload_block", True, "blocked REST access"),
    ("no_subscription", True, "paid plan"),
])
def test_blocked_portals_fail_at_once(tmp_path, option, value, phrase):
    with SimPortal(size=20, seed=2, rate_limit=None) as portal:
        setattr(portal.options, option, value)
        result = run_cli(tmp_path, env={"SOURCES__BITRIX24__WEBHOOK_URL": portal.webhook_url}, timeout=60)
    assert_clean_failure(result, tmp_path, phrase)


def test_a_duckdb_out_of_memory_load_names_the_setting_to_raise():
    import duckdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import bitrix24_pipeline

    try:
        try:
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 16.0 MiB")
        except duckdb.OutOfMemoryException as inner:
            raise RuntimeError("Pipeline execution failed at stage load") from inner
    except RuntimeError as outer:
        cause = bitrix24_pipeline._expected_cause(outer)
    assert cause is not None
    assert "memory_limit" in str(cause) and "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG" in str(cause)
    assert "512MB" in str(cause)
