"""Scenarios 1 and 2: first provisioning and no-op re-run, this package vs Ansible, A/B.

For each repetition and host count, each tool in turn (pyinfra, ansible, pyinfra, ansible...)
gets the same bare hosts (removed and started again, not timed), then is timed on its first
provisioning and on ``noop_reps`` no-op re-runs. Every run's exit code and change count is kept:
a first run must succeed, a no-op must change nothing, or the sample is marked invalid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from bench import ansible_inventory, lab_hosts
from bench.timing import Timed, run_timed

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOOLS = ("pyinfra", "ansible")


def _env(n: int) -> dict[str, str]:
    env = dict(os.environ, BENCH_HOSTS=str(n), TGI_LAB_STATE_DIR=str(lab_hosts.bench_state_dir()))
    env.pop("HF_TOKEN", None)
    env["ANSIBLE_CONFIG"] = str(REPO / "bench/ansible/ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_path_dir())
    return env


def control_path_dir() -> Path:
    """Ansible's ControlPersist sockets: dropped whenever hosts start again (new containers
    behind the same addresses would otherwise be reached through a dead master connection)."""
    return lab_hosts.bench_state_dir() / "ansible-cp"


def pyinfra_changes(output: str) -> int | None:
    """Changed operations from pyinfra's "Grand total" row (ops, success, error, no change)."""
    m = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if not m:
        return None
    return 0 if m.group(2) == "-" else int(m.group(2))


def ansible_changes(output: str) -> int | None:
    """Sum of ``changed=`` over the PLAY RECAP (None when there is no recap)."""
    found = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M)
    return sum(map(int, found)) if found else None


def run_tool(tool: str, n: int) -> tuple[Timed, int | None]:
    env = _env(n)
    if tool == "pyinfra":
        argv = [str(BIN / "pyinfra"), "-y", "bench/inventory.py", "deploy/main.py"]
        timed = run_timed(argv, env=env, cwd=str(REPO))
        return timed, pyinfra_changes(timed.output)
    inv = lab_hosts.bench_state_dir() / "ansible" / f"n{n}"
    hosts = inv / "hosts.json"
    argv = [str(BIN / "ansible-playbook"), "-i", str(hosts), "site.yml"]
    timed = run_timed(argv, env=env, cwd=str(REPO / "bench/ansible"))
    return timed, ansible_changes(timed.output)


def _sample(kind: str, tool: str, n: int, rep: int, timed: Timed, changes: int | None) -> dict:
    valid = timed.returncode == 0 and changes is not None
    if kind == "noop":
        valid = valid and changes == 0
    return {
        "scenario": kind,
        "tool": tool,
        "hosts": n,
        "rep": rep,
        "wall_s": round(timed.wall_s, 3),
        "max_rss_kb": timed.max_rss_kb,
        "returncode": timed.returncode,
        "changes": changes,
        "valid": valid,
    }


def measure(
    sizes: list[int], reps: int, noop_reps: int, first_reps: dict[int, int], log, raw_path: Path
) -> list[dict]:
    samples: list[dict] = []
    logs = raw_path.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        os.environ["TGI_LAB_STATE_DIR"] = str(lab_hosts.bench_state_dir())
        names = lab_hosts.host_names(n)
        lab_hosts.remove([h for h in lab_hosts.host_names(lab_hosts.MAX_HOSTS) if h not in names])
        for rep in range(1, first_reps.get(n, reps) + 1):
            for tool in TOOLS:
                lab_hosts.up(names, fresh=True)  # bare hosts, not timed
                shutil.rmtree(control_path_dir(), ignore_errors=True)
                # addresses change when hosts start again: the Ansible inventory follows
                ansible_inventory.write(n, lab_hosts.bench_state_dir() / "ansible" / f"n{n}")
                timed, changes = run_tool(tool, n)
                (logs / f"{tool}-n{n}-r{rep}-first.log").write_text(timed.output)
                samples.append(_sample("first", tool, n, rep, timed, changes))
                log(samples[-1])
                for k in range(1, noop_reps + 1):
                    timed, changes = run_tool(tool, n)
                    (logs / f"{tool}-n{n}-r{rep}-noop{k}.log").write_text(timed.output)
                    samples.append(
                        _sample("noop", tool, n, (rep - 1) * noop_reps + k, timed, changes)
                    )
                    log(samples[-1])
                raw_path.write_text(json.dumps(samples, indent=1) + "\n")
    return samples
