"""Host-level post-deploy checks (pytest-testinfra), in layers, per inventory host.

When ``/generate`` fails, these say whether the model, the container, Docker, the NVIDIA
runtime or the GPU is at fault. Layers, lowest first (the first failing one is the one to fix):

- ``connection``: the host answers over SSH (or ``local://``);
- ``docker``: dockerd active (``systemctl is-active docker``; without systemd ``service docker
  status`` / a live dockerd), and ``docker info`` answers;
- ``nvidia-runtime``: ``nvidia`` runtime in /etc/docker/daemon.json and in ``docker info``, the
  four toolkit packages installed (at ``nvidia_toolkit_version`` when pinned);
- ``container`` (per service): running, ``tgi-infra.config-hash`` label equal to what the deploy
  renders now (else "drifted"), not restarting, port listening on the bind address, env file
  0600 root:root;
- ``host``: free disk on the model volume, the host's GPUs inside the container by UUID, as the
  deploy's GPU proof compares them (``tgi_infra.host.gpu_proof``; GPU mode only);
- ``http``: the HTTP smoke checks (smoke/checks.py), reported next to these.

Every failure names what was expected, what was found and the next command to run.

Each check is a pytest-testinfra test of smoke/test_hosts.py (one per host, service or model
volume), run by pytest: ``pytest --pyargs tgi_infra.smoke --inventory FILE --host-checks``, or
in this process by ``run_hosts`` (the command line's ``--host-checks``), whose reports are the
checks' records (``HostRun``), in the order below whatever order pytest ran them in.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgi_infra import local
from tgi_infra.host import reading
from tgi_infra.host.gpu_proof import PROOF_QUERY, compare_gpu_uuids, expected_uuids
from tgi_infra.host.reading import FAILED, NVIDIA_SMI_QUERY, PASSED, SKIPPED, WSL_NVIDIA_SMI
from tgi_infra.services.supervision import supervisor
from tgi_infra.smoke import hostchecks_parse as hp
from tgi_infra.smoke.hostchecks_connect import Connection, testinfra_host

LAYERS = ("connection", "docker", "nvidia-runtime", "container", "host")
REPORT_LAYERS = (*LAYERS, "http")


@dataclass(frozen=True)
class HostCheckSettings:
    min_free_gb: float = 20.0
    restart_window_s: float = 3.0
    inventory: str = "inventories/gpu.py"  # for the redeploy hint
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


@dataclass
class HostCheck:
    layer: str
    name: str
    status: str
    duration_s: float
    message: str
    service: str | None = None
    expected: str | None = None
    found: str | None = None
    next_step: str | None = None

    @property
    def label(self) -> str:
        return f"{self.service}: {self.name}" if self.service else self.name


@dataclass
class HostReport:
    host: str
    connection: str
    checks: list[HostCheck] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.status != FAILED for c in self.checks)

    def layer_status(self, layer: str) -> str | None:
        statuses = [c.status for c in self.checks if c.layer == layer]
        if not statuses:
            return None
        if FAILED in statuses:
            return FAILED
        return PASSED if PASSED in statuses else SKIPPED

    def first_failing_layer(self, http_failed: bool = False) -> str | None:
        for layer in LAYERS:
            if self.layer_status(layer) == FAILED:
                return layer
        return "http" if http_failed else None

    def check(self, name: str, service: str | None = None) -> HostCheck:
        for c in self.checks:
            if c.name == name and c.service == service:
                return c
        raise KeyError(f"no check {name!r} (service {service!r}) on {self.host}")


class Failed(Exception):
    def __init__(self, summary: str, expected: str, found: str, next_step: str):
        super().__init__(hp.failure_text(summary, expected, found, next_step))
        self.expected, self.found, self.next_step = expected, found, next_step


class Skipped(Exception):
    pass


class _CheckedHost:
    """One host's testinfra connection, config and what earlier checks learned."""

    def __init__(self, name: str, cfg: Any, host: Any, conn: Connection, settings):
        self.name, self.cfg, self.host, self.conn, self.settings = name, cfg, host, conn, settings
        self.systemd = False
        self.info: dict[str, Any] | None = None
        self.docker_ok = False
        self.desktop = False
        self.containers: dict[str, hp.ContainerInfo | None] = {}
        self.gpu_count: int | None = None
        self.gpus: list[dict[str, Any]] | None = None  # nvidia-smi records (probes), host side
        self.report = HostReport(host=name, connection=conn.describe())
        self.reachable: bool | None = None  # the connect check's answer (None: not run yet)
        self.sampled_at: float | None = None  # the first container sample (restart window)
        self.second: dict[str, hp.ContainerInfo | None] | None = None  # the second sample
        self.started = self.ended = time.monotonic()
        # On this machine, as this user: the Docker API through docker-py (tgi_infra.local),
        # where it is installed; over SSH, with sudo, or in a minimal copy: the docker CLI.
        self.docker_py = (
            host is not None and conn.ssh is None and not conn.sudo and local.docker_py_available()
        )

    @property
    def docker_via(self) -> str:
        return "docker-py" if self.docker_py else "docker CLI"

    def sh(self, cmd: str):
        return self.host.run(cmd)

    def hint(self, cmd: str) -> str:
        return f"sudo {cmd}" if self.conn.sudo and not cmd.startswith("pyinfra") else cmd

    @property
    def redeploy(self) -> str:
        return f"pyinfra {self.settings.inventory} deploy/main.py --limit {self.name}"

    def restart_docker(self) -> str:
        return "systemctl restart docker" if self.systemd else "service docker restart"

    def services(self) -> list[Any]:
        return [s for s in self.cfg.tgi_services if s.present]

    def inspect(self) -> dict[str, hp.ContainerInfo | None]:
        names = [s.name for s in self.services()]
        if not names:
            return {}
        if self.docker_py:
            found = local.inspect_containers(names)
            return {n: None if a is None else hp.container_info(a) for n, a in found.items()}
        out = self.sh("docker container inspect " + " ".join(map(shlex.quote, names)))
        return hp.parse_inspect(out.stdout, names)


