"""Render one TGI service's files (scripts, systemd unit, env example) from the config model.

Logic lives here; templates/*.j2 only substitute values that are already shell-quoted.
Secrets never enter a rendered file: the HF token and API key reach the container only
through `service.env` (mode 0600), rendered separately by `env_file_content`.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import jinja2
from tgi_infra.config import HostConfig, TGIService, parse_extra_args
from tgi_infra.config.rules import extra_flag_values, parse_engine_args
from tgi_infra.engines import EngineSpec, engine_spec
from tgi_infra.engines.sglang import DISABLE_CUDA_GRAPHS, KEY_WRAPPER
from tgi_infra.engines.spec import TEARDOWN_S, unit_stop_timeout_s
from tgi_infra.host.reading import LABEL_HASH, LABEL_MANAGED  # noqa: F401 (one name: deploy, checks)

# templates/ ships as the package ``tgi_infra.templates`` (package data), in a checkout and a wheel.
TEMPLATES_DIR = Path(str(resources.files("tgi_infra.templates")))

Supervisor = Literal["systemd", "docker"]
SUPERVISORS: tuple[str, ...] = ("systemd", "docker")

CREATE_SCRIPT = "tgi-service-creation.sh"
START_SCRIPT = "tgi-service.sh"
STOP_SCRIPT = "tgi-service-stop.sh"
LOGS_SCRIPT = "tgi-service-logs.sh"
ENV_FILE = "service.env"
ENV_EXAMPLE = "service.env.example"
CPU_FLAG = "--disable-custom-kernels"
ENV_FILE_MODE = 0o600
SCRIPT_MODE = 0o755
DATA_MODE = 0o644
# `docker stop -t` of a container deployed before the stop timeout was derived per service
# (no StopTimeout in its config): tgi_infra.local falls back to it
STOP_TIMEOUT_S = TEARDOWN_S
# What a machine's own tools (tgi_infra.local: status/start/stop/restart/logs) read from the
# container alone, without the inventory: service name, model, engine, supervisor, port, unit.
LABEL_SERVICE = "tgi-infra.service"
LABEL_MODEL = "tgi-infra.model-id"
LABEL_ENGINE = "tgi-infra.engine"
LABEL_SUPERVISOR = "tgi-infra.supervisor"
LABEL_PORT = "tgi-infra.port"
LABEL_UNIT = "tgi-infra.unit"
ENGINE = "tgi"  # the default engine (svc.engine is the service's own)
# the name of this module before deploy/ was grouped: kept so that rendered files (and the
# config hash over them) stay the same across the regrouping
HEADER = "Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy."
_HASH_PLACEHOLDER = "0" * 64

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["q"] = lambda v: shlex.quote(str(v))


def unit_name(svc: TGIService) -> str:
    return f"tgi-{svc.name}.service"


def secret_vars(svc: TGIService) -> dict[str, str]:
    """Container env name -> NAME of the control machine's env var holding the value."""
    out = {}
    if svc.hf_token_env:
        out["HF_TOKEN"] = svc.hf_token_env
    if svc.api_key_env:
        # API_KEY for every engine (what the readiness wait, `tgi-infra local` and the smoke
        # suite read); vLLM reads its own VLLM_API_KEY as well
        for name in engine_spec(svc.engine).api_key_env_names:
            out[name] = svc.api_key_env
    return out


def missing_secrets(svc: TGIService, environ: Mapping[str, str]) -> list[str]:
    """Control-machine env var names the service refers to that are unset or empty."""
    return [src for src in secret_vars(svc).values() if not environ.get(src)]


def env_file_content(svc: TGIService, environ: Mapping[str, str]) -> str:
    """`service.env` for `docker run --env-file`: secrets from `environ`, then `svc.env`.

    Unset secrets are left out (a public model needs no token); see `missing_secrets`.
    Docker takes each value literally up to the end of the line, so no quoting is applied.
    """
    lines = [f"# {HEADER}", "# Mode 0600, root only. Read by docker --env-file."]
    for target, source in secret_vars(svc).items():
        value = environ.get(source)
        if not value:
            continue
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"environment variable {source} contains a newline or NUL")
        lines.append(f"{target}={value}")
    for key, value in sorted(svc.env.items()):
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def secrets_digest(svc: TGIService, environ: Mapping[str, str]) -> str:
    """sha256 of the env file: changes when a secret changes, reveals nothing usable."""
    payload = b"tgi-infra/service.env/v1\0" + env_file_content(svc, environ).encode()
    return hashlib.sha256(payload).hexdigest()


