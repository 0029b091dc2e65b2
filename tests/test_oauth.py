"""OAuth credentials end to end: real HTTP on loopback against the simulated portal's OAuth server
(simportal/oauth.py), loading into DuckDB; nothing of the client is mocked.

* access tokens expiring every ~1 s of portal time while several streams run: one refresh per expiry,
  no refresh token presented twice, data equal to the portal;
* a run that dies right after a refresh (SIGKILL at the first request with the new token, or a run that
  fails later): the next run starts from the stored pair, never from the spent configured token;
* a revoked refresh token, a wrong secret, an application removed mid-run: one line naming the key;
* exactly one of webhook_url and credentials.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dlt
import pytest
from conftest import FAST, SUBS, tick
from dlt.pipeline.exceptions import PipelineStepFailed
from test_faults import STREAMS, assert_matches_portal

from bitrix24 import ConfigurationError, OAuthError, bitrix24_source
from bitrix24.auth import make_client, resolve_auth
from bitrix24.client import latest_client
from bitrix24.oauth import parse_credentials
from simportal import SimPortal

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("domain", "client_id", "client_secret", "refresh_token", "oauth_server")


@pytest.fixture
def small_portal():
    with SimPortal(size=260, seed=21, rate_limit=None) as portal:
        yield portal


def credentials(app: dict, access_token: bool = False) -> dict:
    """What a user configures: the loopback portal needs its http:// scheme spelled out."""
    out = {key: app[key] for key in KEYS}
    out["domain"] = f"http://{app['domain']}"
    if access_token:
        out["access_token"] = app["access_token"]
    return out


def store_file(pipelines_dir: Path) -> Path:
    files = list((pipelines_dir / ".bitrix24_tokens").glob("*.json"))
    assert len(files) == 1, files
    return files[0]


def sync(portal, pipeline, creds, **kwargs):
    args = dict(FAST, streams=STREAMS, **SUBS)
    args.update(kwargs)
    return pipeline.run(bitrix24_source(credentials=creds, **args))


def speed_up_time(portal, seconds: float) -> None:
    """Every request a token authenticates moves the portal clock on by `seconds` (nothing sleeps)."""
    def on_event(kind, info):
        if kind == "use":
            tick(portal, seconds)
    portal.oauth.listeners.append(on_event)


def test_tokens_expiring_every_few_requests_under_parallel_streams(small_portal, make_pipeline):
    # A token lasts about five requests of portal time, whatever the thread: with 3 s of real time as
    # margin, a loaded machine (two suites side by side) does not expire a fresh token before its
    # own thread's retry three times in a row (0.4 s a use and 1 s failed there).
    small_portal.options.oauth_token_lifetime = 3.0
    app = small_portal.add_oauth_app()
    speed_up_time(small_portal, 0.6)
    pipeline = make_pipeline()
    sync(small_portal, pipeline, credentials(app, access_token=True), streams=None)  # every stream, side by side

    oauth = small_portal.oauth
    refreshes = oauth.of_kind("refresh")
    assert len(refreshes) >= 5, "the tokens should have expired several times mid-run"
    assert all(r.expired_access for r in refreshes), "a refresh replaced a token that had not expired"
    assert oauth.of_kind("refused") == [], "a spent refresh token was presented again"
    presented = [r.token for r in refreshes]
    assert len(presented) == len(set(presented)) and presented[0] == app["refresh_token"]
    assert [r.issued for r in refreshes[:-1]] == presented[1:], "each refresh uses the token of the one before"
    session = latest_client().webhook
    assert session.refreshes == len(refreshes)
    assert_matches_portal(pipeline, small_portal)
    saved = json.loads(store_file(Path(pipeline.pipelines_dir)).read_text())
    assert saved["refresh_token"] == refreshes[-1].issued


def test_threads_holding_one_expired_token_refresh_it_once(small_portal):
    """Eight threads call at the same moment, round after round, while tokens expire every few requests:
    one refresh per expiry; the threads that held the same expired token reuse the new one."""
    small_portal.options.oauth_token_lifetime = 1.0
    app = small_portal.add_oauth_app()
    speed_up_time(small_portal, 0.4)
    client = make_client(credentials(app, access_token=True), **FAST)
    start = threading.Barrier(8)

    def caller(n):
        for _ in range(6):
            start.wait(timeout=60)
            assert client.call("crm.deal.list", {"select": ["ID"], "start": -1})["result"] is not None

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(caller, range(8)))
    refreshes = small_portal.oauth.of_kind("refresh")
    assert len(refreshes) >= 5 and all(r.expired_access for r in refreshes)
    assert small_portal.oauth.of_kind("refused") == []
    assert client.webhook.refreshes == len(refreshes)
    assert client.webhook.reused >= 1, "no two threads ever held the same expired token"


