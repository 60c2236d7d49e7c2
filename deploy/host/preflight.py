"""Preflight: is this host fit for the deploy, and what will the deploy do on it?

Pure functions over the fact values of :mod:`deploy.facts` (gathered once into
:class:`PreflightFacts`) and the host's :class:`~deploy.config.HostConfig`:

* :func:`preflight` -> every :class:`PreflightProblem` (errors stop the deploy, warnings don't),
  each naming the host, what was found and the fix; among them each GPU service's image
  against the host's NVIDIA driver (the CUDA builds in ``engines/spec.py``), before any image
  is pulled;
* :func:`plan_host` -> :class:`HostPlan`, the decisions ``main.py`` and the operations branch on
  (install which engine, skip engine + toolkit under Docker Desktop, systemd or ``service``, how
  many GPUs the GPU proof must see);
* :func:`format_problems` -> text for the operator.

Nothing here talks to a host except :meth:`PreflightFacts.gather`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tgi_infra.engines.spec import (
    CONSUMER_GPU_RE,
    ENGINES,
    CudaBuild,
    cuda_build,
    driver_tuple,
)
from tgi_infra.host.facts import WSL_LIB_DIR, wsl_conf_value
from tgi_infra.host.reading import DAEMON_JSON_PATH
from tgi_infra.host.support import (
    image_arch_notes,
    image_arch_problems,
    unmanaged_docker_problem,
    wsl_boot_notes,
)

SUPPORTED_DISTROS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    # id: (lowest, highest) VERSION_ID, inclusive
    "debian": ((11,), (13,)),
    "ubuntu": ((20, 4), (24, 4)),
}
SUPPORTED_TEXT = "Debian 11-13 (bullseye, bookworm, trixie) or Ubuntu 20.04-24.04"
SUPPORTED_ARCHES = ("amd64", "arm64")

DOCKER_DESKTOP_NOTE = "Docker Desktop provides GPU support; skipping engine and toolkit"
WSL_DRIVER_BREAKAGE = (
    "nvidia-container-cli: mount error: file creation failed: "
    ".../usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: file exists"
)
NO_DRIVER_FIX = "install the NVIDIA driver (e.g. `ubuntu-drivers install`) or set gpus: none"

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class PreflightProblem:
    host: str
    severity: Severity
    code: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"host {self.host}: {self.severity}: {self.found}\n  fix: {self.fix}"


@dataclass
class PreflightFacts:
    """The fact values preflight needs (see :mod:`deploy.facts` for each shape)."""

    platform: dict[str, Any]
    systemd: bool
    docker: dict[str, Any]
    gpus: dict[str, Any]
    nvidia_ctk_version: str | None = None
    daemon_json: dict[str, Any] | None = None
    nvidia_driver_packages: list[str] = field(default_factory=list)
    wsl_conf: dict[str, dict[str, str]] | None = None

    @classmethod
    def gather(cls, host: Any) -> PreflightFacts:
        """Collect every fact from a pyinfra ``Host`` (one command per fact)."""
        from tgi_infra.host import facts as f

        return cls(
            platform=host.get_fact(f.HostPlatform),
            systemd=host.get_fact(f.SystemdPid1),
            docker=host.get_fact(f.DockerState),
            gpus=host.get_fact(f.NvidiaGpus),
            nvidia_ctk_version=host.get_fact(f.NvidiaCtkVersion),
            daemon_json=host.get_fact(f.DaemonJson),
            nvidia_driver_packages=host.get_fact(f.LinuxNvidiaDriverPackages),
            wsl_conf=host.get_fact(f.WslConf),
        )


@dataclass
class HostPlan:
    """What the deploy will do on one host, derived from its facts and config."""

    host: str
    wsl: bool
    systemd: bool
    distro_id: str | None
    codename: str | None
    arch: str | None
    docker_flavour: str
    # Docker Desktop (WSL) runs the engine and brings GPU support: no engine, no toolkit.
    skip_engine_and_toolkit: bool
    install_engine: bool
    engine_source: Literal["distro", "docker-ce"] | None
    engine_note: str
    install_toolkit: bool
    # how dockerd is kept running: systemd unit, `service docker start` (+ WSL [boot] command),
    # or nothing (Docker Desktop)
    dockerd_start: Literal["systemd", "service", "docker-desktop"]
    wsl_boot_command: bool
    # GPUs nvidia-smi sees on the host (what `docker run --gpus all` must show); 0 in CPU mode
    gpu_count: int
    # GPUs the host's services need (highest device id + 1 / count; 1 for "all")
    required_gpus: int
    gpu_proof: bool
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# config helpers (HostConfig contract: docs/architecture.md)


def required_gpu_count(cfg: Any) -> tuple[int, list[str]]:
    """GPUs the host must have for its present services, and who asks for what.

    A count N uses devices 0..N-1 and a list uses those ids, so the need is the highest id + 1;
    ``"all"`` needs at least one. Services may not share GPUs (config.py checks that), but the
    need is still the max, not the sum: device ids are absolute.
    """
    need = 0
    who: list[str] = []
    if cfg.cpu_mode:
        return 0, who
    for svc in cfg.present_services():
        ids = svc.gpu_ids(cfg)
        if ids == []:
            continue
        n = 1 if ids is None else max(ids) + 1
        need = max(need, n)
        who.append(f"{svc.name} (gpus={'all' if ids is None else svc.gpus!r})")
    return need, who


# --------------------------------------------------------------------------------------------
# version helpers


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text or not re.match(r"^\d+(\.\d+)*$", text):
        return None
    return tuple(int(p) for p in text.split("."))


def _upstream(version: str) -> tuple[int, ...] | None:
    """``1.17.8-1`` / ``1.17.8`` -> (1, 17, 8)."""
    match = re.match(r"^(?:\d+:)?(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


# --------------------------------------------------------------------------------------------
# plan


def plan_host(host_name: str, cfg: Any, facts: PreflightFacts) -> HostPlan:
    """The deploy's decisions for this host (pure)."""
    platform = facts.platform
    docker = facts.docker
    wsl = bool(platform.get("wsl"))
    flavour = docker.get("flavour") or "absent"
    cpu_mode = cfg.cpu_mode
    source = getattr(cfg, "docker_source", "distro")
    notes: list[str] = []

    skip = wsl and flavour == "docker-desktop"
    if skip:
        engine_note = DOCKER_DESKTOP_NOTE
        notes.append(DOCKER_DESKTOP_NOTE)
    elif flavour == "apt":
        engine_note = (
            f"Docker Engine from the package {docker.get('engine_package')} (apt) is installed: "
            "used as it is, no other engine installed"
        )
    else:
        package = "docker-ce" if source == "docker-ce" else "docker.io"
        have = (docker.get("packages") or {}).get(package)
        engine_note = (
            f"{package} {have} installed; kept up to date from {source}"
            if have
            else f"install {package} from {'Docker' if source == 'docker-ce' else 'the distro'}"
            " apt repository"
        )

    if skip:
        dockerd_start = "docker-desktop"
    elif facts.systemd:
        dockerd_start = "systemd"
    else:
        dockerd_start = "service"
    wsl_boot = wsl and not facts.systemd and not skip
    if wsl_boot:
        notes.append(
            "no systemd in this WSL distro: dockerd is started with `service docker start` and "
            "from /etc/wsl.conf [boot] command at distro start"
        )

    gpus = facts.gpus or {}
    visible = len(gpus.get("gpus") or []) if gpus.get("driver") else 0
    need, _ = required_gpu_count(cfg)

    pin = getattr(cfg, "nvidia_toolkit_version", None)
    ctk = facts.nvidia_ctk_version
    if not skip and pin and ctk and _upstream(pin) != _upstream(ctk):
        notes.append(f"NVIDIA Container Toolkit {ctk} installed; will be changed to {pin}")

    return HostPlan(
        host=host_name,
        wsl=wsl,
        systemd=bool(facts.systemd),
        distro_id=platform.get("distro_id"),
        codename=platform.get("codename"),
        arch=platform.get("arch"),
        docker_flavour=flavour,
        skip_engine_and_toolkit=skip,
        install_engine=not skip,
        engine_source=None if skip else source,
        engine_note=engine_note,
        install_toolkit=not skip,
        dockerd_start=dockerd_start,
        wsl_boot_command=wsl_boot,
        gpu_count=0 if cpu_mode else visible,
        required_gpus=need,
        gpu_proof=not cpu_mode,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# checks


class _Problems(list):
    def __init__(self, host: str):
        super().__init__()
        self.host = host

    def error(self, code: str, found: str, fix: str) -> None:
        self.append(PreflightProblem(self.host, "error", code, found, fix))

    def warning(self, code: str, found: str, fix: str) -> None:
        self.append(PreflightProblem(self.host, "warning", code, found, fix))


def _check_platform(p: _Problems, platform: dict[str, Any]) -> None:
    distro, version = platform.get("distro_id"), platform.get("version_id")
    name = platform.get("pretty_name") or f"{distro} {version}"
    if distro not in SUPPORTED_DISTROS:
        p.error(
            "distro",
            f"unsupported distribution {name!r} (ID={distro})",
            f"use {SUPPORTED_TEXT}",
        )
    else:
        low, high = SUPPORTED_DISTROS[distro]
        parsed = _version_tuple(version)
        if parsed is None:
            p.error(
                "distro-version",
                f"{name!r} has no release VERSION_ID (testing/unstable?)",
                f"use a stable release: {SUPPORTED_TEXT}",
            )
        elif not (low <= parsed <= high):
            p.error(
                "distro-version",
                f"unsupported release {name!r} (VERSION_ID={version})",
                f"use {SUPPORTED_TEXT}",
            )
    arch = platform.get("arch")
    if arch not in SUPPORTED_ARCHES:
        p.error(
            "arch",
            f"unsupported architecture {arch!r}",
            f"use an {' or '.join(SUPPORTED_ARCHES)} host (NVIDIA Container Toolkit packages "
            "exist only for those; TGI's images only for amd64)",
        )
    if platform.get("wsl") and platform.get("wsl_version") == 1:
        p.error(
            "wsl1",
            f"WSL1 (kernel {platform.get('kernel')}): no GPU and no Docker Engine support",
            "convert the distro to WSL2: `wsl --set-version <distro> 2` (on Windows)",
        )


def _check_gpus(p: _Problems, cfg: Any, facts: PreflightFacts) -> None:
    if cfg.cpu_mode:
        return
    wsl = bool(facts.platform.get("wsl"))
    gpus = facts.gpus or {}
    need, who = required_gpu_count(cfg)
    error = gpus.get("error")
    if not gpus.get("driver"):
        if not gpus.get("nvidia_smi"):
            found = "GPU mode (gpus: all) but no NVIDIA driver: nvidia-smi not found"
            if wsl:
                found += f" (also not in {WSL_LIB_DIR})"
                fix = (
                    "install or update the NVIDIA driver on Windows - WSL gets the GPU from it "
                    f"through {WSL_LIB_DIR}; do not install a Linux driver inside the distro - "
                    "then `wsl --update`; or set gpus: none"
                )
            else:
                fix = NO_DRIVER_FIX
            p.error("no-driver", found, fix)
        else:
            p.error(
                "driver-broken",
                f"GPU mode but the NVIDIA driver is not working: {gpus.get('nvidia_smi')} says "
                f"{error!r}",
                "reboot after a driver install/upgrade (a driver/library version mismatch "
                "clears then), check `dmesg | grep -i nvidia` (Secure Boot blocks unsigned "
                "modules), reinstall the driver; or set gpus: none",
            )
        return
    have = gpus.get("gpus") or []
    if len(have) < max(need, 1):
        seen = ", ".join(f"{g['index']}: {g['name']}" for g in have) or "none"
        asked = "; ".join(who) or "GPU mode"
        found = f"{len(have)} GPU(s) visible ({seen}) but the services need {max(need, 1)}: {asked}"
        if error:
            found += f" (nvidia-smi: {error})"
        p.error(
            "too-few-gpus",
            found,
            "give the services fewer GPUs (gpus: a count or device ids < "
            f"{len(have)}), deploy them to a host with more GPUs, or set gpus: none",
        )


def _host_driver(facts: PreflightFacts) -> str | None:
    """The NVIDIA driver version nvidia-smi reported (one driver per host), or None."""
    gpus = facts.gpus or {}
    records = (gpus.get("gpus") or []) if gpus.get("driver") else []
    return records[0].get("driver_version") if records else None


def _gpu_services(cfg: Any) -> list[Any]:
    """Present services that run on GPUs (CPU-mode services run no CUDA)."""
    if cfg.cpu_mode:
        return []
    return [s for s in cfg.present_services() if s.gpu_ids(cfg) != []]


def _service_gpus(svc: Any, cfg: Any, facts: PreflightFacts) -> list[dict[str, Any]]:
    ids = svc.gpu_ids(cfg)
    have = (facts.gpus or {}).get("gpus") or []
    return have if ids is None else [g for g in have if g.get("index") in ids]


def _fallbacks(build: CudaBuild) -> list[CudaBuild]:
    """The other published CUDA builds of the engine release that ``build`` belongs to."""
    for spec in ENGINES.values():
        if build in spec.cuda_builds:
            return [b for b in spec.cuda_builds if b != build]
    return []


def _check_driver_cuda(p: _Problems, cfg: Any, facts: PreflightFacts) -> None:
    """Each GPU service's image against the host's NVIDIA driver (engines/spec.py CudaBuild):
    a driver too old for the image's CUDA fails the container only after the image is pulled,
    with a generic GPU error. Custom images: see :func:`image_cuda_notes`."""
    driver = _host_driver(facts)
    if not driver or driver_tuple(driver) is None:
        return  # no driver: _check_gpus says so
    windows = bool((facts.platform or {}).get("wsl"))
    on = " (the Windows driver, through WSL2)" if windows else ""
    for svc in _gpu_services(cfg):
        build = cuda_build(svc.image)
        if build is None:
            continue
        gpus = _service_gpus(svc, cfg, facts)
        consumer = any(CONSUMER_GPU_RE.search(g.get("name") or "") for g in gpus)
        if build.runs_on(driver, windows=windows, consumer=consumer):
            continue
        names = ", ".join(sorted({g.get("name") or "?" for g in gpus})) or "no GPU"
        found = (
            f"service {svc.name}: field image: value {svc.image!r} is built on CUDA "
            f"{build.cuda} and needs an NVIDIA {build.requirement(windows)}; the driver found "
            f"is {driver}{on} ({names})"
        )
        need = build.min_for(windows)
        where = "on Windows (WSL2 uses the Windows driver)" if windows else "on the host"
        fix = f"upgrade the NVIDIA driver {where} to {need} or newer (R{need.split('.')[0]}+)"
        fits = [
            b for b in _fallbacks(build) if b.runs_on(driver, windows=windows, consumer=consumer)
        ]
        for b in fits:
            fix += f", or set the service's image to {b.image} (CUDA {b.cuda}, which {driver} runs)"
        for b in _fallbacks(build):
            if b not in fits:
                fix += (
                    f"; {b.image} (CUDA {b.cuda}) does not run on it either: it needs an "
                    f"NVIDIA {b.requirement(windows)}"
                )
        p.error("driver-too-old", found, fix)


def image_cuda_notes(cfg: Any, facts: PreflightFacts) -> list[str]:
    """GPU services whose image's CUDA version tgi-infra does not know: not checked."""
    driver = _host_driver(facts)
    if not driver:
        return []
    return [
        f"service {s.name}: image {s.image} is not one whose CUDA version tgi-infra knows: the "
        f"NVIDIA driver {driver} is not checked against it (known: "
        + ", ".join(b.image for spec in ENGINES.values() for b in spec.cuda_builds)
        + ")"
        for s in _gpu_services(cfg)
        if cuda_build(s.image) is None
    ]


def _check_wsl_driver_packages(p: _Problems, cfg: Any, facts: PreflightFacts) -> None:
    pkgs = facts.nvidia_driver_packages or []
    if not facts.platform.get("wsl") or not pkgs:
        return
    found = (
        f"Linux NVIDIA driver package(s) installed inside WSL: {', '.join(pkgs)}. On WSL the "
        f"GPU driver comes from Windows through {WSL_LIB_DIR}; a Linux driver inside the distro "
        f"shadows it and GPU containers fail with `{WSL_DRIVER_BREAKAGE}` "
        "(libnvidia-ml.so.1: file exists)"
    )
    fix = f"`apt-get purge {' '.join(pkgs)} && apt-get autoremove` (keep the driver on Windows)"
    if cfg.cpu_mode:
        p.warning("wsl-linux-driver", found, fix)
    else:
        p.error("wsl-linux-driver", found, fix)


def _check_docker(p: _Problems, cfg: Any, facts: PreflightFacts) -> None:
    docker = facts.docker or {}
    flavour = docker.get("flavour") or "absent"
    packages = docker.get("packages") or {}
    wsl = bool(facts.platform.get("wsl"))
    source = getattr(cfg, "docker_source", "distro")

    if flavour == "docker-desktop":
        if wsl:
            if not docker.get("running"):
                p.error(
                    "docker-desktop-down",
                    "Docker Desktop's WSL integration is set up but its engine does not answer "
                    f"({docker.get('error') or 'not running'})",
                    "start Docker Desktop on Windows and enable Settings > Resources > WSL "
                    "integration for this distro",
                )
            if packages:
                names = " ".join(sorted(packages))
                p.warning(
                    "docker-desktop-and-engine",
                    f"Docker Desktop serves `docker` here, and an in-distro engine ({names}) is "
                    "installed too; the deploy uses Docker Desktop and leaves that engine alone",
                    f"remove the unused engine (`apt-get purge {names}`), or turn off Docker "
                    "Desktop's WSL integration for this distro to use the in-distro engine",
                )
        if wsl:
            return
    unmanaged = unmanaged_docker_problem(docker, wsl)
    if unmanaged:
        p.error(*unmanaged)

    if "docker-ce" in packages and source == "distro":
        p.error(
            "engine-conflict",
            f"docker-ce {packages['docker-ce']} is installed but docker_source is distro "
            "(docker.io conflicts with it; apt would remove docker-ce and its containers' engine)",
            "set docker_source: docker-ce, or `apt-get purge docker-ce docker-ce-cli "
            "containerd.io` first",
        )
    if "docker.io" in packages and source == "docker-ce":
        p.error(
            "engine-conflict",
            f"docker.io {packages['docker.io']} is installed but docker_source is docker-ce "
            "(docker-ce conflicts with it; apt would remove docker.io)",
            "set docker_source: distro, or `apt-get purge docker.io` first",
        )
    daemon = facts.daemon_json or {}
    if facts.systemd and "hosts" in daemon:
        p.warning(
            "daemon-json-hosts",
            f'{DAEMON_JSON_PATH} sets "hosts" while the systemd unit passes -H fd://: '
            "dockerd refuses to start with both",
            'remove "hosts" from daemon.json or add a docker.service drop-in that drops -H',
        )


def _check_init(p: _Problems, facts: PreflightFacts) -> None:
    wsl = bool(facts.platform.get("wsl"))
    if facts.systemd:
        return
    if wsl:
        if (wsl_conf_value(facts.wsl_conf, "boot", "systemd") or "").lower() == "true":
            p.warning(
                "wsl-systemd-pending",
                "/etc/wsl.conf sets [boot] systemd=true but systemd is not PID 1 (the distro "
                "has not been restarted since)",
                "run `wsl --shutdown` on Windows and reopen the distro (else the deploy uses "
                "`service docker start`)",
            )
        return
    p.warning(
        "no-systemd",
        "systemd is not PID 1 on a native Linux host",
        "dockerd is started with `service docker start` and will not come back after a reboot "
        "by itself; boot the host with systemd for a lasting setup",
    )


def _check_toolkit(p: _Problems, cfg: Any, facts: PreflightFacts) -> None:
    pin = getattr(cfg, "nvidia_toolkit_version", None)
    ctk = facts.nvidia_ctk_version
    if not pin or not ctk:
        return
    want, have = _upstream(pin), _upstream(ctk)
    if want and have and have > want:
        p.warning(
            "toolkit-downgrade",
            f"NVIDIA Container Toolkit {ctk} is installed, newer than the pin "
            f"nvidia_toolkit_version={pin}",
            "apt refuses downgrades: raise the pin, or purge nvidia-container-toolkit* and "
            "libnvidia-container* first",
        )


def _check_image_arch(p: _Problems, cfg: Any, facts: PreflightFacts) -> None:
    arch = (facts.platform or {}).get("arch")
    if arch not in SUPPORTED_ARCHES:
        return  # the "arch" error says it
    for name, image in image_arch_problems(cfg, arch):
        p.error(
            "image-arch",
            f"service {name}: image {image} is published for linux/amd64 only and this host "
            f"is {arch}",
            f"set the service's image to a TGI image built for linux/{arch} (your own build, "
            "e.g. from TGI's Dockerfile; any image other than "
            "ghcr.io/huggingface/text-generation-inference is taken as built for this host), "
            "or deploy the service to an amd64 host",
        )


def preflight(host_name: str, cfg: Any, facts: PreflightFacts) -> list[PreflightProblem]:
    """Every problem with this host, errors first (pure)."""
    p = _Problems(host_name)
    _check_platform(p, facts.platform or {})
    _check_gpus(p, cfg, facts)
    _check_driver_cuda(p, cfg, facts)
    _check_wsl_driver_packages(p, cfg, facts)
    _check_docker(p, cfg, facts)
    _check_init(p, facts)
    _check_toolkit(p, cfg, facts)
    _check_image_arch(p, cfg, facts)
    return sorted(p, key=lambda x: x.severity != "error")


def check_host(
    host_name: str, cfg: Any, facts: PreflightFacts
) -> tuple[list[PreflightProblem], HostPlan]:
    """:func:`preflight` and :func:`plan_host` together."""
    plan = plan_host(host_name, cfg, facts)
    plan.notes += (
        image_arch_notes(cfg, plan.arch) + wsl_boot_notes(plan) + image_cuda_notes(cfg, facts)
    )
    return preflight(host_name, cfg, facts), plan


def errors(problems: list[PreflightProblem]) -> list[PreflightProblem]:
    return [x for x in problems if x.severity == "error"]


def format_problems(problems: list[PreflightProblem]) -> str:
    """Human text: one block per problem, grouped by host, with a count line."""
    if not problems:
        return "preflight: no problems"
    lines: list[str] = []
    n_err = len(errors(problems))
    lines.append(f"preflight: {n_err} error(s), {len(problems) - n_err} warning(s)")
    for host in dict.fromkeys(x.host for x in problems):
        lines.append(f"host {host}:")
        for x in problems:
            if x.host == host:
                lines.append(f"  {x.severity.upper()} [{x.code}] {x.found}")
                lines.append(f"    fix: {x.fix}")
    return "\n".join(lines)
