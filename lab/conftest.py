"""Session fixtures of the lab tests: one fixture owns bring-up, the first deploy and teardown.

Like TGI's own integration-test launcher: the lab is started once per session, health-checked
(sshd on every host, infra ports), the real `pyinfra` CLI deploys ``inventories/lab.py`` over
SSH, and its output is kept for the tests (and printed when a deploy fails).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# A canary HF token: the tests look for it everywhere it must not be.
HF_TOKEN_CANARY = "hf_LabCanaryToken0123456789abcdefXYZ"
API_KEY = "lab-api-key-5f0c2e"


def _docker_usable() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "lab/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.lab)


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


def run_deploy(overrides: dict | None = None, timeout: int = 900, **extra: str) -> DeployRun:
    """The real pyinfra CLI against inventories/lab.py, as a user runs it."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), "-y", "inventories/lab.py", "deploy/main.py"],
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


@pytest.fixture(scope="session")
def lab_state():
    if not _docker_usable():
        pytest.fail("Docker Engine is not usable: the lab tests need it (run .ci/run / setup)")
    from lab import lab

    state = lab.up(fresh=os.environ.get("TGI_LAB_REUSE") != "1")
    os.environ["TGI_LAB_STATE_DIR"] = state.state_dir
    yield state
    if os.environ.get("TGI_LAB_KEEP") != "1":
        lab.down(keep_caches=True)  # the next session reuses the apt and image caches


@pytest.fixture(scope="session")
def deployed_lab(lab_state):
    """The lab after a first, real deploy (fails the session with pyinfra's output).

    The deploy's secrets (HF_TOKEN canary, API key) are in ``lab_env()``, never in this
    process's os.environ: the unit tests that run after must not see them."""
    first = run_deploy()
    if first.returncode != 0:
        pytest.fail(f"first deploy failed ({first.returncode}):\n{first.output[-6000:]}")
    lab_state.first_deploy = first
    return lab_state
