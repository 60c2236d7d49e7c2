"""Docker Engine: installed only when absent, kept running, restarted only when its config changed.

- ``docker_source: distro`` installs Debian/Ubuntu's ``docker.io``; ``docker-ce`` adds Docker's
  apt repository (keyring + ``signed-by``, URL a setting for mirrors) and installs docker-ce.
- An engine that is already there (any flavour) is left alone.
- daemon.json: the inventory's insecure registries merged in, every other key kept; an entry
  the deploy added (recorded in ``/var/lib/tgi-infra/daemon-json-added.json``) goes again when
  the inventory drops it, the host's own entries never do.
- With Docker Desktop on WSL, nothing is installed: Desktop carries the engine and GPU support.
- Without systemd (WSL's default), dockerd is started with ``service docker start`` and started
  again at boot through ``/etc/wsl.conf`` ``[boot] command=...``, merged with what is there.
"""

from __future__ import annotations

import configparser
import io
import json
from dataclasses import dataclass

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Directory
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.facts.sysvinit import InitdStatus
from pyinfra.operations import apt, files, server, systemd, sysvinit
from tgi_infra.config import HostConfig
from tgi_infra.config.current_host import DeployConfigError
from tgi_infra.host import apt_install
from tgi_infra.host.facts import DaemonJson, DaemonJsonAdded, UserGroups, WslConf
from tgi_infra.host.host_state import Read
from tgi_infra.host.reading import (
    DAEMON_JSON_ADDED_ABOUT,
    DAEMON_JSON_ADDED_PATH,
    DAEMON_JSON_PATH,
    STATE_DIR,
)
from tgi_infra.services import atomic

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


def install_packages(title: str, packages: list[str], lock_timeout: int, **kwargs) -> list:
    """apt install of what is missing, with an apt update first; nothing when all are there.
    Both wait up to ``lock_timeout`` seconds for apt's locks (``apt_install``)."""
    missing = missing_packages(packages)
    if not missing:
        host.noop(f"{title}: already installed")
        return []
    # apt_install: apt update's warnings are shown when the install fails (mirror down)
    return [apt_install.packages(title, packages, lock_timeout, **kwargs)]


def systemd_reads(unit: str) -> list[Read]:
    """``systemd.service(service=unit)``'s fact reads (pyinfra's own)."""
    scope = {"user_mode": False, "machine": None, "user_name": None, "services": [unit]}
    return [Read(SystemdStatus, **scope), Read(SystemdEnabled, **scope)]


def reads(cfg: HostConfig, plan) -> list[Read]:
    """What this module reads on a host whose preflight gave ``plan`` (``host_state``)."""
    if plan.skip_engine_and_toolkit:
        return []
    out = [Read(DebPackages), Read(DaemonJsonAdded), Read(DaemonJson)]
    out += [Read(Directory, path=STATE_DIR), *atomic.reads(DAEMON_JSON_ADDED_PATH)]
    out += [Read(Directory, path="/etc/docker"), *atomic.reads(DAEMON_JSON)]
    if plan.systemd:
        out += systemd_reads("docker.service")
    else:
        out.append(Read(InitdStatus))
        if plan.wsl:
            out += [Read(WslConf), *atomic.reads("/etc/wsl.conf")]
    if cfg.docker_users:
        out.append(Read(UserGroups, tuple(cfg.docker_users)))
    return out


@deploy("Install Docker Engine")
def install(cfg: HostConfig, plan) -> list:
    """Returns the operations that may change the host (for the GPU proof's condition)."""
    if plan.skip_engine_and_toolkit or plan.docker_flavour not in ("absent", None):
        host.noop(f"Docker Engine: {plan.engine_note}")
        return []
    ops = install_packages(
        "Install apt prerequisites", ["ca-certificates", "curl", "gnupg"], cfg.apt_lock_timeout
    )
    if cfg.docker_source == "docker-ce":
        ops += _docker_ce_repo(cfg, plan.distro_id, plan.codename)
        packages = ["docker-ce", "docker-ce-cli", "containerd.io"]
    else:
        packages = ["docker.io"]
    # one name for docker.io and docker-ce hosts: `--dry` lists this operation once
    return ops + install_packages("Install Docker Engine packages", packages, cfg.apt_lock_timeout)


INSECURE = "insecure-registries"


@dataclass(frozen=True)
class DaemonJsonPlan:
    """What the deploy does to daemon.json, from the file, the inventory and the record.

    ``content``: the new daemon.json (None: unchanged). ``record``: what the deploy has added
    once this is done (written after Docker's restart). ``record_during``: the record written
    before daemon.json; it still lists the entries being removed, so that a deploy killed
    before the restart sees next time that the daemon still runs with them
    (``daemon_state.daemon_mismatches``). ``added`` / ``removed``: entries."""

    content: dict | None
    record: dict
    record_during: dict
    added: list[str]
    removed: list[str]


def _record(added: list[str], created: bool) -> dict:
    return {
        "added": {INSECURE: list(added)} if added else {},
        "created_keys": [INSECURE] if created else [],
    }


