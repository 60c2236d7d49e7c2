"""Rules spanning fields and services: TGI's own startup checks, launcher flags in
``extra_args``/``env``, and host-wide uniqueness (names, ports, GPUs)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tgi_infra.config.errors import (
    _allowed,
    _fmt,
)
from tgi_infra.config.grammar import (
    _GIB,
    _OWNED_ENV,
    ENV_KEY_RE,
    SECRET_ENV_RE,
    looks_like_token,
    shm_bytes,
)
from tgi_infra.config.models import (
    TGIService,
)
from tgi_infra.config.paths import env_line_reason, shorten
from tgi_infra.engines.spec import COMMON_FIELDS, EngineSpec, ShutdownSettingError, engine_spec
from tgi_infra.engines.tgi_launcher import (
    CONFIG_OWNED_FLAGS,
    FLAGS_BY_NAME,
    FORBIDDEN_FLAGS,
    SHORT_FLAGS,
)

# server/text_generation_server/cli.py (TGI 3.3.7, serve): --dtype is allowed with these
DTYPE_COMPATIBLE_QUANTIZE = (None, "bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4")

# ---------------------------------------------------------------------------------------
# rules spanning fields / services (TGI's startup checks, host-wide uniqueness)
# ---------------------------------------------------------------------------------------


def _svc_where(host_name: str, svc_label: str) -> str:
    return f"host {host_name}: service {svc_label}: "


def parse_extra_args(args: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Split `extra_args` into (flag, value) pairs; return problems (without prefixes)."""
    pairs: list[tuple[str, str | None]] = []
    problems: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            if arg in SHORT_FLAGS or (arg.startswith("-") and len(arg) > 1):
                problems.append(
                    f"value {arg!r} is not allowed (short flags are ambiguous; use the long form)"
                )
            else:
                problems.append(f"value {arg!r} is not allowed (a value without a flag)")
            continue
        flag, eq, value = arg.partition("=")
        spec = FLAGS_BY_NAME.get(flag)
        if eq and spec is not None and spec.env and SECRET_ENV_RE.search(spec.env):
            arg = f"{flag}=…(masked)"  # the value of a secret flag is never repeated
        if spec is None:
            close = difflib.get_close_matches(flag, list(FLAGS_BY_NAME), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"value {arg!r} is not allowed (TGI's launcher has no {flag}{hint})")
            continue
        val: str | None = None
        if spec.takes_value:
            if eq:
                val = value
            elif i < len(args) and not args[i].startswith("--"):
                val = args[i]
                i += 1
            else:
                problems.append(f"value {arg!r} is not allowed ({flag} needs a value)")
                continue
        elif eq:
            problems.append(f"value {arg!r} is not allowed ({flag} is a switch without value)")
            continue
        if flag in CONFIG_OWNED_FLAGS:
            problems.append(
                f"value {arg!r} is not allowed (the config sets {flag}; use field "
                f"{CONFIG_OWNED_FLAGS[flag]})"
            )
        elif flag in FORBIDDEN_FLAGS:
            problems.append(f"value {arg!r} is not allowed ({flag}: {FORBIDDEN_FLAGS[flag]})")
        elif flag in seen:
            problems.append(f"value {arg!r} is not allowed ({flag} is given twice)")
        elif spec.possible_values and val not in spec.possible_values:
            problems.append(
                f"value {val!r} is not allowed ({flag} takes {', '.join(spec.possible_values)})"
            )
        elif val is not None and looks_like_token(val):
            problems.append(
                f"value for {flag} is not allowed (it looks like a token; secrets go through "
                "hf_token_env/api_key_env)"
            )
        else:
            pairs.append((flag, val))
        seen.add(flag)
    return pairs, problems


_SECRET_FLAG_RE = re.compile(r"(api|admin|secret|auth)[-_]?key|password|-token$")


