"""What differs per engine, as data: one ``EngineSpec`` per engine.

The flag lists of vLLM and SGLang are read from the reference dumps shipped in the package
(``reference/vllm/serve-args.json``, ``reference/sglang/launch-server-args.json``: every flag
of ``vllm serve`` / ``sglang.launch_server`` dumped from the engine's own argument parser);
TGI's comes from ``tgi_infra.engines.tgi_launcher`` (checked against
``reference/tgi/launcher-args.json``).

Two more facts per engine, each with its upstream source in the engine's module:

* ``cuda_builds``: the CUDA version each published image is built on and the host drivers
  that run it (``CudaBuild``); the preflight checks the host's driver against them before any
  image is pulled.
* ``shutdown``: what the engine does on SIGTERM (``docker stop``) and which setting bounds its
  drain of the requests in flight (``Shutdown``); ``EngineSpec.stop_timeout_s`` derives the
  deploy's ``docker stop -t`` from it, and ``unit_stop_timeout_s`` the unit's TimeoutStopSec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

REFERENCE = resources.files("tgi_infra") / "reference"


@dataclass(frozen=True)
class Flag:
    """One flag of an engine's command line (with every alias)."""

    names: tuple[str, ...]
    takes_value: bool
    multi: bool = False  # argparse nargs '+'/'*': one or more values up to the next flag
    choices: tuple[str, ...] | None = None
    env: str | None = None  # TGI: the env var the launcher also reads

    @property
    def name(self) -> str:
        """The long name used in messages and rendered scripts."""
        return next((n for n in self.names if n.startswith("--")), self.names[0])


def flags_from_argparse_dump(path: str) -> dict[str, Flag]:
    """alias -> Flag from a reference dump of an argparse parser (vLLM, SGLang)."""
    data = json.loads((REFERENCE / path).read_text())
    out: dict[str, Flag] = {}
    for arg in data["arguments"]:
        names = tuple(arg.get("flags") or ())
        if not names:
            continue  # positional (vLLM's model_tag): rendered by the engine itself
        nargs = arg.get("nargs")
        choices = arg.get("choices")
        flag = Flag(
            names=names,
            takes_value=nargs != 0,
            multi=nargs in ("+", "*"),
            choices=tuple(str(c) for c in choices) if choices else None,
        )
        for n in names:
            out[n] = flag
    return out


@dataclass(frozen=True)
class Setting:
    """How one common service field becomes this engine's flag(s)."""

    flag: str | None  # the engine's flag; None: the engine has no such setting
    note: str = ""  # for the engine table (docs/engines.md) and error messages


# -- CUDA builds and the host drivers that run them -------------------------------------------
#
# NVIDIA's CUDA Toolkit release notes, table "CUDA Toolkit and Corresponding Driver Versions"
# (docs.nvidia.com/cuda/cuda-toolkit-release-notes): the driver that supports a CUDA version
# natively. CUDA minor version compatibility (same page, "Minimum Required Driver Version for
# CUDA Minor Version Compatibility") lets a driver of the same CUDA major run newer minors
# (CUDA 12.x: >= 525.60.13; CUDA 13.x: >= 580); NVIDIA's data-center driver matrix
# (docs.nvidia.com/datacenter/tesla/drivers/supported-drivers-and-cuda-toolkit-versions.html):
# R535 and R570 run CUDA 12.x, R580 CUDA 13.x, each "through CUDA minor version compatibility".
#
# The NVIDIA Container Toolkit first checks the image's NVIDIA_REQUIRE_CUDA
# (``cuda>=X.Y`` OR one of the listed ``brand=...,driver>=B,driver<B+1`` branches): a driver
# below ``cuda>=X.Y`` starts the container only on a listed branch, and the nvidia/cuda 12.9
# and 13.0 images list their branches for data-center and professional brands only, not for
# GeForce/TITAN. Assumption: no CUDA forward compatibility. The listed branches older than the
# image's CUDA major (R535/R550/R570 in a CUDA 13 image) would run it only through the
# cuda-compat forward-compatibility libraries, which work on data-center GPUs alone and which
# none of these engines documents or tests; the deploy requires a driver that runs the image
# natively or by minor version compatibility.

CONSUMER_GPU_RE = re.compile(r"\b(geforce|titan)\b", re.I)