def _timed(
    report: HostReport, layer: str, name: str, fn: Callable[[], str], service: str | None = None
) -> HostCheck:
    start = time.monotonic()
    try:
        msg = fn()
        c = HostCheck(layer, name, PASSED, 0.0, msg, service)
    except Failed as exc:
        c = HostCheck(
            layer, name, FAILED, 0.0, str(exc), service, exc.expected, exc.found, exc.next_step
        )
    except Skipped as exc:
        c = HostCheck(layer, name, SKIPPED, 0.0, str(exc), service)
    except Exception as exc:  # a command that could not run, an unforeseen output: report it
        c = HostCheck(layer, name, FAILED, 0.0, f"unexpected {type(exc).__name__}: {exc}", service)
    c.duration_s = time.monotonic() - start
    report.checks.append(c)
    return c


# -- connection ------------------------------------------------------------------------------


def check_connection(p: _CheckedHost) -> str:
    try:
        out = p.sh(reading.SYSTEMD_PID1_COMMAND)
    except RuntimeError as exc:  # ssh exits 255: could not connect / authenticate
        raise Failed(
            f"cannot reach {p.name}",
            f"a shell on {p.conn.describe()}",
            str(getattr(exc.args[0], "stderr", exc)).strip() or "ssh exited 255",
            f"ssh -v {p.conn.ssh.hostname if p.conn.ssh else 'localhost'} true",
        ) from None
    p.systemd = hp.systemd_pid1(out.stdout)
    return f"{p.conn.describe()}; supervisor: {'systemd' if p.systemd else 'no systemd (docker)'}"


# -- docker ----------------------------------------------------------------------------------


