#!/usr/bin/python3
# STAND-IN for NVIDIA's `nvidia-ctk` (NVIDIA Container Toolkit CLI, Go, from the
# nvidia-container-toolkit-base package), version @VERSION@.
# Installed as /usr/bin/nvidia-ctk by the TGI lab's NVIDIA apt mirror stand-in. It is NOT
# NVIDIA software; it reproduces the parts of the real CLI's contract the deploy relies on.
# The contract it follows is written down in lab/nvidia_mirror/CONTRACT.md.
"""Stand-in for nvidia-ctk: `--version`, `runtime configure --runtime=docker`, `cdi generate`,
`config`, `system create-dev-char-symlinks`."""

import datetime
import glob
import json
import os
import re
import stat
import sys
from decimal import Decimal

VERSION = "@VERSION@"
COMMIT = "@COMMIT@"
APP_NAME = "NVIDIA Container Toolkit CLI"
DEFAULT_DOCKER_CONFIG = "/etc/docker/daemon.json"
RUNTIMES = ("containerd", "crio", "docker")

USAGE = f"""NAME:
   {APP_NAME} - Tools to configure the NVIDIA Container Toolkit (STAND-IN)

USAGE:
   nvidia-ctk [global options] command [command options] [arguments...]

VERSION:
   {VERSION}
commit: {COMMIT}

COMMANDS:
   runtime  Interact with the NVIDIA Container Runtime (stand-in: configure --runtime=docker)
   cdi      Provide tools for interacting with CDI specifications (stand-in: generate)
   system   A collection of system-level utilities (stand-in: create-dev-char-symlinks)
   help, h  Shows a list of commands or help for one command

GLOBAL OPTIONS:
   --debug, -d    Enable debug-level logging (default: false)
   --help, -h     show help
   --version, -v  print the version
"""


class UsageError(Exception):
    """Command-line usage error (urfave/cli prints 'Incorrect Usage: ...')."""


class CommandError(Exception):
    """Error returned by a command; main logs it at error level and exits 1."""


# --- logging: mimics logrus' default TextFormatter -------------------------------------------

_LEVELS = {
    "debug": ("DEBU", 37),
    "info": ("INFO", 36),
    "warning": ("WARN", 33),
    "error": ("ERRO", 31),
}


def _logfmt_value(text: str) -> str:
    safe = all(c.isalnum() or c in "-._/@^+" for c in text) and text.isascii()
    return text if safe and text else json.dumps(text, ensure_ascii=False)


QUIET = os.environ.get("NVIDIA_CTK_QUIET", "").lower() in ("1", "true")


def log(level: str, message: str) -> None:
    """Write one log line to stderr the way logrus does (colour form only on a terminal).
    ``--quiet`` (cmd/nvidia-ctk/main.go) sets the level to error."""
    if QUIET and level != "error":
        return
    short, color = _LEVELS[level]
    if sys.stderr.isatty():
        line = f"\x1b[{color}m{short}\x1b[0m[0000] {message:<44} \n"
    else:
        now = datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()
        now = now.replace("+00:00", "Z")
        line = f'time="{now}" level={level} msg={_logfmt_value(message)}\n'
    sys.stderr.write(line)
    sys.stderr.flush()


# --- JSON: mimics Go's encoding/json (decode into map[string]interface{}, MarshalIndent) -----


def _go_float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise CommandError(f"unable to convert to JSON: json: unsupported value: {value}")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        # repr() uses exponent form in these ranges; Go then shortens "e-07" to "e-7".
        mantissa, exponent = repr(value).split("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    return format(Decimal(repr(value)), "f")


def _go_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escaped)
    return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _go_encode(value, depth: int) -> str:
    pad, inner = "    " * depth, "    " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{_go_string(key)}: {_go_encode(value[key], depth + 1)}"
            for key in sorted(value)
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{inner}{_go_encode(item, depth + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _go_string(value)
    return _go_float(float(value))


def go_marshal_indent(config: dict) -> str:
    """json.MarshalIndent(config, "", "    "): sorted keys, 4-space indent, Go's escaping."""
    return _go_encode(config, 0)


_GO_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": (
        "looking for beginning of object key string"
    ),
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Unterminated string starting at": "in string literal",
    "Invalid control character at": "in string literal",
}


