"""The GPU proof compares the GPU UUIDs a container sees with the host's
(NVIDIA's toolkit e2e tests compare ``nvidia-smi -L`` / UUIDs inside and outside), not a count.

Host GPUs come from the recorded ``nvidia-smi --query-gpu`` fixtures through the real fact
parser; the container side is what ``nvidia-smi --query-gpu=uuid --format=csv,noheader``
prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tgi_infra.host import facts as f
from tgi_infra.host.gpu_proof import PROOF_QUERY, compare_gpu_uuids, proof_command

FIX = Path(__file__).parent / "fixtures"


def host_gpus(name: str) -> list[str]:
    lines = [f"{f.MARK}nvidia-smi /usr/bin/nvidia-smi", *(FIX / name).read_text().splitlines()]
    return [g["uuid"] for g in f.parse_nvidia_gpus([*lines, f"{f.MARK}rc 0"])["gpus"]]


EIGHT = host_gpus("nvidia/smi-8gpu-a100.csv")


def test_same_uuids_pass():
    assert compare_gpu_uuids(EIGHT, list(reversed(EIGHT))) is None


def test_same_count_but_other_gpus_fail():
    """The old count check passed this: 8 lines, but not this host's GPUs."""
    other = [u[:-2] + "ff" for u in EIGHT]
    problem = compare_gpu_uuids(EIGHT, other)
    assert problem is not None
    assert "not on the host" in problem and other[0] in problem and EIGHT[0] in problem


def test_missing_gpu_is_named():
    problem = compare_gpu_uuids(EIGHT, EIGHT[:7])
    assert problem is not None and EIGHT[7] in problem and "missing" in problem


def test_no_gpu_inside_fails():
    problem = compare_gpu_uuids(EIGHT[:1], ["No devices were found"])
    assert problem is not None and "0 GPU(s)" in problem


@pytest.mark.parametrize("noise", ["", "   ", "Unable to find image 'x' locally"])
def test_non_uuid_lines_are_ignored(noise):
    assert compare_gpu_uuids(EIGHT[:1], [noise, EIGHT[0]]) is None


def test_command_queries_uuids_in_a_container():
    cmd = proof_command("nvidia/cuda:12.4.1-base-ubuntu22.04")
    assert cmd.startswith("docker run --rm --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 ")
    assert cmd.endswith(PROOF_QUERY)
    assert PROOF_QUERY == "nvidia-smi --query-gpu=uuid --format=csv,noheader"


class _Output:
    def __init__(self, stdout: list[str]):
        self.stdout_lines, self.stderr_lines = stdout, []


class _RecordedHost:
    """Plays back what a GPU host printed (no GPU here); records the commands it was given."""

    name, print_prefix = "gpu-1", "[gpu-1] "

    def __init__(self, stdout: list[str]):
        self.stdout, self.commands = stdout, []

    def run_shell_command(self, cmd, **_kw):
        self.commands.append(cmd)
        return True, _Output(self.stdout)


def test_deploy_gpu_proof_refuses_other_gpus_of_the_same_count(monkeypatch):
    from pyinfra.api.exceptions import OperationError
    from tgi_infra.host import remote
    from tgi_infra.host.nvidia_toolkit import _gpu_proof

    # no pyinfra operation runs here: no sudo/su settings to pass on
    monkeypatch.setattr(remote, "connector_arguments", lambda state, host: {})

    other = [u[:-2] + "ff" for u in EIGHT]
    host = _RecordedHost(other)
    with pytest.raises(OperationError, match="not on the host"):
        _gpu_proof(None, host, "nvidia/cuda:12.4.1-base-ubuntu22.04", EIGHT)
    assert host.commands[0].endswith(PROOF_QUERY)
    _gpu_proof(None, _RecordedHost(EIGHT), "nvidia/cuda:12.4.1-base-ubuntu22.04", EIGHT)
