"""The services deployed on THIS machine, from Python or a notebook: status, start, stop,
restart, logs, wait until ready, smoke checks. No inventory, no SSH: built on docker-py.

    from tgi_infra import local
    local.start("tgi-service")                 # through its systemd unit, or `docker start`
    svc = local.wait_ready("tgi-service")      # running and /health 200
    print(svc.model_id, svc.url, svc.health)
    report = local.smoke("tgi-service")        # the smoke suite's HTTP checks
    assert report.passed

The services are the containers the deploy labelled ``tgi-infra.managed=true``; what this
module reports comes from their labels (deploy/services/render.py ``docker_args``): model id,
engine,
supervisor, port, unit and config hash (containers deployed before those labels existed: model
id from the launcher's ``--model-id``, port from the published ports, supervisor from the
restart policy). A service supervised by systemd (``supervisor: systemd``, container
``--restart no``, unit ``tgi-<name>.service`` running ``docker start -a``) is started, stopped
and restarted through its unit with ``systemctl``, its logs read from the unit's journal (the
container's output and systemd's own lines); one supervised by Docker's restart policy (no
systemd, as on WSL) through the Docker API.

Errors say what is wrong and how to fix it: no Docker daemon, no permission on its socket,
no such service (with the known ones), systemctl refused. Nothing this module returns or raises
carries the service's secrets: the values of ``HF_TOKEN`` / ``API_KEY`` in the container's env
(from ``service.env``) are masked in its logs, the ready wait's log tail and every error (real
TGI's launcher logs ``api_key: Some("<key>")`` in clear).

Imports stay light (docker, requests are imported when used): the host checks import this
module inside hosts that have only pydantic/jinja2/testinfra (smoke/hostchecks.py).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from tgi_infra import readiness
from tgi_infra.config.grammar import mask_values
from tgi_infra.engines import ENGINE_NAMES, engine_spec
from tgi_infra.engines.spec import unit_stop_timeout_s
from tgi_infra.services.render import (
    LABEL_ENGINE,
    LABEL_HASH,
    LABEL_MANAGED,
    LABEL_MODEL,
    LABEL_PORT,
    LABEL_SERVICE,
    LABEL_SUPERVISOR,
    LABEL_UNIT,
    STOP_TIMEOUT_S,
)

# TGI listens on 80 inside the container (deploy/engines/tgi_launcher.py)
CONTAINER_PORT_KEY = "80/tcp"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
HEALTHY = "healthy"
STOPPED = "stopped"
UNREACHABLE = "unreachable"
# the secrets service.env hands the container (deploy/services/render.py env_file): masked in any
# output
SECRET_ENV_KEYS = ("HF_TOKEN", "API_KEY")


class LocalError(Exception):
    """A plain, user-facing error of the local service tools (exit status 1 in the CLI)."""


class DockerUnavailable(LocalError):
    pass


class DockerPermissionDenied(LocalError):
    pass


class NoSuchService(LocalError):
    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        listed = ", ".join(known) if known else "none (nothing deployed by tgi-infra here)"
        super().__init__(f"no service {name!r} on this machine; known services: {listed}")


class SupervisorError(LocalError):
    """systemctl / journalctl could not act on the service's unit."""


class NotReady(LocalError):
    pass


def docker_py_available() -> bool:
    """docker-py importable (it is not in the minimal copy the host checks run from)."""
    return importlib.util.find_spec("docker") is not None


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def _caused_by_permission(exc: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, PermissionError):
            return True
        if isinstance(e, BaseException):
            stack += [e.__cause__, e.__context__, *e.args]
    return "Permission denied" in str(exc)


def _translate(exc: Exception) -> LocalError:
    """docker-py's connection failures -> the plain error, with the fix."""
    where = _docker_host()
    if _caused_by_permission(exc):
        user = os.environ.get("USER") or str(os.geteuid())
        return DockerPermissionDenied(
            f"permission denied on the Docker socket {where} (user {user}): add the user to "
            f"the docker group (`sudo usermod -aG docker {user}`, then log in again or run "
            "`newgrp docker`), or run this command with sudo"
        )
    return DockerUnavailable(
        f"no Docker daemon answers at {where} ({type(exc).__name__}): start it "
        "(`sudo systemctl start docker`; without systemd, e.g. WSL: `sudo service docker "
        "start`; with Docker Desktop: enable its WSL integration for this distro), or fix "
        "DOCKER_HOST"
    )