def _go_quote_char(char: str) -> str:
    """encoding/json's quoteChar: '\\'' for a quote, else strconv.Quote inside single quotes."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + json.dumps(char, ensure_ascii=False)[1:-1] + "'"


def go_decode(text: str) -> dict:
    """json.NewDecoder(r).Decode(&cfg) with cfg a map: reads the FIRST value only."""
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise CommandError("EOF")
    try:
        value, _end = json.JSONDecoder(parse_int=float).raw_decode(text, start)
    except json.JSONDecodeError as err:
        if err.pos >= len(text.rstrip(" \t\r\n")):
            raise CommandError("unexpected EOF") from None
        context = _GO_CONTEXT.get(err.msg, "looking for beginning of value")
        raise CommandError(f"invalid character {_go_quote_char(text[err.pos])} {context}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool", float: "number"}[type(value)]
        raise CommandError(f"json: cannot unmarshal {kind} into Go value of type docker.Config")
    return value


# --- flag parsing: urfave/cli style (--flag value, --flag=value, -flag) ---------------------


def parse_flags(args: list[str], string_flags: dict, bool_flags: dict) -> tuple[dict, list]:
    """Parse flags; the dicts map every accepted name/alias to the destination key."""
    values: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i + 1 :])
            break
        if not arg.startswith("-") or arg == "-":
            rest.append(arg)
            i += 1
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in bool_flags:
            if has_value and value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise UsageError(f'invalid boolean value "{value}" for -{name}: parse error')
            values[bool_flags[name]] = not has_value or value.lower() in ("true", "1", "t")
        elif name in string_flags:
            if not has_value:
                if i + 1 >= len(args):
                    raise UsageError(f"flag needs an argument: -{name}")
                i += 1
                value = args[i]
            values[string_flags[name]] = value
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
        i += 1
    return values, rest


# --- runtime configure ------------------------------------------------------------------------

CONFIGURE_STRING_FLAGS = {
    "runtime": "runtime",
    "config": "config",
    "config-mode": "config_mode",
    "nvidia-runtime-name": "runtime_name",
    "nvidia-runtime-path": "runtime_path",
    "runtime-path": "runtime_path",
}
CONFIGURE_BOOL_FLAGS = {
    "dry-run": "dry_run",
    "nvidia-set-as-default": "set_as_default",
    "set-as-default": "set_as_default",
    "cdi.enabled": "cdi",
    "cdi.enable": "cdi",
    "enable-cdi": "cdi",
    "help": "help",
    "h": "help",
}


def load_docker_config(path: str) -> dict:
    if not os.path.exists(path):
        log("info", "Config file does not exist; using empty config")
        return {}
    log("info", f"Loading config from {path}")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            text = handle.read()
    except IsADirectoryError:
        raise CommandError(f"unable to read config: read {path}: is a directory") from None
    except OSError as err:
        raise CommandError(f"unable to read config: open {path}: {err.strerror.lower()}") from None
    return go_decode(text)


def runtime_configure(args: list[str]) -> int:
    opts, rest = parse_flags(args, CONFIGURE_STRING_FLAGS, CONFIGURE_BOOL_FLAGS)
    if opts.get("help"):
        sys.stdout.write(
            "NAME:\n   nvidia-ctk runtime configure - Add a runtime to the specified container"
            " engine\n\nOPTIONS (stand-in supports --runtime=docker only):\n"
            "   --dry-run  --runtime value  --config value  --nvidia-runtime-name value\n"
            "   --nvidia-runtime-path value  --nvidia-set-as-default  --cdi.enabled\n"
        )
        return 0
    if rest:
        raise UsageError(f"unexpected arguments: {' '.join(rest)}")
    runtime = opts.get("runtime", "docker")
    mode = opts.get("config_mode", "")
    if mode not in ("", "config-file", "config"):
        raise CommandError(f"the STAND-IN nvidia-ctk does not support --config-mode={mode}")
    if runtime not in RUNTIMES:
        raise CommandError(f"unrecognized runtime '{runtime}'")
    if runtime != "docker":
        raise CommandError(
            f"the STAND-IN nvidia-ctk supports --runtime=docker only (got {runtime}); "
            "the real nvidia-ctk also configures containerd and crio"
        )
    path = opts.get("config") or DEFAULT_DOCKER_CONFIG
    try:
        config = load_docker_config(path)
    except CommandError as err:
        raise CommandError(f"unable to load config for runtime docker: {err}") from None

    runtimes = config.get("runtimes", {})
    if not isinstance(runtimes, dict):
        # The real tool does an unchecked type assertion here and panics (exit 2).
        sys.stderr.write(
            "panic: interface conversion: interface {} is "
            f"{type(runtimes).__name__}, not map[string]interface {{}}\n"
        )
        return 2
    name = opts.get("runtime_name", "nvidia")
    runtimes[name] = {"args": [], "path": opts.get("runtime_path", "nvidia-container-runtime")}
    config["runtimes"] = runtimes
    if opts.get("set_as_default"):
        config["default-runtime"] = name
    if opts.get("cdi"):
        # pkg/config/engine/docker/docker.go EnableCDI: `config["features"].(map[string]bool)`
        # never holds for a decoded map[string]interface{}, so the map is REPLACED: any other
        # feature the user had is dropped, as by the real tool.
        config["features"] = {"cdi": True}

    output = go_marshal_indent(config)
    if opts.get("dry_run"):
        sys.stdout.write(output + "\n")
        return 0
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(output)
    log("info", f"Wrote updated config to {path}")
    log("info", "It is recommended that docker daemon be restarted.")
    return 0


# --- cdi generate -----------------------------------------------------------------------------
# Upstream: cmd/nvidia-ctk/cdi/generate/generate.go (flags, validateFlags, run, Save),
# pkg/nvcdi/spec/spec.go (Save, normalizePath), pkg/nvcdi/spec/builder.go (0644),
# vendor/tags.cncf.io/container-device-interface/pkg/cdi/spec.go (write: temp file, rename).

CDI_STRING_FLAGS = {
    "output": "output",
    "format": "format",
    "mode": "mode",
    "discovery-mode": "mode",
    "device-name-strategy": "strategy",
    "driver-root": "driver_root",
    "dev-root": "dev_root",
    "vendor": "vendor",
    "cdi-vendor": "vendor",
    "class": "class",
    "cdi-class": "class",
}
CDI_BOOL_FLAGS = {"help": "help", "h": "help"}
CDI_VERSION = "0.5.0"

EMPTY_SPEC = """---
cdiVersion: 0.5.0
kind: {kind}
devices: []
containerEdits: {{}}
"""


def _format_from_filename(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(ext, "")


def _normalize_spec_path(path: str, fmt: str) -> str:
    """spec.go normalizePath: an extension other than .yaml/.json gets the format's appended
    (so `nvidia.yml` becomes `nvidia.yml.yaml`); a bare file name is made absolute."""
    if os.path.splitext(path)[1] not in (".yaml", ".json"):
        path += "." + fmt
    if os.path.dirname(path) in ("", "."):
        path = os.path.join(os.getcwd(), os.path.basename(path))
    return path


def _write_spec(path: str, data: str) -> None:
    """CDI's Spec.write: the folder made 0755, a temp file `spec.*.tmp` in it renamed over the
    spec (a reader never sees half a spec), then mode 0644 (nvcdi's default permissions)."""
    import tempfile

    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="spec.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.chmod(path, 0o644)


def cdi_generate(args: list[str]) -> int:
    opts, rest = parse_flags(args, CDI_STRING_FLAGS, CDI_BOOL_FLAGS)
    if rest:
        raise UsageError(f"unexpected arguments: {' '.join(rest)}")
    output = opts.get("output", os.environ.get("NVIDIA_CTK_CDI_OUTPUT_FILE_PATH", ""))
    fmt = opts.get("format", os.environ.get("NVIDIA_CTK_CDI_GENERATE_OUTPUT_FORMAT", "yaml"))
    fmt = fmt.lower()
    if fmt not in ("json", "yaml"):
        raise CommandError(f"invalid output format: {fmt}")
    inferred = _format_from_filename(output)
    if inferred:
        if "format" not in opts:
            fmt = inferred
        elif inferred != fmt:
            log(
                "warning",
                f'Requested output format "{fmt}" does not match format implied by output '
                f'file name: "{inferred}"',
            )
    if os.environ.get("NVIDIA_CTK_STANDIN_CDI_EMPTY") != "1":
        # What the real tool does on a host without the NVIDIA driver (no libnvidia-ml.so.1).
        raise CommandError(
            "failed to generate CDI spec: failed to create device CDI specs: "
            "failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND"
        )
    kind = f"{opts.get('vendor', 'nvidia.com')}/{opts.get('class', 'gpu')}"
    log("warning", "STAND-IN: no NVIDIA GPUs present; writing a CDI spec without devices")
    if fmt == "json":  # json.Marshal: compact, no newline
        spec = {"cdiVersion": CDI_VERSION, "kind": kind, "devices": [], "containerEdits": {}}
        data = json.dumps(spec, separators=(",", ":"))
    else:
        data = EMPTY_SPEC.format(kind=kind)
    if not output:
        sys.stdout.write(data)
    else:
        _write_spec(_normalize_spec_path(output, fmt), data)
    log("info", f"Generated CDI spec with version {CDI_VERSION}")
    return 0


# --- config (cmd/nvidia-ctk/config/config.go): what the base package's postinst runs ---------

CONFIG_STRING_FLAGS = {
    "config-file": "config",
    "config": "config",
    "c": "config",
    "output": "output",
    "o": "output",
}
CONFIG_BOOL_FLAGS = {"in-place": "in_place", "i": "in_place", "help": "help", "h": "help"}

# A shortened form of the real default (config.GetDefault()); the stand-ins do not read it.
DEFAULT_CONFIG_TOML = """# STAND-IN nvidia-container-runtime config (shortened)
#accept-nvidia-visible-devices-as-volume-mounts = false
#accept-nvidia-visible-devices-envvar-when-unprivileged = true
disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
environment = []
ldconfig = "@/sbin/ldconfig"
load-kmods = true

[nvidia-container-runtime]
log-level = "info"
mode = "auto"
runtimes = ["docker-runc", "runc", "crun"]

[nvidia-ctk]
path = "nvidia-ctk"
"""


def config_command(args: list[str]) -> int:
    """``nvidia-ctk config [--config-file F] [--in-place | --output O]``: load the config file
    (defaults when it does not exist) and save it (``--in-place``: back to the file, its folder
    created; else to stdout). ``--set`` is not supported by the stand-in."""
    opts, rest = parse_flags(args, CONFIG_STRING_FLAGS, CONFIG_BOOL_FLAGS)
    if rest:
        raise UsageError(f"unexpected arguments: {' '.join(rest)}")
    path = opts.get("config") or "/etc/nvidia-container-runtime/config.toml"
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = DEFAULT_CONFIG_TOML
    output = path if opts.get("in_place") else opts.get("output", "")
    if not output:
        sys.stdout.write(text)
        return 0
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


# --- system create-dev-char-symlinks (cmd/nvidia-ctk/system/create-dev-char-symlinks/) ----

DEVCHAR_STRING_FLAGS = {"dev-char-path": "dev_char_path", "driver-root": "driver_root"}
DEVCHAR_BOOL_FLAGS = {
    "create-all": "create_all",
    "load-kernel-modules": "load_kernel_modules",
    "create-device-nodes": "create_device_nodes",
    "dry-run": "dry_run",
    "watch": "watch",
    "help": "help",
    "h": "help",
}
# urfave EnvVars of each flag (create-dev-char-symlinks.go at v1.17.8)
DEVCHAR_ENV = {
    "dev_char_path": ("DEV_CHAR_PATH",),
    "driver_root": ("NVIDIA_DRIVER_ROOT", "DRIVER_ROOT"),
    "create_all": ("CREATE_ALL",),
    "load_kernel_modules": ("LOAD_KERNEL_MODULES",),
    "create_device_nodes": ("CREATE_DEVICE_NODES",),
    "dry_run": ("DRY_RUN",),
    "watch": ("WATCH",),
}
# internal/info/proc/devices/devices.go and internal/nvcaps/nvcaps.go
NVIDIA_UVM_MINOR, NVIDIA_UVM_TOOLS_MINOR, NVIDIA_CTL_MINOR, NVIDIA_MODESET_MINOR = 0, 1, 255, 254
PCI_NVIDIA_VENDOR, PCI_MELLANOX_VENDOR = 0x10DE, 0x15B3
PCI_VGA_CLASS, PCI_3D_CLASS = 0x030000, 0x030200
BLOCKED_NODE_PREFIXES = ("nvidia-fs", "nvidia-nvswitch", "nvidia-nvlink")


def _dev_root() -> str:
    """The library's WithDevRoot, which the CLI never sets (always "/"). STAND-IN only:
    NVIDIA_CTK_STANDIN_DEV_ROOT moves /dev, /sys and /proc under a test directory."""
    return os.environ.get("NVIDIA_CTK_STANDIN_DEV_ROOT") or "/"


def _under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _go_bool_env(names) -> bool | None:
    for name in names:
        value = os.environ.get(name)
        if value is not None and value != "":
            return value.lower() in ("1", "t", "true")
    return None


def _nvidia_majors(root: str):
    """devices.GetNVIDIADevices: {name: major} of /proc/devices entries starting "nvidia";
    None when the file does not exist; error when it names none."""
    path = _under(root, "/proc/devices")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    majors = {}
    for line in text.splitlines():
        parts = line.strip().split()
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].startswith("nvidia"):
            majors[parts[1]] = int(parts[0])
    if not majors:
        raise CommandError("failed reading device majors: no NVIDIA devices found")
    return majors