def _docker_info_api(p: _CheckedHost) -> dict[str, Any]:
    """``docker info`` through docker-py (same dict as the CLI's ``{{json .}}``)."""
    try:
        return local.docker_info()
    except local.LocalError as exc:
        nxt = "systemctl status docker --no-pager" if p.systemd else "service docker status"
        raise Failed(
            "the Docker API does not answer",
            "the Docker daemon answers on its socket (docker-py: docker.from_env().info())",
            str(exc)[:300],
            p.hint(nxt),
        ) from None


def check_docker_info(p: _CheckedHost) -> str:
    if p.docker_py:
        info = _docker_info_api(p)
        p.info, p.docker_ok, p.desktop = info, True, hp.is_docker_desktop(info)
        return f"Docker {info.get('ServerVersion')} ({info.get('OperatingSystem')}) via docker-py"
    out = p.sh("docker info --format '{{json .}}'")
    info = None
    if out.rc == 0:
        try:
            info = hp.parse_docker_info(out.stdout)
        except hp.ParseError:
            info = None
    if info is None or info.get("ServerErrors") or not info.get("ServerVersion"):
        said = (out.stderr or out.stdout).strip().splitlines()
        errors = (info or {}).get("ServerErrors") or said[-1:] or [f"exit {out.rc}"]
        nxt = "systemctl status docker --no-pager" if p.systemd else "service docker status"
        raise Failed(
            "docker info does not answer",
            "`docker info` answers (Docker daemon reachable on its socket)",
            "; ".join(map(str, errors))[:300],
            p.hint(nxt),
        )
    p.info, p.docker_ok, p.desktop = info, True, hp.is_docker_desktop(info)
    return f"Docker {info.get('ServerVersion')} ({info.get('OperatingSystem')}) via docker CLI"


def check_dockerd(p: _CheckedHost) -> str:
    if p.desktop:
        return "Docker Desktop: the daemon runs outside this distro"
    if p.systemd:
        out = p.sh("systemctl is-active docker")
        state = out.stdout.strip() or f"exit {out.rc}"
        if state != "active":
            raise Failed(
                "Docker daemon is not active",
                "`systemctl is-active docker` = active",
                state,
                p.hint(
                    "systemctl status docker --no-pager; journalctl -u docker -n 50 "
                    "--no-pager; systemctl start docker"
                ),
            )
        return "systemctl is-active docker: active"
    out = p.sh(
        "if [ -x /etc/init.d/docker ]; then service docker status >/dev/null 2>&1; "
        'echo "service=$?"; fi; echo "pid=$(pidof dockerd || true)"'
    )
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    pid, service = values.get("pid", "").strip(), values.get("service")
    if not pid:
        found = "no dockerd process" + (
            f"; `service docker status` exit {service}" if service is not None else ""
        )
        raise Failed(
            "Docker daemon is not running (no systemd: started by `service docker start`)",
            "a live dockerd process",
            found,
            p.hint("service docker start; tail -n 50 /var/log/docker.log"),
        )
    return f"dockerd pid {pid}" + (f", service docker status exit {service}" if service else "")


# -- nvidia-runtime --------------------------------------------------------------------------


def _desktop_skip(p: _CheckedHost) -> None:
    if p.desktop:
        raise Skipped("Docker Desktop carries GPU support: no toolkit on this distro")


