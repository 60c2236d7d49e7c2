"""Scenario 4: pyinfra's control-plane cost for a fleet larger than this machine can hold.

1. deploy ``bench-1`` for real (pyinfra), then record a no-op deploy's commands and answers
   (``bench.record_facts``);
2. translate the answers to ``fleet-001``..``fleet-N`` (``bench.fleet_canned``), untimed;
3. time the real CLI, ``pyinfra -y bench/fleet_inventory.py deploy/main.py``, on N simulated
   hosts answering instantly (``@fake`` connector, no delay): wall time, per-host cost and the
   process's peak RSS. Each run must end with 0 changes and 0 errors on every host.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import reload
from pathlib import Path

from bench import lab_hosts
from bench.deploys import REPO, pyinfra_changes, run_tool
from bench.fleet_canned import write_fleet
from bench.timing import run_timed

BIN = Path(sys.executable).parent


def prepare(max_hosts: int, work: Path, log) -> Path:
    os.environ["TGI_LAB_STATE_DIR"] = str(lab_hosts.bench_state_dir())
    lab_hosts.up(["bench-1"], fresh=False)  # kept when it runs, else started bare
    timed, changes = run_tool("pyinfra", 1)  # make sure bench-1 is deployed by us
    if timed.returncode != 0:
        raise RuntimeError(f"deploying bench-1 for the recording failed:\n{timed.output[-3000:]}")
    canned_path = work / "canned.json"
    env = dict(os.environ, BENCH_HOSTS="1")
    rec = run_timed(
        [sys.executable, "-m", "bench.record_facts", str(canned_path)], env=env, cwd=str(REPO)
    )
    if rec.returncode != 0 or pyinfra_changes(rec.output) != 0:
        raise RuntimeError(f"the recording run was not a clean no-op:\n{rec.output[-3000:]}")
    os.environ["BENCH_HOSTS"] = "1"
    import bench.inventory as inv

    name, data = reload(inv).bench[0]
    canned = json.loads(canned_path.read_text())
    log({"recorded_commands": len(canned), "from": name})
    return write_fleet(canned, name, data, max_hosts, work / "fleet.json")


def measure(sizes: list[int], reps: int, work: Path, log) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    fleet_file = prepare(max(sizes), work, log)
    canned = json.loads((work / "canned.json").read_text())
    samples = []
    for rep in range(1, reps + 1):
        for n in sizes:
            env = dict(os.environ, BENCH_FLEET_FILE=str(fleet_file), BENCH_FLEET_HOSTS=str(n))
            argv = [str(BIN / "pyinfra"), "-y", "bench/fleet_inventory.py", "deploy/main.py"]
            timed = run_timed(argv, env=env, cwd=str(REPO))
            (work / f"fleet-n{n}-r{rep}.log").write_text(timed.output)
            changes = pyinfra_changes(timed.output)
            samples.append(
                {
                    "hosts": n,
                    "rep": rep,
                    "wall_s": round(timed.wall_s, 3),
                    "per_host_ms": round(timed.wall_s / n * 1000, 2),
                    "max_rss_kb": timed.max_rss_kb,
                    "returncode": timed.returncode,
                    "changes": changes,
                    "valid": timed.returncode == 0 and changes == 0,
                }
            )
            log(samples[-1])
    return {"recorded_commands": len(canned), "samples": samples}
