"""One host-probe layer: the smoke host checks' GPU check compares
the GPU UUIDs a service's container sees with the host's (as the deploy's GPU proof does,
``tgi_infra.host.gpu_proof``), not the number of ``nvidia-smi -L`` lines.

No GPU here: the host is a stand-in that answers the two commands the check runs with written
``nvidia-smi`` output (the host's from the recorded fixtures, read by the same parser as the
deploy's ``NvidiaGpus`` fact: ``tgi_infra.host.reading.parse_nvidia_smi_csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host.gpu_proof import PROOF_QUERY
from tgi_infra.host.reading import NVIDIA_SMI_QUERY, parse_nvidia_smi_csv
from tgi_infra.smoke import hostchecks as hc
from tgi_infra.smoke import hostchecks_parse as hp
from tgi_infra.smoke.hostchecks_connect import Connection

HOST_CSV = (Path(__file__).parent / "fixtures/nvidia/smi-8gpu-a100.csv").read_text()
UUIDS = [g["uuid"] for g in parse_nvidia_smi_csv(HOST_CSV.splitlines())]


@dataclass
class Out:
    rc: int
    stdout: str
    stderr: str = ""


class WrittenHost:
    """A testinfra-like host: the host's query, and the container's ``nvidia-smi`` UUIDs."""

    def __init__(self, inside: str, inside_rc: int = 0):
        self.inside, self.inside_rc, self.commands = inside, inside_rc, []

    def run(self, cmd: str) -> Out:
        self.commands.append(cmd)
        if cmd.startswith("docker exec ") and cmd.endswith(PROOF_QUERY):
            return Out(self.inside_rc, self.inside)
        if f"--query-gpu={NVIDIA_SMI_QUERY}" in cmd:
            return Out(0, HOST_CSV)
        return Out(127, "", f"unexpected command {cmd}")


def _probe(host: WrittenHost, gpus) -> tuple[hc._CheckedHost, object]:
    cfg = load_host_config(
        "gpu-1", {"tgi_services": [{"name": "tgi-a", "model_id": "org/m", "gpus": gpus}]}
    )
    p = hc._CheckedHost("gpu-1", cfg, host, Connection("gpu-1", None), hc.HostCheckSettings())
    p.docker_ok = True
    svc = cfg.tgi_services[0]
    p.containers = {svc.name: hp.ContainerInfo(svc.name, True, "running", 0, "t0", {}, 0)}
    hc.read_host_gpus(p)
    return p, svc


def test_all_gpus_by_uuid_pass():
    p, svc = _probe(WrittenHost("\n".join(reversed(UUIDS)) + "\n"), "all")
    assert p.gpu_count == 8
    assert "8 GPU(s)" in hc.check_gpus(p, svc)


def test_same_count_other_uuids_fail_naming_them():
    """The count check passed this: 8 GPUs inside, but not this host's."""
    other = [u[:-2] + "ff" for u in UUIDS]
    p, svc = _probe(WrittenHost("\n".join(other) + "\n"), "all")
    with pytest.raises(hc.Failed) as exc:
        hc.check_gpus(p, svc)
    assert other[0] in exc.value.found and UUIDS[0] in exc.value.found
    assert "not on the host" in exc.value.found


def test_device_ids_expect_those_host_gpus():
    p, svc = _probe(WrittenHost(f"{UUIDS[2]}\n{UUIDS[3]}\n"), [2, 3])
    assert "2 GPU(s)" in hc.check_gpus(p, svc)
    p, svc = _probe(WrittenHost(f"{UUIDS[0]}\n{UUIDS[1]}\n"), [2, 3])  # right count, wrong GPUs
    with pytest.raises(hc.Failed) as exc:
        hc.check_gpus(p, svc)
    assert UUIDS[2] in exc.value.found and "missing in the container" in exc.value.found


def test_nvidia_smi_failing_inside_fails_with_its_message():
    p, svc = _probe(WrittenHost("Failed to initialize NVML: Unknown Error\n", inside_rc=255), "all")
    with pytest.raises(hc.Failed) as exc:
        hc.check_gpus(p, svc)
    assert "exit 255" in exc.value.found and "Failed to initialize NVML" in exc.value.found
