"""The one host-probe layer: the commands, parsers and constants that read a host.

Used by the deploy's facts (``tgi_infra.host.facts``, pyinfra) and by the smoke host checks
(``tgi_infra.smoke.hostchecks*``, testinfra), so that both read a host the same way. This
module imports neither pyinfra nor testinfra: the host checks also run inside hosts with only
pydantic/jinja2/testinfra copied in.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

# section marker printed between the parts of a multi-part command's output
MARK = "@@tgi-infra:"
# the deploy's batched read of a host (tgi_infra.host.host_state): each read's output between these
READ_MARK = "@@tgi-infra-read:"
RC_MARK = "@@tgi-infra-rc:"

DAEMON_JSON_PATH = "/etc/docker/daemon.json"
WSL_CONF_PATH = "/etc/wsl.conf"
WSL_LIB_DIR = "/usr/lib/wsl/lib"
# on WSL2 nvidia-smi comes from the Windows driver, mounted here (not on PATH for root)
WSL_NVIDIA_SMI = f"{WSL_LIB_DIR}/nvidia-smi"

# the deploy's own records on a host (root:root 0644, written atomically): what it added to a
# file it shares with the user, and what a generated file was made for
STATE_DIR = "/var/lib/tgi-infra"
DAEMON_JSON_ADDED_PATH = f"{STATE_DIR}/daemon-json-added.json"
DAEMON_JSON_ADDED_ABOUT = (
    f"What tgi-infra added to {DAEMON_JSON_PATH}: removed again when the inventory drops it. "
    "Entries and keys not listed here are the host's own and are never removed."
)
# NVIDIA's documented place for a CDI spec that survives a reboot (/var/run/cdi is cleared at
# boot); the driver version it was generated for is recorded next to the deploy's other records
CDI_SPEC_PATH = "/etc/cdi/nvidia.yaml"
CDI_RECORD_PATH = f"{STATE_DIR}/cdi-nvidia.env"

NVIDIA_SMI_QUERY = "index,name,memory.total,driver_version,uuid"
NVIDIA_SMI_DRIVER_BROKEN = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA"
NVIDIA_SMI_NO_DEVICES = "No devices were found"

# the four packages of NVIDIA's install guide, pinned together
TOOLKIT_PACKAGES: tuple[str, ...] = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)

# labels on every container the deploy runs
LABEL_MANAGED = "tgi-infra.managed"
LABEL_HASH = "tgi-infra.config-hash"

# status names of a check (smoke checks, host checks, their JSON report)
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"

# systemd as PID 1: systemd's own sd_booted() test, plus PID 1's comm (see parse_systemd_pid1)
SYSTEMD_PID1_COMMAND = (
    'echo "pid1_comm=$(cat /proc/1/comm 2>/dev/null)"; '
    "if [ -d /run/systemd/system ]; then echo sd_booted=yes; else echo sd_booted=no; fi"
)


def _parse_mib(value: str) -> int | None:
    match = re.fullmatch(r"\s*(\d+)\s*(MiB)?\s*", value)
    return int(match.group(1)) if match else None


def parse_nvidia_smi_csv(lines: list[str]) -> list[dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,driver_version,uuid
    --format=csv,noheader`` lines, e.g. ``0, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15,
    GPU-...``. Raises ``ValueError`` on a line that is not such a record.
    """
    gpus = []
    for line in lines:
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5 or not fields[0].isdigit():
            raise ValueError(f"not an nvidia-smi CSV record: {line!r}")
        # a GPU name never contains a comma in practice; be safe and rejoin the middle
        index, *name_parts, memory, driver, uuid = fields
        gpus.append(
            {
                "index": int(index),
                "name": ", ".join(name_parts),
                "memory_mib": _parse_mib(memory),
                "driver_version": driver,
                "uuid": uuid,
            }
        )
    return gpus


