"""Shared fixtures of the unit tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.smoke_standin import StandIn


@pytest.fixture(scope="session")
def lab_base_image() -> str:
    """``tgi-lab/base:bookworm`` (debootstrap + docker import), built here when missing.

    Tests that run real containers use it instead of skipping on a fresh machine: the suite
    needs Docker Engine (scripts/setup.sh starts it).
    """
    from lab.images import ensure_base

    return ensure_base()


@pytest.fixture
def standins(tmp_path: Path) -> Iterator[list]:
    """Factory: standins.start(...) -> StandIn; all killed, and their logs shown, at the end."""
    started: list[StandIn] = []

    class Factory(list):
        def start(self, faults: str = "", api_key: str | None = None, **env: str) -> StandIn:
            s = StandIn(tmp_path, faults, api_key, **env)
            started.append(s)
            return s

    yield Factory()
    for s in started:  # signal all first: they shut down in parallel
        if s.proc.poll() is None:
            s.proc.terminate()
    for s in started:
        s.stop()
        # printed in teardown: pytest shows it only when the test failed
        print(f"--- stand-in {s.url} log ---\n{s.log_path.read_text(errors='replace')[-3000:]}")
