"""The GPU proof's command and verdict: the GPUs a container sees are the host's GPUs.

NVIDIA's toolkit e2e tests (nvidia-container-toolkit, tests/e2e/nvidia-container-toolkit_test.go)
expect the container's ``nvidia-smi -L`` (a line per GPU with its UUID) to equal the host's; a
count alone passes a container
that sees other GPUs (or the same number of wrong ones). The deploy compares UUIDs: the host's
come from the ``NvidiaGpus`` fact (``--query-gpu=...,uuid``), the container's from
``nvidia-smi --query-gpu=uuid --format=csv,noheader``. The smoke host checks run the same query
inside each service's container and compare it the same way (``expected_uuids``: the host GPUs
a service with device ids is given).
"""

from __future__ import annotations

import re
import shlex

PROOF_QUERY = "nvidia-smi --query-gpu=uuid --format=csv,noheader"
# GPU-<uuid> (MIG devices print MIG-<uuid>)
_UUID_RE = re.compile(r"^(GPU|MIG)-[0-9A-Fa-f-]+$")


def proof_command(image: str) -> str:
    return f"docker run --rm --gpus all {shlex.quote(image)} {PROOF_QUERY}"


def container_uuids(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if _UUID_RE.match(line.strip())]


def expected_uuids(host_gpus: list[dict], ids: list[int] | None) -> list[str]:
    """UUIDs of the host GPUs (records of ``tgi_infra.host.reading.parse_nvidia_smi_csv``) a
    container
    given ``ids`` (``--gpus device=...``, nvidia-smi indexes; None: all) must see."""
    return [g["uuid"] for g in host_gpus if ids is None or g["index"] in ids]


def compare_gpu_uuids(host: list[str], container_lines: list[str]) -> str | None:
    """None when the container sees exactly the host's GPUs; else what differs."""
    seen = container_uuids(container_lines)
    want, got = set(host), set(seen)
    if want == got:
        return None
    parts = [f"the container saw {len(got)} GPU(s), the host has {len(want)}"]
    if want - got:
        parts.append("missing in the container: " + ", ".join(sorted(want - got)))
    if got - want:
        parts.append(
            "not on the host: "
            + ", ".join(sorted(got - want))
            + " (host: "
            + ", ".join(sorted(want))
            + ")"
        )
    return "; ".join(parts)
