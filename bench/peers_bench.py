"""This package vs the community's published Ansible roles (bench/peers/), A/B on bare hosts.

For each host count and repetition, each tool in turn (pyinfra, peers[, ansible]) gets the same
hosts removed and started again bare (not timed), is timed on its first provisioning, then on
``noop_reps`` no-op re-runs. Every run records its wall time, exit code, change count and the
peak memory of its whole process tree (``bench.timing.TreeSampler``: summed PSS, and the largest
single process as GNU time reports it, the way the fleet section measures). The machine's load
(``/proc/loadavg``) is recorded before and after each host count, and each timed run starts on a
quiet machine (``bench.machine.wait_until_idle``: the previous run's services done starting;
the wait, not timed, is the sample's ``settled_s``).

Tools: ``pyinfra`` (``pyinfra -y bench/inventory.py deploy/main.py``), ``peers`` (the published
roles: ``ansible-playbook bench/peers/site.yml``), ``ansible`` (our own port, bench/ansible/).

With ``rtts`` (``--rtt-ms 0,50``) every repetition is run once per round trip, each tool's SSH
(pyinfra's inventory ``ssh_hostname``/``ssh_port``, Ansible's ``ansible_host``/``ansible_port``)
going through bench/relay.py, which delays every chunk by rtt/2 each way; without, the tools reach
the hosts directly (``rtt_ms`` None). Every run also records, per host, the remote commands the
host's sshd started (bench/remote_commands.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench import machine, relay, remote_commands
from bench.deploys import BIN, REPO, _env, ansible_changes, control_path_dir, pyinfra_changes
from bench.timing import Timed, run_timed

TOOLS = ("pyinfra", "peers", "ansible")
PLAYBOOKS = {"peers": REPO / "bench/peers", "ansible": REPO / "bench/ansible"}
PEERS = REPO / "bench/peers"
MANIFEST = PEERS / "roles.sha256"


def vendored_mismatches(peers_dir: Path = PEERS) -> list[str]:
    """Files under ``peers_dir/roles`` that differ from, lack or are missing in roles.sha256.

    The manifest was written when the roles were copied from their published commits; an empty
    list means every role file is byte-for-byte what was vendored.
    """
    want = {}
    for line in (peers_dir / "roles.sha256").read_text().splitlines():
        digest, _, rel = line.partition("  ")
        want[rel] = digest
    have = {
        str(p.relative_to(peers_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((peers_dir / "roles").rglob("*"))
        if p.is_file()
    }
    bad = [f"changed: {r}" for r in sorted(want) if r in have and have[r] != want[r]]
    bad += [f"missing: {r}" for r in sorted(want) if r not in have]
    bad += [f"not in the manifest: {r}" for r in sorted(have) if r not in want]
    return bad


def loadavg() -> str:
    """``/proc/loadavg``'s three load averages (what ``uptime`` shows)."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def commit() -> str:
    """The checkout measured: ``git describe --always --dirty`` of the repository."""
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def run_tool(tool: str, n: int) -> tuple[Timed, int | None]:
    from bench import lab_hosts

    env = _env(n)
    if tool == "pyinfra":
        argv = [str(BIN / "pyinfra"), "-y", "bench/inventory.py", "deploy/main.py"]
        timed = run_timed(argv, env=env, cwd=str(REPO), tree_memory=True)
        return timed, pyinfra_changes(timed.output)
    play_dir = PLAYBOOKS[tool]
    env["ANSIBLE_CONFIG"] = str(play_dir / "ansible.cfg")
    hosts = lab_hosts.bench_state_dir() / "ansible" / f"n{n}" / "hosts.json"
    argv = [str(BIN / "ansible-playbook"), "-i", str(hosts), "site.yml"]
    timed = run_timed(argv, env=env, cwd=str(play_dir), tree_memory=True)
    return timed, ansible_changes(timed.output)