def plan_daemon_json(current: dict | None, wanted: list[str], recorded: dict) -> DaemonJsonPlan:
    """daemon.json with the inventory's insecure registries, every key the user had kept.

    An entry is the deploy's when the deploy added it (``recorded``, the record on the host):
    such an entry goes when the inventory drops it; any other entry stays, also when the
    inventory once listed it. A key the deploy created goes when nothing is left in it."""
    base = current or {}
    have = base.get(INSECURE, [])
    if not isinstance(have, list):
        raise ValueError(
            f"{DAEMON_JSON} {INSECURE!r} is {type(have).__name__}, not a list: dockerd refuses "
            f"it; fix {DAEMON_JSON}"
        )
    listed = list((recorded.get("added") or {}).get(INSECURE, []))
    ours_before = [e for e in listed if e in have]
    created_before = INSECURE in (recorded.get("created_keys") or []) and INSECURE in base
    removed = [e for e in ours_before if e not in wanted]
    added = [e for e in wanted if e not in have]
    entries = [e for e in have if e not in removed] + added
    merged = json.loads(json.dumps(base))
    if entries or (INSECURE in base and not created_before):
        merged[INSECURE] = entries
    else:
        merged.pop(INSECURE, None)
    ours = [e for e in ours_before if e not in removed] + added
    created = INSECURE in merged and (created_before or (INSECURE not in base and bool(added)))
    return DaemonJsonPlan(
        content=None if merged == base else merged,
        record=_record(ours, created),
        # until the restart: also what the file no longer has (the daemon may still run with it)
        record_during=_record(
            listed + [e for e in added if e not in listed], created or created_before
        ),
        added=added,
        removed=removed,
    )


def record_content(record: dict) -> str:
    data = {"about": DAEMON_JSON_ADDED_ABOUT, **record}
    return json.dumps(data, indent=4, sort_keys=True) + "\n"


def _daemon_json_plan(cfg: HostConfig, warn: bool = False) -> DaemonJsonPlan:
    recorded = host.get_fact(DaemonJsonAdded)
    if warn and recorded.get("error"):
        logger.warning(
            f"{host.print_prefix}{DAEMON_JSON_ADDED_PATH} is unreadable "
            f"({recorded['error']}): every daemon.json entry is kept as the host's own"
        )
    try:
        return plan_daemon_json(host.get_fact(DaemonJson), cfg.docker_insecure_registries, recorded)
    except ValueError as exc:
        raise DeployConfigError(f"host {host.name}: {exc}. No host was changed.") from None


def _put_record(record: dict, name: str):
    files.directory(
        name=f"Ensure {STATE_DIR}", path=STATE_DIR, mode="755", user="root", group="root"
    )
    return atomic.put(
        name=name, content=record_content(record), dest=DAEMON_JSON_ADDED_PATH, mode=0o644
    )


def _recorded_now() -> dict:
    fact = host.get_fact(DaemonJsonAdded)
    return {"added": fact.get("added") or {}, "created_keys": fact.get("created_keys") or []}


@deploy("Configure Docker daemon")
def configure_daemon(cfg: HostConfig, plan):
    """Merge our keys into daemon.json (4-space JSON, sorted keys, as nvidia-ctk writes it);
    entries the deploy added and the inventory dropped are removed (``plan_daemon_json``).
    The record of what it added (``DAEMON_JSON_ADDED_PATH``) is written first."""
    if plan.skip_engine_and_toolkit:
        return None
    daemon = _daemon_json_plan(cfg, warn=True)
    if daemon.record_during != _recorded_now():
        _put_record(daemon.record_during, "Record what the deploy adds to daemon.json")
    if daemon.content is None:
        return None
    for entry in daemon.removed:
        logger.info(
            f"{host.print_prefix}daemon.json: removing insecure registry {entry!r} (added by "
            "the deploy, no longer in tgi_docker_insecure_registries)"
        )
    files.directory(name="Ensure /etc/docker", path="/etc/docker", mode="755")
    return atomic.put(
        name="Merge settings into daemon.json (existing keys kept)",
        content=json.dumps(daemon.content, indent=4, sort_keys=True) + "\n",
        dest=DAEMON_JSON,
        mode=0o644,
    )


@deploy("Record daemon.json")
def record_daemon_json(cfg: HostConfig, plan) -> None:
    """After the restart: the record without the entries this deploy removed."""
    if plan.skip_engine_and_toolkit:
        return
    daemon = _daemon_json_plan(cfg)
    if daemon.record != daemon.record_during:
        _put_record(daemon.record, "Record what the deploy added to daemon.json (removals done)")


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
def ensure_running(cfg: HostConfig, plan, restart_if=None):
    """Docker running now and at boot; restarted only when its daemon.json changed. Returns
    the restart operation (None when there is none): the services' wait follows it."""
    if plan.skip_engine_and_toolkit:
        host.noop("Docker Desktop runs the engine")
        return None
    restart_op = None
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
        restart_op = server.shell(
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
    users = host.get_fact(UserGroups, tuple(cfg.docker_users)) if cfg.docker_users else {}
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
    return restart_op
