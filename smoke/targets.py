"""Smoke targets: one TGI service endpoint each, from ``--url`` or from a pyinfra inventory.

Inventory targets go through the deploy's own config model
(``deploy.config.validate_inventory``), so the smoke suite checks exactly the address, port,
model id and API key the deploy configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_BINDS = frozenset({"127.0.0.1", "localhost", "::1"})


class TargetConfigError(Exception):
    """Bad targets: usage or configuration error (exit 2)."""


@dataclass(frozen=True)
class SSHSettings:
    """pyinfra SSH connection settings of a host (host data ``ssh_*``)."""

    hostname: str
    user: str | None = None
    port: int | None = None
    key: str | None = None
    known_hosts_file: str | None = None
    strict_host_key_checking: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    # Direct URL (scheme://host:port); None when the service is reached through an SSH tunnel.
    url: str | None
    expected_model_id: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    semantic: bool = True
    # inference engine: tgi, vllm, sglang, or auto (asked after ``ready``; smoke/engines.py)
    engine: str = "tgi"
    # throughput floor (inventory smoke_min_tokens_per_s / smoke_max_ttft_s; None: defaults)
    min_tokens_per_s: float | None = None
    max_ttft_s: float | None = None
    cpu_mode: bool = False  # a CPU-mode service: no throughput floor
    host: str | None = None
    service: str | None = None
    # Set when the service binds loopback on a remote host: forward to (remote_bind, port).
    ssh: SSHSettings | None = None
    remote_bind: str | None = None
    remote_port: int | None = None

    @property
    def via(self) -> str:
        return "ssh-tunnel" if self.ssh is not None else "direct"

    def describe(self) -> str:
        if self.ssh is not None:
            return f"ssh://{self.ssh.hostname} -> {self.remote_bind}:{self.remote_port}"
        return str(self.url)


def _resolve_key(env_name: str | None, where: str) -> str | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise TargetConfigError(
            f"{where}: api_key_env={env_name!r} but ${env_name} is not set on this machine"
        )
    return value


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetConfigError(f"--url {url!r}: expected http(s)://host[:port]")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise TargetConfigError(f"--url {url!r}: {exc}") from None
    return url.rstrip("/")


def _per_url(values: list[str] | None, n_urls: int, flag: str) -> list[str | None]:
    """One value for all URLs, or one per URL in order."""
    if not values:
        return [None] * n_urls
    if len(values) == 1:
        return values * n_urls
    if len(values) == n_urls:
        return list(values)
    raise TargetConfigError(
        f"{flag} given {len(values)} times for {n_urls} --url: give it once or once per --url"
    )


def targets_from_urls(
    urls: list[str],
    model_ids: list[str] | None = None,
    api_key_envs: list[str] | None = None,
    semantic: bool = True,
    engines: list[str] | None = None,
) -> list[Target]:
    mids = _per_url(model_ids, len(urls), "--model-id")
    kinds = _per_url(engines, len(urls), "--engine")
    keys = _per_url(api_key_envs, len(urls), "--api-key-env")
    out = []
    for url, mid, key_env, engine in zip(urls, mids, keys, kinds, strict=True):
        url = _check_url(url)
        out.append(
            Target(
                name=url,
                url=url,
                expected_model_id=mid,
                api_key_env=key_env,
                api_key=_resolve_key(key_env, f"--url {url}"),
                semantic=semantic,
                engine=engine or "tgi",
            )
        )
    return out


def load_inventory_hosts(path: str) -> list[tuple[str, dict[str, Any]]]:
    """Load a pyinfra inventory file with pyinfra's own loader: [(host name, host data)]."""
    if not Path(path).is_file():
        raise TargetConfigError(f"--inventory {path!r}: no such file")
    from tgi_infra.smoke.inventory_loader import InventoryLoadError, load

    try:
        return load(path)
    except InventoryLoadError as exc:  # inventory files are user Python code
        raise TargetConfigError(f"--inventory {path}: cannot load: {exc}") from exc


def _ssh_settings(host_name: str, data: dict[str, Any]) -> SSHSettings:
    port = data.get("ssh_port")
    return SSHSettings(
        hostname=data.get("ssh_hostname") or host_name,
        user=data.get("ssh_user"),
        port=int(port) if port else None,
        key=data.get("ssh_key"),
        known_hosts_file=data.get("ssh_known_hosts_file"),
        strict_host_key_checking=data.get("ssh_strict_host_key_checking"),
    )


def targets_from_inventory(path: str) -> list[Target]:
    hosts = load_inventory_hosts(path)
    try:
        from tgi_infra.config import validate_inventory
    except ImportError as exc:
        raise TargetConfigError(f"deploy.config is not importable: {exc}") from exc
    try:
        configs = validate_inventory(hosts)
    except Exception as exc:  # ConfigError lists every error of every host
        raise TargetConfigError(f"--inventory {path}: invalid config:\n{exc}") from exc

    data_by_host = dict(hosts)
    out: list[Target] = []
    for host_name, host_cfg in configs.items():
        ssh = _ssh_settings(host_name, data_by_host.get(host_name, {}))
        for svc in host_cfg.tgi_services:
            if not svc.present:
                continue
            where = f"{host_name}/{svc.name}"
            key = _resolve_key(svc.api_key_env, where)
            common = dict(
                name=where,
                expected_model_id=svc.model_id,
                api_key_env=svc.api_key_env,
                api_key=key,
                semantic=bool(svc.smoke_semantic),
                # the service's engine (deploy/config; TGI before the field existed)
                engine=str(getattr(svc, "engine", None) or "tgi"),
                min_tokens_per_s=svc.smoke_min_tokens_per_s,
                max_ttft_s=svc.smoke_max_ttft_s,
                cpu_mode=svc.gpu_ids(host_cfg) == [],
                host=host_name,
                service=svc.name,
            )
            if str(svc.bind) in LOOPBACK_BINDS:
                out.append(
                    Target(
                        url=None,
                        ssh=ssh,
                        remote_bind=str(svc.bind),
                        remote_port=int(svc.port),
                        **common,
                    )
                )
            else:
                address = ssh.hostname
                if ":" in address and not address.startswith("["):
                    address = f"[{address}]"  # IPv6 literal
                out.append(Target(url=f"http://{address}:{int(svc.port)}", **common))
    if not out:
        raise TargetConfigError(f"--inventory {path}: no host has a present TGI service")
    return out
