"""The synthesized fleet (``bench/fleet_synth.py``) is what the fleet benchmark needs: hosts that
already hold what the deploy writes, so the real CLI changes nothing on them, and each is read
in the deploy's batched read alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_synthesized_fleet_deploys_as_a_clean_noop_of_two_commands_per_host(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench.fleet_synth", "time", "3", "--work", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sample = json.loads(run.stdout.strip().splitlines()[-1])
    assert sample["hosts"] == 3 and sample["valid"] and sample["changes"] == 0
    assert sample["max_commands_per_host"] == 2
    fleet = json.loads((tmp_path / "fleet.json").read_text())
    assert sorted(fleet["hosts"]) == ["@fake/fleet-001", "@fake/fleet-002", "@fake/fleet-003"]
    assert fleet["data"]["tgi_hub_check"] is False and fleet["data"]["tgi_gpus"] == "none"