def stop_timeout(svc: TGIService) -> int:
    """Seconds `docker stop -t` gives the container: the engine's drain of the requests in
    flight, from its own setting in extra_args or env (engines/spec.py ``Shutdown``), plus the
    time its workers take to exit."""
    return engine_spec(svc.engine).stop_timeout_s(
        extra_flag_values(svc.engine, svc.extra_args), svc.env
    )


def unit_stop_timeout(svc: TGIService) -> int:
    """The systemd unit's TimeoutStopSec: above `docker stop -t` (its ExecStop)."""
    return unit_stop_timeout_s(stop_timeout(svc))


def engine_model_path(svc: TGIService) -> str:
    """The model as the engine sees it: a Hub id as is, a local path under /data moved to the
    engine's cache mount (the volume is mounted there)."""
    spec = engine_spec(svc.engine)
    if svc.model_id.startswith("/data/") and spec.cache_mount != "/data":
        return spec.cache_mount + svc.model_id.removeprefix("/data")
    return svc.model_id


@dataclass(frozen=True)
class EngineCommand:
    """What a service's container runs, however it is run: `docker run` (the scripts rendered
    here) or a Kubernetes container (tgi_infra.export.kubernetes). The image's entrypoint is
    kept (`docker run IMAGE ARGS` and a container with `args` alone both replace only the
    image's CMD); `args` follow the image."""

    image: str  # as the inventory names it
    resolved_image: str  # with the host's `image_mirror` applied: what Docker pulls
    args: tuple[str, ...]  # no secrets: API keys come by env
    port: int  # the engine's port inside the container
    cache_mount: str  # where the model cache (`volume`) is mounted


def engine_command(
    svc: TGIService, host_cfg: HostConfig, host_gpu_count: int | None = None
) -> EngineCommand:
    """The one builder of a service's engine command line, for every way of running it."""
    spec = engine_spec(svc.engine)
    return EngineCommand(
        image=svc.image,
        resolved_image=host_cfg.image_for(svc),
        args=tuple(launcher_args(svc, host_cfg, host_gpu_count)),
        port=spec.container_port,
        cache_mount=spec.cache_mount,
    )


def shared_memory(svc: TGIService) -> str | None:
    """The size of the container's /dev/shm (`shm_size`), or None for the host's own
    (`--ipc=host`). TGI: `--shm-size` (its README); vLLM/SGLang: `--ipc=host` as their Docker
    docs, or `--shm-size` when shm_size is set explicitly."""
    if svc.engine == "tgi" or "shm_size" in svc.model_fields_set:
        return svc.shm_size
    return None


def launcher_args(
    svc: TGIService, host_cfg: HostConfig, host_gpu_count: int | None = None
) -> list[str]:
    """The engine's argv after the image (no secrets: API keys come by env); see
    `engine_command`, which the Docker render and the Kubernetes export call."""
    if svc.engine != "tgi":
        return _engine_args(engine_spec(svc.engine), svc, host_cfg, host_gpu_count)
    args = ["--model-id", svc.model_id]
    if svc.revision:
        args += ["--revision", svc.revision]
    num_shard = svc.resolved_num_shard(host_cfg, host_gpu_count)
    if num_shard is not None:
        args += ["--num-shard", str(num_shard)]
    if svc.sharded is not None:
        args += ["--sharded", "true" if svc.sharded else "false"]
    if svc.quantize:
        args += ["--quantize", svc.quantize]
    if svc.dtype:
        args += ["--dtype", svc.dtype]
    for fname in (
        "max_input_tokens",
        "max_total_tokens",
        "max_batch_prefill_tokens",
        "max_batch_total_tokens",
        "max_concurrent_requests",
    ):
        value = getattr(svc, fname)
        if value is not None:
            args += ["--" + fname.replace("_", "-"), str(value)]
    if svc.cuda_graphs is not None:
        args += ["--cuda-graphs", ",".join(map(str, svc.cuda_graphs))]
    args += ["--port", str(engine_spec("tgi").container_port)]
    pairs, problems = parse_extra_args(svc.extra_args)
    if problems:  # validated configs never get here
        raise ValueError(f"service {svc.name}: bad extra_args: {'; '.join(problems)}")
    for flag, value in pairs:
        args += [flag] if value is None else [flag, value]
    if svc.gpu_ids(host_cfg) == [] and CPU_FLAG not in (flag for flag, _ in pairs):
        # TGI's README, CPU: "drop `--gpus all` and add `--disable-custom-kernels`"
        args.append(CPU_FLAG)
    return args


