"""Smoke test of the benchmark (bench/): its own machinery at a tiny size, ours only, no timing assertions.

The benchmark itself is a script (`python bench/run.py`), never a CI test. This only checks that it
still runs end to end: the simulated portal in its own process, a full, an incremental and a
no-change run of the connector, the replay model, results.md. Skipped when bench/ is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "bench" / "run.py"


@pytest.mark.skipif(not RUN.exists(), reason="bench/ is not in this checkout")
def test_bench_runs_end_to_end_at_a_tiny_size(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--sizes", "300", "--contenders", "ours", "--no-limits",
         "--out", str(out), "--workdir", str(work)],
        cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    runs = results["sizes"]["300"]["runs"]
    assert set(runs) == {"ours:full", "ours:incr", "ours:noop"}
    full = runs["ours:full"]
    assert full["rows"] > 0 and full["requests"] > 0 and full["modelled_s"] > 0
    assert full["dest_rows"]["deals"] > 0 and full["dest_rows"]["deal_products"] > 0
    assert runs["ours:noop"]["requests"] <= 10
    text = (out / "results.md").read_text()
    assert "## Full sync" in text and "## Targets" in text