class ProbeParseError(ValueError):
    """What a host printed (or a file it holds) cannot be parsed; the message names it."""


def parse_systemd_pid1(lines: list[str] | str) -> bool:
    """True when systemd is PID 1 (output of ``SYSTEMD_PID1_COMMAND``).

    ``/run/systemd/system`` being a directory is systemd's own ``sd_booted()`` test; PID 1's
    comm is checked too because a container image can ship that directory without running
    systemd. (``readlink /proc/1/exe`` needs root, so comm is used.) WSL without
    ``[boot] systemd=true`` has Microsoft's ``/init`` (comm ``init``) as PID 1.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    booted = values.get("sd_booted", "").strip() == "yes"
    comm = values.get("pid1_comm", "").strip()
    if not comm:
        return booted
    return booted and comm == "systemd"


def parse_daemon_json(text: str | None, path: str = DAEMON_JSON_PATH) -> dict[str, Any] | None:
    """daemon.json text -> dict. None when absent; an empty file counts as ``{}`` (the deploy
    rewrites it); invalid JSON or a non-object raises :class:`ProbeParseError` naming the file."""
    if text is None:
        return None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProbeParseError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"dockerd will refuse to start with it: fix or remove {path}"
        ) from exc
    if not isinstance(data, dict):
        raise ProbeParseError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def parse_daemon_json_added(text: str | None) -> dict[str, Any]:
    """The record of what the deploy added to daemon.json (``DAEMON_JSON_ADDED_PATH``):
    ``{"added": {key: [entry, ...]}, "created_keys": [key, ...], "error": str | None}``.

    Absent: nothing recorded. Unreadable (not JSON, wrong shape): nothing recorded and
    ``error`` says why; the deploy then treats every entry as the host's own (never removed)."""
    empty: dict[str, Any] = {"added": {}, "created_keys": [], "error": None}
    if text is None or not text.strip():
        return empty
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return {**empty, "error": f"not valid JSON ({exc.msg} at line {exc.lineno})"}
    added = data.get("added") if isinstance(data, dict) else None
    created = data.get("created_keys", []) if isinstance(data, dict) else None
    if (
        not isinstance(added, dict)
        or not all(
            isinstance(v, list) and all(isinstance(e, str) for e in v) for v in added.values()
        )
        or not isinstance(created, list)
        or not all(isinstance(k, str) for k in created)
    ):
        return {**empty, "error": "not the shape tgi-infra writes"}
    return {
        "added": {k: list(v) for k, v in added.items()},
        "created_keys": list(created),
        "error": None,
    }


def batched(i: int, command: str) -> str:
    """One read inside the snapshot command: its output between its two marker lines. The end
    marker starts with a newline of its own, so output without a final newline (``cat`` of a
    file ``json.dumps`` wrote) does not run into it; :func:`parse_snapshot` drops that line."""
    return (
        f"echo '{READ_MARK}{i}'; ( {command} ) </dev/null 2>/dev/null; "
        f"printf '\\n{RC_MARK}{i}:%s\\n' \"$?\""
    )


def parse_snapshot(lines: list[str]) -> dict[int, tuple[int, list[str]]]:
    """Snapshot output -> ``{index: (exit status, stdout lines)}``; a read whose markers are
    missing (output cut short) is absent."""
    out: dict[int, tuple[int, list[str]]] = {}
    current: int | None = None
    body: list[str] = []
    for line in lines:
        if line.startswith(READ_MARK) and line[len(READ_MARK) :].strip().isdigit():
            current, body = int(line[len(READ_MARK) :].strip()), []
        elif line.startswith(RC_MARK) and current is not None:
            index, _, rc = line[len(RC_MARK) :].strip().partition(":")
            if index == str(current) and rc.lstrip("-").isdigit():
                # the end marker's own newline: an empty line after output that ended with one
                out[current] = (int(rc), body[:-1] if body and body[-1] == "" else body)
            current = None
        elif current is not None:
            body.append(line)
    return out


