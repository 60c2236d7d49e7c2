"""pyinfra facts for provisioning GPU hosts (native Linux and WSL2) for Hugging Face TGI.

Every fact follows the pyinfra 3.x ``FactBase`` contract: ``command()`` returns ONE POSIX-sh
command (run through ``sh -c``, possibly under sudo), ``process(lines)`` turns its stdout lines
into a value, and ``default()`` is what pyinfra returns when stdout is empty.

Design rules, and why some pyinfra built-ins are not reused:

* Every command exits 0 on the "absent" answers (no docker, no nvidia-smi, no file). pyinfra
  fails the host on a non-zero exit, and its ``requires_command`` shim treats a missing binary as
  a deploy-ordering mistake (3.10 warns during execute, v4 will raise). For preflight, "there is
  no nvidia-smi" is a valid answer, so the commands test for the binary themselves and print a
  marker line instead.
* Multi-part commands print ``@@tgi-infra:<section>`` lines so that one round trip gathers
  everything a fact needs; :func:`split_sections` cuts the output back apart.
* All parsing lives in pure module-level functions (``parse_*``) so they are unit-tested on
  captured command outputs (``tests/unit/fixtures``) without a host.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
from typing import Any

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError
from tgi_infra.host import reading

# what reads a host is shared with the smoke host checks: tgi_infra.host.reading (no pyinfra there)
from tgi_infra.host.reading import (  # noqa: F401  (re-exported: facts.X is the public name here)
    DAEMON_JSON_PATH,
    MARK,
    NVIDIA_SMI_DRIVER_BROKEN,
    NVIDIA_SMI_NO_DEVICES,
    NVIDIA_SMI_QUERY,
    SYSTEMD_PID1_COMMAND,
    WSL_CONF_PATH,
    WSL_LIB_DIR,
    WSL_NVIDIA_SMI,
    parse_nvidia_smi_csv,
    parse_systemd_pid1,
)


class FactParseError(FactProcessError):
    """A fact's output (or the file it read) could not be parsed; the message names the source.

    Subclasses pyinfra's ``FactProcessError`` so that pyinfra reports it as "could not process
    fact" and fails only that host.
    """


# --------------------------------------------------------------------------------------------
# generic helpers


def split_sections(lines: list[str]) -> dict[str, list[str]]:
    """Split output on ``@@tgi-infra:<name> [arg...]`` lines.

    Returns ``{name: [lines...]}``; a marker's arguments (text after the name) are kept as the
    pseudo-key ``"<name>:args"`` (a one-element list). Lines before the first marker go to ``""``.
    """
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in lines:
        if line.startswith(MARK):
            name, _, args = line[len(MARK) :].partition(" ")
            current = name.strip()
            sections[current] = []
            if args.strip():
                sections[f"{current}:args"] = [args.strip()]
            continue
        sections.setdefault(current, []).append(line)
    return sections


def parse_os_release(text: str | list[str]) -> dict[str, str]:
    """Parse os-release(5) ``KEY=value`` lines (shell quoting rules) into a dict."""
    lines = text.splitlines() if isinstance(text, str) else text
    result: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        result[key.strip()] = " ".join(parts)
    return result


_UNAME_TO_DPKG_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "i686": "i386",
    "i386": "i386",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
}


def normalise_arch(value: str) -> str:
    """dpkg architecture name; ``uname -m`` names (fallback when dpkg is absent) are mapped."""
    value = value.strip()
    return _UNAME_TO_DPKG_ARCH.get(value, value)


# --------------------------------------------------------------------------------------------
# HostPlatform


WSL_INTEROP_MARKERS = (
    "/proc/sys/fs/binfmt_misc/WSLInterop",
    "/proc/sys/fs/binfmt_misc/WSLInterop-late",
)
WSL_DIR_MARKERS = ("/run/WSL", WSL_LIB_DIR)
WSL_MARKERS = (*WSL_INTEROP_MARKERS, *WSL_DIR_MARKERS, WSL_CONF_PATH)


def parse_host_platform(lines: list[str]) -> dict[str, Any]:
    """Parse :class:`HostPlatform` output.

    WSL decision (documented contract, mirrored by the container lab):

    * the kernel release or ``/proc/version`` names Microsoft/WSL (real WSL1 and WSL2), OR
    * a ``WSLInterop``/``WSLInterop-late`` binfmt_misc entry exists (real WSL, even with a custom
      kernel), OR
    * BOTH ``/run/WSL`` and ``/usr/lib/wsl/lib`` exist. These are the markers a container can
      fake: the lab's ``lab-wsl-1`` host has them (plus ``/etc/wsl.conf``) while its
      ``/proc/version`` names the real host kernel.

    ``/etc/wsl.conf`` and ``WSL_DISTRO_NAME`` are recorded as signals but are not enough alone
    (a copied wsl.conf is common; the variable is not set in SSH sessions).

    ``wsl_version`` is 1 for the old ``4.4.0-NNNNN-Microsoft`` translation-layer kernel, 2 for
    ``*-microsoft-standard[-WSL2]`` kernels or marker-only detection, ``None`` when not WSL.
    """
    sections = split_sections(lines)
    osrelease = "\n".join(sections.get("osrelease", [])).strip()
    proc_version = "\n".join(sections.get("proc_version", [])).strip()
    markers = [m.strip() for m in sections.get("markers", []) if m.strip()]
    env = dict(
        line.split("=", 1) for line in sections.get("env", []) if "=" in line and line.strip()
    )
    os_release = parse_os_release(sections.get("os_release", []))
    arch_lines = [a for a in sections.get("arch", []) if a.strip()]

    signals: list[str] = []
    kernel_says_wsl = False
    for label, text in (("osrelease", osrelease), ("proc_version", proc_version)):
        low = text.lower()
        if "microsoft" in low or "wsl" in low:
            kernel_says_wsl = True
            signals.append(f"{label}:{text.split()[2] if label == 'proc_version' else text}")
    signals.extend(m for m in WSL_MARKERS if m in markers)
    if env.get("WSL_DISTRO_NAME"):
        signals.append(f"WSL_DISTRO_NAME={env['WSL_DISTRO_NAME']}")

    interop = any(m in markers for m in WSL_INTEROP_MARKERS)
    dirs = all(m in markers for m in WSL_DIR_MARKERS)
    wsl = kernel_says_wsl or interop or dirs

    wsl_version: int | None = None
    if wsl:
        low = osrelease.lower() or proc_version.lower()
        if "microsoft" in low and "microsoft-standard" not in low and "wsl2" not in low:
            wsl_version = 1
        else:
            wsl_version = 2

    return {
        "wsl": wsl,
        "wsl_version": wsl_version,
        "wsl_signals": signals,
        "kernel": osrelease,
        "proc_version": proc_version,
        "distro_id": os_release.get("ID"),
        "version_id": os_release.get("VERSION_ID"),
        "codename": os_release.get("VERSION_CODENAME") or os_release.get("UBUNTU_CODENAME"),
        "pretty_name": os_release.get("PRETTY_NAME"),
        "arch": normalise_arch(arch_lines[0]) if arch_lines else None,
    }


class HostPlatform(FactBase):
    """Native Linux vs WSL (1/2), distro id/version/codename and dpkg architecture.

    Not pyinfra's ``server.LinuxDistribution`` + ``server.Arch``: those are two round trips,
    ``Arch`` is ``uname -m`` (``x86_64``, where apt sources and NVIDIA/Docker repos need the dpkg
    name ``amd64``) and neither knows about WSL. One command gathers all of it.
    See :func:`parse_host_platform` for the WSL rule.
    """

    def command(self) -> str:
        markers = " ".join(WSL_MARKERS)
        return (
            f"echo '{MARK}osrelease'; cat /proc/sys/kernel/osrelease 2>/dev/null; "
            f"echo '{MARK}proc_version'; cat /proc/version 2>/dev/null; "
            f"echo '{MARK}markers'; "
            f'for p in {markers}; do if [ -e "$p" ]; then echo "$p"; fi; done; '
            f"echo '{MARK}env'; "
            'echo "WSL_DISTRO_NAME=${WSL_DISTRO_NAME:-}"; '
            f"echo '{MARK}os_release'; "
            "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null; "
            f"echo '{MARK}arch'; dpkg --print-architecture 2>/dev/null || uname -m; "
            "true"
        )

    @staticmethod
    def default() -> dict[str, Any]:
        return parse_host_platform([])

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_host_platform(output)


# --------------------------------------------------------------------------------------------
# SystemdPid1


class SystemdPid1(FactBase):
    """Whether systemd runs as PID 1 (``/run/systemd/system`` + PID 1 comm).

    Not pyinfra's ``systemd.SystemdStatus``: that one calls ``systemctl``, which exists (and
    fails) on hosts where systemd is installed but not running, e.g. WSL without
    ``[boot] systemd=true`` or a plain container.
    """

    def command(self) -> str:
        return SYSTEMD_PID1_COMMAND

    @staticmethod
    def default() -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return parse_systemd_pid1(output)


# --------------------------------------------------------------------------------------------
# DockerState


def parse_dpkg_status_lines(lines: list[str], sep: str | None = "\t") -> dict[str, str]:
    """``{package: version}`` of packages whose dpkg status says files are on disk.

    Input lines are ``dpkg-query -W -f='${Package}<sep>${Status}<sep>${Version}'`` (Version
    optional). Installed means the status word is anything but ``not-installed`` and
    ``config-files`` (half-configured/unpacked packages still have their files).
    """
    result: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        if sep is None:
            parts = line.split()
            package, status = parts[0], parts[1:4]
            version = " ".join(parts[4:])
        else:
            fields = line.split(sep)
            package = fields[0].strip()
            status = fields[1].split() if len(fields) > 1 else []
            version = fields[2].strip() if len(fields) > 2 else ""
        if len(status) < 3 or status[2] in ("not-installed", "config-files"):
            continue
        result[package] = version
    return result


def parse_running_info(lines: list[str]) -> dict[str, Any] | None:
    """``docker info --format '{{json .}}'`` output -> the running daemon's info document, as
    the Engine API's ``/info`` gives it; None when no daemon answers (other lines: errors)."""
    for line in lines:
        if line.strip().startswith("{"):
            try:
                info = json.loads(line)
            except json.JSONDecodeError:
                continue
            return info if info.get("ServerVersion") else None
    return None


