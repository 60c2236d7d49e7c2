"""Clap-like parsing of ``text-generation-launcher`` flags and env vars, plus its startup checks.

The flag/env/default/possible-value table is ``ARGUMENTS``, read from ``launcher-args.json``
beside this module (a link to the package's one reference copy, deploy/reference/tgi; the image
build copies the file in). Value *types* are not in that file; ``VALUE_TYPES`` below records
them from launcher/src/main.rs (usize/u16/f32/bool/...), so bad numbers fail like clap does.

Two kinds of failure, like the real launcher:
- clap errors (unknown flag, bad value, missing value): message on stderr, exit code 2;
- launcher ``ArgumentValidation`` errors (max_input_tokens >= max_total_tokens, ...):
  ``Error: ArgumentValidation("...")`` on stderr, exit code 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SPEC_FILE = Path(__file__).resolve().parent / "launcher-args.json"
ARGUMENTS: list[dict] = json.loads(SPEC_FILE.read_text())["arguments"]

DTYPE_COMPATIBLE_QUANTIZE = (None, "bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4")

VERSION = "3.3.7"
PROG = "text-generation-launcher"

# Rust type of each flag's value (launcher/src/main.rs). "flag" = bool SetTrue (no value).
VALUE_TYPES: dict[str, str] = {
    "--model-id": "str",
    "--revision": "str",
    "--validation-workers": "usize",
    "--sharded": "bool",
    "--num-shard": "usize",
    "--quantize": "enum",
    "--speculate": "usize",
    "--dtype": "enum",
    "--kv-cache-dtype": "enum",
    "--trust-remote-code": "flag",
    "--max-concurrent-requests": "usize",
    "--max-best-of": "usize",
    "--max-stop-sequences": "usize",
    "--max-top-n-tokens": "u32",
    "--max-input-tokens": "usize",
    "--max-input-length": "usize",
    "--max-total-tokens": "usize",
    "--waiting-served-ratio": "f32",
    "--max-batch-prefill-tokens": "u32",
    "--max-batch-total-tokens": "u32",
    "--max-waiting-tokens": "usize",
    "--max-batch-size": "usize",
    "--cuda-graphs": "usize_list",
    "--hostname": "str",
    "--port": "u16",
    "--prometheus-port": "u16",
    "--shard-uds-path": "str",
    "--master-addr": "str",
    "--master-port": "usize",
    "--huggingface-hub-cache": "str",
    "--weights-cache-override": "str",
    "--disable-custom-kernels": "flag",
    "--cuda-memory-fraction": "f32",
    "--rope-scaling": "enum",
    "--rope-factor": "f32",
    "--json-output": "flag",
    "--otlp-endpoint": "str",
    "--otlp-service-name": "str",
    "--cors-allow-origin": "str_list",
    "--api-key": "str",
    "--watermark-gamma": "f32",
    "--watermark-delta": "f32",
    "--ngrok": "flag",
    "--ngrok-authtoken": "str",
    "--ngrok-edge": "str",
    "--tokenizer-config-path": "str",
    "--disable-grammar-support": "flag",
    "--env": "flag",
    "--max-client-batch-size": "usize",
    "--lora-adapters": "str",
    "--usage-stats": "usage_stats",
    "--payload-limit": "usize",
    "--enable-prefill-logprobs": "flag",
    "--graceful-termination-timeout": "u64",
    "--help": "flag",
    "--version": "flag",
}
USAGE_STATS_VALUES = ["on", "off", "no-stack"]
_INT_RANGES = {
    "u16": (0, 65535),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
    "usize": (0, 2**64 - 1),
}
# clap's FalseyValueParser, used for `bool` flags read from env.
_FALSEY = {"n", "no", "f", "false", "off", "0", ""}

BY_FLAG = {a["flag"]: a for a in ARGUMENTS}
# Both --port and --prometheus-port claim `-p` in the reference; the first (--port) wins.
BY_SHORT: dict[str, dict] = {}
for _a in ARGUMENTS:
    if _a["short"] and _a["short"] not in BY_SHORT:
        BY_SHORT[_a["short"]] = _a


class ClapError(Exception):
    """A command-line error: printed on stderr, exit code 2."""


class ArgumentValidation(Exception):
    """The launcher's own consistency checks: ``Error: ArgumentValidation(..)``, exit 1."""


def _value_name(arg: dict) -> str:
    return f"{arg['flag']} <{arg['value']}>" if arg["value"] else arg["flag"]