def _major(majors: dict, name: str):
    """devices.Get, with the nvidia / nvidia-frontend fallback of drivers >= 550.40."""
    names = ("nvidia", "nvidia-frontend") if name in ("nvidia", "nvidia-frontend") else (name,)
    for candidate in names:
        if candidate in majors:
            return majors[candidate]
    return None


def _mig_caps(root: str):
    """nvcaps.NewMigCaps: {cap: minor} from /proc/driver/nvidia-caps/mig-minors, None without
    the file (not a MIG-capable machine)."""
    try:
        with open(_under(root, "/proc/driver/nvidia-caps/mig-minors"), encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    caps = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        cap = parts[0]
        valid = cap in ("config", "monitor") or re.match(r"^gpu\d+/gi\d+(/ci\d+)?/access$", cap)
        if valid:
            caps[cap] = int(parts[1])
    return caps


def _pci_gpu_count(root: str) -> int:
    """nvpci GetGPUs: NVIDIA PCI functions of class VGA (0x030000) or 3D (0x030200) that are
    not virtual functions (no physfn link). STAND-IN: reads vendor, class and physfn only."""
    base = _under(root, "/sys/bus/pci/devices")
    try:
        entries = sorted(os.listdir(base))
    except OSError as err:
        raise CommandError(
            f"failed to get device nodes: failed to get GPU information: unable to read PCI bus "
            f"devices: open {base}: {err.strerror.lower()}"
        ) from None
    count = 0
    for address in entries:
        device = os.path.join(base, address)

        def field(name: str, device=device, address=address) -> int:
            try:
                with open(os.path.join(device, name), encoding="utf-8") as handle:
                    return int(handle.read().strip(), 0)
            except (OSError, ValueError) as err:
                raise CommandError(
                    "failed to get device nodes: failed to get GPU information: error "
                    f"constructing NVIDIA PCI device {address}: unable to read PCI device "
                    f"{name} for {address}: {err}"
                ) from None

        if field("vendor") not in (PCI_NVIDIA_VENDOR, PCI_MELLANOX_VENDOR):
            continue
        is_gpu = field("class") in (PCI_VGA_CLASS, PCI_3D_CLASS)
        if is_gpu and not os.path.lexists(os.path.join(device, "physfn")):
            count += 1
    return count


def _all_possible_nodes(root: str) -> list[tuple[str, int, int]]:
    """all.go: newAllPossible (its errors come before any link) and DeviceNodes."""
    try:
        majors = _nvidia_majors(root)
    except CommandError as err:
        raise CommandError(
            f"failed to create symlink creator: failed to create all possible device lister: {err}"
        ) from None
    if majors is None:
        # devices.go returns (nil, nil) and all.go calls Exists on the nil interface
        sys.stderr.write(
            "panic: runtime error: invalid memory address or nil pointer dereference\n"
        )
        raise SystemExit(2)
    caps = _mig_caps(root)
    required = (["nvidia-caps"] if caps is not None else []) + ["nvidia", "nvidia-uvm"]
    for name in required:
        if _major(majors, name) is None:
            raise CommandError(
                "failed to create symlink creator: failed to create all possible device "
                f"lister: missing required device major {name}"
            )
    caps = caps or {}
    count = _pci_gpu_count(root)
    if count == 0:
        log("info", f"No NVIDIA devices found in {root}")
        return []
    gpu, uvm, cap = (
        _major(majors, "nvidia"),
        _major(majors, "nvidia-uvm"),
        _major(majors, "nvidia-caps"),
    )

    def node(path: str, major, minor: int) -> tuple[str, int, int]:
        return (_under(root, path), major or 0, minor)

    nodes = [
        node("/dev/nvidia-modeset", gpu, NVIDIA_MODESET_MINOR),
        node("/dev/nvidiactl", gpu, NVIDIA_CTL_MINOR),
        node("/dev/nvidia-uvm", uvm, NVIDIA_UVM_MINOR),
        node("/dev/nvidia-uvm-tools", uvm, NVIDIA_UVM_TOOLS_MINOR),
    ]
    for control in ("config", "monitor"):
        if control in caps:
            nodes.append(node(f"/dev/nvidia-caps/nvidia-cap{caps[control]}", cap, caps[control]))
    for index in range(count):
        nodes.append(node(f"/dev/nvidia{index}", gpu, index))
        gi = 0
        while f"gpu{index}/gi{gi}/access" in caps:
            minor = caps[f"gpu{index}/gi{gi}/access"]
            nodes.append(node(f"/dev/nvidia-caps/nvidia-cap{minor}", cap, minor))
            ci = 0
            while f"gpu{index}/gi{gi}/ci{ci}/access" in caps:
                minor = caps[f"gpu{index}/gi{gi}/ci{ci}/access"]
                nodes.append(node(f"/dev/nvidia-caps/nvidia-cap{minor}", cap, minor))
                ci += 1
            gi += 1
    return nodes


def _existing_nodes(root: str) -> list[tuple[str, int, int]]:
    """existing.go: character devices matching /dev/nvidia* and /dev/nvidia-caps/nvidia-*
    (sorted, as filepath.Glob), without nvidia-fs*, nvidia-nvswitch*, nvidia-nvlink*."""
    found = []
    for pattern in ("/dev/nvidia*", "/dev/nvidia-caps/nvidia-*"):
        for path in sorted(glob.glob(_under(root, pattern))):
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISCHR(info.st_mode):
                found.append((path, info))
    if not found:
        log("info", f"No NVIDIA devices found in {root}")
        return []
    nodes = []
    for path, info in found:
        if os.path.basename(path).startswith(BLOCKED_NODE_PREFIXES):
            continue
        nodes.append((path, os.major(info.st_rdev), os.minor(info.st_rdev)))
    return nodes


def create_dev_char_symlinks(args: list[str]) -> int:
    opts, rest = parse_flags(args, DEVCHAR_STRING_FLAGS, DEVCHAR_BOOL_FLAGS)
    if opts.get("help"):
        sys.stdout.write(
            "NAME:\n   nvidia-ctk system create-dev-char-symlinks - A utility to create symlinks"
            " to possible /dev/nv* devices in /dev/char\n\nOPTIONS:\n   --dev-char-path value"
            "  --driver-root value  --watch  --create-all  --load-kernel-modules\n"
            "   --create-device-nodes  --dry-run\n"
        )
        return 0
    if rest:
        raise UsageError(f"unexpected arguments: {' '.join(rest)}")
    for key, names in DEVCHAR_ENV.items():
        if key in opts:
            continue
        if key in ("dev_char_path", "driver_root"):
            value = next((os.environ[n] for n in names if os.environ.get(n)), None)
            if value is not None:
                opts[key] = value
        else:
            value = _go_bool_env(names)
            if value is not None:
                opts[key] = value
    # validateFlags (Before)
    if opts.get("create_all") and opts.get("watch"):
        raise CommandError("create-all and watch are mutually exclusive")
    if opts.get("load_kernel_modules") and not opts.get("create_all"):
        log("warning", "load-kernel-modules is only applicable when create-all is set; ignoring")
        opts["load_kernel_modules"] = False
    if opts.get("create_device_nodes") and not opts.get("create_all"):
        log("warning", "create-device-nodes is only applicable when create-all is set; ignoring")
        opts["create_device_nodes"] = False
    for flag in ("watch", "load_kernel_modules", "create_device_nodes"):
        if opts.get(flag):
            raise CommandError(
                f"the STAND-IN nvidia-ctk does not support --{flag.replace('_', '-')} "
                "(no NVIDIA kernel modules or device nodes in the lab)"
            )
    dev_char = opts.get("dev_char_path") or "/dev/char"
    dry_run = bool(opts.get("dry_run"))
    root = _dev_root()
    nodes = _all_possible_nodes(root) if opts.get("create_all") else _existing_nodes(root)
    if nodes and not dry_run:
        try:
            os.makedirs(dev_char, mode=0o755, exist_ok=True)
        except OSError as err:
            raise CommandError(
                f"failed to create links: failed to create directory {dev_char}: "
                f"mkdir {dev_char}: {err.strerror.lower()}"
            ) from None
    for path, major, minor in nodes:
        link = os.path.join(dev_char, f"{major}:{minor}")
        log("info", f"Creating link {link} => {path}")
        if dry_run:
            continue
        try:
            os.symlink(path, link)
        except OSError as err:
            log(
                "warning",
                f"Could not create symlink: symlink {path} {link}: {err.strerror.lower()}",
            )
    return 0


# --- top level --------------------------------------------------------------------------------

COMMANDS = {
    ("runtime", "configure"): runtime_configure,
    ("cdi", "generate"): cdi_generate,
    ("system", "create-dev-char-symlinks"): create_dev_char_symlinks,
}
SINGLE_COMMANDS = {"config": config_command}


def main(argv: list[str]) -> int:
    args = list(argv)
    while args and args[0].startswith("-"):
        flag = args.pop(0).lstrip("-")
        if flag in ("version", "v"):
            sys.stdout.write(f"{APP_NAME} version {VERSION}\ncommit: {COMMIT}\n")
            return 0
        if flag in ("help", "h"):
            sys.stdout.write(USAGE)
            return 0
        if flag in ("quiet", "quiet=true"):
            global QUIET
            QUIET = True
            continue
        if flag not in ("debug", "d", "debug=true", "debug=false", "quiet=false"):
            sys.stderr.write(f"Incorrect Usage: flag provided but not defined: -{flag}\n\n")
            sys.stderr.write(USAGE)
            return 1
    if not args or args[0] in ("help", "h"):
        sys.stdout.write(USAGE)
        return 0
    command = COMMANDS.get(tuple(args[:2]))
    rest = args[2:]
    if command is None and args[0] in SINGLE_COMMANDS:
        command, rest = SINGLE_COMMANDS[args[0]], args[1:]
    try:
        if command is None:
            sys.stderr.write(USAGE)
            raise CommandError(f"No help topic for '{' '.join(args[:2])}'")
        return command(rest)
    except UsageError as err:
        sys.stderr.write(f"Incorrect Usage: {err}\n\n")
        log("error", str(err))
        return 1
    except CommandError as err:
        log("error", str(err))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