def test_killed_right_after_a_refresh_then_run_again(small_portal, tmp_path):
    """The first run refreshes (no access token configured) and is SIGKILLed at its first request with
    the new token: the pair must be on disk by then, and the next run continues from it."""
    small_portal.options.oauth_token_lifetime = 600.0
    app = small_portal.add_oauth_app()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update({f"SOURCES__BITRIX24__CREDENTIALS__{k.upper()}": v for k, v in credentials(app).items()})
    env.update({"SOURCES__BITRIX24__REQUESTS_PER_SECOND": "100", "SOURCES__BITRIX24__REQUEST_BURST": "1000",
                "SOURCES__BITRIX24__ENABLE_DEAL_PRODUCTS": "true", "SOURCES__BITRIX24__ENABLE_DEAL_COMMENTS": "true",
                "SOURCES__BITRIX24__EXTRACT_DEAL_CONTACTS": "true", "DLT_DATA_DIR": str(tmp_path / "dlt_data")})
    command = [sys.executable, str(ROOT / "bitrix24_pipeline.py"), "--progress", "none", "--streams", ",".join(STREAMS)]
    child = {}

    def kill_at_first_use(kind, info):
        if kind == "use" and "pid" in child and not child.get("killed"):
            child["killed"] = True
            os.kill(child["pid"], signal.SIGKILL)

    small_portal.oauth.listeners.append(kill_at_first_use)
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child["pid"] = process.pid
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, "the first run should have been killed"
    small_portal.oauth.listeners.remove(kill_at_first_use)
    first = small_portal.oauth.of_kind("refresh")
    assert len(first) == 1 and first[0].token == app["refresh_token"]

    tick(small_portal, 700)  # the stored access token has expired too: the next run refreshes with R1
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    oauth = small_portal.oauth
    assert oauth.presented(app["refresh_token"]) == 1, "the spent configured refresh token was used again"
    assert oauth.presented(first[0].issued) == 1 and oauth.of_kind("refused") == []
    pipelines = tmp_path / "dlt_data" / "pipelines"
    saved = store_file(pipelines)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["refresh_token"] == oauth.of_kind("refresh")[-1].issued
    assert_matches_portal(dlt.attach("bitrix24", pipelines_dir=str(pipelines)), small_portal)


def test_a_run_failing_after_a_refresh_leaves_the_new_pair_for_the_next(small_portal, make_pipeline):
    app = small_portal.add_oauth_app()
    creds = credentials(app)  # no access token: the run refreshes at its first request
    pipeline = make_pipeline()
    small_portal.faults.add("500", times=10_000, after=3)
    with pytest.raises(PipelineStepFailed):
        sync(small_portal, pipeline, creds, max_retry_seconds=1, fail_fast=True)
    assert len(small_portal.oauth.of_kind("refresh")) == 1
    small_portal.faults.clear()
    tick(small_portal, 3700)  # the stored access token has expired: the next run refreshes with the stored pair
    sync(small_portal, pipeline, creds)
    oauth = small_portal.oauth
    assert oauth.presented(app["refresh_token"]) == 1 and oauth.of_kind("refused") == []
    assert oauth.of_kind("refresh")[1].token == oauth.of_kind("refresh")[0].issued
    assert_matches_portal(pipeline, small_portal)


def test_a_newly_configured_refresh_token_wins_over_the_store(small_portal, make_pipeline):
    """The application was authorized again: its new refresh token replaces the stored chain."""
    app = small_portal.add_oauth_app()
    pipeline = make_pipeline()
    sync(small_portal, pipeline, credentials(app), streams=["deals"])
    access, fresh = small_portal.oauth.install(small_portal.oauth.apps[app["client_id"]])
    tick(small_portal, 3700)
    sync(small_portal, pipeline, {**credentials(app), "refresh_token": fresh}, streams=["deals"])
    assert small_portal.oauth.presented(fresh) == 1 and small_portal.oauth.of_kind("refused") == []


