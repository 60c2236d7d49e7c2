"""Preflight: read the host with facts, refuse what cannot work, decide what the deploy will do.

Runs while pyinfra prepares every host, so an error on any host stops the deploy before any
operation runs anywhere (pyinfra executes operations only after every host is prepared).
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api.exceptions import PyinfraError
from tgi_infra.config import HostConfig
from tgi_infra.host.daemon_state import DaemonJsonText
from tgi_infra.host.facts import (
    DaemonJson,
    DockerState,
    HostPlatform,
    LinuxNvidiaDriverPackages,
    NvidiaCtkVersion,
    NvidiaGpus,
    SystemdPid1,
    WslConf,
)
from tgi_infra.host.host_state import Read
from tgi_infra.host.preflight import HostPlan, PreflightFacts, check_host, errors, format_problems


class PreflightError(PyinfraError):
    """The host cannot be deployed as configured; nothing was changed on any host."""


def reads(cfg: HostConfig) -> list[Read]:
    """The preflight's reads (``host_state``): every host, whatever its config."""
    return [
        Read(DaemonJsonText),
        Read(HostPlatform),
        Read(SystemdPid1),
        Read(DockerState),
        Read(NvidiaGpus),
        Read(NvidiaCtkVersion),
        Read(DaemonJson),
        Read(LinuxNvidiaDriverPackages),
        Read(WslConf),
    ]


def gather_facts() -> PreflightFacts:
    return PreflightFacts(
        platform=host.get_fact(HostPlatform),
        systemd=host.get_fact(SystemdPid1),
        docker=host.get_fact(DockerState),
        gpus=host.get_fact(NvidiaGpus),
        nvidia_ctk_version=host.get_fact(NvidiaCtkVersion),
        daemon_json=host.get_fact(DaemonJson),
        nvidia_driver_packages=host.get_fact(LinuxNvidiaDriverPackages),
        wsl_conf=host.get_fact(WslConf),
    )


def preflight_plan(cfg: HostConfig) -> HostPlan:
    from tgi_infra.host.daemon_state import check_daemon_json

    check_daemon_json()  # first: the other facts read daemon.json too (one error, not four)
    problems, plan = check_host(host.name, cfg, gather_facts())
    if errors(problems):
        raise PreflightError("preflight failed, no host was changed:\n" + format_problems(problems))
    for warning in [
        *cfg.warnings,
        *(format_problems(problems).splitlines()[1:] if problems else []),
    ]:
        logger.warning(f"{host.print_prefix}{warning}")
    for note in plan.notes:
        logger.info(f"{host.print_prefix}{note}")
    return plan
