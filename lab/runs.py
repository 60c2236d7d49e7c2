"""Runs of the real CLIs against the lab, as the lab tests and ``lab up --deploy`` make them.

The deploy's secrets (an HF_TOKEN canary, the API key) are in ``lab_env()``, never in the
calling process's os.environ: the tests look for the canary everywhere it must not be.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST_DEPLOY = "first-deploy.json"  # in the state directory: what ``lab up --deploy`` ran

# A canary HF token: the tests look for it everywhere it must not be.
HF_TOKEN_CANARY = "hf_LabCanaryToken0123456789abcdefXYZ"
API_KEY = "lab-api-key-5f0c2e"


@dataclass
class DeployRun:
    returncode: int
    output: str

    def totals(self) -> dict[str, int]:
        """pyinfra's "Grand total" line: operations, success (changed), error, no change."""
        m = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", self.output)
        if not m:
            raise AssertionError(f"no results table in pyinfra output:\n{self.output[-3000:]}")

        def n(x: str) -> int:
            return 0 if x == "-" else int(x)

        return dict(zip(("ops", "changed", "error", "no_change"), map(n, m.groups()), strict=True))


def lab_env(overrides: dict | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_TOKEN=HF_TOKEN_CANARY, TGI_LAB_API_KEY=API_KEY)
    if overrides:
        env["TGI_LAB_OVERRIDES"] = json.dumps(overrides)
    env.update(extra)
    return env


def run_deploy(
    overrides: dict | None = None, timeout: int = 900, *, args: Sequence[str] = (), **extra: str
) -> DeployRun:
    """The real pyinfra CLI against inventories/lab.py, as a user runs it (``args`` before the
    inventory: ``-vvv``, ``--limit HOST``)."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), "-y", *args, "inventories/lab.py", "deploy/main.py"],
        cwd=REPO,
        env=lab_env(overrides, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return DeployRun(proc.returncode, proc.stdout + proc.stderr)


def run_smoke(*args: str, overrides: dict | None = None, timeout: int = 600):
    return subprocess.run(
        [sys.executable, "-m", "smoke", "--inventory", "inventories/lab.py", *args],
        cwd=REPO,
        env=lab_env(overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def first_deploy(state_dir: str | Path) -> DeployRun:
    """The lab's first deploy: ``run_deploy()``, its result kept in the state directory."""
    run = run_deploy()
    (Path(state_dir) / FIRST_DEPLOY).write_text(json.dumps(asdict(run)))
    return run


def recorded_first_deploy(state_dir: str | Path) -> DeployRun | None:
    """The first deploy ``lab up --deploy`` ran on this lab, taken once (None when none)."""
    path = Path(state_dir) / FIRST_DEPLOY
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    path.unlink()
    return DeployRun(**raw)