def client():
    """A docker-py client that answers (``docker.from_env()``: honours DOCKER_HOST), or a
    DockerUnavailable / DockerPermissionDenied."""
    import docker
    import docker.errors

    try:
        c = docker.from_env()
        c.ping()
        return c
    except (docker.errors.DockerException, OSError) as exc:
        raise _translate(exc) from None


def docker_info() -> dict[str, Any]:
    """``docker info`` as the Engine API returns it."""
    return client().info()


def inspect_containers(names: list[str]) -> dict[str, dict[str, Any] | None]:
    """{name: `docker container inspect` dict, or None when there is no such container}."""
    import docker.errors

    c = client()
    out: dict[str, dict[str, Any] | None] = {}
    for name in names:
        try:
            out[name] = c.api.inspect_container(name)
        except docker.errors.NotFound:
            out[name] = None
    return out


# -- status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    model_id: str | None
    engine: str
    supervisor: str  # systemd | docker
    unit: str | None  # tgi-<name>.service when systemd supervises
    port: int | None
    url: str | None  # as reachable from this machine
    state: str  # docker's State.Status: running, exited, created, restarting, ...
    health: str  # healthy | stopped | unreachable | HTTP <code>
    config_hash: str | None
    image: str
    container_id: str
    started_at: str

    @property
    def running(self) -> bool:
        return self.state == "running"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _model_from_args(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--model-id" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--model-id="):
            return arg.split("=", 1)[1]
    return None


def _published(attrs: dict[str, Any], engine: str = "tgi") -> tuple[str | None, int | None]:
    """(host address, host port) the engine's container port (TGI 80, vLLM 8000, SGLang
    30000) is published on, as configured."""
    key = CONTAINER_PORT_KEY
    if engine in ENGINE_NAMES and engine != "tgi":
        key = f"{engine_spec(engine).container_port}/tcp"
    bindings = ((attrs.get("HostConfig") or {}).get("PortBindings") or {}).get(key)
    for b in bindings or []:
        if b.get("HostPort"):
            return b.get("HostIp") or "0.0.0.0", int(b["HostPort"])
    return None, None


def _url(bind: str | None, port: int | None) -> str | None:
    if port is None:
        return None
    addr = "127.0.0.1" if bind in (None, "", "0.0.0.0") else "::1" if bind == "::" else bind
    return f"http://[{addr}]:{port}" if ":" in addr else f"http://{addr}:{port}"


def _health(url: str | None, running: bool) -> str:
    if not running:
        return STOPPED
    if url is None:
        return "no published port"
    import requests

    try:
        code = requests.get(f"{url}/health", timeout=3).status_code
    except requests.RequestException:
        return UNREACHABLE
    return HEALTHY if code == 200 else f"HTTP {code}"


