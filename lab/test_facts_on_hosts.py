"""The facts and preflight on real, KNOWN hosts: the lab's, over SSH through pyinfra itself.

These replace unit tests that used to read the machine running them (its distro, its Docker,
its lack of GPU): a lab host is known - Debian bookworm, docker.io from the deploy, the
NVIDIA stand-in toolkit at the lab's pin, no GPU; ``lab-wsl-1`` has WSL's markers and no
systemd.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host import facts as f
from tgi_infra.host.preflight import NO_DRIVER_FIX, PreflightFacts, check_host, errors, preflight

from lab.inventory_data import lab_host_data


@pytest.fixture(scope="module")
def hosts(deployed_lab):
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all

    state_file = json.loads((Path(deployed_lab.state_dir) / "state.json").read_text())
    names = ["lab-linux-1", "lab-wsl-1"]
    data = {n: lab_host_data(state_file, deployed_lab.host(n).address) for n in names}
    inventory = Inventory(([(n, data[n]) for n in names], {}))
    state = State(inventory, Config())
    connect_all(state)
    assert not state.failed_hosts
    return {n: inventory.get_host(n) for n in names}


def test_platform_and_init(hosts):
    linux, wsl = (
        hosts["lab-linux-1"].get_fact(f.HostPlatform),
        hosts["lab-wsl-1"].get_fact(f.HostPlatform),
    )
    assert (linux["distro_id"], linux["version_id"], linux["codename"]) == (
        "debian",
        "12",
        "bookworm",
    )
    assert linux["wsl"] is False and linux["arch"] in ("amd64", "arm64")
    assert wsl["wsl"] is True and wsl["wsl_version"] == 2
    assert hosts["lab-linux-1"].get_fact(f.SystemdPid1) is True
    assert hosts["lab-wsl-1"].get_fact(f.SystemdPid1) is False


@pytest.mark.parametrize("name", ["lab-linux-1", "lab-wsl-1"])
def test_docker_gpu_toolkit_and_files(hosts, name):
    host = hosts[name]
    docker = host.get_fact(f.DockerState)
    assert docker["flavour"] == "docker.io" and docker["running"] is True
    assert "nvidia" in docker["runtimes"] and docker["cli_path"] == "/usr/bin/docker"
    assert host.get_fact(f.NvidiaGpus) == {
        "driver": False,
        "error": "nvidia-smi not found",
        "gpus": [],
        "nvidia_smi": None,
    }
    assert host.get_fact(f.NvidiaCtkVersion) == "1.17.7"
    assert host.get_fact(f.LinuxNvidiaDriverPackages) == []
    assert "nvidia" in host.get_fact(f.DaemonJson)["runtimes"]
    wsl_conf = host.get_fact(f.WslConf)
    if name == "lab-wsl-1":
        assert "service docker start" in f.wsl_conf_value(wsl_conf, "boot", "command")
    else:
        assert wsl_conf is None


def test_preflight_on_real_facts(hosts):
    gathered = PreflightFacts.gather(hosts["lab-linux-1"])
    cpu = load_host_config("lab-linux-1", {"tgi_gpus": "none", "tgi_services": []})
    problems, plan = check_host("lab-linux-1", cpu, gathered)
    assert errors(problems) == []
    assert plan.docker_flavour == "docker.io" and plan.dockerd_start == "systemd"
    gpu = load_host_config("lab-linux-1", {"tgi_services": [{"model_id": "org/m"}]})
    (problem,) = errors(preflight("lab-linux-1", gpu, gathered))
    assert problem.code == "no-driver" and problem.fix == NO_DRIVER_FIX