def _usage_tail() -> str:
    return f"\nUsage: {PROG} [OPTIONS]\n\nFor more information, try '--help'.\n"


def _invalid(arg: dict, raw: str, reason: str = "") -> ClapError:
    msg = f"error: invalid value '{raw}' for '{_value_name(arg)}'"
    if reason:
        msg += f": {reason}"
    possible = _possible_values(arg)
    if possible and not reason:
        msg += "\n  [possible values: " + ", ".join(possible) + "]"
    return ClapError(msg + "\n\nFor more information, try '--help'.\n")


def _possible_values(arg: dict) -> list[str] | None:
    if arg["possible_values"]:
        return list(arg["possible_values"])
    if VALUE_TYPES.get(arg["flag"]) == "usage_stats":
        return USAGE_STATS_VALUES
    return None


def _parse_int(arg: dict, raw: str, kind: str) -> int:
    if raw == "":
        raise _invalid(arg, raw, "cannot parse integer from empty string")
    text = raw[1:] if raw.startswith("+") else raw
    if not text.isdigit():
        raise _invalid(arg, raw, "invalid digit found in string")
    value = int(text)
    lo, hi = _INT_RANGES[kind]
    if not lo <= value <= hi:
        if kind == "u16":
            raise _invalid(arg, raw, f"{raw} is not in {lo}..={hi}")
        raise _invalid(arg, raw, "number too large to fit in target type")
    return value


def convert(arg: dict, raw: str):
    """Convert one raw string to the flag's typed value, clap-style errors on failure."""
    kind = VALUE_TYPES[arg["flag"]]
    possible = _possible_values(arg)
    if possible is not None:
        if raw not in possible:
            raise _invalid(arg, raw)
        if kind == "bool":
            return raw == "true"
        return raw
    if kind in _INT_RANGES:
        return _parse_int(arg, raw, kind)
    if kind == "f32":
        try:
            return float(raw)
        except ValueError:
            raise _invalid(arg, raw, "invalid float literal") from None
    if kind == "usize_list":
        return [_parse_int(arg, part, "usize") for part in raw.split(",")]
    if kind == "str_list":
        return raw.split(",")
    return raw


def _dest(arg: dict) -> str:
    return arg["flag"][2:].replace("-", "_")


@dataclass
class LauncherArgs:
    """Parsed flags (``values``: dest name -> typed value) and which came from where."""

    values: dict[str, object] = field(default_factory=dict)
    explicit: set[str] = field(default_factory=set)

    def get(self, name: str, default=None):
        value = self.values.get(name)
        return default if value is None else value


def _defaults() -> dict[str, object]:
    out: dict[str, object] = {}
    for arg in ARGUMENTS:
        kind = VALUE_TYPES[arg["flag"]]
        if kind == "flag":
            out[_dest(arg)] = False
        elif arg["default"] is not None:
            out[_dest(arg)] = convert(arg, arg["default"])
        else:
            out[_dest(arg)] = None
    return out


def parse(argv: list[str], environ: dict[str, str] | None = None) -> LauncherArgs:
    """Parse argv like clap (long/short, ``--flag=v``, ``-pV``), then env vars, then defaults."""
    environ = dict(os.environ if environ is None else environ)
    result = LauncherArgs(values=_defaults())
    seen: set[str] = set()
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        inline: str | None = None
        if token.startswith("--") and len(token) > 2:
            name, eq, rest = token.partition("=")
            arg = BY_FLAG.get(name)
            if eq:
                inline = rest
        elif token.startswith("-") and len(token) >= 2 and token != "--":
            arg = BY_SHORT.get(token[:2])
            rest = token[2:]
            if rest:
                inline = rest[1:] if rest.startswith("=") else rest
        else:
            arg = None
        if arg is None:
            shown = token.split("=", 1)[0] if token.startswith("--") else token
            tip = ""
            if token.startswith("-"):
                tip = f"\n  tip: to pass '{shown}' as a value, use '-- {shown}'\n"
            raise ClapError(f"error: unexpected argument '{shown}' found\n{tip}" + _usage_tail())
        dest = _dest(arg)
        kind = VALUE_TYPES[arg["flag"]]
        if dest in seen and kind != "flag":
            raise ClapError(
                f"error: the argument '{_value_name(arg)}' cannot be used multiple times\n"
                + _usage_tail()
            )
        seen.add(dest)
        if kind == "flag":
            if inline is not None:
                raise ClapError(
                    f"error: unexpected value '{inline}' for '{arg['flag']}' found; "
                    "no more were expected\n" + _usage_tail()
                )
            result.values[dest] = True
        else:
            if inline is None:
                if i >= len(argv) or (argv[i].startswith("-") and len(argv[i]) > 1):
                    raise ClapError(
                        f"error: a value is required for '{_value_name(arg)}' "
                        "but none was supplied\n\nFor more information, try '--help'.\n"
                    )
                inline = argv[i]
                i += 1
            result.values[dest] = convert(arg, inline)
        result.explicit.add(dest)
    for arg in ARGUMENTS:
        dest = _dest(arg)
        if dest in result.explicit or not arg["env"] or arg["env"] not in environ:
            continue
        raw = environ[arg["env"]]
        if VALUE_TYPES[arg["flag"]] == "flag":
            result.values[dest] = raw.strip().lower() not in _FALSEY
        else:
            result.values[dest] = convert(arg, raw)
        result.explicit.add(dest)
    return result


