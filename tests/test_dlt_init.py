"""Reuse through `dlt init bitrix24 duckdb --location <repository>`, run for real.

`dlt init` reads a git repository laid out as dlt's verified sources are: `sources/bitrix24/` (the
package; every file but `requirements.txt` and caches is copied into the user's folder),
`sources/bitrix24_pipeline.py` (the example script, copied as is except that the string passed as
`destination=` is replaced by the chosen destination) and `sources/bitrix24/requirements.txt` (not
copied: its lines become the user's requirements.txt). The test builds such a repository from this
one, runs `dlt init` in an empty folder, then runs the generated `bitrix24_pipeline.py` there (no
`simportal`, no access to this repository) against a simulated portal through the webhook URL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from simportal import SimPortal

REPO = Path(__file__).resolve().parent.parent
DLT = [sys.executable, "-m", "dlt"]


def package_requirements() -> str:
    """The package's own requirements file, or the runtime lines of requirements.txt.

    dlt parses every non-empty line as a requirement: no comments, no `-r`.
    """
    own = REPO / "bitrix24" / "requirements.txt"
    text = own.read_text() if own.exists() else (REPO / "requirements.txt").read_text()
    return "\n".join(line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()) + "\n"


def git_repo(path: Path) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sources"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)


def sources_folder_repo(root: Path) -> Path:
    """A repository in dlt's verified-sources layout: a real `sources/` folder."""
    sources = root / "sources"
    shutil.copytree(REPO / "bitrix24", sources / "bitrix24", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "bitrix24_pipeline.py", sources / "bitrix24_pipeline.py")
    (sources / "bitrix24" / "requirements.txt").write_text(package_requirements())
    git_repo(root)
    return root


def this_repo_layout(root: Path) -> Path:
    """This repository's own layout: the package at the root and `sources` a link to the root."""
    shutil.copytree(REPO / "bitrix24", root / "bitrix24", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "bitrix24_pipeline.py", root / "bitrix24_pipeline.py")
    if not (root / "bitrix24" / "requirements.txt").exists():
        (root / "bitrix24" / "requirements.txt").write_text(package_requirements())
    (root / "sources").symlink_to(".", target_is_directory=True)
    git_repo(root)
    return root


def clean_env(tmp: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "PYTHONPATH"))}
    env.update(
        DLT_DATA_DIR=str(tmp / "dlt_home"),  # dlt's global folder: pipelines, repos, telemetry id
        RUNTIME__DLTHUB_TELEMETRY="false",
        GIT_CONFIG_NOSYSTEM="1",
        **extra,
    )
    return env


@pytest.mark.parametrize("layout", [sources_folder_repo, this_repo_layout], ids=["sources-folder", "sources-link"])
def test_dlt_init_copies_a_pipeline_that_loads_the_portal(tmp_path, layout):
    location = layout(tmp_path / "verified-sources")
    project = tmp_path / "project"
    project.mkdir()
    env = clean_env(tmp_path)

    init = subprocess.run([*DLT, "--non-interactive", "init", "bitrix24", "duckdb", "--location", str(location)],
                          cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0 and "Verified source bitrix24 was added" in init.stdout, (
        f"dlt init failed:\n{init.stdout}\n{init.stderr}"
    )

    copied = sorted(p.name for p in (project / "bitrix24").iterdir())
    skipped = {"requirements.txt", "py.typed", "__pycache__"}  # what dlt init leaves behind
    package = sorted(p.name for p in (REPO / "bitrix24").iterdir() if p.name not in skipped and p.suffix != ".pyc")
    assert copied == package, "the whole package is copied, nothing else"
    script = (project / "bitrix24_pipeline.py").read_text()  # dlt re-quotes the destination it writes
    assert script.replace("destination='duckdb'", 'destination="duckdb"') == (REPO / "bitrix24_pipeline.py").read_text()
    requirements = (project / "requirements.txt").read_text()
    for name in ("dlt[duckdb]", "requests", "pendulum"):
        assert name in requirements, requirements
    assert "[sources.bitrix24]" in (project / ".dlt" / "secrets.toml").read_text()
    assert (project / ".dlt" / "config.toml").exists() and (project / ".gitignore").exists()

    # The generated project on its own: its copy of the package, the webhook from the environment.
    with SimPortal(size=300, seed=21, rate_limit=None) as portal:
        env = clean_env(
            tmp_path,
            SOURCES__BITRIX24__WEBHOOK_URL=portal.webhook_url,
            SOURCES__BITRIX24__REQUESTS_PER_SECOND="100",
            SOURCES__BITRIX24__REQUEST_BURST="1000",
            SOURCES__BITRIX24__ENABLE_DEAL_PRODUCTS="true",
        )
        run = subprocess.run([sys.executable, "bitrix24_pipeline.py", "--progress", "none"], cwd=project, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"the generated pipeline failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        truth = sorted(int(r["ID"]) for r in portal.ground_truth("deal"))

    databases = list(project.glob("*.duckdb"))
    assert len(databases) == 1, f"one DuckDB file in the project folder: {databases}"
    with duckdb.connect(str(databases[0]), read_only=True) as con:
        schemas = [r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()]
        dataset = next(s for s in schemas if s.startswith("bitrix24"))
        deals = [r[0] for r in con.execute(f"select id from {dataset}.deals order by id").fetchall()]
        products = con.execute(f"select count(*) from {dataset}.deal_products").fetchone()[0]
    assert deals == truth and deals
    assert products > 0

    # Another destination: dlt init writes it into the script and adds its extra to the requirements.
    other = tmp_path / "project-postgres"
    other.mkdir()
    init = subprocess.run([*DLT, "--non-interactive", "init", "bitrix24", "postgres", "--location", str(location)],
                          cwd=other, env=clean_env(tmp_path), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    assert init.returncode == 0 and (other / "bitrix24_pipeline.py").exists(), f"{init.stdout}\n{init.stderr}"
    assert "destination='postgres'" in (other / "bitrix24_pipeline.py").read_text()
    dlt_line = [line for line in (other / "requirements.txt").read_text().splitlines() if line.startswith("dlt[")]
    assert dlt_line and "postgres" in dlt_line[0], dlt_line
    assert "[destination.postgres.credentials]" in (other / ".dlt" / "secrets.toml").read_text()