def check_daemon_json(p: _CheckedHost) -> str:
    _desktop_skip(p)
    out = p.sh(f"cat {hp.DAEMON_JSON}")
    text = out.stdout if out.rc == 0 else None
    configure = p.hint(f"nvidia-ctk runtime configure --runtime=docker && {p.restart_docker()}")
    try:
        daemon = hp.parse_daemon_json(text)
    except hp.ParseError as exc:
        raise Failed("daemon.json is unreadable", "valid JSON", str(exc), configure) from None
    runtimes = hp.daemon_runtimes(daemon)
    if "nvidia" not in runtimes:
        raise Failed(
            "the nvidia runtime is not configured",
            f'"nvidia" in {hp.DAEMON_JSON} "runtimes"',
            "no such file" if daemon is None else f"runtimes: {runtimes or 'none'}",
            configure,
        )
    if p.cfg.nvidia_runtime_default and (daemon or {}).get("default-runtime") != "nvidia":
        raise Failed(
            "nvidia is not the default runtime (nvidia_runtime_default: true)",
            '"default-runtime": "nvidia"',
            repr((daemon or {}).get("default-runtime")),
            p.hint(
                "nvidia-ctk runtime configure --runtime=docker --set-as-default && "
                + p.restart_docker()
            ),
        )
    return f"daemon.json runtimes: {', '.join(runtimes)}"


def check_docker_runtimes(p: _CheckedHost) -> str:
    _desktop_skip(p)
    if not p.docker_ok or p.info is None:
        raise Skipped("not run: docker info does not answer (layer docker failed)")
    runtimes = hp.info_runtimes(p.info)
    if "nvidia" not in runtimes:
        raise Failed(
            "dockerd does not know the nvidia runtime",
            '"nvidia" in `docker info` Runtimes',
            f"Runtimes: {', '.join(runtimes) or 'none'}",
            p.hint(
                f"{p.restart_docker()}  # reloads daemon.json; if it has no nvidia entry: "
                "nvidia-ctk runtime configure --runtime=docker"
            ),
        )
    return f"docker info Runtimes: {', '.join(runtimes)}"


def check_toolkit_packages(p: _CheckedHost) -> str:
    _desktop_skip(p)
    out = p.sh(reading.toolkit_dpkg_command())
    installed = hp.parse_dpkg(out.stdout)
    pin = p.cfg.nvidia_toolkit_version
    problems = hp.package_problems(installed, pin)
    if problems:
        specs = " ".join(f"{pkg}={pin}" if pin else pkg for pkg in hp.TOOLKIT_PACKAGES)
        raise Failed(
            "NVIDIA Container Toolkit packages are not as configured",
            f"{', '.join(hp.TOOLKIT_PACKAGES)} installed" + (f" at {pin}" if pin else ""),
            "; ".join(problems),
            p.hint(f"apt-get install -y --allow-downgrades {specs}") + f"  (or {p.redeploy})",
        )
    versions = sorted(set(installed[k] for k in hp.TOOLKIT_PACKAGES))
    return f"4 toolkit packages at {', '.join(versions)}" + (" (pinned)" if pin else "")


# -- container -------------------------------------------------------------------------------


def expected_hash(p: _CheckedHost, svc: Any) -> str:
    """The config-hash label deploy/services/operations.py puts on the container, computed the same
    way: this machine's secrets, systemd or docker supervisor, host GPU count."""
    from tgi_infra.services.render import render_for_deploy

    return render_for_deploy(
        p.name, p.cfg, svc, supervisor(p.systemd, p.desktop), p.gpu_count, p.settings.environ
    ).config_hash


def _need_docker(p: _CheckedHost) -> None:
    if not p.docker_ok:
        raise Skipped("not run: docker info does not answer (layer docker failed)")


def check_running(p: _CheckedHost, svc: Any) -> str:
    _need_docker(p)
    c = p.containers.get(svc.name)
    if c is None:
        raise Failed(
            f"container {svc.name} does not exist",
            f"container {svc.name} running",
            "no such container",
            p.redeploy,
        )
    if not c.running:
        unit = (
            f"; systemctl status tgi-{svc.name}.service --no-pager"
            if supervisor(p.systemd, p.desktop) == "systemd"
            else ""
        )
        raise Failed(
            f"container {svc.name} is not running",
            "State.Running = true",
            f"status {c.status}, exit code {c.exit_code}",
            p.hint(f"docker logs --tail 50 {svc.name}{unit}"),
        )
    return f"running since {c.started_at}"