def help_text() -> str:
    lines = [
        "Text Generation Launcher (TGI stand-in)",
        "",
        f"Usage: {PROG} [OPTIONS]",
        "",
        "Options:",
    ]
    for arg in ARGUMENTS:
        head = (arg["short"] + ", " if arg["short"] else "    ") + _value_name(arg)
        extra = []
        if arg["env"]:
            extra.append(f"env: {arg['env']}=")
        if arg["default"] is not None:
            extra.append(f"default: {arg['default']}")
        possible = _possible_values(arg)
        if possible:
            extra.append("possible values: " + ", ".join(possible))
        lines.append(f"  {head}" + (f"  [{'; '.join(extra)}]" if extra else ""))
    return "\n".join(lines) + "\n"


def _nvidia_smi_uuids(environ: dict[str, str]) -> str | None:
    """``nvidia-smi --query-gpu=uuid --format=csv,noheader`` lines joined by ``,``; None when
    the command cannot be run (Rust's ``Command::output().ok()?``)."""
    smi = shutil.which("nvidia-smi", path=environ.get("PATH", os.defpath))
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=uuid", "--format=csv,noheader"], capture_output=True, timeout=60
        ).stdout.decode(errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return ",".join(line for line in out.splitlines() if line.strip())


def num_cuda_devices(environ: dict[str, str]) -> int | None:
    """launcher/src/main.rs ``num_cuda_devices`` (3.3.7): CUDA_VISIBLE_DEVICES, else
    NVIDIA_VISIBLE_DEVICES (``all``/``void``: the GPUs nvidia-smi lists), else ZE_AFFINITY_MASK;
    the count is the number of comma-separated parts (an empty value counts 1, like Rust's split).
    """
    if "CUDA_VISIBLE_DEVICES" in environ:
        devices: str | None = environ["CUDA_VISIBLE_DEVICES"]
    elif "NVIDIA_VISIBLE_DEVICES" in environ:
        devices = environ["NVIDIA_VISIBLE_DEVICES"]
        if devices.strip() in ("all", "void"):
            devices = _nvidia_smi_uuids(environ)
    else:
        devices = environ.get("ZE_AFFINITY_MASK")
    if devices is None:
        return None
    return len(devices.split(","))


def support_chunking(args: LauncherArgs, environ: dict[str, str]) -> bool:
    """What the shard reports as ``support_chunking`` for a flash model (the stand-in plays one):
    models/model.py ``support_chunking and PREFILL_CHUNKING`` (globals.py: env PREFILL_CHUNKING,
    default "1"), turned off when speculating."""
    chunking = environ.get("PREFILL_CHUNKING", "1").lower() in ("1", "true")
    return chunking and not (args.values.get("speculate") or 0)


def find_num_shard(args: LauncherArgs, environ: dict[str, str]) -> int:
    """launcher/src/main.rs ``find_num_shard``."""
    sharded = args.values["sharded"]
    num_shard = args.values["num_shard"]
    if sharded is True and num_shard is None:
        n = num_cuda_devices(environ) or 0
        if n <= 1:
            raise ArgumentValidation(f"`sharded` is true but only found {n} CUDA devices")
        num_shard = n
    elif sharded is True and num_shard is not None:
        if num_shard <= 1:
            raise ArgumentValidation("`sharded` is true but `num_shard` <= 1")
    elif sharded is False and num_shard is None:
        num_shard = 1
    elif sharded is None and num_shard is None:
        num_shard = num_cuda_devices(environ) or 1
    if num_shard < 1:
        raise ArgumentValidation("`num_shard` cannot be < 1")
    return num_shard


@dataclass
class Resolved:
    """Token limits after the launcher filled in defaults."""

    max_input_tokens: int
    max_total_tokens: int
    max_batch_prefill_tokens: int
    num_shard: int
    defaulted: list[str]


def resolve(args: LauncherArgs, environ: dict[str, str] | None = None) -> Resolved:
    """The launcher's consistency checks (main.rs); raises ``ArgumentValidation``.

    Defaults when unset (the real launcher derives them from the model config and free GPU
    memory; with no model here, the values a 4k-context model gets are used):
    max_total_tokens 4096, max_input_tokens max_total_tokens - 1,
    max_batch_prefill_tokens max_input_tokens + 50.
    """
    environ = dict(os.environ if environ is None else environ)
    v = args.values
    if v["validation_workers"] == 0:
        raise ArgumentValidation("`validation_workers` must be > 0")
    if v["max_input_tokens"] is not None and v["max_input_length"] is not None:
        raise ArgumentValidation(
            "Both `max_input_tokens` and `max_input_length` are set. Please define only "
            "`max_input_tokens` as `max_input_length is deprecated for naming consistency."
        )
    # server/text_generation_server/cli.py (serve): dtype goes with no quantizer or bitsandbytes*
    if v["dtype"] is not None and v["quantize"] not in DTYPE_COMPATIBLE_QUANTIZE:
        raise ArgumentValidation(
            "Only 1 can be set between `dtype` and `quantize`, as they both decide how goes "
            "the final model."
        )
    defaulted: list[str] = []
    max_input = (
        v["max_input_tokens"] if v["max_input_tokens"] is not None else v["max_input_length"]
    )
    max_total = v["max_total_tokens"]
    if max_total is None:
        max_total = max(4096, (max_input or 0) + 1)
        defaulted.append(f"Default `max_total_tokens` to {max_total}")
    if max_input is None:
        max_input = max_total - 1
        defaulted.append(f"Default `max_input_tokens` to {max_input}")
    prefill = v["max_batch_prefill_tokens"]
    if prefill is None:
        prefill = max_input + 50
        defaulted.append(f"Default `max_batch_prefill_tokens` to {prefill}")
    if max_input >= max_total:
        raise ArgumentValidation(
            f"`max_input_tokens`({max_input}) must be < `max_total_tokens`({max_total})"
        )
    # backends/v3/src/main.rs: `max_input_tokens > max_batch_prefill_tokens && !support_chunking`
    if max_input > prefill and not support_chunking(args, environ):
        raise ArgumentValidation(
            "`max_batch_prefill_tokens` must be >= `max_input_tokens`. "
            f"Given: {prefill} and {max_input}"
        )
    batch_total = v["max_batch_total_tokens"]
    if batch_total is not None:
        if prefill > batch_total:
            raise ArgumentValidation(
                "`max_batch_prefill_tokens` must be <= `max_batch_total_tokens`. "
                f"Given: {prefill} and {batch_total}"
            )
        if max_total > batch_total:
            raise ArgumentValidation(
                "`max_total_tokens` must be <= `max_batch_total_tokens`. "
                f"Given: {max_total} and {batch_total}"
            )
    num_shard = find_num_shard(args, environ)
    return Resolved(max_input, max_total, prefill, num_shard, defaulted)


def args_debug(args: LauncherArgs) -> str:
    """Rust-Debug-like rendering of the Args struct, secrets redacted."""
    parts = []
    for arg in ARGUMENTS:
        dest = _dest(arg)
        if dest in ("help", "version"):
            continue
        value = args.values.get(dest)
        kind = VALUE_TYPES[arg["flag"]]
        if dest in ("api_key", "ngrok_authtoken") and value is not None:
            shown = 'Some("[REDACTED]")'
        elif kind == "flag":
            shown = "true" if value else "false"
        elif value is None:
            shown = "None"
        else:
            inner = f'"{value}"' if isinstance(value, str) else str(value)
            required = arg["default"] is not None
            shown = inner if required else f"Some({inner})"
        parts.append(f"{dest}: {shown}")
    return "Args { " + ", ".join(parts) + " }"
