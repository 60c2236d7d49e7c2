"""The package's deploys, for a user's own pyinfra deploy file (as ``pyinfra-docker``'s
``deploy_docker``)::

    # my_deploy.py — run with: pyinfra inventory.py my_deploy.py
    from tgi_infra import deploy_gpu_host, deploy_services

    deploy_gpu_host()                                   # Docker Engine, NVIDIA toolkit, GPU proof
    deploy_services()                                   # the host's tgi_services
    deploy_services(overrides={"tgi_ready_timeout": 600})

Each is a pyinfra ``@deploy``: it reads the current host's ``tgi_*`` host data (inventory and
group data), validated with the whole inventory first (an error on any selected host stops
the deploy before any host is changed). ``overrides`` are host-data keys (``tgi_*``) that
replace the inventory's values for this call; they are validated the same way.
``deploy_tgi()`` runs both, which is what ``deploy/main.py`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.context import ctx_state
from pyinfra.operations.util import any_changed
from tgi_infra import pyinfra_bookkeeping
from tgi_infra.config import ConfigError, HostConfig, load_host_config
from tgi_infra.config.current_host import DeployConfigError, host_config
from tgi_infra.host import (
    daemon_state,
    dev_char_links,
    docker_engine,
    host_state,
    nvidia_toolkit,
    watchdog,
)
from tgi_infra.host.preflight import HostPlan
from tgi_infra.host.preflight_step import preflight_plan
from tgi_infra.services import operations

# pyinfra's per-operation stack reading and argument typing, done without the wasted work
# (deploy/pyinfra_bookkeeping.py): the same operation order and arguments
pyinfra_bookkeeping.install()

# (state, host, overrides) -> plan: the preflight runs once per host even when a user calls
# both deploys (its facts are pyinfra's cached facts; its warnings are printed once).
_plans: dict[tuple[int, str, str], tuple[HostConfig, HostPlan]] = {}


def planned_reads(cfg: HostConfig, plan: HostPlan | None = None) -> list[host_state.Read]:
    """Every fact read the deploy of this host makes: each module declares its own
    (``reads``); ``host_state`` reads them in one command. Without ``plan``: the preflight's
    (what every host is asked); with it: the rest, which depends on what the preflight found
    (read in a second command)."""
    from tgi_infra.host import preflight_step

    if plan is None:
        return preflight_step.reads(cfg)
    return [
        *docker_engine.reads(cfg, plan),
        *nvidia_toolkit.reads(cfg, plan),
        *daemon_state.reads(cfg, plan),
        *operations.reads(cfg, plan),
    ]


def _config_and_plan(overrides: Mapping[str, Any] | None) -> tuple[HostConfig, HostPlan]:
    key = (id(ctx_state.get()), host.name, repr(sorted((overrides or {}).items())))
    if key not in _plans:
        cfg = host_config()  # every selected host validated first
        if overrides:
            try:
                cfg = load_host_config(host.name, {**host.data.dict(), **dict(overrides)})
            except ConfigError as exc:
                raise DeployConfigError(
                    f"invalid overrides, no host was changed:\n{exc.report()}"
                ) from None
        watchdog.watch(cfg.host_timeout)  # a hung host fails alone (tgi_host_timeout)
        # every read the deploy plans, in two round trips: the preflight's, then the rest
        snapshot = host_state.take(planned_reads(cfg))
        plan = preflight_plan(cfg)
        snapshot.extend(planned_reads(cfg, plan))
        _plans[key] = (cfg, plan)
    return _plans[key]


@deploy("tgi_infra.deploy_gpu_host")
def deploy_gpu_host(overrides: Mapping[str, Any] | None = None) -> None:
    """Preflight, Docker Engine, NVIDIA Container Toolkit, /dev/char links of the NVIDIA
    devices (``dev_char_links.py``), daemon.json, GPU proof."""
    cfg, plan = _config_and_plan(overrides)
    provisioning = docker_engine.install(cfg, plan)
    daemon_json = [docker_engine.configure_daemon(cfg, plan)]
    toolkit = nvidia_toolkit.install(cfg, plan)
    provisioning += toolkit
    # /dev/char links + NVIDIA's udev rule, before any daemon-reload (NVIDIA/nvidia-docker#1730)
    dev_char_links.ensure(cfg, plan)
    daemon_json.append(nvidia_toolkit.configure_runtime(cfg, plan))
    daemon_json = [op for op in daemon_json if op is not None]
    # restart when daemon.json changes now, or when the running daemon never read it (a deploy
    # killed between the write and the restart): a fact decides (deploy/host/daemon_state.py)
    stale = daemon_state.not_applied(plan)
    restart_if = (lambda: True) if stale else any_changed(*daemon_json)
    restart = docker_engine.ensure_running(cfg, plan, restart_if=restart_if)
    # the restart stopped every container: the services that ran answer again before the
    # deploy goes on (those deploy_services re-creates wait for themselves there)
    why = "daemon.json changed" if not stale else "the daemon did not run with daemon.json"
    operations.wait_after_docker_restart(cfg, plan, restart, why)
    docker_engine.record_daemon_json(cfg, plan)
    nvidia_toolkit.cdi(cfg, plan, toolkit_changed=any_changed(*toolkit))
    nvidia_toolkit.gpu_proof(cfg, plan, run_if=any_changed(*provisioning, *daemon_json))


@deploy("tgi_infra.deploy_services")
def deploy_services(overrides: Mapping[str, Any] | None = None) -> None:
    """Every ``tgi_services`` item: rendered scripts, supervised container, ready check;
    ``present: false`` removes one. Needs Docker (``deploy_gpu_host`` or the user's own)."""
    cfg, plan = _config_and_plan(overrides)
    operations.deploy_services(cfg, plan)


def deploy_tgi(overrides: Mapping[str, Any] | None = None) -> None:
    """``deploy_gpu_host`` then ``deploy_services``: the whole deploy of ``deploy/main.py``."""
    deploy_gpu_host(overrides=overrides)
    deploy_services(overrides=overrides)