def driver_tuple(version: str) -> tuple[int, ...] | None:
    """``570.172.08`` -> (570, 172, 8); ``566.36`` -> (566, 36); anything else -> None."""
    if not re.fullmatch(r"\d+(\.\d+)*", version or ""):
        return None
    return tuple(int(p) for p in version.split("."))


@dataclass(frozen=True)
class CudaBuild:
    """A published CUDA build of an engine image and the host drivers that run it."""

    image: str  # e.g. "lmsysorg/sglang:v0.5.23"
    cuda: str  # the CUDA version it is built on, e.g. "13.0"
    min_driver: str  # Linux driver that supports `cuda` (NVIDIA's toolkit/driver table)
    min_driver_windows: str  # the same for the Windows driver that WSL2 reports
    # older driver branches that NVIDIA_REQUIRE_CUDA also admits and that run this CUDA major
    # by minor version compatibility
    compat_branches: tuple[int, ...] = ()
    compat_consumer: bool = False  # those branches are listed for GeForce/TITAN brands too
    source: str = ""  # where `cuda` comes from (the image's Dockerfile)

    def min_for(self, windows: bool) -> str:
        return self.min_driver_windows if windows else self.min_driver

    def runs_on(self, driver: str, *, windows: bool = False, consumer: bool = False) -> bool:
        """Whether a host driver (``nvidia-smi``'s driver_version) runs this image."""
        have, need = driver_tuple(driver), driver_tuple(self.min_for(windows))
        if have is None or need is None:
            return False
        if have >= need:
            return True
        return have[0] in self.compat_branches and (self.compat_consumer or not consumer)

    def requirement(self, windows: bool = False) -> str:
        """What a host needs, for messages: ``driver >= 580.65.06 (R580+)``."""
        need = self.min_for(windows)
        text = f"driver >= {need} (R{need.split('.')[0]}+)"
        if self.compat_branches:
            branches = "/".join(f"R{b}" for b in self.compat_branches)
            who = "" if self.compat_consumer else " on data-center and professional GPUs"
            text += f", or an {branches} driver{who}"
        return text


def _image_key(image: str) -> tuple[str, str]:
    from tgi_infra.config.grammar import split_image

    return split_image(image)


def cuda_build(image: str) -> CudaBuild | None:
    """The known CUDA build of ``image`` (any engine's), or None (a custom image)."""
    key = _image_key(image)
    for spec in ENGINES.values():
        for build in spec.cuda_builds:
            if _image_key(build.image) == key:
                return build
    return None


# -- stopping: the engine's drain of requests in flight ---------------------------------------

# After the drain the engine still stops its workers and frees the GPUs: the earlier fixed
# `docker stop -t 30`, kept as the margin over every engine's drain.
TEARDOWN_S = 30
# systemd's TimeoutStopSec over `docker stop -t`: docker's own SIGKILL, the container's exit
# and `docker start -a` returning.
UNIT_STOP_MARGIN_S = 30
_TRUTHY = ("true", "1")  # SGLang's get_bool_env_var


@dataclass(frozen=True)
class Shutdown:
    """What the engine does on SIGTERM and which setting bounds its drain (seconds)."""

    drain_flag: str | None  # the engine's flag; its aliases come from EngineSpec.flags
    drain_env: str | None  # env var the engine reads when the flag is absent
    drain_default_s: int  # the drain when neither is set
    # the engine drains until idle, without a bound of its own: drain_default_s is the
    # deploy's allowance before docker's SIGKILL
    unbounded: bool = False
    force_env: str | None = None  # a truthy value: the engine exits without draining
    teardown_env: str | None = None  # env var of the engine's own process-teardown timeout
    teardown_default_s: int = 0
    note: str = ""  # what the engine does on SIGTERM, for docs/engines.md


class ShutdownSettingError(ValueError):
    """A drain setting that is not a number of seconds: field, value, what is allowed."""

    def __init__(self, field_name: str, value: str, allowed: str):
        self.field, self.value, self.allowed = field_name, value, allowed
        super().__init__(f"field {field_name}: value {value!r} is not allowed ({allowed})")


def _seconds(field_name: str, shown: str, value: str | None) -> int:
    if value is None or not re.fullmatch(r"\d{1,7}", value.strip()):
        raise ShutdownSettingError(field_name, shown, "whole seconds, an integer >= 0")
    return int(value)


