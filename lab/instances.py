"""The lab instance of each pytest-xdist worker: ``pytest lab -n 3`` runs on three labs.

A worker's lab is its own instance (``TGI_LAB_INSTANCE``: network, infra, hosts, volumes, image
tags; lab/lab.py) with its own state directory, both named after the worker (``gw0``, ...;
after the caller's instance when one is set: ``me-gw0``). lab/conftest.py applies this in each
worker before any test module imports ``lab.lab`` (which reads them at import);
``python -m lab up --workers N`` brings the same labs up ahead of the run (scripts/test.sh does
while the unit tests run). Standard library only: imported before anything of the lab.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker_names(count: int) -> list[str]:
    """pytest-xdist's worker ids for ``-n count``."""
    return [f"gw{i}" for i in range(count)]


def worker_env(worker: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``TGI_LAB_INSTANCE`` and ``TGI_LAB_STATE_DIR`` of ``worker``'s lab."""
    environ = os.environ if environ is None else environ
    base = environ.get("TGI_LAB_INSTANCE", "")
    state = Path(environ.get("TGI_LAB_STATE_DIR", REPO / "lab" / ".state"))
    return {
        "TGI_LAB_INSTANCE": f"{base}-{worker}" if base else worker,
        "TGI_LAB_STATE_DIR": str(state.parent / f"{state.name}-{worker}"),
    }