def cdi_state_command(spec: str = CDI_SPEC_PATH, record: str = CDI_RECORD_PATH) -> str:
    """Whether the CDI spec exists, and the record of what it was generated for."""
    s, r = shlex.quote(spec), shlex.quote(record)
    return (
        f"if [ -e {s} ]; then echo '{MARK}spec'; fi; "
        f"if [ -e {r} ]; then echo '{MARK}record'; cat {r}; fi; true"
    )


def parse_cdi_state(lines: list[str]) -> dict[str, Any]:
    """``{"spec": bool, "driver_version": str | None}`` (None: no record, or none in it)."""
    spec, in_record, values = False, False, {}
    for line in lines:
        if line.strip() == f"{MARK}spec":
            spec = True
        elif line.strip() == f"{MARK}record":
            in_record = True
        elif in_record and "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return {"spec": spec, "driver_version": values.get("driver_version") or None}


def cdi_record_content(driver_version: str, spec: str = CDI_SPEC_PATH) -> str:
    """The record written after ``nvidia-ctk cdi generate``: the driver it describes."""
    return (
        f"# written by tgi-infra after `nvidia-ctk cdi generate --output={spec}`: the NVIDIA\n"
        "# driver version the spec was generated for (a new driver: the deploy regenerates it)\n"
        f"driver_version={driver_version}\n"
    )


def is_docker_desktop(info: dict[str, Any]) -> bool:
    """``docker info --format '{{json .}}'`` of Docker Desktop's daemon: it reports
    ``OperatingSystem: Docker Desktop``, ``Name: docker-desktop`` (WSL2 backend and Docker
    Desktop for Linux alike)."""
    return (
        "docker desktop" in str(info.get("OperatingSystem") or "").lower()
        or (info.get("Name") or "") == "docker-desktop"
    )


def user_groups_command(users: list[str] | tuple[str, ...]) -> str:
    """``user|primary group|every group`` per existing user of ``users`` (a missing user prints
    nothing): what the docker group check needs, not the whole passwd file with each user's
    lastlog (pyinfra's ``server.Users``)."""
    lines = [
        f'if id -u {q} >/dev/null 2>&1; then echo "{u}|$(id -gn {q})|$(id -Gn {q})"; fi'
        for u, q in ((u, shlex.quote(u)) for u in users)
    ]
    return "; ".join([*lines, "true"])


