"""Session fixtures of the lab tests: one fixture owns bring-up, the first deploy and teardown.

Like TGI's own integration-test launcher: the lab is started once per session, health-checked
(sshd on every host, infra ports), the real `pyinfra` CLI deploys ``inventories/lab.py`` over
SSH, and its output is kept for the tests (and printed when a deploy fails).
"""

from __future__ import annotations

import os
import subprocess

import pytest


def _worker_lab() -> None:
    """Under pytest-xdist (``pytest lab -n 3 --dist loadfile``) each worker runs on a lab of its
    own (lab/instances.py), set before any test module imports ``lab.lab``. Each test file runs
    whole on one worker: its tests share that worker's lab as they share the one lab of a
    serial run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        from lab.instances import worker_env

        os.environ.update(worker_env(worker))


_worker_lab()

# after _worker_lab(): the test modules import these from here
from lab.runs import (  # noqa: E402
    API_KEY,
    HF_TOKEN_CANARY,
    REPO,
    DeployRun,
    lab_env,
    recorded_first_deploy,
    run_deploy,
    run_smoke,
)
from lab.scheduling import pytest_xdist_make_scheduler  # noqa: E402,F401  (the hook)

__all__ = ["API_KEY", "HF_TOKEN_CANARY", "REPO", "DeployRun", "lab_env", "run_deploy", "run_smoke"]


def _docker_usable() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Seconds each lab test file took with 4 labs side by side on 2 cores (setup + call + teardown
# from `pytest lab -n 4 --dist loadfile --durations=0`): the files go to the labs longest first
# (`--no-loadscope-reorder`; a file not listed goes first), each lab taking its next file only
# once it is idle (lab/scheduling.py), so the labs end about together instead
# of one long file starting last.
FILE_SECONDS = {
    "test_fleet_changes.py": 209,
    "test_docker_restart.py": 205,
    "test_secrets_paths.py": 189,
    "test_faults.py": 188,
    "test_profiles.py": 182,
    "test_host_checks.py": 132,
    "test_lab.py": 125,
    "test_repo_changes_and_edge_configs.py": 122,
    "test_engines_lab.py": 55,
    "test_apt_locks.py": 43,
    "test_package_use.py": 12,
    "test_lab_down.py": 12,
    "test_local_lab.py": 11,
    "test_facts_on_hosts.py": 9,
    "test_smoke_load.py": 4,
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "lab/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.lab)
    items.sort(key=lambda item: -FILE_SECONDS.get(item.path.name, 10**6))  # stable: same file


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
    """The lab after a first, real deploy (fails the session with pyinfra's output): the one
    ``lab up --deploy`` ran on this lab ahead of the run (scripts/test.sh does, while the unit
    tests run), else run now.

    The deploy's secrets (HF_TOKEN canary, API key) are in ``lab_env()``, never in this
    process's os.environ: the unit tests that run after must not see them."""
    recorded = recorded_first_deploy(lab_state.state_dir)  # taken, so never seen twice
    reuse = os.environ.get("TGI_LAB_REUSE") == "1"  # else the hosts were just made bare
    first = recorded if reuse and recorded else run_deploy()
    if first.returncode != 0:
        pytest.fail(f"first deploy failed ({first.returncode}):\n{first.output[-6000:]}")
    lab_state.first_deploy = first
    return lab_state
