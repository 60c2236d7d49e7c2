"""An interrupted deploy exits non-zero from the package's deploy wrapper (real subprocess,
real SIGINT), while plain pyinfra 3 exits 0 (its own handler; documented in the README).

The host is pyinfra's own ``@fake`` connector with a 15 s delay per command: the deploy is
reliably in progress (reading its first fact) when the signal comes; nothing is touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tgi_infra.cli.deploy_runner import EXIT_INTERRUPTED, deploy_file

IN_PROGRESS = "Loading: "  # pyinfra prints it when it starts running the deploy file


@pytest.fixture
def slow_inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "slow.py"
    inv.write_text('hosts = [("@fake/slow-1", {"fake_delay": 15, "fake_delay_jitter": 0})]\n')
    return inv


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYINFRA_YES", None)
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a "terminal" to Ctrl-C
    )


def _interrupt_in_progress(proc: subprocess.Popen, whole_group: bool) -> tuple[int, str]:
    """Wait until the deploy runs, send SIGINT (to the group like Ctrl-C, or to the process
    alone like ``kill -INT``), return (exit status, output)."""
    seen = ""
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while IN_PROGRESS not in seen:
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, f"deploy never started:\n{seen}"
        seen += line
    time.sleep(1.0)
    for _ in range(2):  # pyinfra may wait in "Disconnecting from hosts" for a second Ctrl-C
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=8)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, seen + out


def test_deploy_file_is_the_packages_main_py():
    path = deploy_file()
    assert path.name == "main.py" and path.is_file()
    assert "deploy_services" in path.read_text()


def test_plain_pyinfra_exits_0_on_ctrl_c(slow_inventory, tmp_path):
    """Upstream's behaviour the wrapper exists for (README: "Interrupting a deploy")."""
    proc = _start(
        [sys.executable, "-m", "pyinfra", "-y", str(slow_inventory), str(deploy_file())], tmp_path
    )
    rc, out = _interrupt_in_progress(proc, whole_group=True)
    assert "Exiting upon user request!" in out
    assert rc == 0, out


@pytest.mark.parametrize("whole_group", [True, False], ids=["ctrl-c", "kill-int-wrapper"])
def test_deploy_wrapper_exits_130_when_interrupted(slow_inventory, tmp_path, whole_group):
    # run from an unrelated directory: main.py is found through the package, not the cwd
    proc = _start(
        [sys.executable, "-m", "tgi_infra", "deploy", str(slow_inventory), "-y"], tmp_path
    )
    rc, out = _interrupt_in_progress(proc, whole_group=whole_group)
    assert rc == EXIT_INTERRUPTED == 130, out
    assert "interrupted: the deploy (pyinfra) stopped before it finished" in out


def test_deploy_wrapper_passes_a_failure_on(tmp_path):
    inv = tmp_path / "bad.py"
    inv.write_text('hosts = [("@fake/bad-1", {"tgi_gpus": "some", "fake_delay": 0})]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "tgi_infra", "deploy", str(inv), "-y"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "tgi_gpus" in proc.stdout + proc.stderr