def _engine_args(
    spec: EngineSpec, svc: TGIService, host_cfg: HostConfig, host_gpu_count: int | None
) -> list[str]:
    """vLLM / SGLang argv after the image: the command, the model, then one flag per common
    setting (``spec.settings``), the engine's fixed flags, then `extra_args`."""
    model = engine_model_path(svc)
    if spec.name == "vllm":
        args = [model]  # `vllm serve MODEL` (the image's entrypoint is `vllm serve`)
    elif svc.api_key_env:
        # SGLang reads its key only from --api-key: added in-process from API_KEY (sglang.py)
        args = ["python3", "-c", KEY_WRAPPER, "--model-path", model]
    else:
        args = [*spec.command, "--model-path", model]
    s = spec.settings
    if svc.revision:
        args += [s["revision"].flag, svc.revision]
    num_shard = svc.resolved_num_shard(host_cfg, host_gpu_count)
    if num_shard is not None:
        args += [s["num_shard"].flag, str(num_shard)]
    for fname in (
        "quantize",
        "dtype",
        "max_total_tokens",
        "max_batch_prefill_tokens",
        "max_batch_total_tokens",
        "max_concurrent_requests",
    ):
        value = getattr(svc, fname)
        if value is not None:  # validation refused the settings this engine lacks
            args += [s[fname].flag, str(value)]
    if svc.cuda_graphs == [0]:
        # SGLang 0.5.23 deprecates --disable-cuda-graph for the per-phase backends
        args += ["--enforce-eager"] if spec.name == "vllm" else list(DISABLE_CUDA_GRAPHS)
    elif svc.cuda_graphs is not None:
        args += [s["cuda_graphs"].flag, *map(str, svc.cuda_graphs)]
    if spec.name == "sglang":
        args += ["--host", "0.0.0.0", "--port", str(spec.container_port), "--enable-metrics"]
        if svc.gpu_ids(host_cfg) == []:  # a CPU build (rules.py CPU_IMAGES): SGLang's CPU docs
            args += ["--device", "cpu"]
    pairs, problems = parse_engine_args(spec, svc.extra_args)
    if problems:  # validated configs never get here
        raise ValueError(f"service {svc.name}: bad extra_args: {'; '.join(problems)}")
    for flag, values in pairs:
        args += [flag, *values]
    return args


def _gpu_args(svc: TGIService, host_cfg: HostConfig) -> list[str]:
    ids = svc.gpu_ids(host_cfg)
    if ids is None:
        return ["--gpus", "all"]
    if not ids:
        return []
    # the quotes are part of the value: docker parses --gpus as CSV
    return ["--gpus", '"device={}"'.format(",".join(map(str, ids)))]


def _publish(svc: TGIService) -> str:
    bind = f"[{svc.bind}]" if ":" in svc.bind else svc.bind
    return f"{bind}:{svc.port}:{engine_spec(svc.engine).container_port}"


def _ipc_args(svc: TGIService) -> tuple[str, ...]:
    size = shared_memory(svc)
    return ("--ipc=host",) if size is None else ("--shm-size", size)


def docker_args(
    svc: TGIService,
    host_cfg: HostConfig,
    config_hash: str,
    supervisor: Supervisor,
    host_gpu_count: int | None = None,
) -> list[tuple[str, ...]]:
    """Options of `docker run`/`docker create`, grouped per option, then image + launcher."""
    env_path = posixpath.join(host_cfg.service_dir(svc), ENV_FILE)
    groups: list[tuple[str, ...]] = [
        ("--name", svc.name),
        ("--label", f"{LABEL_MANAGED}=true"),
        ("--label", f"{LABEL_HASH}={config_hash}"),
        ("--label", f"{LABEL_SERVICE}={svc.name}"),
        ("--label", f"{LABEL_MODEL}={svc.model_id}"),
        ("--label", f"{LABEL_ENGINE}={svc.engine}"),
        ("--label", f"{LABEL_SUPERVISOR}={supervisor}"),
        ("--label", f"{LABEL_PORT}={svc.port}"),
    ]
    if supervisor == "systemd":
        groups.append(("--label", f"{LABEL_UNIT}={unit_name(svc)}"))
    groups.append(("--restart", "no" if supervisor == "systemd" else "unless-stopped"))
    # what `docker stop`/`docker restart` and dockerd's own shutdown give the container when
    # no -t is named (a person's `docker stop`, a reboot of a host without systemd)
    groups.append(("--stop-timeout", str(stop_timeout(svc))))
    gpu = _gpu_args(svc, host_cfg)
    if gpu:
        groups.append(tuple(gpu))
    groups += [
        _ipc_args(svc),
        ("-p", _publish(svc)),
        ("-v", f"{svc.volume}:{engine_spec(svc.engine).cache_mount}"),
        ("--env-file", env_path),
    ]
    return groups


