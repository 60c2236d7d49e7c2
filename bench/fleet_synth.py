"""A simulated fleet without a recorded host: ``@fake/fleet-NNN`` hosts synthesized as deployed.

``bench/fleet.py`` records a real, deployed bench host's answers (needs Docker and the bench
lab). This builds the same kind of fleet from ``tests/noop_host.py``'s ``deployed_host``: each
host has the bench hosts' variables (``lab/inventory_data.py``: CPU mode, an image mirror, the
toolkit pinned, no Hub check) and one TGI service as ``bench/inventory.py``'s, and answers
every read with what the deploy would write, so a deploy of it changes nothing.

    python -m bench.fleet_synth write 500 /tmp/fleet.json    # untimed: build the answers
    python -m bench.fleet_synth time 100,500 [--reps 1]      # time the real CLI on them

``time`` runs the real pyinfra CLI, ``pyinfra -y bench/fleet_inventory.py deploy/main.py`` (the
file is in ``bench/fleet_inventory.py``'s format), under ``nice -n 19`` and through
``tests/fakehost.py`` (pyinfra's ``@fake`` connector answering the deploy's batched read, as a
recorded host's answers do) and prints wall seconds per size and the most commands a host ran;
each run must end with 0 changes and exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.deploys import REPO, pyinfra_changes
from bench.timing import run_timed

# what lab_host_data reads from a lab state file; addresses only, nothing is reached
STATE = {
    "ssh_key": "/dev/null",
    "registry": "registry.lab.invalid:5000",
    "nvidia_repo_url": "http://mirror.lab.invalid/libnvidia-container/stable/deb/$(ARCH)",
    "nvidia_gpgkey_url": "http://mirror.lab.invalid/libnvidia-container/gpgkey",
}


TOOLKIT = "1.17.8-1"  # tests/noop_host.py's installed toolkit (the lab pins 1.17.7-1)

# bench/inventory.py's SERVICE (that module reads a lab state file when imported)
SERVICE = {
    "name": "tgi-service",
    "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "port": 8080,
    "bind": "0.0.0.0",
}


def host_name(i: int) -> str:
    return f"@fake/fleet-{i:03d}"


def write_fleet(count: int, out: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from lab.inventory_data import lab_host_data
    from tests.noop_host import deployed_host

    data = {k: v for k, v in lab_host_data(STATE, "0.0.0.0").items() if not k.startswith("ssh_")}
    data["tgi_nvidia_toolkit_version"] = TOOLKIT  # what deployed_host's hosts have installed
    # deployed_host's daemon.json has the nvidia runtime only (no insecure registries)
    del data["tgi_docker_insecure_registries"]
    hosts = {}
    common = None
    for i in range(1, count + 1):
        name, host_data = deployed_host(host_name(i), [dict(SERVICE)], **data)
        hosts[name] = host_data.pop("fake_responses")
        common = host_data
    out.write_text(json.dumps({"data": common, "hosts": hosts}))
    return out


def time_fleet(sizes: list[int], reps: int, work: Path) -> list[dict]:
    fleet_file = write_fleet(max(sizes), work / "fleet.json")
    samples = []
    for rep in range(1, reps + 1):
        for n in sizes:
            env = dict(os.environ, BENCH_FLEET_FILE=str(fleet_file), BENCH_FLEET_HOSTS=str(n))
            report = work / f"fleet-n{n}-r{rep}.json"
            argv = ["nice", "-n", "19", sys.executable, "-m", "tests.fakehost", str(report)]
            argv += ["-y", "bench/fleet_inventory.py", "deploy/main.py"]
            timed = run_timed(argv, env=env, cwd=str(REPO))
            (work / f"fleet-n{n}-r{rep}.log").write_text(timed.output)
            changes = pyinfra_changes(timed.output)
            commands = json.loads(report.read_text())["commands"] if report.exists() else {}
            sample = {
                "hosts": n,
                "rep": rep,
                "wall_s": round(timed.wall_s, 2),
                "per_host_ms": round(timed.wall_s / n * 1000, 1),
                "max_rss_kb": timed.max_rss_kb,
                "returncode": timed.returncode,
                "changes": changes,
                "max_commands_per_host": max(map(len, commands.values()), default=None),
                "valid": timed.returncode == 0 and changes == 0,
            }
            print(json.dumps(sample), flush=True)
            samples.append(sample)
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet_synth")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write the fleet file (bench/fleet_inventory.py's format)")
    w.add_argument("count", type=int)
    w.add_argument("out", type=Path)
    t = sub.add_parser("time", help="time the real CLI on N synthesized hosts")
    t.add_argument("sizes", help="host counts, e.g. 100,500")
    t.add_argument("--reps", type=int, default=1)
    t.add_argument("--work", type=Path, default=None, help="keep the fleet file and logs here")
    args = p.parse_args(argv)
    if args.cmd == "write":
        write_fleet(args.count, args.out)
        return 0
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        samples = time_fleet(sizes, args.reps, args.work)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            samples = time_fleet(sizes, args.reps, Path(tmp))
    return 0 if all(s["valid"] for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
