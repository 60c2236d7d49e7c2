"""What differs per engine, as data: one ``EngineSpec`` per engine.

The flag lists of vLLM and SGLang are read from the reference dumps shipped in the package
(``reference/vllm/serve-args.json``, ``reference/sglang/launch-server-args.json``: every flag
of ``vllm serve`` / ``sglang.launch_server`` dumped from the engine's own argument parser);
TGI's comes from ``tgi_infra.launcher`` (checked against ``reference/tgi/launcher-args.json``).
"""

from __future__ import annotations

import json
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
    note: str = ""  # for the README's engine table and error messages


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

    def flag(self, name: str) -> Flag | None:
        return self.flags.get(name)

    def has(self, fieldname: str) -> bool:
        s = self.settings.get(fieldname)
        return s is not None and s.flag is not None


@cache
def _engines() -> dict[str, EngineSpec]:
    from tgi_infra.engines import sglang, tgi, vllm

    return {e.name: e for e in (tgi.spec(), vllm.spec(), sglang.spec())}


ENGINE_NAMES: tuple[str, ...] = ("tgi", "vllm", "sglang")


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
    """README's engine table: what each common setting becomes per engine."""
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
