"""Shared fixtures of the unit tests."""

from collections.abc import Iterator
from pathlib import Path

import httpcore  # noqa: F401 - see below
import pytest

from tests.helpers.recorded_host import RecordedHost
from tests.helpers.smoke_standin import StandIn

# pytester's in-process runs (the smoke suite's pytest front end) drop, at teardown, every module
# first imported during the test. httpx imports httpcore lazily: imported here, it is never
# dropped, so httpx keeps mapping httpcore's errors (a dropped and re-imported httpcore raises
# ConnectError classes httpx no longer knows, and a refused connection escapes as httpcore's).


# Tests of the lab's and the bench's own tools (stand-ins, the NVIDIA mirror, the relay, the lab
# scheduler, bench helpers): the package is not what they test, so scripts/test.sh runs them
# once, not again at the runtime dependencies' floors (-m "not tooling" there).
TOOLING_FILES = {
    "test_bench.py",
    "test_bench_relay.py",
    "test_bench_remote_commands.py",
    "test_bench_settle.py",
    "test_engine_standin_images.py",
    "test_engine_standins.py",
    "test_lab_demo_note.py",
    "test_lab_exec.py",
    "test_lab_scheduling.py",
    "test_lab_up_reuse.py",
    "test_nvidia_ctk_standin.py",
    "test_nvidia_mirror.py",
    "test_standin_weights.py",
    "test_tgi_standin.py",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in TOOLING_FILES:
            item.add_marker(pytest.mark.tooling)


@pytest.fixture(scope="session")
def lab_base_image() -> str:
    """``tgi-lab/base:bookworm`` (debootstrap + docker import), built here when missing.

    Tests that run real containers use it instead of skipping on a fresh machine: the suite
    needs Docker Engine (scripts/setup.sh starts it). Built once when xdist workers ask at once
    (the image builders take a machine-wide lock, lab/images.py).
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


@pytest.fixture
def recorded(monkeypatch) -> RecordedHost:
    """A :class:`tests.helpers.recorded_host.RecordedHost`; no pyinfra operation runs: no
    sudo/su settings to pass on."""
    from tgi_infra.host import remote

    monkeypatch.setattr(remote, "connector_arguments", lambda state, host: {})
    return RecordedHost()