# the settings of the running daemon that daemon.json sets (daemon_state.daemon_mismatches)
RUNNING_SETTINGS = (
    "Runtimes",
    "DefaultRuntime",
    "RegistryConfig",
    "LiveRestoreEnabled",
    "Debug",
    "DockerRootDir",
)


def running_settings(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The :data:`RUNNING_SETTINGS` of a running daemon's info; None when none answers."""
    if info is None:
        return None
    return {key: info[key] for key in RUNNING_SETTINGS if key in info}


def parse_docker_info(lines: list[str] | str) -> dict[str, Any]:
    """Parse ``docker info --format '{{json .}}' 2>&1`` output.

    The JSON line is the one starting with ``{``; other lines are client errors (e.g. "Cannot
    connect to the Docker daemon ..."). A reachable daemon has a non-empty ``ServerVersion``;
    docker 28 clients print a JSON document with empty server fields when it is not reachable.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    info: dict[str, Any] | None = None
    other: list[str] = []
    for line in lines:
        stripped = line.strip()
        if info is None and stripped.startswith("{"):
            try:
                info = json.loads(stripped)
                continue
            except json.JSONDecodeError:
                pass
        if stripped:
            other.append(stripped)
    info = info or {}
    server_errors = info.get("ServerErrors") or []
    running = bool(info.get("ServerVersion"))
    error = None
    if not running:
        error = "; ".join([*server_errors, *other]) or "docker info returned no server"
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    return {
        "running": running,
        "server_version": info.get("ServerVersion") or None,
        "runtimes": runtimes,
        "default_runtime": info.get("DefaultRuntime") or None,
        "operating_system": info.get("OperatingSystem") or None,
        "kernel_version": info.get("KernelVersion") or None,
        "name": info.get("Name") or None,
        "cgroup_driver": info.get("CgroupDriver") or None,
        "error": error,
    }


def is_docker_desktop_info(info: dict[str, Any]) -> bool:
    """``probes.is_docker_desktop`` on the DockerState fact's ``info``."""
    raw = {"OperatingSystem": info.get("operating_system"), "Name": info.get("name")}
    return reading.is_docker_desktop(raw)


def parse_docker_state(lines: list[str]) -> dict[str, Any]:
    """Parse :class:`DockerState` output into the documented dict.

    flavour, in order: ``docker-desktop`` (the daemon says so, or the CLI resolves into
    ``/mnt/wsl/docker-desktop`` - Desktop's WSL integration symlink), ``docker-ce`` /
    ``docker.io`` (dpkg), ``apt`` (the dockerd on PATH belongs to another package, named in
    ``engine_package``: ``moby-engine``, a vendor's renamed docker-ce), ``other`` (a docker
    CLI or dockerd no package owns: static binaries, snap), ``absent``. ``packages`` keeps both
    dpkg engines so an in-distro engine behind Docker Desktop can be told apart.
    ``engine_package``: what ``dpkg-query -S`` says owns the dockerd on PATH
    (``probes.dpkg_owner``), None when none does.
    """
    sections = split_sections(lines)
    packages = parse_dpkg_status_lines(sections.get("dpkg", []))
    cli_lines = [c.strip() for c in sections.get("cli", []) if c.strip()]
    cli_path = cli_lines[0] if cli_lines else None
    cli_target = cli_lines[1] if len(cli_lines) > 1 else cli_path
    info = (
        parse_docker_info(sections["info"])
        if "info" in sections
        else {
            "running": False,
            "server_version": None,
            "runtimes": [],
            "default_runtime": None,
            "operating_system": None,
            "kernel_version": None,
            "name": None,
            "cgroup_driver": None,
            "error": "docker CLI not found" if cli_path is None else None,
        }
    )
    dockerd_lines = [c.strip() for c in sections.get("dockerd", []) if c.strip()]
    dockerd_path = dockerd_lines[0] if dockerd_lines else None
    dockerd_target = dockerd_lines[1] if len(dockerd_lines) > 1 else dockerd_path
    search = reading.parse_dpkg_search(sections.get("dockerd_dpkg", []))
    engine_package = reading.dpkg_owner(dockerd_target, search)
    desktop_cli = any("docker-desktop" in (p or "") for p in (cli_path, cli_target))
    if is_docker_desktop_info(info) or desktop_cli:
        flavour = "docker-desktop"
    elif "docker-ce" in packages:
        flavour = "docker-ce"
    elif "docker.io" in packages:
        flavour = "docker.io"
    elif engine_package:
        flavour = "apt"
    elif cli_path or dockerd_path:
        flavour = "other"
    else:
        flavour = "absent"
    return {
        "installed": flavour != "absent",
        "flavour": flavour,
        "packages": packages,
        "cli_path": cli_path,
        "cli_target": cli_target,
        "dockerd_path": dockerd_path,
        "dockerd_target": dockerd_target,
        "engine_package": engine_package,
        # what the deploy compares with daemon.json (daemon_state.not_applied): one `docker
        # info` per deploy
        "daemon_settings": running_settings(parse_running_info(sections.get("info", []))),
        **info,
    }


class DockerState(FactBase):
    """Docker engine flavour, whether the daemon answers, its runtimes and default runtime.

    Not pyinfra's ``docker.DockerSystemInfo``: that runs ``docker system info`` and fails the
    host when the daemon is down or docker is absent - both normal answers before a deploy -
    and does not say which package (docker.io / docker-ce) or Docker Desktop provides it.
    """

    def command(self) -> str:
        return (
            f"echo '{MARK}dpkg'; "
            "dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n' docker.io docker-ce "
            "2>/dev/null; "
            f"{reading.dpkg_owner_command('dockerd', 'dockerd')}; "
            f"echo '{MARK}cli'; "
            "if command -v docker >/dev/null 2>&1; then "
            'p=$(command -v docker); echo "$p"; readlink -f "$p" 2>/dev/null || echo "$p"; '
            f"echo '{MARK}info'; "
            "timeout 60 docker info --format '{{json .}}' 2>&1; "
            "fi; true"
        )

    @staticmethod
    def default() -> dict[str, Any]:
        return parse_docker_state([])

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_docker_state(output)


# --------------------------------------------------------------------------------------------
# NvidiaGpus


def parse_nvidia_gpus(lines: list[str]) -> dict[str, Any]:
    """Parse :class:`NvidiaGpus` output.

    * ``driver``: nvidia-smi ran and the driver answered (also True for "No devices were
      found": the driver is loaded, it just sees no GPU);
    * ``error``: nvidia-smi's message when it did not list GPUs normally;
    * ``gpus``: the records (see :func:`parse_nvidia_smi_csv`).
    """
    sections = split_sections(lines)
    if "nvidia-smi-missing" in sections:
        return {"driver": False, "error": "nvidia-smi not found", "gpus": [], "nvidia_smi": None}
    smi = (sections.get("nvidia-smi:args") or [None])[0]
    rc_text = (sections.get("rc:args") or [""])[0]
    rc = int(rc_text) if rc_text.lstrip("-").isdigit() else None
    body = [line for line in sections.get("nvidia-smi", []) if line.strip()]
    records, messages = [], []
    for line in body:
        try:
            records.extend(parse_nvidia_smi_csv([line]))
        except ValueError:
            messages.append(line.strip())
    if not smi and not body:
        return {"driver": False, "error": "no nvidia-smi output", "gpus": [], "nvidia_smi": None}
    error = "\n".join(messages) or None
    if rc not in (0, None) and error is None:
        error = f"nvidia-smi exited with {rc}" + (" (timed out)" if rc == 124 else "")
    driver = bool(records) and rc in (0, None)
    if error and NVIDIA_SMI_NO_DEVICES in error:
        driver = True
    return {
        "driver": driver,
        "error": error,
        "gpus": records if driver else [],
        "nvidia_smi": smi,
    }


class NvidiaGpus(FactBase):
    """GPUs as the NVIDIA driver sees them (``nvidia-smi --query-gpu``).

    No pyinfra built-in. On WSL the tool lives in ``/usr/lib/wsl/lib`` (provided by the Windows
    driver), which is often not on root's PATH, so it is tried there too. Absence prints a
    marker and exits 0; errors (driver not loaded, version mismatch) are captured, not fatal.
    """

    def command(self) -> str:
        return (
            "smi=$(command -v nvidia-smi 2>/dev/null); "
            f'if [ -z "$smi" ] && [ -x {WSL_NVIDIA_SMI} ]; then smi={WSL_NVIDIA_SMI}; fi; '
            f"if [ -z \"$smi\" ]; then echo '{MARK}nvidia-smi-missing'; "
            f'else echo "{MARK}nvidia-smi $smi"; '
            f'timeout 120 "$smi" --query-gpu={NVIDIA_SMI_QUERY} --format=csv,noheader 2>&1; '
            f'echo "{MARK}rc $?"; fi'
        )

    @staticmethod
    def default() -> dict[str, Any]:
        return {"driver": False, "error": "no output", "gpus": [], "nvidia_smi": None}

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_nvidia_gpus(output)


# --------------------------------------------------------------------------------------------
# NvidiaCtkVersion


def parse_nvidia_ctk_version(lines: list[str]) -> str | None:
    """``NVIDIA Container Toolkit CLI version 1.17.8`` -> ``"1.17.8"``; None otherwise."""
    for line in lines:
        match = re.search(r"\bversion\s+v?(\d+\.\d+\.\d+[\w.~+-]*)", line)
        if match:
            return match.group(1)
    return None


class NvidiaCtkVersion(FactBase):
    """Installed NVIDIA Container Toolkit CLI version (``nvidia-ctk --version``) or None.

    No pyinfra built-in; ``deb.DebPackage`` would give the package version, but the CLI is what
    the deploy runs (``nvidia-ctk runtime configure``), so its own answer is used.
    """

    def command(self) -> str:
        return "if command -v nvidia-ctk >/dev/null 2>&1; then nvidia-ctk --version 2>&1; fi; true"

    def process(self, output: list[str]) -> str | None:
        return parse_nvidia_ctk_version(output)


# --------------------------------------------------------------------------------------------
# file-content facts


def _file_command(path: str) -> str:
    quoted = shlex.quote(path)
    return (
        f"if [ -e {quoted} ]; then echo '{MARK}present'; cat {quoted}; else echo '{MARK}absent'; fi"
    )


def _file_body(lines: list[str]) -> list[str] | None:
    sections = split_sections(lines)
    if "present" not in sections:
        return None
    return sections["present"]


def parse_daemon_json(text: str | None, path: str = DAEMON_JSON_PATH) -> dict[str, Any] | None:
    """Parse daemon.json text. None when absent; an empty file counts as ``{}`` (the deploy
    rewrites it); invalid JSON or a non-object raises :class:`FactParseError` naming the file
    (``probes.parse_daemon_json``, as a pyinfra fact error)."""
    try:
        return reading.parse_daemon_json(text, path)
    except reading.ProbeParseError as exc:
        raise FactParseError(str(exc)) from exc


class DaemonJson(FactBase):
    """``/etc/docker/daemon.json`` parsed, or None when absent.

    pyinfra's ``files.FileContents`` returns None for an empty file as well as for a missing
    one; this fact prints a presence marker first, then parses (raising on invalid JSON).
    """

    def command(self) -> str:
        return _file_command(DAEMON_JSON_PATH)

    def process(self, output: list[str]) -> dict[str, Any] | None:
        body = _file_body(output)
        return parse_daemon_json(None if body is None else "\n".join(body))


class DaemonJsonAdded(FactBase):
    """The deploy's record of what it added to daemon.json (``probes.DAEMON_JSON_ADDED_PATH``,
    ``probes.parse_daemon_json_added``): entries the inventory may take back. Absent: {}."""

    def command(self) -> str:
        return _file_command(reading.DAEMON_JSON_ADDED_PATH)

    @staticmethod
    def default() -> dict[str, Any]:
        return reading.parse_daemon_json_added(None)

    def process(self, output: list[str]) -> dict[str, Any]:
        body = _file_body(output)
        return reading.parse_daemon_json_added(None if body is None else "\n".join(body))


class CdiSpecState(FactBase):
    """Whether NVIDIA's CDI spec (``/etc/cdi/nvidia.yaml``) exists and the driver version the
    deploy generated it for (``probes.cdi_state_command`` / ``parse_cdi_state``).

    The spec itself names no driver version (``nvidia-ctk cdi generate`` writes the version only
    into library file names), so the deploy keeps a record next to its other records."""

    def command(self) -> str:
        return reading.cdi_state_command()

    @staticmethod
    def default() -> dict[str, Any]:
        return reading.parse_cdi_state([])

    def process(self, output: list[str]) -> dict[str, Any]:
        return reading.parse_cdi_state(output)


def parse_wsl_conf(text: str | None, path: str = WSL_CONF_PATH) -> dict[str, dict[str, str]] | None:
    """Parse wsl.conf (INI) into ``{section: {key: value}}``; None when absent.

    Keys keep their case (WSL reads ``generateResolvConf`` etc. case-insensitively, but the
    deploy writes lower-case keys and compares them as such); values are stripped but keep
    their quotes (``command = "service docker start"``). A later duplicate wins, like WSL.
    """
    if text is None:
        return None
    parser = configparser.ConfigParser(
        interpolation=None, strict=False, comment_prefixes=("#", ";"), delimiters=("=",)
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise FactParseError(f"{path} is not valid INI: {exc}") from exc
    return {section: dict(parser.items(section)) for section in parser.sections()}


def wsl_conf_value(conf: dict[str, dict[str, str]] | None, section: str, key: str) -> str | None:
    """Case-insensitive lookup in a parsed wsl.conf with surrounding quotes removed."""
    for sec_name, values in (conf or {}).items():
        if sec_name.lower() != section.lower():
            continue
        for k, v in values.items():
            if k.lower() == key.lower():
                return v.strip().strip('"').strip("'")
    return None


class WslConf(FactBase):
    """``/etc/wsl.conf`` as ``{section: {key: value}}``, or None when absent.

    pyinfra has no INI fact; ``files.FileContents`` does not tell empty from absent.
    """

    def command(self) -> str:
        return _file_command(WSL_CONF_PATH)

    def process(self, output: list[str]) -> dict[str, dict[str, str]] | None:
        body = _file_body(output)
        return parse_wsl_conf(None if body is None else "\n".join(body))


# --------------------------------------------------------------------------------------------
# LinuxNvidiaDriverPackages

# Ubuntu (nvidia-driver-550, nvidia-dkms-550, libnvidia-compute-550, nvidia-utils-550,
# nvidia-kernel-common-550, ...) and Debian (nvidia-driver, nvidia-kernel-dkms, libnvidia-ml1,
# libcuda1, nvidia-smi, libnvidia-ptxjitcompiler1, ...) names of the Linux GPU driver: anything
# that can put libcuda.so.1 / libnvidia-ml.so.1 / the kernel module into the distro. Every
# libnvidia-* package counts except those in NOT_DRIVER_PACKAGE_RE.
LINUX_DRIVER_PACKAGE_RE = re.compile(
    r"^(nvidia-driver(-.*)?"
    r"|nvidia-dkms-.*"
    r"|nvidia-kernel-.*"
    r"|nvidia-utils-.*"
    r"|nvidia-compute-utils-.*"
    r"|nvidia-smi"
    r"|libnvidia-.*"
    r"|libcuda1)$"
)
# Not the driver: the container toolkit (fine - needed - inside WSL) and NVIDIA's
# open-source EGL platform libraries (separate source packages, no libcuda/libnvidia-ml).
NOT_DRIVER_PACKAGE_RE = re.compile(
    r"^(nvidia-container-toolkit.*|libnvidia-container.*|nvidia-container-runtime"
    r"|nvidia-docker2|libnvidia-egl-(wayland|gbm|xcb|xlib|x11)\d*)$"
)
DPKG_NVIDIA_PATTERNS = ("nvidia-*", "libnvidia-*", "libcuda1")


def filter_linux_driver_packages(packages: list[str] | dict[str, Any]) -> list[str]:
    """Sorted names that are Linux NVIDIA driver packages (container toolkit excluded).

    Also usable on pyinfra's ``deb.DebPackages`` dict.
    """
    return sorted(
        p
        for p in packages
        if LINUX_DRIVER_PACKAGE_RE.match(p) and not NOT_DRIVER_PACKAGE_RE.match(p)
    )


def parse_linux_nvidia_driver_packages(lines: list[str]) -> list[str]:
    """``dpkg-query -W -f='${Package} ${Status}\\n'`` lines -> installed driver packages."""
    return filter_linux_driver_packages(parse_dpkg_status_lines(lines, sep=None))


class LinuxNvidiaDriverPackages(FactBase):
    """Installed Linux NVIDIA driver packages (names), container toolkit excluded.

    Inside WSL such packages break GPU containers (``libnvidia-ml.so.1: file exists``): the WSL
    driver comes from Windows through ``/usr/lib/wsl/lib``. A narrow ``dpkg-query`` on
    ``nvidia-*``/``libnvidia-*`` instead of pyinfra's ``deb.DebPackages`` (``dpkg -l`` of every
    package), and it keeps half-configured packages (a failed DKMS build is the usual WSL case),
    which ``DebPackages`` drops.
    """

    def command(self) -> str:
        patterns = " ".join(f"'{p}'" for p in DPKG_NVIDIA_PATTERNS)
        return f"dpkg-query -W -f='${{Package}} ${{Status}}\\n' {patterns} 2>/dev/null; true"

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return parse_linux_nvidia_driver_packages(output)


# --------------------------------------------------------------------------------------------
# ContainerState / DockerImagePresent

_DOCKER_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _container_state(item: dict[str, Any]) -> dict[str, Any]:
    state = item.get("State") or {}
    config = item.get("Config") or {}
    health = state.get("Health") or {}
    return {
        "running": bool(state.get("Running")),
        "status": state.get("Status") or "",
        "restart_count": int(item.get("RestartCount") or 0),
        "exit_code": int(state.get("ExitCode") or 0),
        "labels": dict(config.get("Labels") or {}),
        "image": config.get("Image") or "",
        "image_id": item.get("Image") or "",
        "health": health.get("Status"),
        "id": item.get("Id") or "",
    }


def parse_container_inspect(
    text: str | list[str], names: list[str] | None = None
) -> dict[str, dict[str, Any] | None]:
    """``docker container inspect`` JSON -> ``{name: state}``; requested names that were not
    found map to None."""
    if isinstance(text, list):
        text = "\n".join(text)
    if text.lstrip().startswith("["):
        items = json.loads(text)
    else:  # CONTAINER_FORMAT: one JSON object per line
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    result: dict[str, dict[str, Any] | None] = {n: None for n in names or []}
    for item in items:
        name = (item.get("Name") or "").lstrip("/")
        result[name] = _container_state(item)
    return result


def parse_container_state(lines: list[str]) -> dict[str, dict[str, Any] | None]:
    sections = split_sections(lines)
    names = (sections.get("names:args") or [""])[0].split()
    if "docker-missing" in sections:
        return {n: None for n in names}
    try:
        return parse_container_inspect(sections.get("inspect", []), names)
    except json.JSONDecodeError as exc:
        raise FactParseError(f"docker container inspect returned invalid JSON: {exc}") from exc


def _check_docker_ref(value: str, what: str) -> str:
    if not value or value.startswith("-") or any(c.isspace() for c in value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


# Only the fields ContainerState needs, never ``.Config.Env`` (HF_TOKEN, API_KEY): pyinfra prints
# fact output at -vv and more, and a full ``docker inspect`` would print the container's secrets.
CONTAINER_FORMAT = (
    '{"Name":{{json .Name}},"Id":{{json .Id}},"Image":{{json .Image}},'
    '"RestartCount":{{json .RestartCount}},"State":{{json .State}},'
    '"Config":{"Labels":{{json .Config.Labels}},"Image":{{json .Config.Image}}}}'
)


class ContainerState(FactBase):
    """``{name: {"running", "status", "restart_count", "labels", "image", "exit_code", ...}}``
    for the given container names; a missing container (or no docker) maps to None.

    Not pyinfra's ``docker.DockerContainer``: it fails the host when the container does not
    exist (``docker inspect`` exits 1), which is the normal first-deploy answer.
    """

    def command(self, names: list[str] | tuple[str, ...] | str) -> str:
        if isinstance(names, str):
            names = [names]
        for n in names:
            if not _DOCKER_NAME_RE.match(n):
                raise ValueError(f"invalid container name: {n!r}")
        joined = " ".join(names)
        return (
            f"echo '{MARK}names {joined}'; "
            f"if command -v docker >/dev/null 2>&1; then echo '{MARK}inspect'; "
            f"docker container inspect --format {shlex.quote(CONTAINER_FORMAT)} {joined} "
            "2>/dev/null; "
            f"else echo '{MARK}docker-missing'; fi; true"
        )

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any] | None]:
        return parse_container_state(output)


def parse_image_present(lines: list[str]) -> bool:
    return any(line.strip().startswith("sha256:") for line in lines)


class DockerImagePresent(FactBase):
    """Whether an image reference exists in the local image store (``docker image inspect``).

    Not pyinfra's ``docker.DockerImage``: it fails the host when the image is missing.
    """

    def command(self, image: str) -> str:
        ref = shlex.quote(_check_docker_ref(image, "image reference"))
        return (
            "if command -v docker >/dev/null 2>&1; then "
            f"docker image inspect --format '{{{{.Id}}}}' {ref} 2>/dev/null; fi; true"
        )

    @staticmethod
    def default() -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return parse_image_present(output)


# --------------------------------------------------------------------------------------------
# UserGroups


class UserGroups(FactBase):
    """The groups of the given users: ``{user: {"group", "groups"}}``, missing users left out
    (``probes.user_groups_command`` / ``parse_user_groups``).

    Not pyinfra's ``server.Users``: that lists every user of the host with each one's
    ``lastlog``, where the deploy asks about the few ``tgi_docker_users``."""

    def command(self, users: tuple[str, ...]) -> str:
        return reading.user_groups_command(users)

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        return reading.parse_user_groups(output)


# --------------------------------------------------------------------------------------------
# NvidiaDevChar


class NvidiaDevChar(FactBase):
    """/dev/char links of the NVIDIA device nodes and NVIDIA's udev rule that keeps them
    (``probes.nvidia_dev_char_command`` / ``probes.parse_nvidia_dev_char``): whether the
    driver is loaded, each node's link (``ok`` / ``other`` / ``missing``), nvidia-ctk's path,
    the rule file. Why: NVIDIA/nvidia-docker#1730 (``deploy/host/dev_char_links.py``).

    No pyinfra built-in reads device numbers or resolves a link against a device node.
    """

    def command(self) -> str:
        return reading.nvidia_dev_char_command()

    @staticmethod
    def default() -> dict[str, Any]:
        return reading.parse_nvidia_dev_char([])

    def process(self, output: list[str]) -> dict[str, Any]:
        try:
            return reading.parse_nvidia_dev_char(output)
        except reading.ProbeParseError as exc:
            raise FactParseError(str(exc)) from exc
