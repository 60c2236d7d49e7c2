"""Preflight rules for the hosts users really have (issue 12): what the deploy can manage there,
what it cannot, and what it relies on. Pure functions over the preflight facts and the config;
:mod:`tgi_infra.host.preflight` calls them.

* **Image architecture.** TGI's published images (``ghcr.io/huggingface/text-generation-inference``,
  3.3.7 and the other tags) are built for ``linux/amd64`` only, so on any other architecture the
  deploy refuses (before any change) a service using them. A user with an image for the host's
  architecture says so by naming it: any other image repository in the service's ``image`` is
  taken as built for this host, and the preflight notes say so.
* **Docker that apt does not manage.** The deploy installs and restarts Docker Engine from apt
  (``docker.io`` / ``docker-ce``) and configures Docker's ``daemon.json``; an engine apt already
  manages is used as it is, whatever its package is called (``moby-engine``, a vendor's renamed
  ``docker-ce``): dpkg is asked which package owns the dockerd on PATH. A snap's dockerd
  reads ``/var/snap/docker/current/config/daemon.json`` and runs as ``snap.docker.dockerd``;
  static binaries have whatever unit (or none) their owner made; Docker Desktop for Linux runs
  containers in a VM without the host's GPUs. None of these can be managed: refused, with what
  the deploy would and would not do and how to get to a host it can manage.
* **WSL ``[boot] command``** (Microsoft's wsl-config docs: "only available on Windows 11 and
  Server 2022"): where the deploy relies on it (WSL without systemd, in-distro engine) the notes
  say so, and what a Windows 10 user does instead.
"""

from __future__ import annotations

from typing import Any

from tgi_infra.config.grammar import split_image
from tgi_infra.host.reading import DAEMON_JSON_PATH

# Repositories of images published for linux/amd64 only (TGI's GitHub workflow
# .github/workflows/build.yaml builds `platforms: linux/amd64`; no arm64 manifest exists).
AMD64_ONLY_REPOSITORIES = ("huggingface/text-generation-inference",)

SNAP_DAEMON_JSON = "/var/snap/docker/current/config/daemon.json"

WSL_BOOT_WINDOWS_NOTE = (
    "/etc/wsl.conf [boot] command works only on Windows 11 and Windows Server 2022 (Microsoft's "
    "wsl-config docs); on Windows 10 it is ignored and dockerd does not start with the distro: "
    "start it yourself after each `wsl --shutdown`/reboot (`wsl -d <distro> -u root service "
    "docker start`, e.g. from a Windows Task Scheduler task at log-on), or turn on systemd "
    "([boot] systemd=true, needs WSL 0.67.6+ from the Microsoft Store) and re-run the deploy"
)


def _repository(image: str) -> str:
    path = split_image(image)[1]
    return path.split("@", 1)[0].rsplit(":", 1)[0] if ":" in path.split("/")[-1] else path


def amd64_only(image: str) -> bool:
    return _repository(image) in AMD64_ONLY_REPOSITORIES


def image_arch_problems(cfg: Any, arch: str | None) -> list[tuple[str, str]]:
    """(service name, image) of present services whose image has no build for ``arch``."""
    if not arch or arch == "amd64":
        return []
    return [(s.name, s.image) for s in cfg.present_services() if amd64_only(s.image)]


def image_arch_notes(cfg: Any, arch: str | None) -> list[str]:
    if not arch or arch == "amd64":
        return []
    return [
        f"service {s.name}: image {s.image} is taken as built for linux/{arch} (named in the "
        "inventory; TGI's own images are linux/amd64 only)"
        for s in cfg.present_services()
        if not amd64_only(s.image)
    ]


def docker_origin(docker: dict[str, Any], wsl: bool) -> str:
    """Who manages the docker on PATH: ``apt``, ``absent``, ``snap``, ``static``,
    ``docker-desktop-wsl`` or ``docker-desktop-linux``."""
    flavour = docker.get("flavour") or "absent"
    if flavour == "docker-desktop":
        return "docker-desktop-wsl" if wsl else "docker-desktop-linux"
    if flavour in ("docker.io", "docker-ce", "apt"):
        return "apt"
    if flavour == "absent":
        return "absent"
    keys = ("cli_path", "cli_target", "dockerd_path", "dockerd_target")
    paths = [docker.get(k) or "" for k in keys]
    return "snap" if any(p.startswith("/snap/") for p in paths) else "static"


def unmanaged_docker_problem(docker: dict[str, Any], wsl: bool) -> tuple[str, str, str] | None:
    """(code, found, fix) for a Docker the deploy cannot manage; None when it can."""
    origin = docker_origin(docker, wsl)
    cli = docker.get("cli_path")
    if origin == "snap":
        return (
            "docker-snap",
            f"Docker from a snap ({cli}): its dockerd runs as snap.docker.dockerd and reads "
            f"{SNAP_DAEMON_JSON}, so the deploy could neither install/upgrade that engine, nor "
            f"put the nvidia runtime where it reads it (nvidia-ctk writes {DAEMON_JSON_PATH}), "
            "nor restart it; installing the apt engine next to it would make two engines fight "
            "over /var/run/docker.sock. Nothing was changed",
            "`snap remove --purge docker` (its containers and images go with it; `docker save` "
            "what you need first), then re-run: the deploy installs Docker Engine from apt",
        )
    if origin == "static":
        found = ", ".join(
            f"{what} {path}"
            for what, path in (("docker", cli), ("dockerd", docker.get("dockerd_target")))
            if path
        )
        return (
            "docker-unmanaged",
            f"Docker not installed by apt is on PATH ({found}; dpkg says no package owns "
            "a dockerd on PATH), e.g. static binaries: the "
            "deploy could neither install/upgrade that engine nor know how it is started, so it "
            "could not restart it after adding the nvidia runtime; installing the apt engine next "
            "to it would make two engines fight over /var/run/docker.sock. Nothing was changed",
            "remove the binaries (and the unit that starts them), then re-run: the deploy "
            "installs Docker Engine from apt (docker_source)",
        )
    if origin == "docker-desktop-linux":
        return (
            "docker-desktop-native",
            "`docker` talks to Docker Desktop for Linux, which runs containers in a VM without "
            f"the host's NVIDIA GPUs and has no {DAEMON_JSON_PATH} or docker.service the "
            "deploy could configure; the deploy would neither install the engine over it nor "
            "configure it. Nothing was changed",
            "`docker context use default` for the deploy user (root), so `docker` talks to "
            "Docker Engine (the deploy installs it from docker_source when absent), or "
            "uninstall Docker Desktop; then re-run",
        )
    return None


def wsl_boot_notes(plan: Any) -> list[str]:
    return [WSL_BOOT_WINDOWS_NOTE] if getattr(plan, "wsl_boot_command", False) else []