def parse_engine_args(
    spec: EngineSpec, args: list[str]
) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """`extra_args` of an argparse engine (vLLM, SGLang), checked against its flag list from
    the reference dump: (flag, values) pairs and problems (without prefixes). A switch has no
    values, a flag one, an nargs '+' flag one or more up to the next flag."""
    pairs: list[tuple[str, list[str]]] = []
    problems: list[str] = []
    seen: set[str] = set()
    who = f"{spec.title}'s {spec.program}"
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            problems.append(
                f"value {arg!r} is not allowed (a value without a flag; {spec.title}'s model is "
                "set by model_id)"
            )
            continue
        name, eq, value = arg.partition("=")
        flag = spec.flag(name)
        if flag is None:
            close = difflib.get_close_matches(name, [n for n in spec.flags if n.startswith("--")])
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"value {arg!r} is not allowed ({who} has no {name}{hint})")
            continue
        values: list[str] = []
        if flag.takes_value:
            if eq:
                values = [value]
            else:
                while i < len(args) and not (args[i].startswith("-") and len(args[i]) > 1):
                    values.append(args[i])
                    i += 1
                    if not flag.multi:
                        break
                if not values:
                    problems.append(f"value {arg!r} is not allowed ({name} needs a value)")
                    continue
        elif eq:
            problems.append(f"value {arg!r} is not allowed ({name} is a switch without value)")
            continue
        owned = next((spec.owned[n] for n in flag.names if n in spec.owned), None)
        forbidden = next((spec.forbidden[n] for n in flag.names if n in spec.forbidden), None)
        if owned:
            problems.append(
                f"value {arg!r} is not allowed (the config sets {name} for {spec.title}; use "
                f"field {owned})"
            )
        elif forbidden:
            problems.append(f"value {arg!r} is not allowed ({name}: {forbidden})")
        elif flag.name in seen:
            problems.append(f"value {arg!r} is not allowed ({name} is given twice)")
        elif flag.choices and any(v not in flag.choices for v in values):
            bad = next(v for v in values if v not in flag.choices)
            problems.append(
                f"value {bad!r} is not allowed ({spec.title}'s {name} takes "
                f"{', '.join(flag.choices)})"
            )
        elif values and (
            any(looks_like_token(v) for v in values) or _SECRET_FLAG_RE.search(flag.name)
        ):
            problems.append(
                f"value for {name} is not allowed (it looks like a secret; secrets go through "
                "hf_token_env/api_key_env and service.env)"
            )
        else:
            pairs.append((flag.name, values))
        seen.add(flag.name)
    return pairs, problems


def _extra_args_allowed(engine: str) -> str:
    if engine == "tgi":
        return _allowed(TGIService, "extra_args")
    spec = engine_spec(engine)
    return (
        f"flags of {spec.program} ({spec.title} {spec.image.rsplit(':', 1)[-1]}, "
        f"deploy/reference/{spec.name}) that the config does not set, with values from their "
        "choices; no secrets"
    )


def _args_env_problems(where: str, extra_args: Any, env: Any, engine: Any = "tgi") -> list[str]:
    """extra_args / env rules; also run on raw data of a service with other field errors."""
    errors: list[str] = []
    if (
        isinstance(extra_args, list)
        and all(isinstance(a, str) for a in extra_args)
        and engine in ("tgi", "vllm", "sglang")
    ):
        if engine == "tgi":
            _, problems = parse_extra_args(extra_args)
        else:
            _, problems = parse_engine_args(engine_spec(engine), extra_args)
        allowed_extra = _extra_args_allowed(engine)
        for p in problems:
            errors.append(f"{where}field extra_args: {p}; allowed: {allowed_extra}")
    if not isinstance(env, Mapping):
        return errors
    errors += _drain_problems(where, extra_args, env, engine)
    for key, val in env.items():
        if isinstance(key, str) and isinstance(val, str):
            too_long = env_line_reason(key, val)
            if too_long:
                errors.append(
                    f"{where}field env: value {key}={shorten(val)} is not allowed ({too_long}); "
                    f"allowed: {_allowed(TGIService, 'env')}"
                )
                continue
        reason = None
        if not isinstance(key, str) or not ENV_KEY_RE.match(key):
            reason = "not an environment variable name"
        elif SECRET_ENV_RE.search(key.upper()):
            reason = "secret-looking names go through hf_token_env / api_key_env"
        elif engine == "tgi" and key in _OWNED_ENV:
            reason = f"the launcher reads it; set field {_OWNED_ENV[key].split(' ')[0]} instead"
        elif isinstance(val, str) and looks_like_token(val):
            reason = "its value looks like a token; secrets go through hf_token_env / api_key_env"
        if reason:
            errors.append(
                f"{where}field env: value {key!r} is not allowed ({reason}); allowed: "
                f"{_allowed(TGIService, 'env')}"
            )
    return errors


def extra_flag_values(engine: str, extra_args: list[str]) -> dict[str, str | None]:
    """flag -> value of a service's well-formed extra_args (a switch: None; several values:
    joined by spaces), what the engine reads from its command line."""
    if engine == "tgi":
        return dict(parse_extra_args(extra_args)[0])
    pairs = parse_engine_args(engine_spec(engine), extra_args)[0]
    return {flag: " ".join(values) if values else None for flag, values in pairs}


