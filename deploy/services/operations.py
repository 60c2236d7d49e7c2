"""TGI services: rendered scripts, a supervised container per service, ready when the deploy ends.

Per service, under ``<tgi_root>/<name>/``: the rendered scripts (creation, start, stop, logs),
the env file (root:root 0600 from creation; the HF token and API key also live in the
container's environment, see docs/security.md), and on systemd hosts a unit
``tgi-<name>.service`` that supervises the container (Docker's restart policy alone where systemd
does not run, as on WSL by default). Every file is written atomically
(``deploy/services/atomic.py``).

The container carries the label ``tgi-infra.config-hash``: it is recreated only when that hash
changed, or when it is missing or stopped. The image is pulled only when absent. The deploy waits
for each (re)started service to answer (``deploy/services/ready.py``), and after a Docker restart
of its
own for each service that ran (``wait_after_docker_restart``). ``present: false`` removes the
container, the unit and only the files the deploy wrote (``deploy/services/managed_dir.py``), and
keeps the
model cache (the volume).
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FactBase, deploy
from pyinfra.context import ctx_state
from pyinfra.facts.files import Directory, File
from pyinfra.operations import files, python, server, systemd
from tgi_infra.config import HostConfig, TGIService, unset_api_key_problems
from tgi_infra.config.current_host import DeployConfigError
from tgi_infra.engines import engine_spec
from tgi_infra.host import dev_char_links, docker_engine, host_state
from tgi_infra.host.facts import ContainerState, DockerImagePresent
from tgi_infra.host.host_state import Read
from tgi_infra.host.reading import LABEL_HASH
from tgi_infra.host.remote import reported
from tgi_infra.services import atomic, live_checks, secrets, swap
from tgi_infra.services.managed_dir import MARKER, ManagedDir, marker_content, remove_service_dir
from tgi_infra.services.ready import WaitTarget, wait_back, wait_ready
from tgi_infra.services.render import (
    RenderedService,
    engine_model_path,
    env_file_content,
    render_for_deploy,
    stop_timeout,
    unit_name,
)
from tgi_infra.services.supervision import supervisor as supervisor_for

HASH_LABEL = LABEL_HASH

# Per (pyinfra state, host): the "Restart Docker" operation of this deploy (deploy_gpu_host),
# and the services deploy_services (re)creates, which wait for themselves. Both are filled
# while the deploy is planned and read when its operations run (all planning comes first).
_docker_restart: dict[tuple[int, str], Any] = {}
_recreated: dict[tuple[int, str], set[str]] = {}


def _key() -> tuple[int, str]:
    return (id(ctx_state.get()), host.name)


def docker_restarted(key: tuple[int, str]) -> bool:
    """Whether this deploy restarted Docker on the host (asked when operations run)."""
    op = _docker_restart.get(key)
    return op is not None and op.did_change()


def recreated(key: tuple[int, str]) -> set[str]:
    """The services this deploy (re)creates on the host (and waits for there)."""
    return set(_recreated.get(key, ()))


class HttpStatus(FactBase):
    """HTTP status code of a GET on the host itself (``000`` when nothing answers)."""

    def command(self, url: str) -> str:
        return (
            f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {shlex.quote(url)} "
            "2>/dev/null || true"
        )

    @staticmethod
    def default() -> str:
        return "000"

    def process(self, output: list[str]) -> str:
        return (output[-1] if output else "000").strip() or "000"


def local_url(svc: TGIService) -> str:
    addr = "127.0.0.1" if svc.bind in ("0.0.0.0", "::") else svc.bind
    if ":" in addr:
        addr = f"[{addr}]"
    return f"http://{addr}:{svc.port}"


def container_names(cfg: HostConfig) -> list[str]:
    """The host's service containers and each one's ``<name>-previous`` (an interrupted swap's
    leftover: ``_finish_interrupted_swap``)."""
    names = [s.name for s in cfg.tgi_services]
    return names + [n + swap.PREVIOUS_SUFFIX for n in names]


def reads(cfg: HostConfig, plan) -> list[Read]:
    """Every fact read of ``deploy_services`` on a host whose preflight gave ``plan``
    (``host_state``): per service its files' stat and sha1, its env file's digests, its
    container (labels, state), image, unit and /health."""
    if not cfg.tgi_services or unset_api_key_problems(host.name, cfg.tgi_services, os.environ):
        return []  # deploy_services stops first, with its own error
    supervisor = supervisor_for(plan.systemd, plan.docker_flavour == "docker-desktop")
    out = [*live_checks.reads(cfg), *dev_char_links.reads(cfg, plan)]
    out.append(Read(ContainerState, container_names(cfg)))
    for svc in cfg.tgi_services:
        base = cfg.service_dir(svc)
        unit = f"/etc/systemd/system/{unit_name(svc)}"
        if not svc.present:
            if supervisor == "systemd":
                out.append(Read(File, unit))
            out.append(Read(ManagedDir, path=base))
            continue
        rendered = render_for_deploy(host.name, cfg, svc, supervisor, plan.gpu_count, os.environ)
        out.append(Read(ManagedDir, path=base))  # an interrupted swap's kept copies
        missing = tuple(secrets.missing_targets(svc, os.environ))
        out.append(Read(secrets.EnvFileDigests, f"{base}/service.env", missing))
        out += [Read(Directory, path=base), *atomic.reads(f"{base}/{MARKER}")]
        for rel in sorted(rendered.files):
            if not rel.endswith(".service"):
                out += atomic.reads(f"{base}/{rel}")
        out += [*atomic.reads(f"{base}/service.env"), Read(File, path=f"{base}/service.env")]
        if supervisor == "systemd":
            out += [Read(File, unit), *atomic.reads(unit)]
            out += docker_engine.systemd_reads(unit_name(svc))
        out += [Read(DockerImagePresent, cfg.image_for(svc))]
        out.append(Read(HttpStatus, local_url(svc) + "/health"))
    return out


def _put_files(
    cfg: HostConfig,
    svc: TGIService,
    rendered: RenderedService,
    supervisor: str,
    env_plan: secrets.EnvPlan,
    swapping: bool = False,
    put_back: dict[str, str] | None = None,
):
    """``put_back``: file -> the kept copy the recovery of an interrupted swap renames over it
    (``_finish_interrupted_swap``): each file is compared with what it holds then."""
    base = cfg.service_dir(svc)
    put_back = put_back or {}
    host_state.confine(base)  # only its own path reads look in here: a write there ends no more
    files.directory(name="TGI service: directory", path=base, mode="755", user="root", group="root")
    if swapping:
        # the running container's env file (0600) and rendered files, for a rollback to put
        # back (swap.py), before any is replaced. Also when one does not change: a stale copy of
        # an interrupted deploy must not be restored
        server.shell(
            name="TGI service: keep the running container's files for a rollback (service.env "
            "0600, scripts, unit)",
            commands=[
                swap.keep_command(
                    f"{base}/service.env", unit_name(svc) if supervisor == "systemd" else None
                )
            ],
        )
    # the marker first: `present: false` removes only what a marked directory holds of ours
    ops = [
        atomic.put(
            name="TGI service: .tgi-infra-managed marker",
            content=marker_content(svc.name),
            dest=f"{base}/{MARKER}",
            mode=0o644,
        )
    ]
    for rel, (content, mode) in sorted(rendered.files.items()):
        if rel.endswith(".service"):
            continue  # the unit goes to /etc/systemd/system
        dest = f"{base}/{rel}"
        ops.append(
            atomic.put(
                name="TGI service: rendered file",
                content=content,
                dest=dest,
                mode=mode,
                like=put_back.get(dest),
            )
        )
    if env_plan.content is not None:
        # 0600 from creation to rename (deploy/services/atomic.py): never readable by others, not
        # an instant
        env = atomic.put(
            name="TGI service: service.env (0600, secrets)",
            content=env_file_content(svc, os.environ),
            dest=f"{base}/service.env",
            mode=0o600,
            like=put_back.get(f"{base}/service.env"),
        )
        ops.append(env)
    else:  # content kept (no secret there to write): still root:root 0600
        files.file(
            name="TGI service: service.env kept (0600, secrets)",
            path=f"{base}/service.env",
            mode="600",
            user="root",
            group="root",
        )
    if env_plan.merge is not None:
        staged = f"{base}/.service.env.new"
        atomic.put(
            name="TGI service: service.env non-secret lines (0600)",
            content=env_plan.merge,
            dest=staged,
            mode=0o600,
        )
        server.shell(
            name="TGI service: service.env, keeping the host's secrets",
            commands=[secrets.merge_command(f"{base}/service.env", staged, env_plan.keep)],
        )
    unit_op = None
    if supervisor == "systemd":
        unit = next(c for rel, (c, _) in rendered.files.items() if rel.endswith(".service"))
        existed = bool(host.get_fact(File, f"/etc/systemd/system/{unit_name(svc)}"))
        unit_op = atomic.put(
            name="TGI service: systemd unit",
            content=unit,
            dest=f"/etc/systemd/system/{unit_name(svc)}",
            mode=0o644,
            like=put_back.get(f"{swap.UNIT_DIR}/{unit_name(svc)}"),
        )
        # A daemon-reload can strip running GPU containers of their GPUs (NVIDIA/nvidia-docker
        # #1730): NVIDIA's /dev/char links are in place before it (dev_char_links.py), and only
        # a changed unit systemd already knows needs one; a new unit is loaded on demand, and
        # the unit names no model or image, so a model change never reloads.
        if existed:
            systemd.daemon_reload(name="systemctl daemon-reload", _if=unit_op.did_change)
    return ops, unit_op


def _finish_interrupted_swap(
    cfg: HostConfig, svc: TGIService, containers: dict, supervisor: str
) -> tuple[dict | None, dict[str, str]]:
    """The leftovers of an interrupted swap of ``svc`` (``<name>-previous``, the kept copies:
    facts) finished by one operation (``swap.recover``) before anything else of the service.

    Returns the service's container as the recovery leaves it, and the files it puts back
    (file -> kept copy): the rest of the service is planned on that state."""
    base = cfg.service_dir(svc)
    env_file = f"{base}/service.env"
    unit = unit_name(svc) if supervisor == "systemd" else None
    current = containers.get(svc.name)
    previous = containers.get(svc.name + swap.PREVIOUS_SUFFIX)
    entries = set((host.get_fact(ManagedDir, path=base) or {}).get("entries") or ())
    kept = [n for n in swap.kept_names(env_file, unit) if n in entries]
    leftover = swap.interrupted_swap(svc.name, current, previous, kept)
    if leftover is None:
        return current, {}
    logger.info(f"{host.print_prefix}{leftover.line(svc.name)}")
    spec = swap.Swap(
        name=svc.name, unit=unit, creation_script="", image="", env_file=env_file, volume="",
        model_id=svc.model_id, revision=None, why="an interrupted swap",
        engine=svc.engine, stop_timeout=stop_timeout(svc),
    )  # fmt: skip
    python.call(
        name="TGI service: finish an interrupted swap (commit it or roll it back)",
        function=reported(swap.recover),
        swap=spec,
        leftover=leftover,
        probe=_probe(cfg, svc),
    )
    if leftover.action == swap.COMMIT:
        return current, {}
    if leftover.action == swap.ROLL_BACK:
        current = {**previous, "running": True}  # started again and waited for
    copies = {swap.previous_env_file(env_file): env_file} | {
        swap.kept_file(f, env_file): f for f in swap.rendered_files(env_file, unit)
    }
    return current, {f: copy for copy, f in copies.items() if copy.rpartition("/")[2] in kept}


def _ensure_service(cfg: HostConfig, plan, svc: TGIService, containers: dict, supervisor: str):
    rendered = render_for_deploy(host.name, cfg, svc, supervisor, plan.gpu_count, os.environ)
    current, put_back = _finish_interrupted_swap(cfg, svc, containers, supervisor)
    env_path = f"{cfg.service_dir(svc)}/service.env"
    on_host = host.get_fact(
        secrets.EnvFileDigests,
        put_back.get(env_path, env_path),  # the env file as the recovery leaves it
        tuple(secrets.missing_targets(svc, os.environ)),
    )
    env_plan = secrets.plan_env(svc, os.environ, on_host)
    for note in env_plan.notes:
        logger.info(f"{host.print_prefix}{note}")
    have_hash = ((current or {}).get("labels") or {}).get(HASH_LABEL)
    running = bool(current and current.get("running"))
    swapping = running and (have_hash != rendered.config_hash or env_plan.changed)
    _, unit_op = _put_files(cfg, svc, rendered, supervisor, env_plan, swapping, put_back)
    image = cfg.image_for(svc)
    if not host.get_fact(DockerImagePresent, image):
        server.shell(
            name="TGI service: docker pull",
            commands=[f"docker pull -q {shlex.quote(image)}"],
        )

    base = cfg.service_dir(svc)
    unit = unit_name(svc)
    if swapping or current is None or have_hash != rendered.config_hash or not running:
        _recreated.setdefault(_key(), set()).add(svc.name)  # waited for here, not twice
    if swapping:
        _swap(cfg, svc, rendered, supervisor, have_hash, env_plan)
    elif current is None or have_hash != rendered.config_hash or not running:
        why = (
            "missing"
            if current is None
            else "config changed"
            if have_hash != rendered.config_hash
            else f"not running ({current.get('status')})"
        )
        # the creation script stops the unit, replaces the container and starts it again
        cmds = [f"bash {shlex.quote(base)}/tgi-service-creation.sh"]
        if supervisor == "systemd":
            # --no-reload: `enable` reloads systemd by default (NVIDIA/nvidia-docker#1730)
            cmds.append(f"systemctl --no-reload enable {unit}")
        logger.info(f"{host.print_prefix}{svc.name}: (re)create container: {why}")
        start = server.shell(name="TGI service: (re)create container", commands=cmds)
        _wait_ready(cfg, svc, _if=start.did_change)
    else:
        if supervisor == "systemd":
            systemd.service(
                name="TGI service: unit enabled and active",
                service=unit,
                running=True,
                enabled=True,
            )
        # unchanged and answering: nothing to wait for (a second deploy stays at 0 changes);
        # after a Docker restart of this deploy the wait after it covers the service
        if host.get_fact(HttpStatus, local_url(svc) + "/health") != "200":
            key = _key()
            _wait_ready(cfg, svc, _if=lambda: not docker_restarted(key))


def _probe(cfg: HostConfig, svc: TGIService) -> WaitTarget:
    return WaitTarget(
        name=svc.name,
        url=local_url(svc),
        env_file=f"{cfg.service_dir(svc)}/service.env",
        timeout=cfg.ready_timeout,
        api_key=bool(svc.api_key_env),
        secret_envs=tuple(n for n in (svc.hf_token_env, svc.api_key_env) if n),
        engine=svc.engine,
        model=engine_model_path(svc),
    )


def _wait_ready(cfg: HostConfig, svc: TGIService, **op_args) -> None:
    python.call(
        name=f"{engine_spec(svc.engine).title} service: wait until ready (/health 200, "
        f"one-token {engine_spec(svc.engine).ready_request[0]})",
        function=reported(wait_ready),
        probe=_probe(cfg, svc),
        **op_args,
    )


@deploy("TGI services: back after the Docker restart")
def wait_after_docker_restart(cfg: HostConfig, plan, restart, why: str) -> None:
    """A Docker restart stops every container of the host: wait until each service that ran
    answers again (``ready.wait_back``), or fail with its log tail and likely cause. Services
    that ``deploy_services`` (re)creates are left to their own wait."""
    if restart is None or not cfg.tgi_services or plan.skip_engine_and_toolkit:
        return
    key = _key()
    _docker_restart[key] = restart
    containers = host.get_fact(ContainerState, container_names(cfg)) or {}  # one read
    running = [
        svc for svc in cfg.present_services() if (containers.get(svc.name) or {}).get("running")
    ]
    if not running:
        return
    python.call(
        name="TGI services: wait until each answers again after the Docker restart",
        function=reported(wait_back),
        probes=[_probe(cfg, svc) for svc in running],
        why=why,
        skip=lambda: recreated(key),
        _if=restart.did_change,
    )


def _swap(cfg, svc, rendered, supervisor, have_hash, env_plan) -> None:
    """A running container whose config or env file changed: prefetch, then replace it,
    keeping the old one until the new one is ready (``swap.py``)."""
    if have_hash != rendered.config_hash:
        why = "config changed"
    elif env_plan.secrets_changed:
        why = "the token in service.env changed: applied with one restart"
    else:
        why = "service.env changed: applied with one restart"
    base = cfg.service_dir(svc)
    spec = swap.Swap(
        name=svc.name,
        unit=unit_name(svc) if supervisor == "systemd" else None,
        creation_script=f"{base}/tgi-service-creation.sh",
        image=rendered.image,
        env_file=f"{base}/service.env",
        volume=svc.volume,
        model_id=svc.model_id,
        revision=svc.revision,
        why=why,
        engine=svc.engine,
        keep_previous=os.environ.get("TGI_INFRA_KEEP_PREVIOUS") == "1",  # rollout.py
        stop_timeout=stop_timeout(svc),
    )
    logger.info(f"{host.print_prefix}{svc.name}: {why}: prefetch, then swap")
    if have_hash != rendered.config_hash:
        python.call(
            name="TGI service: prefetch weights (old container serving)",
            function=reported(swap.prefetch),
            swap=spec,
        )
    python.call(
        name="TGI service: replace the running container (previous kept until ready)",
        function=reported(swap.replace),
        swap=spec,
        probe=_probe(cfg, svc),
    )


def _remove_service(cfg: HostConfig, svc: TGIService, containers: dict, supervisor: str) -> None:
    """present: false -> container, unit and scripts gone; the model cache (volume) is kept."""
    unit = f"/etc/systemd/system/{unit_name(svc)}"
    if supervisor == "systemd" and host.get_fact(File, unit):
        systemd.service(
            name="Removed TGI service: stop and disable unit",
            service=unit_name(svc),
            running=False,
            enabled=False,
        )
        removed = files.file(name="Removed TGI service: unit file", path=unit, present=False)
        systemd.daemon_reload(name="systemctl daemon-reload", _if=removed.did_change)
    if containers.get(svc.name) is not None:
        server.shell(
            name="Removed TGI service: container (model cache kept)",
            # SIGTERM first: the requests in flight get the engine's drain time
            commands=[
                f"docker stop -t {stop_timeout(svc)} {shlex.quote(svc.name)} >/dev/null",
                f"docker rm -f {shlex.quote(svc.name)}",
            ],
        )
    previous = svc.name + swap.PREVIOUS_SUFFIX
    if containers.get(previous) is not None:
        logger.info(f"{host.print_prefix}{svc.name}: an interrupted swap left {previous}: removed")
        server.shell(
            name="Removed TGI service: previous container of an interrupted swap",
            commands=[f"docker rm -f {shlex.quote(previous)}"],
        )
    remove_service_dir(
        name="Removed TGI service: tgi-infra's files and directory",
        path=cfg.service_dir(svc),
        service=svc.name,
    )


@deploy("TGI services")
def deploy_services(cfg: HostConfig, plan) -> None:
    if not cfg.tgi_services:
        host.noop("no tgi_services on this host")
        return
    unset_keys = unset_api_key_problems(host.name, cfg.tgi_services, os.environ)
    if unset_keys:
        raise DeployConfigError("\n".join(unset_keys) + "\nNo host was changed.")
    supervisor = supervisor_for(plan.systemd, plan.docker_flavour == "docker-desktop")
    live_checks.check_host(cfg)  # Hub, disk, ports: raises before any host is changed
    # before the units' daemon-reload: running GPU containers keep their GPUs (once per host)
    dev_char_links.ensure(cfg, plan)
    containers = host.get_fact(ContainerState, container_names(cfg)) or {}
    # host.loop: each service's operations are ordered by its position, not only by the line
    # that calls them. pyinfra merges every host's operation order into one DAG; a plain loop
    # whose services take different branches on different hosts (one swaps its first service,
    # another re-creates its second: mixed engines, a service added or changed) asks for
    # opposite orders of the same lines and fails with "Cycle detected in operation ordering
    # DAG" (pyinfra docs: deploy-process.html#loops-cycle-errors).
    for svc in host.loop(cfg.tgi_services):
        if svc.present:
            _ensure_service(cfg, plan, svc, containers, supervisor)
        else:
            _remove_service(cfg, svc, containers, supervisor)
