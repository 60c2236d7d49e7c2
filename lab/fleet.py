"""The default lab fleet as the lab tests expect it (inventories/lab.py): hosts, services and
their engines, the toolkit packages, and small checks the lab tests share."""

from __future__ import annotations

import json
from pathlib import Path

from lab import lab
from lab.runs import run_deploy

REPO = Path(__file__).resolve().parents[1]

TOOLKIT = [
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
]


SERVICES = {
    "lab-linux-1": {"tgi-service": 8080, "tgi-small": 8081, "vllm-service": 8082},
    "lab-linux-2": {"tgi-service": 8080, "sglang-service": 8081},
    "lab-wsl-1": {"tgi-service": 8080},
}


# the engine of each service of SERVICES that is not TGI (inventories/lab.py)
ENGINES = {("lab-linux-1", "vllm-service"): "vllm", ("lab-linux-2", "sglang-service"): "sglang"}


def engine_of(host: str, svc: str) -> str:
    return ENGINES.get((host, svc), "tgi")


def container_ids(state) -> dict[tuple[str, str], str]:
    ids = {}
    for host, services in SERVICES.items():
        for svc in services:
            out = lab.exec_on(state, host, f"docker inspect -f '{{{{.Id}}}}' {svc}", check=False)
            ids[(host, svc)] = out.strip()
    return ids


def assert_ok(run, what: str) -> None:
    assert run.returncode == 0, f"{what} failed ({run.returncode}):\n{run.output[-5000:]}"


def only(*hosts: str) -> tuple[str, ...]:
    """pyinfra's arguments that limit a deploy of the lab inventory to ``hosts``."""
    return tuple(arg for host in hosts for arg in ("--limit", host))


def restore(*hosts: str) -> None:
    """The restoring deploy after a test: the lab inventory as written, on the hosts the test
    changed (every lab host when none is named; the others are as the first deploy left them),
    failing the test when it fails."""
    where = ", ".join(hosts) or "every lab host"
    assert_ok(run_deploy(args=only(*hosts)), f"restoring deploy ({where})")


def lab_services(host: str) -> list[dict]:
    """inventories/lab.py's services of ``host`` (what a user would edit)."""
    import runpy

    ns = runpy.run_path(str(REPO / "inventories/lab.py"))
    return json.loads(json.dumps(ns["_hosts"][host]["tgi_services"]))