def parse_user_groups(lines: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`user_groups_command` output -> ``{user: {"group": primary, "groups":
    [secondary groups]}}`` (the shape of pyinfra's ``server.Users`` for these keys)."""
    users: dict[str, dict[str, Any]] = {}
    for line in lines:
        parts = line.strip().split("|")
        if len(parts) != 3 or not parts[0]:
            continue
        user, group, every = parts
        users[user] = {"group": group, "groups": [g for g in every.split() if g != group]}
    return users


def toolkit_dpkg_command() -> str:
    """``dpkg-query`` of the toolkit packages: ``name<TAB>version<TAB>status`` lines."""
    return "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' " + " ".join(
        TOOLKIT_PACKAGES
    )


# --------------------------------------------------------------------------------------------
# /dev/char links of the NVIDIA device nodes (NVIDIA/nvidia-docker#1730)
#
# On hosts whose Docker uses the systemd cgroup driver, `systemctl daemon-reload` makes systemd
# rewrite every container's device rules from /dev/char/<major>:<minor>; NVIDIA's device nodes
# are made by nvidia-modprobe, not udev, so those links are missing and running containers lose
# their GPUs ("Failed to initialize NVML: Unknown Error"). NVIDIA's documented mitigation: create
# the links with `nvidia-ctk system create-dev-char-symlinks --create-all` (toolkit >= 1.12) and
# install a udev rule that does it again whenever the driver binds (boot, driver reload).

DEV_CHAR_DIR = "/dev/char"
NVIDIA_CTK_PATH = "/usr/bin/nvidia-ctk"
DEV_CHAR_LINKS_COMMAND = "nvidia-ctk system create-dev-char-symlinks --create-all"
# NVIDIA's place and rule, word for word (nvidia-docker#1730, nvidia-container-toolkit#48)
NVIDIA_DEV_CHAR_RULE_PATH = "/lib/udev/rules.d/71-nvidia-dev-char.rules"
NVIDIA_DEV_CHAR_RULE = (
    "# Written by tgi-infra: NVIDIA's mitigation of NVIDIA/nvidia-docker#1730 (containers lose\n"
    "# their GPUs on `systemctl daemon-reload` with the systemd cgroup driver).\n"
    "# This will create /dev/char symlinks to all device nodes\n"
    'ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", '
    f'RUN+="{NVIDIA_CTK_PATH} system create-dev-char-symlinks --create-all"\n'
)
# nodes nvidia-ctk's `existing` lister skips (create-dev-char-symlinks/existing.go nodeIsBlocked)
DEV_CHAR_BLOCKED_PREFIXES = ("nvidia-fs", "nvidia-nvswitch", "nvidia-nvlink")
# the nodes `--create-all` links (create-dev-char-symlinks/all.go: the control nodes, then
# /dev/nvidia<N> per GPU; MIG capability nodes only as /proc/driver/nvidia-caps/mig-minors lists)
CREATE_ALL_NODE_RE = re.compile(
    r"^(nvidia\d+|nvidiactl|nvidia-modeset|nvidia-uvm|nvidia-uvm-tools)$"
)


def nvidia_dev_char_command(root: str = "") -> str:
    """One POSIX-sh command: NVIDIA majors in /proc/devices (the driver is loaded), each NVIDIA
    character device node with its ``major:minor`` and the state of its /dev/char link (``ok``:
    the link resolves to that node, ``other``: something else is there, ``missing``), whether
    nvidia-ctk is on PATH, and the udev rule file. ``root`` prefixes every path (tests only)."""
    blocked = "|".join(f"{p}*" for p in DEV_CHAR_BLOCKED_PREFIXES)
    rule = f"{root}{NVIDIA_DEV_CHAR_RULE_PATH}"
    return (
        f"echo '{MARK}proc_devices'; "
        f"grep -E '^ *[0-9]+ nvidia' {root}/proc/devices 2>/dev/null; "
        f"echo '{MARK}nodes'; "
        f"for d in {root}/dev/nvidia* {root}/dev/nvidia-caps/nvidia-*; do "
        '[ -c "$d" ] || continue; '
        f'case "${{d##*/}}" in {blocked}) continue ;; esac; '
        "mm=$(stat -c '%t %T' \"$d\") || continue; "
        "mj=$((0x${mm% *})); mn=$((0x${mm#* })); "
        f"l={root}{DEV_CHAR_DIR}/$mj:$mn; "
        'if [ "$l" -ef "$d" ]; then s=ok; elif [ -e "$l" ] || [ -L "$l" ]; then s=other; '
        'else s=missing; fi; echo "$d $mj:$mn $s"; done; '
        f"echo '{MARK}nvidia_ctk'; command -v nvidia-ctk 2>/dev/null; "
        f"if [ -f {rule} ]; then echo '{MARK}rule'; cat {rule}; "
        f"else echo '{MARK}rule_absent'; fi; true"
    )


def _create_all(node: dict[str, str]) -> bool:
    return bool(CREATE_ALL_NODE_RE.match(node["path"].rpartition("/dev/")[2]))


def parse_nvidia_dev_char(lines: list[str] | str) -> dict[str, Any]:
    """Output of :func:`nvidia_dev_char_command` ->

    * ``driver_loaded``: /proc/devices names an NVIDIA major (``nvidia`` or the older
      ``nvidia-frontend``, and ``nvidia-uvm``...): the kernel modules are loaded;
    * ``nodes``: ``[{"path", "dev" ("195:0"), "link" ("ok" | "other" | "missing")}]``;
    * ``missing``: the nodes ``--create-all`` links (``CREATE_ALL_NODE_RE``) whose /dev/char
      link is absent; ``unlinked``: other nodes without a link (MIG capability nodes), which
      ``--create-all`` links only as the driver lists them;
    * ``other``: the nodes whose /dev/char entry exists but is not that node (nvidia-ctk leaves
      those alone: "Could not create symlink ... file exists");
    * ``nvidia_ctk``: its path on PATH, or None;
    * ``rule``: the udev rule file's text, None when absent; ``rule_ok``: it is ours, unchanged.
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    sections: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line.startswith(MARK):
            current = line[len(MARK) :].strip()
            sections[current] = []
            continue
        sections.setdefault(current, []).append(line)
    majors = {}
    for line in sections.get("proc_devices", []):
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].startswith("nvidia"):
            majors[parts[1]] = int(parts[0])
    nodes = []
    for line in sections.get("nodes", []):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or parts[2] not in ("ok", "other", "missing") or ":" not in parts[1]:
            raise ProbeParseError(f"NvidiaDevChar: unexpected device node line {line!r}")
        nodes.append({"path": parts[0], "dev": parts[1], "link": parts[2]})
    ctk = [c.strip() for c in sections.get("nvidia_ctk", []) if c.strip()]
    rule = "\n".join(sections["rule"]) + "\n" if "rule" in sections else None
    return {
        "driver_loaded": bool(majors),
        "majors": majors,
        "nodes": nodes,
        "missing": [n["path"] for n in nodes if n["link"] == "missing" and _create_all(n)],
        "unlinked": [n["path"] for n in nodes if n["link"] == "missing" and not _create_all(n)],
        "other": [n["path"] for n in nodes if n["link"] == "other"],
        "nvidia_ctk": ctk[0] if ctk else None,
        "rule": rule,
        "rule_ok": rule == NVIDIA_DEV_CHAR_RULE,
    }


# --------------------------------------------------------------------------------------------
# Which package owns a binary on PATH (dpkg's own answer, not a list of package names)
#
# A Docker Engine from apt is whatever package ships the dockerd on PATH: docker.io, docker-ce,
# moby-engine, a vendor's renamed docker-ce. dpkg knows a file by the path its package shipped;
# on a usrmerged system (/bin -> usr/bin) `readlink -f` gives /usr/bin/x for a file shipped as
# /bin/x, so both names are asked. `dpkg-query -S` output (dpkg 1.21, LC_ALL=C):
#   docker.io: /usr/sbin/dockerd                        owner(s), ", "-separated; "pkg:arch"
#   diversion by postgresql-common from: /usr/bin/pg_config
#   diversion by postgresql-common to: /usr/bin/pg_config.libpq-dev
#   local diversion from: /usr/bin/x                    a file the admin put there
#   dpkg-query: no path found matching pattern /usr/local/bin/dockerd   (exit 1)

# directories merged into /usr by usrmerge (Debian 12+, Ubuntu 19.04+)
USRMERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
_DIVERSION = re.compile(
    r"^(?:diversion by (?P<by>\S+)|local diversion) (?P<dir>from|to): (?P<path>/.*)$"
)
_NO_PATH = re.compile(r"^dpkg-query: no path found matching pattern (?P<path>/.*)$")


def usrmerge_names(path: str) -> list[str]:
    """``path`` and its other name on a usrmerged system (``/usr/bin/x`` <-> ``/bin/x``)."""
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "usr" and parts[2] in USRMERGED_DIRS:
        return [path, "/" + "/".join(parts[2:])]
    if len(parts) > 2 and parts[1] in USRMERGED_DIRS:
        return [path, "/usr" + path]
    return [path]


def dpkg_owner_command(binary: str, section: str, admindir: str | None = None) -> str:
    """POSIX sh: section ``section`` with the path of ``binary`` on PATH and what it resolves
    to (nothing when absent), then ``<section>_dpkg`` with ``dpkg-query -S`` of the resolved
    path under both its usrmerge names. ``admindir``: another dpkg database (tests only)."""
    merged = "|".join(f"/{d}/*" for d in USRMERGED_DIRS)
    usr_merged = "|".join(f"/usr/{d}/*" for d in USRMERGED_DIRS)
    query = "dpkg-query" + (f" --admindir={shlex.quote(admindir)}" if admindir else "")
    # root's PATH over SSH may lack the sbin directories (docker.io ships /usr/sbin/dockerd)
    return (
        f"echo '{MARK}{section}'; "
        f"if p=$(PATH=$PATH:{SBIN_PATH} command -v {shlex.quote(binary)} 2>/dev/null); then "
        't=$(readlink -f "$p" 2>/dev/null) || t=$p; echo "$p"; echo "$t"; '
        f"case $t in {usr_merged}) a=${{t#/usr}} ;; {merged}) a=/usr$t ;; *) a=$t ;; esac; "
        'if [ "$a" = "$t" ]; then set -- "$t"; else set -- "$t" "$a"; fi; '
        f"echo '{MARK}{section}_dpkg'; "
        f'LC_ALL=C {query} -S "$@" 2>&1; fi'
    )


def parse_dpkg_search(lines: list[str]) -> dict[str, Any]:
    """``dpkg-query -S`` output -> ``{"owners": {path: [package, ...]}, "diverted_from":
    {path: diverting package or None (local)}, "diverted_to": {path: (from path, diverting
    package or None)}, "unowned": [path, ...]}``. Package names lose a ``:arch`` suffix."""
    owners: dict[str, list[str]] = {}
    diverted_from: dict[str, str | None] = {}
    diverted_to: dict[str, tuple[str, str | None]] = {}
    unowned: list[str] = []
    last_from: tuple[str, str | None] | None = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if m := _NO_PATH.match(line):
            unowned.append(m.group("path"))
            continue
        if m := _DIVERSION.match(line):
            by, path = m.group("by"), m.group("path")
            if m.group("dir") == "from":
                diverted_from[path] = by
                last_from = (path, by)
            elif last_from is not None:
                diverted_to[path] = last_from
            continue
        names, sep, path = line.partition(": ")
        if not sep or not path.startswith("/") or " " in names.replace(", ", ","):
            continue  # not an owner line (e.g. "sh: 1: dpkg-query: not found"): no owner
        packages = [n.strip().split(":", 1)[0] for n in names.split(",") if n.strip()]
        owners.setdefault(path, []).extend(packages)
    return {
        "owners": owners,
        "diverted_from": diverted_from,
        "diverted_to": diverted_to,
        "unowned": unowned,
    }


def dpkg_owner(path: str | None, search: dict[str, Any]) -> str | None:
    """The package whose file is at ``path`` (either usrmerge name), from
    :func:`parse_dpkg_search`; None: no package's (a static binary, or a file an admin put
    in place of a package's with a local diversion).

    A diverted path holds the diverting package's file; the path it was diverted to holds the
    original package's (not named by ``dpkg-query -S`` of that path: None unless the output
    lists the owners of the original path too)."""
    if not path:
        return None
    owners, divert_to = search["owners"], search["diverted_to"]
    for name in usrmerge_names(path):
        if name in search["diverted_from"]:
            by = search["diverted_from"][name]
            return by if by is not None and by in owners.get(name, []) else None
        if name in divert_to:
            original, by = divert_to[name]
            others = [p for p in owners.get(original, []) if p != by]
            return others[0] if others else None
        if owners.get(name):
            return owners[name][0]
    return None
