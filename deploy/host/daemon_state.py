"""Does the running Docker daemon match ``/etc/docker/daemon.json``?

dockerd reads daemon.json only when it starts. A deploy killed between "merge daemon.json" and
"restart Docker" leaves a file that is right and a daemon that never read it; the next deploy
sees an unchanged file and would not restart. The preflight's ``docker info`` (the Engine
API's ``/info``; :class:`~tgi_infra.host.facts.DockerState`'s ``daemon_settings``) says what
the daemon actually runs with: ``Runtimes``, ``DefaultRuntime``, ``RegistryConfig``,
``LiveRestoreEnabled``, ``Debug``, ``DockerRootDir``; :func:`daemon_mismatches` names each
daemon.json setting the daemon does not run with, and the deploy restarts Docker when there is
any.

Only settings that ``docker info`` reports are compared; the others (log options, ...) cannot be
checked from outside and are left alone.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FactBase
from tgi_infra.host.facts import parse_running_info  # noqa: F401  (tests use it from here)
from tgi_infra.host.preflight import PreflightProblem, format_problems
from tgi_infra.host.reading import DAEMON_JSON_PATH

DAEMON_JSON = DAEMON_JSON_PATH


class DaemonJsonText(FactBase):
    """The text of ``/etc/docker/daemon.json``; None when absent. Unparsed on purpose: an
    invalid file is a preflight problem (:func:`invalid_daemon_json`), not a fact error."""

    def command(self) -> str:
        path = DAEMON_JSON
        return f"if [ -e {path} ]; then echo present; cat {path}; else echo absent; fi"

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> str | None:
        if not output or output[0].strip() != "present":
            return None
        return "\n".join(output[1:])


def invalid_daemon_json(host_name: str, text: str | None) -> PreflightProblem | None:
    """The problem with daemon.json's text (file, JSON error, line and column), or None."""
    from tgi_infra.host.facts import FactParseError, parse_daemon_json

    try:
        parse_daemon_json(text, DAEMON_JSON)
    except FactParseError as exc:
        return PreflightProblem(
            host=host_name,
            severity="error",
            code="daemon-json-invalid",
            found=str(exc).split("; dockerd")[0],
            fix=f"dockerd refuses to start with it: fix {DAEMON_JSON} (or remove it) on the "
            "host, then run the deploy again; the deploy does not rewrite a file it cannot read",
        )
    return None


def check_daemon_json() -> None:
    """Preflight: stop the deploy (no host changed) when this host's daemon.json is invalid."""
    from tgi_infra.host.preflight_step import PreflightError

    problem = invalid_daemon_json(host.name, host.get_fact(DaemonJsonText))
    if problem is not None:
        raise PreflightError(
            "preflight failed, no host was changed:\n" + format_problems([problem])
        )


def _norm_url(url: str) -> str:
    return url.strip().rstrip("/")


def _insecure_applied(entry: str, registry: dict[str, Any]) -> bool:
    if "/" in entry:  # a CIDR network
        try:
            want = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return True  # dockerd would refuse it; not ours to judge here
        for cidr in registry.get("InsecureRegistryCIDRs") or []:
            text = cidr if isinstance(cidr, str) else ""
            try:
                if text and ipaddress.ip_network(text, strict=False) == want:
                    return True
            except ValueError:
                continue
        return False
    index = (registry.get("IndexConfigs") or {}).get(entry)
    return index is not None and index.get("Secure") is False


def daemon_mismatches(
    daemon_json: dict[str, Any] | None,
    info: dict[str, Any] | None,
    removed_by_deploy: list[str] | None = None,
) -> list[str]:
    """Each daemon.json setting the running daemon does not run with, in words.

    ``removed_by_deploy``: insecure registries the deploy added and has taken out of the file
    (its record still lists them until Docker restarted); the daemon must not run with them.
    Empty when there is nothing to compare (no daemon answering: a stopped daemon reads the
    file when it starts)."""
    if not info:
        return []
    out: list[str] = []
    registry = info.get("RegistryConfig") or {}
    listed = (daemon_json or {}).get("insecure-registries") or []
    for entry in removed_by_deploy or []:
        if entry not in listed and _insecure_applied(entry, registry):
            out.append(f"insecure registry {entry!r} removed from daemon.json but still applied")
    if not daemon_json:
        return out
    runtimes = info.get("Runtimes") or {}
    for name, spec in sorted((daemon_json.get("runtimes") or {}).items()):
        if name not in runtimes:
            out.append(f"runtime {name!r} not loaded (running: {', '.join(sorted(runtimes))})")
            continue
        want_path = (spec or {}).get("path") if isinstance(spec, dict) else None
        have_path = (runtimes[name] or {}).get("path")
        if want_path and have_path and want_path != have_path:
            out.append(f"runtime {name!r}: path {have_path!r}, daemon.json says {want_path!r}")
    want_default = daemon_json.get("default-runtime")
    if want_default and info.get("DefaultRuntime") != want_default:
        out.append(
            f"default runtime {info.get('DefaultRuntime')!r}, daemon.json says {want_default!r}"
        )
    for entry in daemon_json.get("insecure-registries") or []:
        if isinstance(entry, str) and not _insecure_applied(entry, registry):
            out.append(f"insecure registry {entry!r} not applied")
    mirrors = {_norm_url(m) for m in registry.get("Mirrors") or []}
    for mirror in daemon_json.get("registry-mirrors") or []:
        if isinstance(mirror, str) and _norm_url(mirror) not in mirrors:
            out.append(f"registry mirror {mirror!r} not applied")
    for key, field in (("live-restore", "LiveRestoreEnabled"), ("debug", "Debug")):
        if key in daemon_json and field in info and bool(daemon_json[key]) != bool(info[field]):
            out.append(f"{key} is {info[field]!r}, daemon.json says {daemon_json[key]!r}")
    data_root = str(daemon_json.get("data-root") or "").rstrip("/")
    if data_root and info.get("DockerRootDir") and data_root != info["DockerRootDir"].rstrip("/"):
        out.append(f"data-root is {info['DockerRootDir']!r}, daemon.json says {data_root!r}")
    return out


def reads(cfg, plan) -> list:
    """What :func:`not_applied` reads (``host_state``)."""
    from tgi_infra.host.facts import DaemonJson, DaemonJsonAdded, DockerState
    from tgi_infra.host.host_state import Read

    if plan.skip_engine_and_toolkit:
        return []
    return [Read(DaemonJsonAdded), Read(DaemonJson), Read(DockerState)]


def not_applied(plan) -> list[str]:
    """This host's daemon.json settings the running daemon lacks (logged; [] when it has all)."""
    from tgi_infra.host.facts import DaemonJson, DaemonJsonAdded, DockerState

    if plan.skip_engine_and_toolkit:
        return []
    recorded = (host.get_fact(DaemonJsonAdded).get("added") or {}).get("insecure-registries")
    running = host.get_fact(DockerState)["daemon_settings"]  # the preflight's docker info
    mismatches = daemon_mismatches(host.get_fact(DaemonJson), running, recorded)
    if mismatches:
        logger.warning(
            f"{host.print_prefix}the running Docker daemon does not match daemon.json ("
            + "; ".join(mismatches)
            + "): Docker will be restarted"
        )
    return mismatches