@dataclass(frozen=True)
class EngineSpec:
    name: str  # tgi, vllm, sglang (the `engine` field's value)
    title: str  # TGI, vLLM, SGLang (messages, docs)
    image: str  # default image, tag pinned
    command: tuple[str, ...]  # argv after the image before the engine's args ("" for TGI)
    program: str  # what reads the arguments, for messages (`text-generation-launcher`)
    container_port: int
    cache_mount: str  # where the volume (HF cache) is mounted in the container
    health_path: str
    # one-token request of the readiness wait: (path, JSON body with {model} placeholder)
    ready_request: tuple[str, str]
    # common field -> Setting; a field absent here is not a flag of this engine
    settings: dict[str, Setting]
    flags: dict[str, Flag] = field(repr=False, default_factory=dict)
    # flags the config owns (flag -> the field or reason), refused in extra_args
    owned: dict[str, str] = field(repr=False, default_factory=dict)
    # flags refused in extra_args for another reason
    forbidden: dict[str, str] = field(repr=False, default_factory=dict)
    quantize_values: tuple[str, ...] = ()
    dtype_values: tuple[str, ...] = ()
    api_key_env_names: tuple[str, ...] = ("API_KEY",)  # container env holding the key
    docker_options: tuple[tuple[str, ...], ...] = ()  # engine's own `docker run` options
    readiness_note: str = ""
    # the default image's CUDA build first, then the published fallbacks for older drivers
    cuda_builds: tuple[CudaBuild, ...] = ()
    shutdown: Shutdown = Shutdown(None, None, 0)

    def flag(self, name: str) -> Flag | None:
        return self.flags.get(name)

    def drain_s(self, args: Mapping[str, str | None], env: Mapping[str, str]) -> int:
        """Seconds the engine drains requests in flight after SIGTERM, from its flag in
        ``args`` (flag name -> value, from extra_args), else its env var in ``env``, else
        its default. Raises ShutdownSettingError for a value that is not whole seconds."""
        sd = self.shutdown
        if sd.force_env and (env.get(sd.force_env) or "").strip().lower() in _TRUTHY:
            return 0
        if sd.drain_flag:
            flag = self.flag(sd.drain_flag)
            for name in flag.names if flag else (sd.drain_flag,):
                if name in args:
                    return _seconds("extra_args", f"{name} {args[name]}", args[name])
        if sd.drain_env and sd.drain_env in env:
            value = env[sd.drain_env]
            return _seconds("env", f"{sd.drain_env}={value}", value)
        return sd.drain_default_s

    def stop_timeout_s(self, args: Mapping[str, str | None], env: Mapping[str, str]) -> int:
        """`docker stop -t`: the engine's drain, then TEARDOWN_S for its workers to exit
        (more where the engine's own teardown timeout is raised by env)."""
        sd = self.shutdown
        extra = 0
        if sd.teardown_env and sd.teardown_env in env:
            value = env[sd.teardown_env]
            teardown = _seconds("env", f"{sd.teardown_env}={value}", value)
            extra = max(0, teardown - sd.teardown_default_s)
        return self.drain_s(args, env) + TEARDOWN_S + extra

    def has(self, fieldname: str) -> bool:
        s = self.settings.get(fieldname)
        return s is not None and s.flag is not None


@cache
def _engines() -> dict[str, EngineSpec]:
    from tgi_infra.engines import sglang, tgi, vllm

    return {e.name: e for e in (tgi.spec(), vllm.spec(), sglang.spec())}


ENGINE_NAMES: tuple[str, ...] = ("tgi", "vllm", "sglang")


def unit_stop_timeout_s(stop_timeout_s: int) -> int:
    """The unit's TimeoutStopSec for a container stopped with `docker stop -t stop_timeout_s`."""
    return stop_timeout_s + UNIT_STOP_MARGIN_S


def engine_spec(name: str) -> EngineSpec:
    return _engines()[name]


class _Engines:
    """Lazy mapping name -> EngineSpec (the specs read the reference files once)."""

    def __getitem__(self, name: str) -> EngineSpec:
        return engine_spec(name)

    def __iter__(self):
        return iter(ENGINE_NAMES)

    def items(self):
        return [(n, engine_spec(n)) for n in ENGINE_NAMES]

    def values(self):
        return [engine_spec(n) for n in ENGINE_NAMES]


