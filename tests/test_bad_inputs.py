"""Every bad input to bitrix24_pipeline.py: one `error:` line on stderr, a non-zero exit, no traceback,
nothing written (no .duckdb file), and no request made — each case fails before any network call.

The cases run in subprocesses, two at a time (one module fixture), each in its own folder as its
working directory: dlt reads `.dlt/` from there, so the broken TOML files are the ones written here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, NamedTuple, Tuple

import pytest

# one module fixture does the costly work: under xdist (`--dist loadgroup`) the module stays on one
# worker, so it runs once, not once per worker
pytestmark = pytest.mark.xdist_group("test_bad_inputs")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(ROOT / "bitrix24_pipeline.py")
# Nothing listens on port 9: a case that wrongly got as far as a request fails at once, not after a timeout.
URL = "http://127.0.0.1:9/rest/1/abcdef123456/"
CODE = "abcdef123456"


OAUTH = {f"SOURCES__BITRIX24__CREDENTIALS__{k}": v for k, v in (
    ("DOMAIN", "acme.bitrix24.com"), ("CLIENT_ID", "local.abc.123"), ("CLIENT_SECRET", CODE), ("REFRESH_TOKEN", CODE))}


class Case(NamedTuple):
    args: Tuple[str, ...] = ()
    env: Dict[str, str] = {}
    files: Dict[str, str] = {}  # path under the working directory -> content
    phrases: Tuple[str, ...] = ()


def key(name: str, value: str, *phrases: str) -> Case:
    """A bad value for one [sources.bitrix24] key, from the environment, with a valid webhook URL."""
    return Case(env={"SOURCES__BITRIX24__WEBHOOK_URL": URL, f"SOURCES__BITRIX24__{name}": value},
                phrases=phrases or (name.lower(),))


def url(value: str, *phrases: str) -> Case:
    return Case(env={"SOURCES__BITRIX24__WEBHOOK_URL": value}, phrases=phrases)


def arg(*args: str, phrases: Tuple[str, ...] = ()) -> Case:
    return Case(args=args, env={"SOURCES__BITRIX24__WEBHOOK_URL": URL}, phrases=phrases)


CASES: Dict[str, Case] = {
    # the webhook URL
    "no webhook": Case(phrases=("No Bitrix24 webhook is configured", "secrets.toml", "--demo")),
    "url not a url": url("not a url", "webhook_url"),
    "url plain http": url(f"http://acme.bitrix24.com/rest/1/{CODE}/", "https://"),
    "url no user id": url(f"https://acme.bitrix24.com/rest/{CODE}/", "user id segment is missing"),
    "url no code": url("https://portal/rest/1/", "webhook code after the user id is missing"),
    "url method left on": url(f"https://acme.bitrix24.com/rest/1/{CODE}/crm.deal.list", "method name"),
    "url with a space": url(f"https://acme.bitrix24.com/rest/1/abc {CODE}/", "contains a space"),
    "url query string": url(f"https://acme.bitrix24.com/rest/1/{CODE}/?x=1", "query string"),
    # OAuth credentials instead of (never beside) a webhook
    "webhook and oauth both": Case(env={"SOURCES__BITRIX24__WEBHOOK_URL": URL, **OAUTH},
                                   phrases=("exactly one", "sources.bitrix24.credentials")),
    "oauth without refresh_token": Case(env={k: v for k, v in OAUTH.items() if not k.endswith("REFRESH_TOKEN")},
                                        phrases=("sources.bitrix24.credentials.refresh_token is not set",)),
    "oauth domain plain http": Case(env={**OAUTH, "SOURCES__BITRIX24__CREDENTIALS__DOMAIN": "http://acme.bitrix24.com"},
                                    phrases=("credentials.domain", "https://")),
    # values dlt cannot coerce to the key's type
    "request_timeout abc": key("REQUEST_TIMEOUT", "abc", "sources.bitrix24.request_timeout", "a number", "'abc'"),
    "requests_per_second text": key("REQUESTS_PER_SECOND", "fast", "sources.bitrix24.requests_per_second", "a number"),
    "deal_comments_refresh_runs negative": key("DEAL_COMMENTS_REFRESH_RUNS", "-2",
                                               "sources.bitrix24.deal_comments_refresh_runs", "0 to switch"),
    "enable_deal_products maybe": key("ENABLE_DEAL_PRODUCTS", "maybe", "enable_deal_products", "true or false"),
    "deal_category_ids plain x": key("DEAL_CATEGORY_IDS", "x", "sources.bitrix24.deal_category_ids", "[0, 3]"),
    "streams plain name": key("STREAMS", "nosuch", "sources.bitrix24.streams", '["deals", "contacts"]'),
    "sync_types not a table": key("SYNC_TYPES", "deals", "sources.bitrix24.sync_types"),
    # values of the right type that the source refuses
    "unknown stream": key("STREAMS", '["deals", "dealz"]', "Unknown stream(s) 'dealz'"),
    "deal_category_ids text": key("DEAL_CATEGORY_IDS", '["first"]', "deal_category_ids"),
    "deal_category_ids negative": key("DEAL_CATEGORY_IDS", "[-1]", "deal_category_ids"),
    "operating_time_threshold negative": key("OPERATING_TIME_THRESHOLD", "-5"),
    "requests_per_second absurd": key("REQUESTS_PER_SECOND", "100000"),
    "request_burst zero": key("REQUEST_BURST", "0"),
    "max_retry_seconds zero": key("MAX_RETRY_SECONDS", "0"),
    "request_timeout negative": key("REQUEST_TIMEOUT", "-1"),
    "start_date future": key("START_DATE", "2999-01-01", "in the future"),
    "start_date unparseable": key("START_DATE", "last tuesday", "not a date"),
    "end_date unparseable": Case(env={"SOURCES__BITRIX24__WEBHOOK_URL": URL, "SOURCES__BITRIX24__START_DATE": "2024-01-01",
                                      "SOURCES__BITRIX24__END_DATE": "end of march"},
                                 phrases=("sources.bitrix24.end_date 'end of march' is not a date",)),
    "end_date before start_date": Case(env={"SOURCES__BITRIX24__WEBHOOK_URL": URL, "SOURCES__BITRIX24__START_DATE": "2024-03-01",
                                            "SOURCES__BITRIX24__END_DATE": "2024-02-01"},
                                       phrases=("sources.bitrix24.end_date", "not after start_date")),
    "end_date without start_date": key("END_DATE", "2024-02-01", "sources.bitrix24.end_date", "needs start_date"),
    "labeled_views maybe": key("LABELED_VIEWS", "maybe", "sources.bitrix24.labeled_views", "true or false"),
    "sync_types bad kind": key("SYNC_TYPES", '{"deals": "sometimes"}', "sync_types.deals"),
    "sync_types incremental lookup": key("SYNC_TYPES", '{"statuses": "incremental"}', "cannot be \"incremental\""),
    "detect_deletes bad": key("DETECT_DELETES", "sometimes", "detect_deletes"),
    "spa ids not numbers": key("SPA_ENTITY_TYPE_IDS", '["x"]', "spa_entity_type_ids"),
    # broken .dlt files in the working directory
    "broken secrets.toml": Case(files={".dlt/secrets.toml": f'[sources.bitrix24]\nwebhook_url = "{URL}\nx = 1\n'},
                                phrases=(".dlt/secrets.toml", "not valid TOML", "line 2")),
    "broken config.toml": Case(files={".dlt/config.toml": "[sources.bitrix24\nrequest_timeout = 5\n"},
                               env={"SOURCES__BITRIX24__WEBHOOK_URL": URL},
                               phrases=(".dlt/config.toml", "not valid TOML", "line 1")),
    # the command line
    "--streams unknown": arg("--streams", "deals,dealz", phrases=("Unknown stream(s) 'dealz'",)),
    "--destination unknown": arg("--destination", "nosuchdest",
                                 phrases=("nosuchdest", "installed here: ", "duckdb", 'pip install "dlt[NAME]')),
    "--demo-size 0": arg("--demo", "--demo-size", "0", phrases=("--demo-size", "from 1 to")),
    "--demo-size negative": arg("--demo", "--demo-size", "-5", phrases=("--demo-size",)),
    "--demo-size absurd": arg("--demo", "--demo-size", "999999999", phrases=("--demo-size",)),
    "--demo-size text": arg("--demo", "--demo-size", "many", phrases=("--demo-size",)),
    "--progress unknown": arg("--progress", "fancy", phrases=("--progress 'fancy'", "log")),
    "--streams empty": arg("--streams", "", phrases=("--streams is empty",)),
    "--streams only commas": arg("--streams", ",", phrases=("--streams is empty",)),
    "--dataset empty": arg("--dataset", "", phrases=("--dataset is empty",)),
    "--destination empty": arg("--destination", " ", phrases=("--destination is empty",)),
    "--pipeline-name empty": arg("--pipeline-name", "", phrases=("--pipeline-name is empty",)),
    "--pipeline-name with a slash": arg("--pipeline-name", "a/b", phrases=("--pipeline-name 'a/b'", "letters")),
    "streams empty list": key("STREAMS", "[]", "sources.bitrix24.streams is an empty list"),
    "unknown option": arg("--nosuchflag", phrases=("unrecognized arguments: --nosuchflag",)),
    "--demo with unknown stream": Case(args=("--demo", "--demo-size", "30", "--streams", "dealz"),
                                       phrases=("Unknown stream(s) 'dealz'",)),
}
for backend in ("tqdm", "enlighten", "alive_progress"):
    if importlib.util.find_spec(backend) is None:  # the case needs the package to be missing
        CASES[f"--progress {backend} missing"] = arg("--progress", backend, phrases=(f"pip install {backend.replace('_', '-')}",))
if importlib.util.find_spec("google") is None:
    CASES["--destination not installed"] = arg("--destination", "bigquery", phrases=('pip install "dlt[bigquery]',))


def child_env(folder: Path, case: Case) -> Dict[str, str]:
    """The environment without any dlt setting of ours or the user's, plus the case's."""
    prefixes = ("SOURCES__", "DESTINATION__", "RUNTIME__", "LOAD__", "NORMALIZE__", "EXTRACT__", "DLT_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    environ["DLT_DATA_DIR"] = str(folder / "dlt_data")
    environ.update(case.env)
    return environ


def run_case(folder: Path, case: Case) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    progress = () if "--progress" in case.args else ("--progress", "none")
    return subprocess.run([sys.executable, SCRIPT, *progress, *case.args], cwd=folder, env=child_env(folder, case),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_case, root / f"case{i}", case) for i, (name, case) in enumerate(CASES.items())}
        return {name: (future.result(), root / f"case{i}") for i, (name, future) in enumerate(futures.items())}


def test_the_table_is_big_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_error_line(results, name):
    result, folder = results[name]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in CASES[name].phrases:
        assert phrase in lines[0], (phrase, lines[0])
    assert CODE not in result.stderr + result.stdout, "the webhook code must never be printed"
    assert not list(folder.rglob("*.duckdb")), "nothing may be written for bad input"