def sample(
    kind: str,
    tool: str,
    n: int,
    rep: int,
    timed: Timed,
    changes: int | None,
    rtt_ms: float | None = None,
    remote: dict[str, dict[str, int]] | None = None,
    settled_s: float | None = None,
) -> dict:
    valid = timed.returncode == 0 and changes is not None
    if kind == "noop":
        valid = valid and changes == 0
    return {
        "scenario": kind,
        "tool": tool,
        "hosts": n,
        "rep": rep,
        "rtt_ms": rtt_ms,
        "remote": remote,
        "settled_s": settled_s,  # waited for a quiet machine first (bench/machine.py)
        "wall_s": round(timed.wall_s, 3),
        "max_rss_kb": timed.max_rss_kb,
        "tree_pss_kb": timed.tree_pss_kb,
        "tree_rss_kb": timed.tree_rss_kb,
        "tree_procs": timed.tree_procs,
        "returncode": timed.returncode,
        "changes": changes,
        "valid": valid,
    }


@contextlib.contextmanager
def ssh_path(hosts: list, rtt_ms: float | None) -> Iterator[dict[str, int]]:
    """The tools' SSH path for one run: direct (``rtt_ms`` None), or through a relay adding
    ``rtt_ms``, announced to the inventories by ``BENCH_SSH_PORTS`` (bench/inventory.py)."""
    if rtt_ms is None:
        yield {}
        return
    with relay.running({h.name: (h.address, 22) for h in hosts}, rtt_ms) as ports:
        os.environ["BENCH_SSH_PORTS"] = json.dumps(ports)
        try:
            yield ports
        finally:
            os.environ.pop("BENCH_SSH_PORTS", None)


def _tag(rtt_ms: float | None) -> str:
    return "" if rtt_ms is None else f"-rtt{rtt_ms:g}"


def measure(
    sizes: list[int],
    reps: int,
    noop_reps: int,
    tools: list[str],
    command: str,
    log,
    raw_path: Path,
    rtts: list[float] | None = None,
) -> dict:
    """One run (one table in RESULTS.md), appended to ``raw_path`` sample by sample.

    ``rtts``: the added round trips in ms (each repetition runs once per value, through
    bench/relay.py); None reaches the hosts directly.
    """
    from bench import ansible_inventory, lab_hosts

    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise ValueError(f"--peers-tools: {unknown} not in {list(TOOLS)}")
    bad = vendored_mismatches()
    if bad:
        raise RuntimeError("bench/peers/roles differ from the vendored roles: " + "; ".join(bad))
    data = json.loads(raw_path.read_text()) if raw_path.exists() else {"runs": []}
    run = {
        "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "tools": tools,
        "rtts_ms": rtts,
        "load": [],
        "samples": [],
    }
    data["runs"].append(run)
    logs = raw_path.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tag = len(data["runs"])
    for n in sizes:
        os.environ["TGI_LAB_STATE_DIR"] = str(lab_hosts.bench_state_dir())
        names = lab_hosts.host_names(n)
        lab_hosts.remove([h for h in lab_hosts.host_names(lab_hosts.MAX_HOSTS) if h not in names])
        load = {"hosts": n, "before": loadavg(), "after": None}
        run["load"].append(load)
        for rep in range(1, reps + 1):
            for rtt in rtts or [None]:
                for tool in tools:
                    state = lab_hosts.up(names, fresh=True)  # bare hosts, not timed
                    counter = remote_commands.Counter({h.name: h.container for h in state.hosts})
                    for container in counter.containers.values():
                        remote_commands.enable(container)
                    shutil.rmtree(control_path_dir(), ignore_errors=True)
                    with ssh_path(state.hosts, rtt):
                        ansible_inventory.write(
                            n, lab_hosts.bench_state_dir() / "ansible" / f"n{n}"
                        )
                        for k in range(0, noop_reps + 1):
                            kind = "first" if k == 0 else "noop"
                            settled = machine.wait_until_idle()  # not timed
                            counter.start()
                            timed, changes = run_tool(tool, n)
                            remote = counter.stop()
                            name = "first" if k == 0 else f"noop{k}"
                            (
                                logs / f"peers{tag}-{tool}-n{n}-r{rep}{_tag(rtt)}-{name}.log"
                            ).write_text(timed.output)
                            num = rep if k == 0 else (rep - 1) * noop_reps + k
                            run["samples"].append(
                                sample(kind, tool, n, num, timed, changes, rtt, remote, settled)
                            )
                            log(run["samples"][-1])
                    raw_path.write_text(json.dumps(data, indent=1) + "\n")
        load["after"] = loadavg()
        raw_path.write_text(json.dumps(data, indent=1) + "\n")
    return data
