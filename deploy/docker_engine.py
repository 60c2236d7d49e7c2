"""Docker Engine: installed only when absent, kept running, restarted only when its config changed.

- ``docker_source: distro`` installs Debian/Ubuntu's ``docker.io``; ``docker-ce`` adds Docker's
  apt repository (keyring + ``signed-by``, URL a setting for mirrors) and installs docker-ce.
- An engine that is already there (any flavour) is left alone.
- With Docker Desktop on WSL, nothing is installed: Desktop carries the engine and GPU support.
- Without systemd (WSL's default), dockerd is started with ``service docker start`` and started
  again at boot through ``/etc/wsl.conf`` ``[boot] command=...``, merged with what is there.
"""

from __future__ import annotations

import configparser
import io
import json

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Users
from pyinfra.operations import apt, files, server, systemd, sysvinit
from tgi_infra import apt_install, atomic
from tgi_infra.config import HostConfig
from tgi_infra.context import DeployConfigError
from tgi_infra.facts import DaemonJson, WslConf
from tgi_infra.probes import DAEMON_JSON_PATH

DAEMON_JSON = DAEMON_JSON_PATH
DOCKER_CE_KEYRING = "/etc/apt/keyrings/docker.gpg"
WSL_BOOT_COMMAND = "service docker start"


def _docker_ce_repo(cfg: HostConfig, distro_id: str, codename: str) -> list:
    base = f"{cfg.docker_ce_repo_url.rstrip('/')}/{distro_id}"
    key = apt.key(name="Add Docker's apt key", src=f"{base}/gpg", dest=DOCKER_CE_KEYRING)
    source = apt.sources_file(
        name="Add Docker's apt repository",
        filename="docker",
        uris=[base],
        suites=[codename],
        components=["stable"],
        signed_by=DOCKER_CE_KEYRING,
    )
    return [key, source]


def missing_packages(names: list[str]) -> list[str]:
    """Names (``pkg`` or ``pkg=version``) not installed at that version, from the dpkg fact."""
    installed = host.get_fact(DebPackages) or {}
    missing = []
    for spec in names:
        name, _, version = spec.partition("=")
        have = installed.get(name) or set()
        if not have or (version and version not in have):
            missing.append(spec)
    return missing


def install_packages(title: str, packages: list[str], **kwargs) -> list:
    """apt install of what is missing, with an apt update first; nothing when all are there."""
    missing = missing_packages(packages)
    if not missing:
        host.noop(f"{title}: already installed")
        return []
    # apt_install: apt update's warnings are shown when the install fails (mirror down)
    return [apt_install.packages(title, packages, **kwargs)]


@deploy("Install Docker Engine")
def install(cfg: HostConfig, plan) -> list:
    """Returns the operations that may change the host (for the GPU proof's condition)."""
    if plan.skip_engine_and_toolkit or plan.docker_flavour not in ("absent", None):
        host.noop(f"Docker Engine: {plan.engine_note}")
        return []
    ops = install_packages("Install apt prerequisites", ["ca-certificates", "curl", "gnupg"])
    if cfg.docker_source == "docker-ce":
        ops += _docker_ce_repo(cfg, plan.distro_id, plan.codename)
        packages = ["docker-ce", "docker-ce-cli", "containerd.io"]
    else:
        packages = ["docker.io"]
    # one name for docker.io and docker-ce hosts: `--dry` lists this operation once
    return ops + install_packages("Install Docker Engine packages", packages)


def merged_daemon_json(current: dict | None, cfg: HostConfig) -> dict | None:
    """daemon.json with our keys merged in, every key the user had kept; None when unchanged."""
    merged = json.loads(json.dumps(current or {}))
    if cfg.docker_insecure_registries:
        have = list(merged.get("insecure-registries", []))
        for reg in cfg.docker_insecure_registries:
            if reg not in have:
                have.append(reg)
        merged["insecure-registries"] = have
    return None if merged == (current or {}) else merged


@deploy("Configure Docker daemon")
def configure_daemon(cfg: HostConfig, plan):
    """Merge our keys into daemon.json (4-space JSON, sorted keys, as nvidia-ctk writes it)."""
    if plan.skip_engine_and_toolkit:
        return None
    merged = merged_daemon_json(host.get_fact(DaemonJson), cfg)
    if merged is None:
        return None
    files.directory(name="Ensure /etc/docker", path="/etc/docker", mode="755")
    return atomic.put(
        name="Merge settings into daemon.json (existing keys kept)",
        content=json.dumps(merged, indent=4, sort_keys=True) + "\n",
        dest=DAEMON_JSON,
        mode=0o644,
    )


def merged_wsl_conf(current: dict | None) -> str | None:
    """/etc/wsl.conf with dockerd started at boot, the user's settings kept; None if unchanged."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep the user's key case
    for section, values in (current or {}).items():
        parser[section] = values
    boot = parser["boot"] if parser.has_section("boot") else None
    existing = boot.get("command", "").strip().strip('"') if boot is not None else ""
    if WSL_BOOT_COMMAND in existing:
        return None
    if boot is None:
        parser["boot"] = {}
    parser["boot"]["command"] = f"{existing}; {WSL_BOOT_COMMAND}" if existing else WSL_BOOT_COMMAND
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


@deploy("Run Docker Engine")
def ensure_running(cfg: HostConfig, plan, restart_if=None) -> None:
    """Docker running now and at boot; restarted only when its daemon.json changed."""
    if plan.skip_engine_and_toolkit:
        host.noop("Docker Desktop runs the engine")
        return
    if plan.systemd:
        systemd.service(
            name="Docker running and enabled", service="docker", running=True, enabled=True
        )
    else:
        sysvinit.service(name="Docker running (no systemd)", service="docker", running=True)
    if restart_if is not None:  # decided when it runs
        # decided when it runs: the engine may have been installed (and started) by this deploy
        # reset-failed first: docker.service allows 3 starts in 60 s (StartLimitBurst), and a
        # first deploy may start it (install), restart it (daemon.json) and restart it again
        restart = (
            "systemctl reset-failed docker.service 2>/dev/null; systemctl restart docker"
            if plan.systemd
            else "service docker restart"
        )
        server.shell(
            name="Restart Docker (daemon.json changed)", commands=[restart], _if=restart_if
        )
    if not plan.systemd and plan.wsl:
        conf = merged_wsl_conf(host.get_fact(WslConf))
        if conf is not None:
            atomic.put(
                name="Start dockerd at WSL boot (/etc/wsl.conf [boot])",
                content=conf,
                dest="/etc/wsl.conf",
                mode=0o644,
            )
    users = host.get_fact(Users) or {}
    for user in cfg.docker_users:
        if user not in users:
            raise DeployConfigError(
                f"host {host.name}: field docker_users: value {user!r}: no such user on the "
                "host; allowed: existing users (create the user first). No host was changed."
            )
        if "docker" not in (users[user].get("groups") or []):
            server.shell(
                name="Add docker_users to the docker group", commands=[f"usermod -aG docker {user}"]
            )