ENGINES = _Engines()


def cuda_13_0_build(image: str, source: str) -> CudaBuild:
    """An image built on CUDA 13.0 (vLLM's and SGLang's default builds)."""
    return CudaBuild(
        image=image,
        cuda="13.0",
        min_driver="580.65.06",  # CUDA 13.0 GA, Linux
        min_driver_windows="580.88",  # the first R580 Windows driver (reports CUDA 13.0)
        source=source,
    )


def cuda_12_9_build(image: str) -> CudaBuild:
    """The ``-cu129`` build of a release (vLLM's and SGLang's fallback for older drivers)."""
    return CudaBuild(
        image=f"{image}-cu129",
        cuda="12.9",
        min_driver="575.51.03",  # CUDA 12.9 GA, Linux
        min_driver_windows="576.02",  # CUDA 12.9 GA, Windows
        # nvidia/cuda 12.9.1's NVIDIA_REQUIRE_CUDA: R535/R550/R560/R565/R570 for the
        # data-center and professional brands (not GeForce/TITAN)
        compat_branches=(535, 550, 560, 565, 570),
        source="the -cu129 build of the release (CUDA_VERSION=12.9.1)",
    )


# the settings every engine maps (docs/engines.md's rows); the engine-neutral part of a service
COMMON_FIELDS: tuple[str, ...] = (
    "model_id",
    "revision",
    "num_shard",
    "sharded",
    "quantize",
    "dtype",
    "max_input_tokens",
    "max_total_tokens",
    "max_batch_prefill_tokens",
    "max_batch_total_tokens",
    "max_concurrent_requests",
    "cuda_graphs",
    "api_key_env",
    "port",
    "bind",
    "shm_size",
)


def engines_markdown() -> str:
    """docs/engines.md's engine table: what each common setting becomes per engine."""
    specs = [engine_spec(n) for n in ENGINE_NAMES]
    head = "| setting | " + " | ".join(f"`engine: {s.name}`" for s in specs) + " |"
    rows = [head, "|---" * (len(specs) + 1) + "|"]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows.append("| image (default) | " + " | ".join(f"`{s.image}`" for s in specs) + " |")
    rows.append(
        "| command | "
        + " | ".join(
            f"`{s.program}`" + (f" (`{' '.join(s.command)}`)" if s.command else "") for s in specs
        )
        + " |"
    )
    rows.append(
        "| container port, cache mount | "
        + " | ".join(f"{s.container_port}, `{s.cache_mount}`" for s in specs)
        + " |"
    )
    rows.append("| readiness | " + " | ".join(cell(s.readiness_note) for s in specs) + " |")

    def cuda_cell(s: EngineSpec) -> str:
        default, *fallbacks = s.cuda_builds
        text = f"CUDA {default.cuda}: {default.requirement()}"
        for b in fallbacks:
            text += f"; older drivers: `{b.image}` (CUDA {b.cuda}: {b.requirement()})"
        return cell(text)

    rows.append("| CUDA, host driver | " + " | ".join(cuda_cell(s) for s in specs) + " |")

    def stop_cell(s: EngineSpec) -> str:
        sd = s.shutdown
        where = " / ".join(f"`{x}`" for x in (sd.drain_flag, sd.drain_env) if x)
        drain = f"default {sd.drain_default_s} s"
        if sd.unbounded:
            drain = f"until idle; the deploy allows {sd.drain_default_s} s"
        text = f"{sd.note} Drain: {where or 'no setting'} ({drain}"
        if sd.force_env:
            text += f"; `{sd.force_env}=true`: none"
        text += f"); `docker stop -t` = drain + {TEARDOWN_S} s"
        if sd.teardown_env:
            text += f" (+ `{sd.teardown_env}` over {sd.teardown_default_s} s)"
        return cell(text + f", TimeoutStopSec = that + {UNIT_STOP_MARGIN_S} s")

    rows.append("| stop (SIGTERM) | " + " | ".join(stop_cell(s) for s in specs) + " |")
    for name in COMMON_FIELDS:
        cells = []
        for s in specs:
            setting = s.settings[name]
            if setting.flag is None:
                cells.append(cell(f"refused: {setting.note}"))
            else:
                text = f"`{setting.flag}`"
                cells.append(cell(text + (f" ({setting.note})" if setting.note else "")))
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
