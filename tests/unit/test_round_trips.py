"""The cost of a deploy follows the work, not the inventory: a host that needs nothing costs a
few remote commands (the batched read of ``deploy/host/host_state.py``), whatever its number of
services, and the batched read answers each fact exactly as the fact's own command does.

* The real pyinfra CLI runs the real ``deploy/main.py`` on ``@fake`` hosts that already hold
  what the deploy writes (``tests/noop_host.py``): Debian with systemd and 1 (plus one
  removed), 3 (plus two docker users) and 8 services, an air-gapped site's host (image mirror
  as an insecure registry, toolkit mirror, pinned toolkit) with 2, a WSL2 distro without
  systemd with 3, and a host with two GPUs and 2 services; every command pyinfra runs on each host
  is counted (``tests/fakehost.py``). Without the batched read the same hosts needed 57, 107,
  232, 92 and 87 commands.
* A read the deploy makes but does not plan is read on its own: the count then grows with the
  services, and the test names the read.
* The snapshot command runs in a real ``sh`` here, on real files: each read's answer equals
  what the fact's own command prints (also for a file without a final newline, as
  ``json.dumps`` writes daemon.json), and its exit status is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyinfra.facts.files import Directory, File, FileContents, Sha1File
from tgi_infra.host import host_state
from tgi_infra.host.host_state import HostSnapshot, Read, chunks, parse_snapshot

REPO = Path(__file__).resolve().parents[2]
MAX_NOOP_COMMANDS = 5

INVENTORY = textwrap.dedent(
    """
    from tests.noop_host import deployed_host


    def services(n):
        return [
            {"name": f"svc{i}", "model_id": f"org/m{i}", "port": 8080 + i} for i in range(n)
        ]


    # a service the inventory removed (present: false), already gone from the host
    removed = {"name": "old", "model_id": "org/old", "present": False}
    hosts = [
        deployed_host("@fake/gpu-1", [*services(1), removed], tgi_hub_check=False),
        deployed_host(
            "@fake/gpu-3", services(3), tgi_hub_check=False, tgi_docker_users=["mlops", "ci"]
        ),
        deployed_host("@fake/gpu-8", services(8), tgi_hub_check=False),
        # an air-gapped site as the lab's hosts: image mirror over HTTP (an insecure registry
        # in daemon.json), the toolkit from a mirror, pinned
        deployed_host(
            "@fake/mirror-2",
            services(2),
            tgi_hub_check=False,
            tgi_image_mirror="mirror.lab:5000",
            tgi_docker_insecure_registries=["mirror.lab:5000"],
            tgi_nvidia_toolkit_repo_url="http://mirror.lab:8000/libnvidia-container",
            tgi_nvidia_toolkit_gpgkey_url="http://mirror.lab:8000/libnvidia-container/gpgkey",
            tgi_nvidia_toolkit_version="1.17.8-1",
        ),
        deployed_host("@fake/wsl-3", services(3), wsl=True, tgi_hub_check=False),
        # two GPUs, one per service: the runtime, /dev/char links, udev rule, CDI spec
        deployed_host(
            "@fake/nvidia-2",
            [{**s, "gpus": [i]} for i, s in enumerate(services(2))],
            gpus=2,
            tgi_hub_check=False,
        ),
    ]
    """
)

# the deploy with one of its reads left out of the plan (HttpStatus: each service's /health)
UNPLANNED_DEPLOY = textwrap.dedent(
    """
    from tgi_infra import deploys

    planned = deploys.planned_reads
    deploys.planned_reads = lambda cfg, plan=None: [
        r for r in planned(cfg, plan) if r.fact.__name__ != "HttpStatus"
    ]

    deploys.deploy_gpu_host()
    deploys.deploy_services()
    """
)


# a deployed host with 8 services, one file of which is not what the deploy writes (its sha1
# differs): the first service's tgi-service.sh, or its systemd unit
STALE = textwrap.dedent(
    """
    import os

    from tests.noop_host import deployed_host

    services = [{"name": f"svc{i}", "model_id": f"org/m{i}", "port": 8080 + i} for i in range(8)]
    name, data = deployed_host("@fake/stale", services, tgi_hub_check=False)
    stale = os.environ["STALE_FILE"]
    data["fake_responses"] = {
        f"sha1sum {stale} ": ["0" * 40 + f"  {stale}"],
        **data["fake_responses"],
    }
    hosts = [(name, data)]
    """
)


def run_deploy(
    tmp_path: Path, deploy_file: Path, inventory: str = INVENTORY, noop: bool = True, **env_vars
) -> dict:
    (tmp_path / "inventory.py").write_text(inventory)
    out = tmp_path / "commands.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_vars)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fakehost", str(out), "-y", "inventory.py", str(deploy_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    if noop:  # nothing changed on any host
        assert report["changed"] == {}, report["changed"]
    return report


def test_a_host_that_needs_nothing_costs_at_most_five_commands_whatever_its_services(tmp_path):
    report = run_deploy(tmp_path, REPO / "deploy/main.py")
    services = {"gpu-1": 1, "gpu-3": 3, "gpu-8": 8, "mirror-2": 2, "wsl-3": 3, "nvidia-2": 2}
    for short, n in services.items():
        name = f"@fake/{short}"
        commands = report["commands"][name]
        assert len(commands) <= MAX_NOOP_COMMANDS, (
            f"{name} ({n} services) needed {len(commands)} commands; read on their own: "
            f"{report['live'][name]}"
        )
        assert report["live"][name] == []  # every read answered by the batched read
        assert all(host_state.READ_MARK in c for c in commands)
        for command in commands:  # what the host's /bin/sh (dash on Debian, Ubuntu) parses
            check = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr


def test_a_read_left_out_of_the_plan_costs_a_command_per_service(tmp_path):
    deploy_file = tmp_path / "unplanned.py"
    deploy_file.write_text(UNPLANNED_DEPLOY)
    report = run_deploy(tmp_path, deploy_file)
    eight = report["commands"]["@fake/gpu-8"]
    assert len(eight) > MAX_NOOP_COMMANDS
    live = report["live"]["@fake/gpu-8"]
    assert len(live) == 8 and all("operations.HttpStatus" in r for r in live), live
    assert len(report["commands"]["@fake/gpu-1"]) == len(report["commands"]["@fake/gpu-3"]) - 2


def changed_ops(report: dict, host: str) -> list[str]:
    return [c.rsplit(" | ", 1)[-1] for c in report["changed"][host]]


def test_a_file_rewritten_in_a_service_directory_costs_its_write_and_no_read(tmp_path):
    stale = "/opt/tgi/svc0/tgi-service.sh"
    report = run_deploy(tmp_path, REPO / "deploy/main.py", STALE, noop=False, STALE_FILE=stale)
    assert changed_ops(report, "@fake/stale") == ["TGI service: rendered file"]
    commands = report["commands"]["@fake/stale"]
    assert all(host_state.READ_MARK in c for c in commands[:2])  # the snapshot, first
    writes = commands[2:]
    assert len(writes) == 2 and all(stale in c for c in writes)  # staging dir, then rename
    # the write ends the answers about that file only: the 7 other services' reads still hold
    assert report["live"]["@fake/stale"] == []


def test_once_an_operation_changed_the_host_elsewhere_later_reads_are_read_live(tmp_path):
    stale = "/etc/systemd/system/tgi-svc0.service"  # systemd reads it too: not confined
    report = run_deploy(tmp_path, REPO / "deploy/main.py", STALE, noop=False, STALE_FILE=stale)
    assert "TGI service: systemd unit" in changed_ops(report, "@fake/stale")
    commands = report["commands"]["@fake/stale"]
    assert all(host_state.READ_MARK in c for c in commands[:2])  # the snapshot, first
    assert not any(host_state.READ_MARK in c for c in commands[2:])
    write = next(i for i, c in enumerate(commands) if "mv -fT" in c and stale in c)
    # the operations after the write read what they decide from again, on the host
    live = report["live"]["@fake/stale"]
    assert live and all("exec=True valid=False" in r for r in live), live
    assert any("systemd.SystemdStatus" in r for r in live)
    assert len(commands) - write - 1 >= len(live)  # each read live after the write


def test_a_confined_write_ends_the_answers_about_its_path_and_the_directories_around_it():
    scope = frozenset({"/opt/tgi/a/x.sh", "/opt/tgi/a/.x.sh.tgi-tmp"})
    related = [
        Read(File, path="/opt/tgi/a/x.sh"),
        Read(Directory, path="/opt/tgi/a"),  # above: its entries changed
        Read(File, path="/opt/tgi/a/.x.sh.tgi-tmp/x.sh"),  # below the staging dir
    ]
    unrelated = [Read(File, path="/opt/tgi/a/y.sh"), Read(File, path="/opt/tgi/b/x.sh")]
    assert all(any(host_state._related(p, scope) for p in r.paths) for r in related)
    assert not any(host_state._related(p, scope) for r in unrelated for p in r.paths)


# -- the batched command, in a real shell ------------------------------------------------------


def sh(command: str) -> tuple[int, list[str]]:
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout.splitlines()


def test_each_read_of_the_batch_answers_as_its_own_command(tmp_path):
    present = tmp_path / "a file"
    present.write_text("content\n")
    present.chmod(0o640)
    # its access time after its change time: reading it (the batch's sha1sum) leaves it as is
    # (relatime), so the batch and the read alone see the same stat whenever each runs
    stat = present.stat()
    os.utime(present, (stat.st_mtime + 3600, stat.st_mtime))
    missing = tmp_path / "missing"
    # a file without a final newline (json.dumps writes daemon.json so): the read's last line
    # must not run into the marker that follows it
    unterminated = tmp_path / "daemon.json"
    unterminated.write_text('{\n    "a": 1\n}')
    blank_last = tmp_path / "blank-last"
    blank_last.write_text("a\n\n")
    reads = (
        Read(File, path=str(present)),
        Read(Sha1File, path=str(present)),
        Read(File, path=str(missing)),
        Read(Directory, path=str(tmp_path)),
        Read(FileContents, path=str(unterminated)),
        Read(FileContents, path=str(blank_last)),
        Read(FileContents, path=str(tmp_path / "empty")),
    )
    (tmp_path / "empty").write_text("")
    rc, lines = sh(HostSnapshot().command(reads))
    assert rc == 0
    answers = HostSnapshot().process(lines)
    for i, read in enumerate(reads):
        alone_rc, alone = sh(read.command())
        assert answers[i] == (alone_rc, alone), read
    rc_of_failing = parse_snapshot(sh(host_state.batched(0, "echo out; exit 3"))[1])
    assert rc_of_failing == {0: (3, ["out"])}


def test_a_read_cut_short_is_not_answered():
    lines = ["@@tgi-infra-read:0", "a", "@@tgi-infra-rc:0:0", "@@tgi-infra-read:1", "partial"]
    assert parse_snapshot(lines) == {0: (0, ["a"])}


def test_reads_of_the_same_fact_and_arguments_are_one_read():
    a, b = Read(File, "/etc/x"), Read(File, path="/etc/x")
    assert a.key == b.key
    assert host_state.unique([a, b, Read(File, path="/etc/y")]) == (a, Read(File, path="/etc/y"))


@pytest.mark.parametrize(("count", "commands"), [(1, 1), (400, 2)])
def test_a_batch_too_long_for_one_command_is_cut_into_several(count, commands):
    reads = tuple(Read(File, path=f"/opt/tgi/service-{i}/file") for i in range(count))
    parts = chunks(reads)
    assert sum(len(p) for p in parts) == count
    for part in parts:
        assert len(HostSnapshot().command(part)) < host_state.MAX_COMMAND_BYTES
    assert len(parts) == commands


def test_the_preflight_batch_runs_in_sh_here_and_answers_as_each_fact_alone():
    """The preflight's real reads (platform, systemd, Docker - running here -, nvidia-smi,
    daemon.json, dpkg) in one ``sh`` command on this machine: each fact's value from the
    batch is the value of its own command."""
    from tgi_infra.config import load_host_config
    from tgi_infra.host import preflight_step

    reads = tuple(preflight_step.reads(load_host_config("here", {"tgi_gpus": "none"})))
    rc, lines = sh(HostSnapshot().command(reads))
    assert rc == 0
    answers = HostSnapshot().process(lines)
    assert sorted(answers) == list(range(len(reads)))
    for i, read in enumerate(reads):
        alone_rc, alone = sh(read.command())
        status, out = answers[i]
        assert status == alone_rc, read
        fact = read.fact()
        assert (fact.process(out) if out else fact.default()) == (
            fact.process(alone) if alone else fact.default()
        ), read
