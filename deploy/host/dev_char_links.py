"""GPU containers keep their GPUs across ``systemctl daemon-reload`` (NVIDIA/nvidia-docker#1730).

With Docker's systemd cgroup driver, systemd owns each container's cgroup. A daemon-reload
(``systemctl daemon-reload``: the deploy's own when a unit file changes, or any package's
postinst) makes systemd re-apply every unit's device rules, which it resolves through
``/dev/char/<major>:<minor>``. NVIDIA's device nodes (``/dev/nvidia0``, ``/dev/nvidiactl``,
``/dev/nvidia-uvm``, ...) are made by nvidia-modprobe, not by udev, so those links do not exist,
the rules for them are dropped, and running containers lose their GPUs ("Failed to initialize
NVML: Unknown Error") until they are recreated.

NVIDIA's documented mitigation (nvidia-docker#1730, nvidia-container-toolkit "Troubleshooting"),
done here on GPU hosts, before any daemon-reload of the deploy:

1. the udev rule NVIDIA gives, as ``/lib/udev/rules.d/71-nvidia-dev-char.rules`` (written
   atomically, ``deploy/services/atomic.py``): ``nvidia-ctk system create-dev-char-symlinks
   --create-all`` runs again whenever the driver binds (boot, driver reinstall);
2. that command now, when a device node's link is missing and the driver is loaded (the
   command needs the NVIDIA majors in ``/proc/devices``); afterwards every node that was
   missing must resolve through its link, or the step fails naming it.

Facts decide (``facts.NvidiaDevChar``): a second deploy changes nothing. Skipped, said so: CPU
mode, WSL and Docker Desktop (no ``/dev/nvidia*`` nodes: GPUs come through ``/dev/dxg``), hosts
without systemd as PID 1, and Docker's ``cgroupfs`` driver (systemd does not manage those
cgroups). When Docker does not answer yet (first deploy), the links are made anyway on systemd
hosts: Docker's default driver there (cgroup v2) is systemd, and the links are harmless.
"""

from __future__ import annotations

import shlex
import weakref
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.context import ctx_state
from pyinfra.facts.files import Directory
from pyinfra.operations import files, server
from tgi_infra.config import HostConfig
from tgi_infra.host.facts import DockerState, NvidiaDevChar
from tgi_infra.host.host_state import Read
from tgi_infra.host.reading import (
    DEV_CHAR_DIR,
    DEV_CHAR_LINKS_COMMAND,
    NVIDIA_DEV_CHAR_RULE,
    NVIDIA_DEV_CHAR_RULE_PATH,
)
from tgi_infra.services import atomic

# hosts that already have the step, per pyinfra state: deploy_gpu_host and deploy_services both
# ask for it (weak keys: a state's id can be reused once it is gone)
_done: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def skip_reason(cfg: HostConfig, plan, docker: dict | None) -> str | None:
    """Why the step does not apply to this host, or None when it does."""
    if cfg.cpu_mode:
        return "CPU mode (gpus: none): no GPU container to lose its GPUs"
    if plan.wsl or plan.skip_engine_and_toolkit:
        return "WSL / Docker Desktop: GPUs reach containers through /dev/dxg, not /dev/nvidia*"
    if not plan.systemd:
        return "systemd is not PID 1: no daemon-reload, no systemd cgroup driver"
    driver = (docker or {}).get("cgroup_driver")
    if driver and driver != "systemd":
        return f"Docker uses the {driver} cgroup driver: systemd does not own its containers"
    return None


def links_command(nodes: list[dict]) -> str:
    """nvidia-ctk, then a check that each node that was missing now resolves through its link
    (nvidia-ctk only warns when it cannot make one and still exits 0)."""
    checks = ""
    for node in nodes:
        link = f"{DEV_CHAR_DIR}/{node['dev']}"
        said = shlex.quote(f"{link} does not lead to {node['path']} after nvidia-ctk")
        checks += (
            f"[ {shlex.quote(link)} -ef {shlex.quote(node['path'])} ] || "
            f"{{ echo {said} >&2; ok=1; }}; "
        )
    return (
        "command -v nvidia-ctk >/dev/null 2>&1 || { echo 'nvidia-ctk not found: the NVIDIA "
        "Container Toolkit (>= 1.12) provides it' >&2; exit 1; }; "
        f"{DEV_CHAR_LINKS_COMMAND} && ok=0 && {{ {checks}exit $ok; }}"
    )


def reads(cfg: HostConfig, plan) -> list[Read]:
    """What ``ensure`` reads (``host_state``): Docker, the device nodes, the rule file."""
    rule_dir = NVIDIA_DEV_CHAR_RULE_PATH.rsplit("/", 1)[0]
    out = [Read(DockerState)]
    if skip_reason(cfg, plan, {}) is None:
        out += [Read(NvidiaDevChar), Read(Directory, path=rule_dir)]
        out += atomic.reads(NVIDIA_DEV_CHAR_RULE_PATH)
    return out


@deploy("GPU containers survive systemctl daemon-reload")
def ensure(cfg: HostConfig, plan) -> None:
    """The udev rule and the /dev/char links (module doc); once per host and deploy."""
    done = _done.setdefault(ctx_state.get(), set())
    if host.name in done:
        return
    done.add(host.name)
    why = skip_reason(cfg, plan, host.get_fact(DockerState))
    if why:
        host.noop(f"/dev/char links of the NVIDIA devices not needed: {why}")
        return
    state = host.get_fact(NvidiaDevChar)
    files.directory(name="udev rules directory", path=NVIDIA_DEV_CHAR_RULE_PATH.rsplit("/", 1)[0])
    atomic.put(
        name="NVIDIA udev rule: /dev/char links whenever the driver loads",
        content=NVIDIA_DEV_CHAR_RULE,
        dest=NVIDIA_DEV_CHAR_RULE_PATH,
        mode=0o644,
    )
    if state["other"]:
        logger.warning(
            f"{host.print_prefix}{DEV_CHAR_DIR} has entries that are not the NVIDIA device "
            f"nodes of the same number: {', '.join(state['other'])}; nvidia-ctk leaves them, "
            "and a daemon-reload may strip those devices from running containers"
        )
    if state["unlinked"]:
        logger.warning(
            f"{host.print_prefix}NVIDIA device nodes without a {DEV_CHAR_DIR} link that "
            f"nvidia-ctk --create-all does not make: {', '.join(state['unlinked'])}"
        )
    missing = [n for n in state["nodes"] if n["path"] in state["missing"]]
    if not state["driver_loaded"]:
        host.noop(
            "NVIDIA driver not loaded (no nvidia major in /proc/devices): the udev rule makes "
            "the /dev/char links when it loads"
        )
    elif missing:
        logger.info(
            f"{host.print_prefix}{len(missing)} NVIDIA device node(s) without a "
            f"{DEV_CHAR_DIR} link: {', '.join(n['path'] for n in missing)}"
        )
        server.shell(
            name=f"{DEV_CHAR_LINKS_COMMAND} (before any daemon-reload)",
            commands=[links_command(missing)],
        )
    else:
        host.noop(f"every NVIDIA device node has its {DEV_CHAR_DIR} link")