def check_config_hash(p: _CheckedHost, svc: Any) -> str:
    from tgi_infra.services.render import LABEL_HASH

    _need_docker(p)
    c = p.containers.get(svc.name)
    if c is None:
        raise Skipped("not run: no container")
    want = expected_hash(p, svc)
    have = hp.drift(want, c.labels, LABEL_HASH)
    if have is not None:
        raise Failed(
            f"container {svc.name} drifted from the deployed config (recreated or changed by "
            "hand, or the inventory/secrets changed since the deploy)",
            f"{LABEL_HASH}={want[:16]}...",
            f"{LABEL_HASH}={have[:16]}..." if have != "label missing" else have,
            p.redeploy,
        )
    return f"{LABEL_HASH} matches ({want[:12]})"


def check_restarts(p: _CheckedHost, svc: Any, second: dict[str, hp.ContainerInfo | None]) -> str:
    _need_docker(p)
    first = p.containers.get(svc.name)
    if first is None:
        raise Skipped("not run: no container")
    what = hp.restart_climb(first, second.get(svc.name))
    if what is not None:
        raise Failed(
            f"container {svc.name} is restarting",
            f"no restart within {p.settings.restart_window_s:g}s",
            what,
            p.hint(f"docker logs --tail 50 {svc.name}"),
        )
    return f"stable over {p.settings.restart_window_s:g}s (RestartCount {first.restart_count})"


def check_port(p: _CheckedHost, svc: Any) -> str:
    _need_docker(p)
    spec = hp.socket_spec(str(svc.bind), int(svc.port))
    if not p.host.socket(spec).is_listening:
        raise Failed(
            f"nothing listens on {svc.bind}:{svc.port}",
            f"{spec} listening (docker -p {svc.bind}:{svc.port}:80)",
            "not listening",
            p.hint(f"docker port {svc.name}; ss -ltnp | grep :{svc.port}"),
        )
    return f"{spec} listening"


def check_env_file(p: _CheckedHost, svc: Any) -> str:
    from tgi_infra.services.render import ENV_FILE, ENV_FILE_MODE

    path = posixpath.join(p.cfg.service_dir(svc), ENV_FILE)
    f = p.host.file(path)
    if not f.exists:
        raise Failed("env file missing", f"{path} present", "no such file", p.redeploy)
    mode, user, group = f.mode, f.user, f.group
    if mode != ENV_FILE_MODE or user != "root" or group != "root":
        fix = []
        if mode != ENV_FILE_MODE:
            fix.append(f"chmod 600 {path}")
        if (user, group) != ("root", "root"):
            fix.append(f"chown root:root {path}")
        raise Failed(
            "env file (holds the HF token / API key) is not private",
            f"{hp.mode_text(ENV_FILE_MODE)} root:root",
            f"{hp.mode_text(mode)} {user}:{group}",
            p.hint(" && ".join(fix)),
        )
    return f"{path} 0600 root:root"


# -- host ------------------------------------------------------------------------------------


def check_disk(p: _CheckedHost, volume: str) -> str:
    q = shlex.quote(volume)
    out = p.sh(f'd={q}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d"')
    avail, mount = hp.parse_df_avail_bytes(out.stdout)
    need = p.settings.min_free_gb * 1e9
    gb = avail / 1e9
    if avail < need:
        raise Failed(
            f"low disk on the model volume {volume}",
            f">= {p.settings.min_free_gb:g} GB free",
            f"{gb:.1f} GB free on {mount}",
            p.hint(f"df -h {q}; du -sh {q}/*; docker system df"),
        )
    return f"{gb:.1f} GB free on {mount} (min {p.settings.min_free_gb:g} GB)"


