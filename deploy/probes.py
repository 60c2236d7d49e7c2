"""The one host-probe layer: the commands, parsers and constants that read a host.

Used by the deploy's facts (``tgi_infra.facts``, pyinfra) and by the smoke host checks
(``tgi_infra.smoke.hostchecks*``, testinfra), so that both read a host the same way. This
module imports neither pyinfra nor testinfra: the host checks also run inside hosts with only
pydantic/jinja2/testinfra copied in.
"""

from __future__ import annotations

import json
import re
from typing import Any

# section marker printed between the parts of a multi-part command's output
MARK = "@@tgi-infra:"

DAEMON_JSON_PATH = "/etc/docker/daemon.json"
WSL_CONF_PATH = "/etc/wsl.conf"
WSL_LIB_DIR = "/usr/lib/wsl/lib"
# on WSL2 nvidia-smi comes from the Windows driver, mounted here (not on PATH for root)
WSL_NVIDIA_SMI = f"{WSL_LIB_DIR}/nvidia-smi"

NVIDIA_SMI_QUERY = "index,name,memory.total,driver_version,uuid"
NVIDIA_SMI_DRIVER_BROKEN = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA"
NVIDIA_SMI_NO_DEVICES = "No devices were found"

# the four packages of NVIDIA's install guide, pinned together
TOOLKIT_PACKAGES: tuple[str, ...] = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)

# labels on every container the deploy runs
LABEL_MANAGED = "tgi-infra.managed"
LABEL_HASH = "tgi-infra.config-hash"

# status names of a check (smoke checks, host checks, their JSON report)
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"

# systemd as PID 1: systemd's own sd_booted() test, plus PID 1's comm (see parse_systemd_pid1)
SYSTEMD_PID1_COMMAND = (
    'echo "pid1_comm=$(cat /proc/1/comm 2>/dev/null)"; '
    "if [ -d /run/systemd/system ]; then echo sd_booted=yes; else echo sd_booted=no; fi"
)


def _parse_mib(value: str) -> int | None:
    match = re.fullmatch(r"\s*(\d+)\s*(MiB)?\s*", value)
    return int(match.group(1)) if match else None


def parse_nvidia_smi_csv(lines: list[str]) -> list[dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,driver_version,uuid
    --format=csv,noheader`` lines, e.g. ``0, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15,
    GPU-...``. Raises ``ValueError`` on a line that is not such a record.
    """
    gpus = []
    for line in lines:
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5 or not fields[0].isdigit():
            raise ValueError(f"not an nvidia-smi CSV record: {line!r}")
        # a GPU name never contains a comma in practice; be safe and rejoin the middle
        index, *name_parts, memory, driver, uuid = fields
        gpus.append(
            {
                "index": int(index),
                "name": ", ".join(name_parts),
                "memory_mib": _parse_mib(memory),
                "driver_version": driver,
                "uuid": uuid,
            }
        )
    return gpus


class ProbeParseError(ValueError):
    """What a host printed (or a file it holds) cannot be parsed; the message names it."""


def parse_systemd_pid1(lines: list[str] | str) -> bool:
    """True when systemd is PID 1 (output of ``SYSTEMD_PID1_COMMAND``).

    ``/run/systemd/system`` being a directory is systemd's own ``sd_booted()`` test; PID 1's
    comm is checked too because a container image can ship that directory without running
    systemd. (``readlink /proc/1/exe`` needs root, so comm is used.) WSL without
    ``[boot] systemd=true`` has Microsoft's ``/init`` (comm ``init``) as PID 1.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    booted = values.get("sd_booted", "").strip() == "yes"
    comm = values.get("pid1_comm", "").strip()
    if not comm:
        return booted
    return booted and comm == "systemd"


def parse_daemon_json(text: str | None, path: str = DAEMON_JSON_PATH) -> dict[str, Any] | None:
    """daemon.json text -> dict. None when absent; an empty file counts as ``{}`` (the deploy
    rewrites it); invalid JSON or a non-object raises :class:`ProbeParseError` naming the file."""
    if text is None:
        return None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProbeParseError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"dockerd will refuse to start with it: fix or remove {path}"
        ) from exc
    if not isinstance(data, dict):
        raise ProbeParseError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def is_docker_desktop(info: dict[str, Any]) -> bool:
    """``docker info --format '{{json .}}'`` of Docker Desktop's daemon: it reports
    ``OperatingSystem: Docker Desktop``, ``Name: docker-desktop`` (WSL2 backend and Docker
    Desktop for Linux alike)."""
    return (
        "docker desktop" in str(info.get("OperatingSystem") or "").lower()
        or (info.get("Name") or "") == "docker-desktop"
    )


def toolkit_dpkg_command() -> str:
    """``dpkg-query`` of the toolkit packages: ``name<TAB>version<TAB>status`` lines."""
    return "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' " + " ".join(
        TOOLKIT_PACKAGES
    )