def _drain_problems(where: str, extra_args: Any, env: Mapping, engine: Any) -> list[str]:
    """The engine's drain time on stop (extra_args flag or env, engines/spec.py Shutdown) must
    be whole seconds: the deploy's stop timeouts are derived from it."""
    if (
        engine not in ("tgi", "vllm", "sglang")
        or not isinstance(extra_args, list)
        or not all(isinstance(a, str) for a in extra_args)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    ):
        return []
    spec = engine_spec(engine)
    try:
        spec.stop_timeout_s(extra_flag_values(engine, extra_args), env)
    except ShutdownSettingError as exc:
        why = f"{spec.title}'s drain of the requests in flight on stop, in seconds"
        return [_fmt(where, exc.field, exc.value, why, exc.allowed)]
    return []


def _service_problems(host_name: str, svc: TGIService, label: str) -> tuple[list[str], list[str]]:
    """Checks of one service whose `gpus` is already resolved against the host mode."""
    where = _svc_where(host_name, label)
    errors: list[str] = []
    warnings: list[str] = []

    def err(field: str, value: Any, reason: str) -> None:
        errors.append(_fmt(where, field, value, reason, _allowed(TGIService, field)))

    ids = svc.gpu_ids()
    cpu_svc = ids == []
    if svc.engine != "tgi":
        return _other_engine_problems(host_name, svc, label)

    if cpu_svc:
        if svc.num_shard not in (None, 1):
            err("num_shard", svc.num_shard, "a CPU service runs one shard")
        if svc.sharded:
            err("sharded", svc.sharded, "a CPU service cannot be sharded")
        if svc.cuda_graphs is not None:
            err("cuda_graphs", svc.cuda_graphs, "CUDA graphs need GPUs; this service has none")
    else:
        if ids is not None and svc.num_shard is not None and svc.num_shard > len(ids):
            err("num_shard", svc.num_shard, f"only {len(ids)} GPU(s) assigned by gpus={svc.gpus!r}")
        n = svc.resolved_num_shard()
        if svc.sharded is True and n == 1:
            err("sharded", True, "TGI refuses sharded=true with a single shard")
        if svc.sharded is False and svc.num_shard is not None and svc.num_shard > 1:
            err("sharded", False, f"TGI refuses sharded=false with num_shard={svc.num_shard}")
        multi = (n or 0) > 1 or (svc.sharded is True and n is None)
        if multi and shm_bytes(svc.shm_size) <= _GIB:
            warnings.append(
                f"{where}field shm_size: {svc.shm_size!r} is small for a sharded service "
                "(NCCL uses /dev/shm); TGI's docs advise more than 1g"
            )
        if ids is not None and svc.num_shard is not None and svc.num_shard < len(ids):
            warnings.append(
                f"{where}field num_shard: {svc.num_shard} shard(s) on {len(ids)} assigned GPUs "
                "leaves some idle"
            )

    # server/text_generation_server/cli.py (serve): dtype goes with no quantizer but bitsandbytes
    if svc.quantize not in DTYPE_COMPATIBLE_QUANTIZE and svc.dtype is not None:
        err("dtype", svc.dtype, f"TGI refuses --dtype together with --quantize {svc.quantize}")

    t_in, t_tot = svc.max_input_tokens, svc.max_total_tokens
    t_pre, t_btot = svc.max_batch_prefill_tokens, svc.max_batch_total_tokens
    if t_in is not None and t_tot is not None and t_in >= t_tot:
        err("max_input_tokens", t_in, f"must be < max_total_tokens ({t_tot})")
    if t_tot is not None and t_btot is not None and t_tot > t_btot:
        err("max_total_tokens", t_tot, f"must be <= max_batch_total_tokens ({t_btot})")
    if t_in is not None and t_pre is not None and t_pre < t_in:
        # backends/v3/src/main.rs refuses it only `&& !support_chunking`: legal on v3 (chunked
        # prefill with flash attention), refused for a model/backend that cannot chunk
        warnings.append(
            f"{where}field max_batch_prefill_tokens: {t_pre} is below max_input_tokens ({t_in}): "
            "long prompts are prefilled in chunks; TGI refuses this at start-up for a model or "
            "attention backend without chunking support (then raise it to >= max_input_tokens)"
        )
    if t_pre is not None and t_btot is not None and t_pre > t_btot:
        err("max_batch_prefill_tokens", t_pre, f"must be <= max_batch_total_tokens ({t_btot})")

    errors += _args_env_problems(where, svc.extra_args, svc.env)
    return errors, warnings