def _service(attrs: dict[str, Any]) -> Service:
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    state = attrs.get("State") or {}
    name = labels.get(LABEL_SERVICE) or (attrs.get("Name") or "").lstrip("/")
    bind, port = _published(attrs, labels.get(LABEL_ENGINE) or "tgi")
    if port is None and (labels.get(LABEL_PORT) or "").isdigit():
        port = int(labels[LABEL_PORT])
    supervisor = labels.get(LABEL_SUPERVISOR) or (
        "systemd"
        if ((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") in ("", "no")
        else "docker"
    )
    unit = labels.get(LABEL_UNIT) or (f"tgi-{name}.service" if supervisor == "systemd" else None)
    url = _url(bind, port)
    running = bool(state.get("Running"))
    return Service(
        name=name,
        model_id=labels.get(LABEL_MODEL) or _model_from_args(list(attrs.get("Args") or [])),
        engine=labels.get(LABEL_ENGINE) or "tgi",
        supervisor=supervisor,
        unit=unit,
        port=port,
        url=url,
        state=str(state.get("Status") or ""),
        health=_health(url, running),
        config_hash=labels.get(LABEL_HASH),
        image=str(config.get("Image") or ""),
        container_id=str(attrs.get("Id") or "")[:12],
        started_at=str(state.get("StartedAt") or ""),
    )


def _env(attrs: dict[str, Any]) -> dict[str, str]:
    items = (attrs.get("Config") or {}).get("Env") or []
    return dict(item.partition("=")[::2] for item in items)


def _secrets(attrs: dict[str, Any]) -> list[str]:
    """The secret values in the container's env (never shown: see :func:`_masked`)."""
    env = _env(attrs)
    return [env[k] for k in SECRET_ENV_KEYS if env.get(k)]


def _masked(text: str, attrs: dict[str, Any]) -> str:
    return mask_values(text, _secrets(attrs))


def _managed(c) -> list[Any]:
    # ignore_removed: docker-py lists ids, then inspects each; one removed in between (a deploy
    # replacing it, `docker rm` elsewhere) is left out instead of raising NotFound
    return c.containers.list(
        all=True, filters={"label": f"{LABEL_MANAGED}=true"}, ignore_removed=True
    )


def services() -> list[Service]:
    """Every service the deploy put on this machine, sorted by name."""
    return sorted((_service(ct.attrs) for ct in _managed(client())), key=lambda s: s.name)


def _container(name: str):
    c = client()
    found = {(ct.labels.get(LABEL_SERVICE) or ct.name): ct for ct in _managed(c)}
    if name not in found:
        raise NoSuchService(name, sorted(found))
    return found[name]


def status(name: str) -> Service:
    """One service's model, engine, supervisor, port, health and config hash."""
    import docker.errors

    ct = _container(name)
    try:
        ct.reload()
    except docker.errors.NotFound:  # removed since it was listed
        raise NoSuchService(name, [s.name for s in services()]) from None
    return _service(ct.attrs)


# -- start / stop / restart --------------------------------------------------------------------


def _stop_timeout(attrs: dict[str, Any]) -> int:
    """The container's own stop timeout (`docker run --stop-timeout`, derived by the deploy from
    the engine's drain setting); STOP_TIMEOUT_S for a container deployed before it was set."""
    value = (attrs.get("Config") or {}).get("StopTimeout")
    return value if isinstance(value, int) and value >= 0 else STOP_TIMEOUT_S


def _systemctl(verb: str, unit: str, stop_timeout: int = STOP_TIMEOUT_S) -> None:
    argv = ["systemctl", verb, unit]
    # a stop waits for the unit's ExecStop (docker stop -t) up to its TimeoutStopSec
    wait = unit_stop_timeout_s(stop_timeout) + 60
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=wait)
    except FileNotFoundError:
        raise SupervisorError(
            f"{unit} is supervised by systemd, but there is no systemctl on this machine"
        ) from None
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip()
        hint = ""
        if "authentication" in said.lower() or "access denied" in said.lower():
            hint = f" (run it as root: `sudo systemctl {verb} {unit}`, or with sudo)"
        elif "System has not been booted with systemd" in said or "Failed to connect" in said:
            hint = " (systemd is not running here: the service was deployed for a systemd host)"
        raise SupervisorError(
            f"`systemctl {verb} {unit}` failed (exit {proc.returncode}): {said}{hint}; "
            f"see `systemctl status {unit} --no-pager` and `journalctl -u {unit} -n 50`"
        )


def _act(name: str, verb: str) -> Service:
    import docker.errors

    ct = _container(name)
    svc = _service(ct.attrs)
    try:
        if svc.supervisor == "systemd":
            _systemctl(verb, svc.unit or f"tgi-{name}.service", _stop_timeout(ct.attrs))
        elif verb == "start":
            ct.start()
        elif verb == "stop":
            ct.stop(timeout=_stop_timeout(ct.attrs))
        else:
            ct.restart(timeout=_stop_timeout(ct.attrs))
    except docker.errors.APIError as exc:
        why = _masked(str(exc.explanation or exc), ct.attrs)
        raise LocalError(f"docker {verb} {ct.name} failed: {why}") from None
    except SupervisorError as exc:
        raise SupervisorError(_masked(str(exc), ct.attrs)) from None
    return status(name)


def start(name: str) -> Service:
    """Start the service: ``systemctl start tgi-<name>.service`` or ``docker start``."""
    return _act(name, "start")


def stop(name: str) -> Service:
    """Stop the service (SIGTERM, SIGKILL after the stop timeout the deploy derived from the
    engine's drain setting)."""
    return _act(name, "stop")


def restart(name: str) -> Service:
    return _act(name, "restart")


# -- logs --------------------------------------------------------------------------------------


def _journalctl(unit: str, tail: int, follow: bool) -> list[str]:
    argv = ["journalctl", "-u", unit, "-n", str(tail), "--no-pager", "-o", "short-iso"]
    return argv + (["-f"] if follow else [])


def logs(name: str, tail: int = 200) -> str:
    """The last ``tail`` lines: the unit's journal for a systemd service (container output
    and systemd's start/stop lines), the container's log otherwise; secrets masked."""
    ct = _container(name)
    return _masked(_raw_logs(ct, tail), ct.attrs)


def _raw_logs(ct, tail: int) -> str:
    svc = _service(ct.attrs)
    if svc.supervisor == "systemd" and svc.unit:
        try:
            proc = subprocess.run(
                _journalctl(svc.unit, tail, False), capture_output=True, text=True, timeout=60
            )
        except FileNotFoundError:
            raise SupervisorError("no journalctl on this machine to read the unit's log") from None
        if proc.returncode != 0:
            raise SupervisorError(
                f"journalctl -u {svc.unit} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()} (run it with sudo, or add the user to "
                "the systemd-journal group)"
            )
        return proc.stdout
    return ct.logs(tail=tail, timestamps=True).decode(errors="replace")


def _lines(chunks: Iterator[str]) -> Iterator[str]:
    """Whole lines from chunks that may split them (a secret split across two chunks would
    escape the mask)."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *whole, pending = pending.split("\n")
        for line in whole:
            yield line + "\n"
    if pending:
        yield pending


def follow_logs(name: str, tail: int = 200) -> Iterator[str]:
    """Lines as they come (until interrupted), secrets masked."""
    ct = _container(name)
    for line in _lines(_follow_chunks(ct, tail)):
        yield _masked(line, ct.attrs)


def _follow_chunks(ct, tail: int) -> Iterator[str]:
    svc = _service(ct.attrs)
    if svc.supervisor == "systemd" and svc.unit:
        argv = _journalctl(svc.unit, tail, True)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            yield from proc.stdout
        finally:
            proc.terminate()
        return
    for chunk in ct.logs(tail=tail, timestamps=True, stream=True, follow=True):
        yield chunk.decode(errors="replace")


# -- ready / smoke -----------------------------------------------------------------------------


def _unit_active_state(unit: str) -> str:
    try:
        proc = subprocess.run(
            ["systemctl", "is-active", unit], capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError:
        return "unknown"
    return proc.stdout.strip() or "unknown"


def wait_ready(name: str, timeout: float = 1800.0, interval: float = 1.0) -> Service:
    """Wait until the container runs and ``/health`` answers 200 (TGI binds its port only after
    the weights are downloaded and warmed up). A container that stopped (and, for a systemd
    service, whose unit is not restarting it) fails at once with its last log lines and the
    likely cause."""
    first_restarts: list[int] = []

    def step(_elapsed: float) -> tuple[Service | None, str]:
        svc = status(name)
        if svc.health == HEALTHY:
            return svc, svc.health
        found = readiness.state_of(_container(name).attrs)
        first_restarts[:] = first_restarts or [found.restarts]
        down = svc.state in ("exited", "dead", "created")
        if down and svc.supervisor == "systemd" and svc.unit:
            down = _unit_active_state(svc.unit) not in ("activating", "active", "reloading")
        if down:
            _not_ready(svc, f"is {svc.state}")
        if readiness.crash_looping(first_restarts[0], found):
            _not_ready(svc, "is crash-looping")
        return None, svc.health

    try:
        return readiness.poll(step, timeout, first_delay=interval, factor=1.0).value
    except readiness.WaitTimedOut as late:
        _not_ready(status(name), f"did not answer /health 200 within {timeout:g}s ({late.status})")


def _not_ready(svc: Service, why: str) -> None:
    from tgi_infra.services.ready import likely_cause

    try:
        log = logs(svc.name, tail=40)  # masked
        attrs = _container(svc.name).attrs
    except LocalError as exc:
        log, attrs = f"(log unreadable: {exc})", {}
    raise NotReady(
        _masked(
            f"service {svc.name} {why}\nlikely cause: {likely_cause(log)}\nlast log lines:\n{log}",
            attrs,
        )
    )


def api_key(name: str) -> str | None:
    """The API key the container serves with (its ``API_KEY``, from service.env), for clients
    on this machine; None when the service needs none. Never printed by this module."""
    return _env(_container(name).attrs).get("API_KEY") or None


def smoke(name: str, semantic: bool = True, ready_timeout: float = 600.0, timeout: float = 60.0):
    """The smoke suite's HTTP checks (tgi_infra.smoke) against the service: a TargetReport
    (``.passed``, ``.checks`` with name, status, message)."""
    from tgi_infra.smoke.context import Settings
    from tgi_infra.smoke.runner import run_target
    from tgi_infra.smoke.targets import Target

    svc = status(name)
    if svc.url is None:
        raise LocalError(f"service {name} publishes no port: nothing to check")
    target = Target(
        name=name,
        url=svc.url,
        expected_model_id=svc.model_id,
        api_key_env="API_KEY",  # the container's own variable (from service.env)
        api_key=api_key(name),
        semantic=semantic,
        service=name,
    )
    return run_target(target, Settings(ready_timeout=ready_timeout, timeout=timeout))
