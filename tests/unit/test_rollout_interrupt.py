"""An interrupted rollout exits 130 and stops: ``python -m tgi_infra rollout``
runs pyinfra through ``tgi_infra.cli.deploy_runner.run_step``, not a plain ``subprocess.run``
(pyinfra 3
exits 0 on Ctrl-C, so the rollout would have gone on to the smoke checks and the next batch).

Real subprocesses, real SIGINT: the hosts are pyinfra's own ``@fake`` connector with a 15 s
delay per command, so the first batch's deploy is reliably in progress when the signal comes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tgi_infra.cli.deploy_runner import EXIT_INTERRUPTED

SERVICE = '"tgi_services": [{"name": "tgi-a", "model_id": "org/m"}]'


@pytest.fixture
def slow_fleet(tmp_path: Path) -> Path:
    inv = tmp_path / "slow.py"
    common = f'"fake_delay": 15, "fake_delay_jitter": 0, "tgi_gpus": "none", {SERVICE}'
    inv.write_text(f'hosts = [("@fake/slow-1", {{{common}}}), ("@fake/slow-2", {{{common}}})]\n')
    return inv


@pytest.mark.parametrize("whole_group", [True, False], ids=["ctrl-c", "kill-int-rollout"])
def test_rollout_exits_130_and_stops_when_interrupted(slow_fleet, tmp_path, whole_group):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgi_infra", "rollout", str(slow_fleet), "--batch", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a "terminal" to Ctrl-C
    )
    seen = ""
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    try:
        while "Loading: " not in seen:  # pyinfra runs the first batch's deploy file
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, f"rollout never deployed:\n{seen}"
            seen += line
        time.sleep(1.0)
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = seen + out
    assert proc.returncode == EXIT_INTERRUPTED == 130, out
    assert "interrupted: the deploy (pyinfra) stopped before it finished" in out, out
    # stopped: no smoke checks, no commit/rollback run, the second batch never started
    assert "batch 2/2" not in out and "swap_finish" not in out, out
    assert "untouched:   @fake/slow-2" in out and "interrupted: @fake/slow-1" in out, out