# common settings whose "unset" is None (the others always have a value): the engines' common
# fields less those every service sets
_OPTIONAL_SETTINGS = tuple(
    f for f in COMMON_FIELDS if f not in ("model_id", "port", "bind", "shm_size")
)


# CPU builds of the engines (their docs): vLLM's docker/Dockerfile.cpu release image; SGLang's
# Xeon image (docker/xeon.Dockerfile). A service naming one of these (or any image other than
# the engine's default CUDA image) in `image` may run with `gpus: none`.
CPU_IMAGES = {
    "vllm": "e.g. public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:TAG",
    "sglang": "e.g. lmsysorg/sglang:TAG-xeon, which then runs with --device cpu",
}


def _other_engine_problems(
    host_name: str, svc: TGIService, label: str
) -> tuple[list[str], list[str]]:
    """vLLM and SGLang: a setting the engine lacks is refused naming the engine; GPUs only."""
    spec = engine_spec(svc.engine)
    where = _svc_where(host_name, label)
    errors: list[str] = []
    warnings: list[str] = []

    def err(field: str, value: Any, reason: str, allowed: str | None = None) -> None:
        errors.append(_fmt(where, field, value, reason, allowed or _allowed(TGIService, field)))

    has = [f for f in _OPTIONAL_SETTINGS if spec.has(f)]
    for field in _OPTIONAL_SETTINGS:
        value = getattr(svc, field)
        if value is not None and not spec.has(field):
            err(
                field,
                value,
                f"engine {spec.name}: {spec.title} has no such setting: "
                f"{spec.settings[field].note}",
                f"null for engine {spec.name}; {spec.title} takes {', '.join(has)}",
            )
    ids = svc.gpu_ids()
    if ids == [] and svc.image == spec.image:
        # the engine's default image is a CUDA build; CPU mode needs the engine's CPU build
        err(
            "gpus",
            svc.gpus,
            f"engine {spec.name}: {spec.image.split(':')[0]} is a CUDA image; CPU mode is TGI-only "
            "with the default images",
            f'GPUs for engine {spec.name} ("all", a count or device ids), engine tgi, or `image` '
            f"set to a CPU build of {spec.title} ({CPU_IMAGES[spec.name]})",
        )
    elif ids is not None and svc.num_shard is not None and svc.num_shard > len(ids):
        err("num_shard", svc.num_shard, f"only {len(ids)} GPU(s) assigned by gpus={svc.gpus!r}")
    if svc.cuda_graphs is not None and svc.engine == "sglang" and svc.cuda_graphs != [0]:
        err(
            "cuda_graphs",
            svc.cuda_graphs,
            "engine sglang: only [0] (--cuda-graph-backend-decode/prefill disabled) maps to "
            "SGLang; set batch sizes with extra_args --cuda-graph-bs-decode",
            "[0] or null for engine sglang",
        )
    if svc.cuda_graphs == [0] and svc.engine == "sglang":
        from tgi_infra.engines.sglang import CUDA_GRAPH_BACKEND_FLAGS

        given = [a.partition("=")[0] for a in svc.extra_args]
        clash = [f for f in CUDA_GRAPH_BACKEND_FLAGS if f in given]
        if clash:
            err(
                "extra_args",
                svc.extra_args,
                f"{', '.join(clash)} would override cuda_graphs [0], which renders "
                "--cuda-graph-backend-decode/prefill disabled",
                "cuda_graphs [0] without --cuda-graph-backend-*/--cuda-graph-config in "
                "extra_args, or cuda_graphs null with them",
            )
    n = svc.resolved_num_shard()
    if (n or 0) > 1 and "shm_size" in svc.model_fields_set and shm_bytes(svc.shm_size) <= _GIB:
        warnings.append(
            f"{where}field shm_size: {svc.shm_size!r} is small for a tensor-parallel "
            f"{spec.title} service (NCCL uses /dev/shm); leave shm_size unset for --ipc=host"
        )
    t_tot, t_btot = svc.max_total_tokens, svc.max_batch_total_tokens
    if spec.has("max_batch_total_tokens") and t_tot and t_btot and t_tot > t_btot:
        err("max_total_tokens", t_tot, f"must be <= max_batch_total_tokens ({t_btot})")
    errors += _args_env_problems(where, svc.extra_args, svc.env, svc.engine)
    return errors, warnings