def test_revoked_refresh_token_from_the_cli_is_one_line_naming_the_key(small_portal, tmp_path):
    app = small_portal.add_oauth_app()
    small_portal.oauth.revoke(app["refresh_token"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DLT_"))}
    env.update({f"SOURCES__BITRIX24__CREDENTIALS__{k.upper()}": v for k, v in credentials(app).items()})
    env["DLT_DATA_DIR"] = str(tmp_path / "dlt_data")
    result = subprocess.run([sys.executable, str(ROOT / "bitrix24_pipeline.py"), "--progress", "none"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "sources.bitrix24.credentials.refresh_token" in lines[0] and "invalid_grant" in lines[0]
    for secret in (app["refresh_token"], app["client_secret"], app["access_token"]):
        assert secret not in result.stderr + result.stdout
    assert not list(tmp_path.rglob("*.duckdb"))


def test_wrong_client_secret_names_its_key(small_portal, make_pipeline):
    app = small_portal.add_oauth_app()
    make_pipeline()
    with pytest.raises(OAuthError) as failure:
        bitrix24_source(credentials={**credentials(app), "client_secret": "not-the-secret"}, **FAST)
    text = str(failure.value)
    assert "sources.bitrix24.credentials.client_secret" in text and "invalid_client" in text
    assert "not-the-secret" not in text and "\n" not in text


def test_application_removed_mid_run_stops_the_whole_run(small_portal, make_pipeline):
    """Without fail_fast a failing stream is stopped alone; a refused refresh stops every stream."""
    small_portal.options.oauth_token_lifetime = 1.0
    app = small_portal.add_oauth_app()
    seen = []

    def remove_after_a_while(kind, info):
        seen.append(kind)
        if kind == "use" and seen.count("use") == 6:
            small_portal.oauth.uninstall(app["client_id"])

    small_portal.oauth.listeners.append(remove_after_a_while)
    pipeline = make_pipeline()
    with pytest.raises(PipelineStepFailed) as failure:
        sync(small_portal, pipeline, credentials(app, access_token=True))
    cause = failure.value
    while cause is not None and not isinstance(cause, OAuthError):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, OAuthError), failure.value
    assert "sources.bitrix24.credentials.client_secret" in str(cause) or "refresh_token" in str(cause)


def test_exactly_one_of_webhook_and_credentials(small_portal):
    app = small_portal.add_oauth_app()
    with pytest.raises(ConfigurationError, match="exactly one"):
        resolve_auth(small_portal.webhook_url, credentials(app))
    with pytest.raises(ConfigurationError, match="No Bitrix24 credentials"):
        resolve_auth(None, None)
    with pytest.raises(ConfigurationError, match="credentials.client_secret is not set"):
        resolve_auth(None, {"domain": "acme.bitrix24.com", "client_id": "x", "refresh_token": "y"})
    with pytest.raises(ConfigurationError, match="plain http"):
        parse_credentials({**credentials(app), "domain": "http://acme.bitrix24.com"})
    settings = parse_credentials({**credentials(app), "domain": "acme.bitrix24.com", "oauth_server": None})
    assert settings.base_url == "https://acme.bitrix24.com/rest/"
    assert settings.token_url == "https://oauth.bitrix.info/oauth/token/"
    assert app["client_secret"] not in repr(settings) and app["refresh_token"] not in repr(settings)


def test_oauth_from_environment_and_a_pluggable_store(small_portal, make_pipeline, monkeypatch):
    """dlt resolves [sources.bitrix24.credentials] from the environment; any load()/save() object can
    keep the pair (here a dict, as an Airflow Variable would)."""

    class DictStore:
        def __init__(self):
            self.saved = None

        def load(self):
            return self.saved

        def save(self, tokens):
            self.saved = dict(tokens)

    app = small_portal.add_oauth_app()
    for key, value in credentials(app).items():
        monkeypatch.setenv(f"SOURCES__BITRIX24__CREDENTIALS__{key.upper()}", value)
    store = DictStore()
    pipeline = make_pipeline()
    pipeline.run(bitrix24_source(streams=["deals"], token_store=store, **FAST))
    assert store.saved["refresh_token"] == small_portal.oauth.of_kind("refresh")[-1].issued
    assert not (Path(pipeline.pipelines_dir) / ".bitrix24_tokens").exists()
    client = make_client(credentials(app), token_store=store, **FAST)
    assert client.call("scope")["result"]
    with pytest.raises(ConfigurationError, match="OAuth credentials only"):
        make_client(small_portal.webhook_url, token_store=store)


def test_token_dir_keeps_the_pairs_outside_dlt_folders(small_portal, make_pipeline, tmp_path, monkeypatch):
    """BITRIX24_TOKEN_DIR (set by the Airflow DAGs, whose dlt folders are temporary): the rotated pair
    lands there, owner-only, and a run from a fresh pipelines dir continues from it."""
    folder = tmp_path / "tokens"
    monkeypatch.setenv("BITRIX24_TOKEN_DIR", str(folder))
    app = small_portal.add_oauth_app()
    creds = credentials(app)
    sync(small_portal, make_pipeline(), creds)
    files = list(folder.glob("*.json"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert app["refresh_token"] not in files[0].read_text()
    tick(small_portal, 3700)
    elsewhere = dlt.pipeline(pipeline_name="bx_elsewhere", pipelines_dir=str(tmp_path / "other_pipelines"),
                             destination=dlt.destinations.duckdb(str(tmp_path / "other.duckdb")), dataset_name="b")
    sync(small_portal, elsewhere, creds)  # another pipelines dir (a new task): the stored pair is used
    assert not (tmp_path / "pipelines" / ".bitrix24_tokens").exists()
    assert small_portal.oauth.presented(app["refresh_token"]) == 1 and small_portal.oauth.of_kind("refused") == []
