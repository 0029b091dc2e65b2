"""The simulated portal in its own process, driven through its control routes (simportal/control.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import requests

REPO = Path(__file__).resolve().parent.parent


def repo_env() -> Dict[str, str]:
    """Environment for child processes: the repository on PYTHONPATH, no stray dlt/bitrix24 config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("PYTHONHASHSEED", "0")
    env["RUNTIME__LOG_LEVEL"] = "WARNING"
    env["DLT_TELEMETRY_DISABLED"] = "1"
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    return env


class Sim:
    """`python -m simportal --control` in a subprocess; limits off until `limits(...)` turns them on."""

    def __init__(self, size: int, seed: int, workdir: Path, python: str = sys.executable) -> None:
        self.size, self.seed = size, seed
        workdir.mkdir(parents=True, exist_ok=True)
        info = workdir / f"sim_{size}.json"
        info.unlink(missing_ok=True)
        self.log = open(workdir / f"sim_{size}.log", "w")
        self.proc = subprocess.Popen(
            [python, "-m", "simportal", "--size", str(size), "--seed", str(seed), "--port", "0",
             "--rate", "off", "--operating-limit", "off", "--control", "--no-log", "--info-file", str(info)],
            cwd=REPO, env=repo_env(), stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 300
        while not info.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"simportal exited with {self.proc.returncode}; see {self.log.name}")
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("simportal did not start within 300 s")
            time.sleep(0.1)
        data = json.loads(info.read_text())
        self.webhook_url: str = data["webhook_url"]
        self.control_url: str = data["control_url"]
        self.build_s: float = data["build_s"]
        self.http = requests.Session()

    # ------------------------------------------------------------------ control
    def ctl(self, command: str, body: Optional[Dict[str, Any]] = None, **query: Any) -> Any:
        resp = self.http.post(self.control_url + command, json=body or {}, params=query or None, timeout=600)
        if resp.status_code != 200:
            raise RuntimeError(f"simportal control {command}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def info(self) -> Dict[str, Any]:
        return self.ctl("info")

    def reset(self) -> None:
        self.ctl("reset")

    def options(self, **values: Any) -> Dict[str, Any]:
        return self.ctl("options", values)

    def limits(self, scale: Optional[float]) -> None:
        """Bitrix cloud limits with time scaled by `scale` (None = limits off, no sleeping).

        Every simulated second becomes `scale` real seconds: commands sleep cost*scale, the bucket
        drains at 2/scale per second (burst 50), the operating window is 10 buckets of 60*scale s
        (the 480 s budget is counted in simulated seconds, so it is the same budget)."""
        if scale is None:
            self.options(rate_limit=None, operating_limit=None, cost_sleep_scale=0.0, operating_bucket_seconds=60.0)
        else:
            self.options(rate_limit=[2.0 / scale, 50], operating_limit=480.0, cost_sleep_scale=scale,
                         operating_bucket_seconds=60.0 * scale)
        self.reset()

    def stats(self) -> Dict[str, Any]:
        return self.ctl("stats")

    def requests(self, clear: bool = True) -> list:
        return self.ctl("requests", clear=1 if clear else 0)

    def touch(self, fraction: float, entities=None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"fraction": fraction}
        if entities:
            body["entities"] = list(entities)
        return self.ctl("touch", body)

    def advance(self, seconds: float) -> None:
        self.ctl("clock", {"advance": seconds})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> "Sim":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