def check_gpus(p: _CheckedHost, svc: Any) -> str:
    """The container sees exactly the host GPUs it was given, by UUID (the deploy's GPU proof,
    ``tgi_infra.host.gpu_proof``: a count passes a container that sees other GPUs)."""
    if p.cfg.cpu_mode:
        raise Skipped("CPU mode (host gpus: none): no GPU to check")
    ids = svc.gpu_ids(p.cfg)
    if ids == []:
        raise Skipped(f"service {svc.name} has gpus: none")
    _need_docker(p)
    c = p.containers.get(svc.name)
    if c is None or not c.running:
        raise Skipped("not run: container not running")
    hint = p.hint(
        f"docker exec {svc.name} {PROOF_QUERY}; nvidia-smi -L; "
        "docker info --format '{{json .Runtimes}}'"
    )
    if not p.gpus:
        raise Failed(
            f"cannot read the host's GPUs for {svc.name}",
            f"`nvidia-smi --query-gpu={NVIDIA_SMI_QUERY}` on the host lists its GPUs",
            "no GPU listed (driver not loaded, or nvidia-smi missing)",
            hint,
        )
    want = expected_uuids(p.gpus, ids)
    out = p.sh(f"docker exec {shlex.quote(svc.name)} {PROOF_QUERY}")
    if out.rc != 0:
        said = (out.stderr or out.stdout).strip().splitlines()
        problem: str | None = f"exit {out.rc}: {said[-1] if said else ''}"
    else:
        problem = compare_gpu_uuids(want, out.stdout.splitlines())
    if problem:
        raise Failed(
            f"GPUs inside {svc.name} do not match",
            f"the host's GPU(s) {', '.join(want)} inside the container",
            problem,
            hint,
        )
    return f"{len(want)} GPU(s) inside the container, the host's by UUID"


def read_host_gpus(p: _CheckedHost) -> None:
    """The host's GPUs (index, uuid, ...) with the deploy's query and parser; ``gpu_count``."""
    p.gpus, p.gpu_count = None, None
    if p.cfg.cpu_mode:
        return
    out = p.sh(
        "smi=$(command -v nvidia-smi 2>/dev/null || echo " + WSL_NVIDIA_SMI + "); "
        f'"$smi" --query-gpu={NVIDIA_SMI_QUERY} --format=csv,noheader'
    )
    if out.rc != 0:
        return
    try:
        p.gpus = reading.parse_nvidia_smi_csv(out.stdout.splitlines())
    except ValueError:
        return
    p.gpu_count = len(p.gpus) or None


# -- run -------------------------------------------------------------------------------------

CONTAINER_CHECKS = ("running", "config_hash", "restarts", "port", "env_file")


def services_of(cfg: Any) -> list[Any]:
    return [s for s in cfg.tgi_services if s.present]


def volumes_of(cfg: Any) -> list[str]:
    return sorted({str(s.volume) for s in services_of(cfg)})


def report_order(cfg: Any) -> list[tuple[str, str | None]]:
    """(check name, service) in the order a host's report lists them: the docker daemon before
    ``docker info`` (which runs first: it tells Docker Desktop), each service's container checks
    together, the disks, then each service's GPUs."""
    services = [s.name for s in services_of(cfg)]
    order: list[tuple[str, str | None]] = [
        ("connect", None),
        ("dockerd", None),
        ("docker_info", None),
        ("daemon_json", None),
        ("docker_runtimes", None),
        ("toolkit_packages", None),
    ]
    order += [(name, svc) for svc in services for name in CONTAINER_CHECKS]
    order += [(f"disk_free {v}", None) for v in volumes_of(cfg)]
    return order + [("gpus", svc) for svc in services]


def first_sample(p: _CheckedHost) -> None:
    """Before the first container or host check: the host's GPUs (the config hash counts them)
    and the first container sample, once."""
    if p.sampled_at is not None:
        return
    read_host_gpus(p)
    if p.docker_ok and p.services():
        p.containers = p.inspect()
    p.sampled_at = time.monotonic()


