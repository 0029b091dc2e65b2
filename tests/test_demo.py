"""`--demo` shows incremental loading: a full load, a few edits on the simulated portal, then an
incremental run that loads only the changed rows and applies the deletions; and the README's
"Looking at the data" commands work on what the demo wrote, with nothing more installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# one module fixture does the costly work: under xdist (`--dist loadgroup`) the module stays on one
# worker, so it runs once, not once per worker
pytestmark = pytest.mark.xdist_group("test_demo")

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
LOOKING = README[README.index("### Looking at the data"):README.index("## Types")]


def env_for(tmp_path: Path) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    environ["DLT_DATA_DIR"] = str(tmp_path / "dlt_data")
    return environ


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    result = subprocess.run([sys.executable, str(ROOT / "bitrix24_pipeline.py"), "--demo", "--demo-size", "300",
                             "--progress", "none"], cwd=folder, env=env_for(folder), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def block_value(stdout: str, label: str) -> str:
    block = stdout[stdout.index("Second run, incremental"):]
    return re.search(rf"^  {label}: (.*)$", block, flags=re.M).group(1)


def test_the_second_run_loads_only_the_changed_rows(demo):
    _, stdout = demo
    assert "First run (a full refresh of the demo pipeline)" in stdout
    changed = dict((t, int(n.replace(",", ""))) for t, n in
                   (item.rsplit(" ", 1) for item in block_value(stdout, "changed rows loaded").split(", ")))
    assert changed["deals"] == 7, "5 edited deals and 2 new ones"
    assert changed["contacts"] == 3
    assert not {"leads", "companies", "activities", "products", "calls"} & set(changed), changed
    assert block_value(stdout, "deletions applied") == "deals 2"
    assert int(block_value(stdout, "HTTP requests")) <= 60, "an incremental run makes a handful of requests"
    second = stdout[stdout.index("\nSecond run:\n"):]
    deals = next(line for line in second.splitlines() if line.startswith("deals "))
    assert deals.split()[1] == "7", deals  # the summary agrees: no delete-marker rows counted


def test_the_readme_python_snippet_runs_after_the_demo(demo):
    folder, _ = demo
    snippet = re.search(r"```python\n(.*?)```", LOOKING, flags=re.S).group(1)
    result = subprocess.run([sys.executable, "-c", snippet], cwd=folder, env=env_for(folder),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "('deals', " in result.stdout and "WON" in result.stdout


def test_the_readme_sql_one_liner_runs_after_the_demo(demo):
    folder, _ = demo
    command = re.search(r"```bash\n\.venv/bin/python -c \"(.*?)\"\n```", LOOKING, flags=re.S).group(1)
    result = subprocess.run([sys.executable, "-c", command], cwd=folder, env=env_for(folder),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stage_id" in result.stdout and "WON" in result.stdout
