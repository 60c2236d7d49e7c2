"""Pure parts of the host checks: parse what the host printed, compare it with the config.

No I/O here: every function takes text (command output) or values and returns a finding, so the
decisions are tested directly (tests/unit/test_hostchecks_parse.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# What reads a host is shared with the deploy's facts: tgi_infra.host.reading (no pyinfra there).
from tgi_infra.host.reading import DAEMON_JSON_PATH as DAEMON_JSON  # noqa: F401
from tgi_infra.host.reading import TOOLKIT_PACKAGES, is_docker_desktop, parse_daemon_json  # noqa: F401
from tgi_infra.host.reading import ProbeParseError as ParseError
from tgi_infra.host.reading import parse_systemd_pid1 as systemd_pid1  # noqa: F401


def daemon_runtimes(daemon: dict[str, Any] | None) -> list[str]:
    return sorted((daemon or {}).get("runtimes") or {})


def parse_docker_info(text: str) -> dict[str, Any]:
    """``docker info --format '{{json .}}'`` -> dict (raises ParseError on non-JSON)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"docker info did not print JSON: {text.strip()[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ParseError("docker info did not print a JSON object")
    return data


def info_runtimes(info: dict[str, Any]) -> list[str]:
    return sorted(info.get("Runtimes") or {})


def parse_dpkg(text: str) -> dict[str, str]:
    """``dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'`` -> {pkg: version}
    for installed packages (status ``ii``/``hi``) only."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        name, version, status = parts[0].strip(), parts[1].strip(), parts[2].strip()
        if name and version and status[:2] in ("ii", "hi"):
            out[name.split(":")[0]] = version
    return out


def package_problems(installed: dict[str, str], pin: str | None) -> list[str]:
    """Toolkit packages missing or not at the pinned version (empty list: as expected)."""
    problems = []
    for pkg in TOOLKIT_PACKAGES:
        have = installed.get(pkg)
        if have is None:
            problems.append(f"{pkg} not installed")
        elif pin and have != pin:
            problems.append(f"{pkg} {have} (pinned {pin})")
    return problems


def parse_df_avail_bytes(text: str) -> tuple[int, str]:
    """``df -Pk PATH`` -> (available bytes, mount point)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ParseError(f"unexpected df output: {text.strip()!r}")
    fields = lines[-1].split()
    if len(fields) < 6 or not fields[3].isdigit():
        raise ParseError(f"unexpected df output: {lines[-1]!r}")
    return int(fields[3]) * 1024, fields[5]


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    running: bool
    status: str
    restart_count: int
    started_at: str
    labels: dict[str, str]
    exit_code: int


def parse_inspect(text: str, names: list[str]) -> dict[str, ContainerInfo | None]:
    """``docker container inspect A B`` JSON (it prints ``[]`` and exits 1 when one is
    missing) -> {name: ContainerInfo or None when missing}."""
    result: dict[str, ContainerInfo | None] = {n: None for n in names}
    text = text.strip()
    if not text:
        return result
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"docker container inspect did not print JSON: {text[:200]!r}") from exc
    for item in items:
        info = container_info(item)
        result[info.name] = info
    return result


def container_info(item: dict[str, Any]) -> ContainerInfo:
    """One ``docker container inspect`` object (CLI JSON or docker-py's ``attrs``)."""
    state = item.get("State") or {}
    name = (item.get("Name") or "").lstrip("/")
    return ContainerInfo(
        name=name,
        running=bool(state.get("Running")),
        status=str(state.get("Status") or ""),
        restart_count=int(item.get("RestartCount") or 0),
        started_at=str(state.get("StartedAt") or ""),
        labels=dict((item.get("Config") or {}).get("Labels") or {}),
        exit_code=int(state.get("ExitCode") or 0),
    )


def drift(expected_hash: str, labels: dict[str, str], label: str) -> str | None:
    """None when the container's config-hash label is the one the deploy renders, else what
    was found (``label missing`` or the other hash)."""
    have = labels.get(label)
    if have == expected_hash:
        return None
    return "label missing" if have is None else have


def restart_climb(first: ContainerInfo | None, second: ContainerInfo | None) -> str | None:
    """None when the container did not restart between two samples, else what changed."""
    if first is None or second is None:
        return "container disappeared between the two samples"
    if second.restart_count > first.restart_count:
        return f"RestartCount went {first.restart_count} -> {second.restart_count}"
    if second.started_at != first.started_at:
        return f"restarted: StartedAt {first.started_at} -> {second.started_at}"
    if not second.running:
        return f"stopped between the two samples (status {second.status})"
    return None


def socket_spec(bind: str, port: int) -> str:
    """testinfra socket spec of a published port: ``tcp://0.0.0.0:8080``, ``tcp://:::8080``."""
    return f"tcp://{bind}:{port}"


def mode_text(mode: int) -> str:
    return f"{mode:04o}"


def failure_text(summary: str, expected: str, found: str, next_step: str) -> str:
    """The one-line failure message: what, expected, found, and the next command to run."""
    return f"{summary} | expected: {expected} | found: {found} | next: {next_step}"
