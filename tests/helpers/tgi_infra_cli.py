"""`tgi-infra` (python -m tgi_infra) run as a user runs it, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command as a user runs it; the Hub is not asked (HF_HUB_OFFLINE=1) unless ``env``
    names an endpoint (the Hub stand-in)."""
    base = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "tgi_infra", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env if env is not None else {"HF_HUB_OFFLINE": "1"})},
    )
