"""The lab tests' scheduler (lab/scheduling.py): a lab takes its next test file only once it is
idle, so a file never queues behind a long test on one lab while another lab waits.

Real pytest-xdist runs, two workers, four files in this order: A (two tests: one of 2 s, then
one instant), B (one test of 1 s), then C and D (instant). pytest-xdist's own loadfile
scheduler hands C to A's worker at once (two of A's tests pending), where C waits 2 s behind A
while B's worker is idle after 1 s; here C goes to the worker that is idle first: B's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FILES = {
    "test_a.py": "def test_a_long():\n    rec('a', 2)\n\n\ndef test_a_short():\n    rec('a', 0)\n",
    "test_b.py": "def test_b():\n    rec('b', 1)\n",
    "test_c.py": "def test_c():\n    rec('c', 0)\n",
    "test_d.py": "def test_d():\n    rec('d', 0)\n",
}
RECORDER = """
import json, os, time
from pathlib import Path

def rec(name, seconds):
    time.sleep(seconds)
    with open(Path(__file__).parent / "ran.jsonl", "a") as f:
        f.write(json.dumps([name, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
"""


def _workers_by_file(tmp_path: Path, conftest: str) -> dict[str, set[str]]:
    (tmp_path / "conftest.py").write_text(conftest)
    for name, body in FILES.items():
        (tmp_path / name).write_text("from conftest import rec\n\n\n" + body)
    (tmp_path / "conftest.py").write_text(conftest + RECORDER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    args = ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran: dict[str, set[str]] = {}
    for line in (tmp_path / "ran.jsonl").read_text().splitlines():
        name, worker = json.loads(line)
        ran.setdefault(name, set()).add(worker)
    return ran


def test_the_next_file_goes_to_the_lab_that_is_idle_first(tmp_path):
    ran = _workers_by_file(
        tmp_path, "from lab.scheduling import pytest_xdist_make_scheduler  # noqa: F401\n"
    )
    assert ran["a"] != ran["b"], ran
    assert ran["c"] == ran["b"], f"C queued behind A's long test: {ran}"


def test_pytest_xdists_own_scheduler_queues_the_file_behind_a_long_test(tmp_path):
    """The case the scheduler exists for, shown on pytest-xdist's own scheduler."""
    ran = _workers_by_file(tmp_path, "")
    assert ran["c"] == ran["a"], ran