def second_sample(p: _CheckedHost) -> dict[str, hp.ContainerInfo | None]:
    """The containers again, ``restart_window_s`` after the first sample (when one runs)."""
    first_sample(p)
    if p.second is None:
        p.second = {}
        if p.docker_ok and p.services():
            if any(c is not None and c.running for c in p.containers.values()):
                assert p.sampled_at is not None
                left = p.settings.restart_window_s - (time.monotonic() - p.sampled_at)
                time.sleep(max(0.0, left))
            p.second = p.inspect()
    return p.second


def run_check(
    p: _CheckedHost, layer: str, name: str, fn: Callable[..., str], *args: Any, service=None
) -> HostCheck:
    """One check on the host, recorded in its report: ``fn(p, *args)``; not run when the host
    is not reachable. What it builds on runs first when it has not (pytest -k may leave it
    out): the connection, and ``docker info`` (it tells Docker Desktop) for every other check.
    A check already recorded (the connection's set-up failure) is not run again."""
    for c in p.report.checks:
        if (c.name, c.service) == (name, service):
            return c
    if layer != "connection" and p.reachable is None:
        run_check(p, "connection", "connect", check_connection)
    if name not in ("connect", "docker_info") and p.reachable and p.info is None:
        if not any(c.name == "docker_info" for c in p.report.checks):
            run_check(p, "docker", "docker_info", check_docker_info)
    if layer != "connection" and not p.reachable:
        check = HostCheck(layer, name, SKIPPED, 0.0, "not run: host not reachable", service)
        p.report.checks.append(check)
    else:

        def call() -> str:
            if layer in ("container", "host"):
                first_sample(p)  # an error here is this check's (unexpected ...) failure
            return fn(p, *args)

        check = _timed(p.report, layer, name, call, service)
        if layer == "connection":
            p.reachable = check.status != FAILED
    p.ended = time.monotonic()
    return check


class HostRun:
    """The hosts of one run, each connected (testinfra) on its first check, and their reports."""

    def __init__(
        self,
        hosts: list[tuple[str, Any, Connection]],
        settings: HostCheckSettings,
        workdir: str | None = None,
    ):
        import tempfile

        self.hosts = {name: (cfg, conn) for name, cfg, conn in hosts}
        self.settings = settings
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="tgi-hostchecks-")
        self.workdir = workdir or self._tmp.name
        self.checked: dict[str, _CheckedHost] = {}

    def get(self, name: str) -> _CheckedHost:
        if name not in self.checked:
            cfg, conn = self.hosts[name]
            try:
                host = testinfra_host(conn, self.workdir)
            except Exception as exc:
                p = _CheckedHost(name, cfg, None, conn, self.settings)
                p.reachable = False
                p.report.checks.append(
                    HostCheck(
                        "connection", "connect", FAILED, 0.0, f"cannot set up testinfra: {exc}"
                    )
                )
            else:
                p = _CheckedHost(name, cfg, host, conn, self.settings)
            self.checked[name] = p
        return self.checked[name]

    def reports(self) -> list[HostReport]:
        """The reports of the hosts checked, in the inventory's order, checks in report order."""
        out = []
        for name in self.hosts:
            p = self.checked.get(name)
            if p is None:
                continue
            order = {key: i for i, key in enumerate(report_order(p.cfg))}
            p.report.checks.sort(key=lambda c: order.get((c.name, c.service), len(order)))
            p.report.duration_s = p.ended - p.started
            out.append(p.report)
        return out

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def run_host(
    name: str, cfg: Any, conn: Connection, settings: HostCheckSettings, workdir: str | None = None
) -> HostReport:
    return run_hosts([(name, cfg, conn)], settings, workdir)[0]


