"""Preflight against the Hub, the disk and the ports, before any host is changed.

Per present service, while pyinfra prepares the hosts (so a problem stops the deploy
everywhere before any operation runs):

- **Hub** (``hub_check``, on by default): huggingface_hub's ``auth_check`` with the token the
  service will get (its ``hf_token_env`` on this machine): a gated model the token may not
  read, a private or missing model, a wrong token, a missing revision each give a clear error.
  Then ``model_info(files_metadata=True)`` sizes the weights TGI will download. The endpoint is
  the client's own setting, ``HF_ENDPOINT`` (huggingface.co by default). Air-gapped hosts set
  ``tgi_hub_check: false``: the check is skipped with a note. A ``model_id`` that is a path is
  not a Hub repo: under ``/data`` it is looked up in the volume on the host; it must exist.
- **Disk**: the weights' size against the free space of the volume on the host, unless the
  model is already in the volume's HF cache.
- **Port**: the service's host port must be free or published by the service's own container.

The Hub's answers come from ``services/hub.py``; ``tgi-infra validate`` asks the same there
(``hub_findings``) without contacting any host: what the Hub refuses is a warning there.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra.api import FactBase
from tgi_infra.config import HostConfig, TGIService
from tgi_infra.services.hub import ask_hub


class VolumeState(FactBase):
    """Free bytes of a service volume (a path or a Docker volume), and whether paths exist in
    it: ``{"free": int|None, "exists": {path: bool}}``."""

    def command(self, volume: str, paths: tuple[str, ...] = ()) -> str:
        if volume.startswith("/"):
            root = f"r={shlex.quote(volume)}"
        else:
            fmt = shlex.quote("{{.Mountpoint}}")
            root = f"r=$(docker volume inspect -f {fmt} {shlex.quote(volume)} 2>/dev/null)"
        checks = " ".join(
            f'if [ -e "$r"/{shlex.quote(p)} ]; then echo "exists {p}"; fi;' for p in paths
        )
        return (
            f'{root}; d="$r"; while [ -n "$d" ] && [ ! -d "$d" ]; do d=$(dirname "$d"); done; '
            '[ -n "$d" ] || d=/var/lib/docker; '
            'echo "free $(df -B1 --output=avail "$d" 2>/dev/null | tail -1 | tr -d " ")"; '
            f'[ -n "$r" ] && {{ {checks or ":"} }} || true'
        )

    @staticmethod
    def default() -> dict:
        return {"free": None, "exists": {}}

    def process(self, output: list[str]) -> dict:
        out: dict = {"free": None, "exists": {}}
        for line in output:
            key, _, value = line.strip().partition(" ")
            if key == "free" and value.isdigit():
                out["free"] = int(value)
            elif key == "exists":
                out["exists"][value] = True
        return out


class PortUsers(FactBase):
    """Who listens on a TCP port: ``{"listening": bool, "process": str, "containers": [...]}``
    (containers: names of the containers that publish it)."""

    def command(self, port: int) -> str:
        return (
            f"ss -ltnpH 'sport = :{int(port)}' 2>/dev/null | head -1; echo '--'; "
            f"docker ps --filter publish={int(port)} --format '{{{{.Names}}}}' 2>/dev/null || true"
        )

    @staticmethod
    def default() -> dict:
        return {"listening": False, "process": "", "containers": []}

    def process(self, output: list[str]) -> dict:
        lines = [line.strip() for line in output]
        cut = lines.index("--") if "--" in lines else len(lines)
        listeners, containers = [x for x in lines[:cut] if x], [x for x in lines[cut + 1 :] if x]
        proc = ""
        if listeners and 'users:(("' in listeners[0]:
            proc = listeners[0].split('users:(("', 1)[1].split('"', 1)[0]
        return {"listening": bool(listeners), "process": proc, "containers": containers}


def cache_dirs(model_id: str) -> tuple[str, ...]:
    """Where TGI's HF cache keeps ``model_id`` inside the volume (HUGGINGFACE_HUB_CACHE=/data in
    older images, HF_HOME=/data -> /data/hub in the current one)."""
    folder = "models--" + model_id.replace("/", "--")
    return (f"{folder}/snapshots", f"hub/{folder}/snapshots")


def local_path_in_volume(model_id: str) -> str | None:
    """A path model_id under /data (the volume's mount point), relative to the volume."""
    norm = posixpath.normpath(model_id)
    if norm == "/data" or norm.startswith("/data/"):
        return norm.removeprefix("/data").lstrip("/") or "."
    return None


def check_service(
    host_name: str,
    cfg: HostConfig,
    svc: TGIService,
    volume_state: dict,
    port_users: dict,
    environ,
    host_has_token: bool = False,
) -> tuple[list[str], list[str]]:
    """(errors, notes) for one service."""
    errors: list[str] = []
    notes: list[str] = []
    where = f"host {host_name}: service {svc.name}"
    size: int | None = None
    if svc.model_id.startswith("/"):
        rel = local_path_in_volume(svc.model_id)
        if rel is None:
            notes.append(
                f"{where}: model_id {svc.model_id} is a path outside the volume (/data): "
                "not checked, it must exist inside the image"
            )
        elif not volume_state["exists"].get(rel):
            errors.append(
                f"{where}: field model_id: value {svc.model_id!r}: no such path in the volume "
                f"{svc.volume} (mounted at /data); copy the model there or use a Hub id"
            )
    elif not cfg.hub_check:
        notes.append(f"{where}: Hub check skipped (tgi_hub_check: false, air-gapped)")
    else:
        answer, token, token_env = ask_hub(svc, environ)
        if answer.unreachable:
            # not an error: the swap still prefetches before touching a running container
            notes.append(f"{where}: Hub check not done: {answer.message}")
        elif not answer.ok and not token and host_has_token:
            notes.append(
                f"{where}: {token_env} is not set here, the host keeps its own token: the Hub "
                f"check without a token said: {answer.message}"
            )
        elif not answer.ok:
            errors.append(f"{where}: field model_id: value {svc.model_id!r}: {answer.message}")
        size = answer.size
    cached = any(volume_state["exists"].get(p) for p in cache_dirs(svc.model_id))
    free = volume_state.get("free")
    if size and not cached and free is not None and size > free:
        errors.append(
            f"{where}: the weights of {svc.model_id} need {size / 1e9:.1f} GB but the volume "
            f"{svc.volume} has {free / 1e9:.1f} GB free; free space or choose another volume"
        )
    if port_users["listening"]:
        mine = {svc.name, svc.name + "-previous"}
        others = [c for c in port_users["containers"] if c not in mine]
        if others or not port_users["containers"]:
            who = f"container {', '.join(others)}" if others else (port_users["process"] or "?")
            errors.append(
                f"{where}: field port: value {svc.port}: already taken on the host by {who}; "
                "choose a free port or stop it"
            )
    return errors, notes


def volume_paths(svc: TGIService) -> tuple[str, ...]:
    rel = local_path_in_volume(svc.model_id) if svc.model_id.startswith("/") else None
    return (*cache_dirs(svc.model_id), *([rel] if rel else []))


def reads(cfg: HostConfig) -> list:
    """What :func:`check_host` reads (``host_state``): per present service."""
    from tgi_infra.host.host_state import Read
    from tgi_infra.services.secrets import EnvFileDigests

    out = []
    for svc in cfg.present_services():
        out += [
            Read(VolumeState, svc.volume, volume_paths(svc)),
            Read(PortUsers, svc.port),
            Read(EnvFileDigests, *_env_file_digests_args(cfg, svc)),
        ]
    return out


def _env_file_digests_args(cfg: HostConfig, svc: TGIService) -> tuple[str, tuple[str, ...]]:
    """The service's ``EnvFileDigests`` read, with the same arguments as the deploy's own
    (``operations.reads``: only the secret names are used here), so the host is read once."""
    import os

    from tgi_infra.services.secrets import missing_targets

    return f"{cfg.service_dir(svc)}/service.env", tuple(missing_targets(svc, os.environ))


def check_host(cfg: HostConfig) -> None:
    """Every present service of the host being prepared; raises ``PreflightError`` (nothing
    changed on any host) listing every problem."""
    import os

    from pyinfra import host, logger
    from tgi_infra.host.preflight_step import PreflightError
    from tgi_infra.services.secrets import EnvFileDigests

    errors: list[str] = []
    for svc in cfg.present_services():
        volume = host.get_fact(VolumeState, svc.volume, volume_paths(svc))
        ports = host.get_fact(PortUsers, svc.port)
        on_host = host.get_fact(EnvFileDigests, *_env_file_digests_args(cfg, svc))
        has_token = bool(on_host and "HF_TOKEN" in on_host["secrets"])
        errs, notes = check_service(host.name, cfg, svc, volume, ports, os.environ, has_token)
        errors += errs
        for note in notes:
            logger.info(f"{host.print_prefix}{note}")
    if errors:
        raise PreflightError(
            "preflight failed, no host was changed:\n" + "\n".join(f"  - {e}" for e in errors)
        )