@dataclass(frozen=True)
class RenderedService:
    host_name: str
    service: TGIService
    supervisor: Supervisor
    directory: str  # <tgi_root>/<name>
    files: dict[str, tuple[str, int]]  # name inside `directory` -> (content, mode)
    config_hash: str
    image: str
    docker_argv: list[str] = field(default_factory=list)  # argv after `docker`
    env_file_name: str = ENV_FILE
    env_file_mode: int = ENV_FILE_MODE

    @property
    def container_name(self) -> str:
        return self.service.name

    @property
    def unit_name(self) -> str | None:
        return unit_name(self.service) if self.supervisor == "systemd" else None

    @property
    def env_file_path(self) -> str:
        return posixpath.join(self.directory, self.env_file_name)

    def path(self, name: str) -> str:
        return posixpath.join(self.directory, name)

    def env_file(self, environ: Mapping[str, str]) -> tuple[str, int]:
        """(content, mode) of service.env from the control machine's environment."""
        return env_file_content(self.service, environ), self.env_file_mode


def _q(s: str) -> str:
    return shlex.quote(s)


def _render_files(
    host_name: str,
    host_cfg: HostConfig,
    svc: TGIService,
    supervisor: Supervisor,
    config_hash: str,
    host_gpu_count: int | None,
) -> tuple[dict[str, tuple[str, int]], list[str]]:
    command = engine_command(svc, host_cfg, host_gpu_count)
    image = command.resolved_image
    groups = docker_args(svc, host_cfg, config_hash, supervisor, host_gpu_count)
    largs = list(command.args)
    # one launcher flag (with its values) per line; the command (and vLLM's MODEL) on the first
    lgroups: list[list[str]] = []
    for arg in largs:
        if arg.startswith("--") or not lgroups:
            lgroups.append([arg])
        else:
            lgroups[-1].append(arg)
    directory = host_cfg.service_dir(svc)
    systemd = supervisor == "systemd"
    unit = unit_name(svc)
    ctx = {
        "header": HEADER,
        "host": host_name,
        "name": svc.name,
        "name_q": _q(svc.name),
        "model_id": svc.model_id,
        "engine": engine_spec(svc.engine).title,
        "program": engine_spec(svc.engine).program,
        "cache_mount": engine_spec(svc.engine).cache_mount,
        "engine_note": "" if svc.engine == "tgi" else f", engine {engine_spec(svc.engine).title}",
        "image_q": _q(image),
        "unit": unit,
        "unit_q": _q(unit),
        "systemd": systemd,
        "supervisor": supervisor,
        "verb": "create" if systemd else "run -d",
        "env_file_q": _q(posixpath.join(directory, ENV_FILE)),
        "docker_lines": [" ".join(map(_q, g)) for g in groups],
        "launcher_lines": [" ".join(map(_q, g)) for g in lgroups],
        "stop_timeout": stop_timeout(svc),
        "unit_stop_timeout": unit_stop_timeout(svc),
        "secret_vars": secret_vars(svc),
        "env_names": sorted(svc.env),
        "docker_bin": "/usr/bin/docker",
    }
    files = {
        CREATE_SCRIPT: (_env.get_template("tgi-service-creation.sh.j2").render(ctx), SCRIPT_MODE),
        START_SCRIPT: (_env.get_template("tgi-service.sh.j2").render(ctx), SCRIPT_MODE),
        STOP_SCRIPT: (_env.get_template("tgi-service-stop.sh.j2").render(ctx), SCRIPT_MODE),
        LOGS_SCRIPT: (_env.get_template("tgi-service-logs.sh.j2").render(ctx), SCRIPT_MODE),
        ENV_EXAMPLE: (_env.get_template("service.env.example.j2").render(ctx), DATA_MODE),
    }
    if systemd:
        files[unit] = (_env.get_template("tgi-NAME.service.j2").render(ctx), DATA_MODE)
    argv = ["create" if systemd else "run", *([] if systemd else ["-d"])]
    for g in groups:
        argv += list(g)
    argv += [image, *largs]
    return files, argv