def inventory_hosts(
    inventory: str, only: list[str] | None = None, local: bool = False
) -> list[tuple[str, Any, Connection]]:
    """(name, HostConfig, Connection) of the inventory's hosts (``only``: these names)."""
    from tgi_infra.config import validate_inventory
    from tgi_infra.smoke.hostchecks_connect import connection_from_data
    from tgi_infra.smoke.targets import TargetConfigError, load_inventory_hosts

    if inventory.endswith(".json"):  # `python -m tgi_infra.smoke.inventory_loader INV > hosts.json`
        try:
            hosts = [(n, d) for n, d in json.loads(Path(inventory).read_text())]
        except (OSError, ValueError) as exc:
            raise TargetConfigError(f"--inventory {inventory}: {exc}") from exc
    else:
        hosts = load_inventory_hosts(inventory)
    try:
        configs = validate_inventory(hosts)
    except Exception as exc:
        raise TargetConfigError(f"--inventory {inventory}: invalid config:\n{exc}") from exc
    data = dict(hosts)
    unknown = sorted(set(only or []) - set(configs))
    if unknown:
        raise TargetConfigError(
            f"--host {', '.join(unknown)}: not in {inventory} (hosts: {', '.join(configs)})"
        )
    return [
        (name, cfg, connection_from_data(name, data[name], local=local))
        for name, cfg in configs.items()
        if not only or name in only
    ]


def run_hosts(
    hosts: list[tuple[str, Any, Connection]],
    settings: HostCheckSettings,
    workdir: str | None = None,
) -> list[HostReport]:
    """Host checks of every (name, HostConfig, Connection): the tests of smoke/test_hosts.py,
    run by pytest in this process (smoke/plugin.py ``run_host_tests``)."""
    if not hosts:
        return []
    from tgi_infra.smoke.plugin import run_host_tests

    return run_host_tests(hosts, settings, workdir)


def _main(argv: list[str] | None = None) -> int:
    """``python -m tgi_infra.smoke.hostchecks``: host checks alone, plain text, for a host that
    has only python3 + testinfra (and its pytest), pydantic and jinja2 (no pyinfra, no rich):
    ``--inventory`` may be the JSON ``python -m tgi_infra.smoke.inventory_loader INVENTORY``
    prints on the control machine."""
    import argparse
    import sys

    from tgi_infra.smoke.targets import TargetConfigError

    ap = argparse.ArgumentParser(prog="python -m tgi_infra.smoke.hostchecks")
    ap.add_argument("--inventory", required=True, help="pyinfra inventory or its hosts JSON")
    ap.add_argument("--host", action="append", default=[], help="only this host (repeat)")
    ap.add_argument("--local", action="store_true", help="testinfra local:// (needs one --host)")
    ap.add_argument(
        "--min-free-gb", type=float, default=float(os.environ.get("TGI_SMOKE_MIN_FREE_GB", "20"))
    )
    ap.add_argument("--restart-window", type=float, default=3.0)
    ap.add_argument("--json", metavar="PATH", help="write [{host, checks}] as JSON ('-': stdout)")
    args = ap.parse_args(argv)
    if args.local and len(args.host) != 1:
        print("--local checks the machine it runs on: give exactly one --host", file=sys.stderr)
        return 2
    try:
        hosts = inventory_hosts(args.inventory, args.host, local=args.local)
    except TargetConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = HostCheckSettings(args.min_free_gb, args.restart_window, args.inventory)
    reports = run_hosts(hosts, settings)
    for r in reports:
        print(f"== {r.host} ({r.connection}): first failing layer: {r.first_failing_layer()}")
        for c in r.checks:
            print(f"  [{c.status:7}] {c.layer:14} {c.label}: {c.message}")
    if args.json:
        data = json.dumps(
            [
                {
                    "host": r.host,
                    "connection": r.connection,
                    "passed": r.passed,
                    "first_failing_layer": r.first_failing_layer(),
                    "checks": [c.__dict__ for c in r.checks],
                }
                for r in reports
            ],
            indent=2,
        )
        if args.json == "-":
            print(data)
        else:
            Path(args.json).write_text(data + "\n")
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(_main())