def _gpu_label(ids: list[int] | None) -> str:
    return "all" if ids is None else ",".join(map(str, ids))


def unset_api_key_problems(
    host_name: str, services: list[TGIService], environ: Mapping[str, str]
) -> list[str]:
    """Each present service whose ``api_key_env`` names a variable that is unset (or empty) in
    ``environ``, the control machine's environment: the deploy reads the key from it and
    refuses to deploy without it. The one wording for ``validate`` and the deploy."""
    out = []
    for svc in services:
        name = svc.api_key_env
        if svc.present and name and not environ.get(name):
            out.append(
                f"{_svc_where(host_name, svc.name)}field api_key_env: value {name!r}: the "
                f"environment variable {name} is not set on this machine (the deploy reads the "
                f"API key from it); needed: export {name}=<the API key> before validate and "
                "deploy, or remove api_key_env to serve without a key"
            )
    return out


def without_fields(messages: list[str], where: str, names: Iterable[str]) -> list[str]:
    """Messages not about any of the fields ``names`` (each has its own error already)."""
    prefixes = tuple(f"{where}field {n}: " for n in names)
    return [m for m in messages if not prefixes or not m.startswith(prefixes)]


def _semantic_problems(
    host_name: str,
    host_gpus: str,
    services: list[tuple[int, TGIService]],
    failed_fields: Mapping[int, set[str]] | None = None,
    labels: Mapping[int, str] | None = None,
) -> tuple[list[str], list[str], list[TGIService]]:
    """Per-service and cross-service checks; returns (errors, warnings, resolved services).

    ``failed_fields``: index -> the fields of that service that failed validation on their own;
    such a service is made of the fields that did validate (the failed ones at their defaults),
    and every rule that reads a failed field is left out for it: the user sees the field's own
    error, then no guess built on a default. ``labels``: index -> the name its messages use.
    """
    cpu_host = host_gpus == "none"
    errors: list[str] = []
    warnings: list[str] = []
    resolved: list[TGIService] = []
    by_name: dict[str, int] = {}
    by_port: dict[int, str] = {}
    gpu_users: list[tuple[str, list[int] | None]] = []
    for index, svc in services:
        failed = (failed_fields or {}).get(index, set())
        label = (labels or {}).get(index, svc.name)
        where = _svc_where(host_name, label)
        if cpu_host and svc.gpus not in (None, "none"):
            errors.append(
                _fmt(
                    where,
                    "gpus",
                    svc.gpus,
                    'the host is in CPU mode (host gpus: "none")',
                    '"none" (or leave it unset) on a CPU-mode host',
                )
            )
            svc = svc.model_copy(update={"gpus": "none"})
        if svc.gpus is None:
            svc = svc.model_copy(update={"gpus": "none" if cpu_host else "all"})
        if "engine" in failed:  # which engine's rules apply is unknown: only the env rules
            errors += without_fields(
                _args_env_problems(where, svc.extra_args, svc.env, None), where, failed
            )
        else:
            e, w = _service_problems(host_name, svc, label)
            errors += without_fields(e, where, failed)
            warnings += without_fields(w, where, failed)
        if "name" not in failed:
            if svc.name in by_name:
                errors.append(
                    _fmt(
                        where,
                        "name",
                        svc.name,
                        f"services #{by_name[svc.name]} and #{index} share it",
                        "a name unique on the host",
                    )
                )
            by_name.setdefault(svc.name, index)
        if not failed:
            resolved.append(svc)
        if not svc.present or "present" in failed:
            continue
        if "port" not in failed:
            if svc.port in by_port:
                errors.append(
                    _fmt(
                        where,
                        "port",
                        svc.port,
                        f"service {by_port[svc.port]} already publishes it",
                        "a port unique on the host",
                    )
                )
            by_port.setdefault(svc.port, label)
        ids = svc.gpu_ids()
        if ids == [] or "gpus" in failed:
            continue
        for other, other_ids in gpu_users:
            if ids is None or other_ids is None or set(ids) & set(other_ids):
                shared = (
                    "all"
                    if ids is None or other_ids is None
                    else ",".join(map(str, sorted(set(ids) & set(other_ids))))
                )
                errors.append(
                    _fmt(
                        where,
                        "gpus",
                        svc.gpus,
                        f"GPU(s) {shared} already assigned to service {other} "
                        f"(gpus={_gpu_label(other_ids)}); 'all' overlaps every GPU",
                        "GPUs no other service on the host uses",
                    )
                )
                break
        gpu_users.append((label, ids))
    return errors, warnings, resolved