def _digest(files: dict[str, tuple[str, int]], image: str, svc: TGIService, supervisor: str) -> str:
    h = hashlib.sha256(b"tgi-infra/render/v1\0")
    for name in sorted(files):
        content, mode = files[name]
        h.update(f"{name}\0{mode:o}\0{len(content)}\0".encode())
        h.update(content.encode())
    h.update(f"image\0{image}\0supervisor\0{supervisor}\0".encode())
    if svc.engine != "tgi":  # TGI's hash stays what it was before engines (no restarts)
        h.update(f"engine\0{svc.engine}\0".encode())
    for target, source in sorted(secret_vars(svc).items()):
        h.update(f"secret\0{target}\0{source}\0".encode())
    # the env file's non-secret lines are config (the secrets' values are not: issue 14)
    for key, value in sorted(svc.env.items()):
        h.update(f"env\0{key}\0{value}\0".encode())
    return h.hexdigest()


def render_service(
    host_name: str,
    host_cfg: HostConfig,
    svc: TGIService,
    supervisor: Supervisor = "systemd",
    *,
    host_gpu_count: int | None = None,
    secrets_digest: str | None = None,
) -> RenderedService:
    """Render `svc`'s files for `<tgi_root>/<svc.name>/`.

    supervisor: "systemd" (container `--restart no`, a unit runs `docker start -a`; the
      creation script creates the container and starts the unit, which must be installed)
      or "docker" (no systemd as PID 1, e.g. WSL2: `docker run -d --restart unless-stopped`).
    host_gpu_count: GPUs the host has (from facts); only used for `gpus: "all"` without
      `num_shard`, where it becomes `--num-shard`; unknown -> flag omitted.
    secrets_digest: accepted for callers of the earlier API and ignored: secrets are not part
      of `config_hash` (a deploy from a machine without the token must not restart anything;
      a changed token is applied from the env file, see `tgi_services.py`), so the hash
      rendered offline equals the deployed one.
    """
    if supervisor not in SUPERVISORS:
        raise ValueError(f"supervisor must be one of {SUPERVISORS}, not {supervisor!r}")
    image = host_cfg.image_for(svc)
    draft, _ = _render_files(
        host_name, host_cfg, svc, supervisor, _HASH_PLACEHOLDER, host_gpu_count
    )
    config_hash = _digest(draft, image, svc, supervisor)
    files, argv = _render_files(host_name, host_cfg, svc, supervisor, config_hash, host_gpu_count)
    return RenderedService(
        host_name=host_name,
        service=svc,
        supervisor=supervisor,
        directory=host_cfg.service_dir(svc),
        files=files,
        config_hash=config_hash,
        image=image,
        docker_argv=argv,
    )


def render_host(
    host_name: str,
    host_cfg: HostConfig,
    supervisor: Supervisor = "systemd",
    *,
    host_gpu_count: int | None = None,
) -> list[RenderedService]:
    """Every present service of a host (no secrets digest: for offline rendering)."""
    return [
        render_service(host_name, host_cfg, svc, supervisor, host_gpu_count=host_gpu_count)
        for svc in host_cfg.present_services()
    ]


def render_for_deploy(
    host_name: str,
    host_cfg: HostConfig,
    svc: TGIService,
    supervisor: Supervisor,
    host_gpu_count: int | None,
    environ: Mapping[str, str],
) -> RenderedService:
    """What the deploy renders for a service, and so the config hash it writes on the
    container label: `tgi-infra render` calls this too, so that the hash it prints is the
    label (same inputs: supervisor and GPU count from facts, the secrets digest from the
    control machine's environment)."""
    return render_service(
        host_name,
        host_cfg,
        svc,
        supervisor,
        host_gpu_count=host_gpu_count or None,
        secrets_digest=secrets_digest(svc, environ),
    )
