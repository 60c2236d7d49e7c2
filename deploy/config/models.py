"""The config models: TGIService and HostConfig (pydantic, strict), every field documented
with its default and what is allowed."""

from __future__ import annotations

import ipaddress
import posixpath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from tgi_infra.config.grammar import (
    DEB_VERSION_RE,
    DEFAULT_CUDA_IMAGE,
    DEFAULT_IMAGE,
    HF_PART_RE,
    LOCAL_MODEL_RE,
    REGISTRY_RE,
    REVISION_RE,
    SERVICE_NAME_RE,
    SHM_RE,
    UNIX_USER_RE,
    VOLUME_NAME_RE,
    ImageRef,
    PosInt,
    Url,
    _check_abs_path,
    _check_env_map,
    _check_env_name,
    _check_gpus,
    _check_registry,
    _field,
    _or,
    mirror_image,
)
from tgi_infra.config.paths import ALLOWED_TEXT as SYSTEM_PATHS_TEXT
from tgi_infra.config.paths import ENV_FILE_LINE_MAX, system_path_reason
from tgi_infra.engines.spec import ENGINE_NAMES, engine_spec

# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------


class TGIService(BaseModel):
    """One TGI container on a host (`tgi_services[i]`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = _field(
        "tgi-service",
        description="Container name, directory under `tgi_root` and systemd unit "
        "`tgi-<name>.service`.",
        allowed="letters, digits, `_.-`, starting with a letter or digit, at most 64 chars",
    )
    engine: Literal[ENGINE_NAMES] = _field(  # type: ignore[valid-type]
        "tgi",
        description="Serving engine: `tgi` (text-generation-launcher), `vllm` (`vllm serve`) or "
        "`sglang` (`sglang.launch_server`). The common settings below map to each engine's own "
        "flags (docs/engines.md); a setting an engine lacks is refused.",
        allowed="tgi, vllm or sglang",
    )
    model_id: str = _field(
        description="Hugging Face model id (`org/name` or `name`) or a local path under "
        "`/data` (the mounted volume).",
        allowed="`org/name` or `name` (each part `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 96 "
        "chars, no `--` or `..`), or an absolute path under /data",
    )
    revision: str | None = _field(
        None,
        description="Model revision (branch, tag or commit sha); `--revision`.",
        allowed="a git ref or sha (`[A-Za-z0-9][A-Za-z0-9._/-]*`, no `..`) or null",
    )
    image: ImageRef = _field(
        DEFAULT_IMAGE,
        description="Engine image; its registry is replaced by `image_mirror` when that is set.",
        allowed="a Docker image reference (`[registry/]path[:tag][@digest]`)",
        default_doc=f'`"{DEFAULT_IMAGE}"` (tgi); `"vllm/vllm-openai:v0.33.0"` (vllm); '
        '`"lmsysorg/sglang:v0.5.23"` (sglang)',
    )
    gpus: Annotated[Any, BeforeValidator(_check_gpus)] = _field(
        None,
        description='GPUs for this container: `"all"`, a count `N` (devices 0..N-1), a list of '
        'device ids, or `"none"` (CPU).',
        allowed='"all", "none", an integer >= 1, or a list of unique integers >= 0',
        default_doc='`"all"` (`"none"` on a CPU-mode host)',
    )
    num_shard: PosInt | None = _field(
        None,
        description="`--num-shard`; default: the number of GPUs assigned (omitted for "
        '`gpus: "all"`, where TGI decides).',
        allowed="an integer from 1 to the number of GPUs assigned, or null",
    )
    sharded: bool | None = _field(
        None,
        description="`--sharded`; TGI refuses `true` with one shard and `false` with more.",
        allowed="true, false or null",
    )
    quantize: str | None = _field(
        None,
        description="`--quantize` (vllm, sglang: `--quantization`); TGI: cannot be combined "
        "with `dtype` (except bitsandbytes*).",
        allowed="tgi: " + _or(engine_spec("tgi").quantize_values) + "; vllm and sglang: a "
        "value of their `--quantization` (listed in the error)",
    )
    dtype: str | None = _field(
        None,
        description="`--dtype`; TGI: cannot be combined with `quantize` other than "
        "bitsandbytes, bitsandbytes-nf4, bitsandbytes-fp4 (TGI's server cli.py).",
        allowed="tgi: "
        + _or(engine_spec("tgi").dtype_values)
        + "; vllm: "
        + _or(engine_spec("vllm").dtype_values)
        + "; sglang: "
        + _or(engine_spec("sglang").dtype_values),
    )
    max_input_tokens: PosInt | None = _field(
        None,
        description="`--max-input-tokens`; must be < `max_total_tokens`.",
        allowed="an integer >= 1 below max_total_tokens, or null",
    )
    max_total_tokens: PosInt | None = _field(
        None,
        description="`--max-total-tokens`; must be <= `max_batch_total_tokens`.",
        allowed="an integer >= 1, above max_input_tokens, at most max_batch_total_tokens, or null",
    )
    max_batch_prefill_tokens: PosInt | None = _field(
        None,
        description="`--max-batch-prefill-tokens`; below `max_input_tokens` only with chunked "
        "prefill (TGI v3 backend; a warning).",
        allowed="an integer <= max_batch_total_tokens, or null",
    )
    max_batch_total_tokens: PosInt | None = _field(
        None,
        description="`--max-batch-total-tokens`.",
        allowed="an integer >= max_total_tokens and >= max_batch_prefill_tokens, or null",
    )
    max_concurrent_requests: PosInt | None = _field(
        None,
        description="`--max-concurrent-requests` (TGI default 128).",
        allowed="an integer >= 1 or null",
    )
    cuda_graphs: list[Annotated[int, Field(strict=True, ge=0)]] | None = _field(
        None,
        description="`--cuda-graphs` batch sizes, e.g. `[1, 2, 4]`; `[0]` disables CUDA graphs.",
        allowed="a list of unique integers >= 0 ([0] alone disables), null; GPU services only",
    )
    port: Annotated[int, Field(strict=True, ge=1, le=65535)] = _field(
        8080,
        description="Host port published to the container's port 80.",
        allowed="an integer 1..65535, unique on the host",
    )
    bind: str = _field(
        "127.0.0.1",
        description="Host address the port is published on (`0.0.0.0` exposes it).",
        allowed="an IPv4 or IPv6 address",
    )
    shm_size: str = _field(
        "1g",
        description="`--shm-size`; sharded (NCCL) services need more than 1g.",
        allowed="a size like 512m, 1g, 16gb (units k, m, g, t)",
    )
    volume: str = _field(
        "/var/lib/tgi/data",
        description="Host directory (or Docker volume name) mounted at `/data` (HF cache), "
        "shared between services.",
        allowed="a Docker volume name, or a normalised absolute path that is not the Docker "
        f"socket and {SYSTEM_PATHS_TEXT}",
    )
    hf_token_env: str | None = _field(
        "HF_TOKEN",
        description="NAME of the control machine's env var holding the Hugging Face token "
        "(written to service.env as HF_TOKEN).",
        allowed="an env var name `[A-Z_][A-Z0-9_]*` (not the token itself) or null",
    )
    api_key_env: str | None = _field(
        None,
        description="NAME of the control machine's env var holding the API key (written to "
        "service.env as API_KEY; TGI then requires `Authorization: Bearer`).",
        allowed="an env var name `[A-Z_][A-Z0-9_]*` (not the key itself) or null",
    )
    extra_args: list[str] = _field(
        default_factory=list,
        description="More `text-generation-launcher` flags, e.g. `['--max-best-of', '1']`.",
        allowed="launcher flags TGI knows, not ones the config sets and no secrets",
    )
    env: Annotated[dict[str, str], BeforeValidator(_check_env_map)] = _field(
        default_factory=dict,
        description="Extra non-secret container environment (written to service.env).",
        allowed="a mapping of env names to strings/numbers; no secrets, no launcher settings "
        f"the config owns; each `NAME=value` line at most {ENV_FILE_LINE_MAX} bytes (Docker's "
        "--env-file limit)",
    )
    present: bool = _field(
        True,
        description="`false` stops and removes the container and its unit.",
        allowed="true or false",
    )
    smoke_semantic: bool = _field(
        True,
        description="Run the context-QA semantic smoke checks against this service.",
        allowed="true or false",
    )
    smoke_min_tokens_per_s: Annotated[float, Field(ge=0)] = _field(
        5.0,
        description="Smoke `throughput` floor: decode tokens/s of one stream "
        "(`generate_stream`) below this fails, naming the likely causes (CPU fallback, a "
        "shared GPU). Any GPU service clears the default widely; not checked on CPU-mode "
        "services; `tgi-smoke --min-tokens-per-s` overrides it; 0 turns it off.",
        allowed="a number >= 0",
    )
    smoke_max_ttft_s: Annotated[float, Field(ge=0)] = _field(
        10.0,
        description="Smoke `throughput` ceiling on the time to first token of one stream, in "
        "seconds. Not checked on CPU-mode services; `tgi-smoke --max-ttft` overrides it; 0 "
        "turns it off.",
        allowed="a number >= 0",
    )

    @field_validator("name", mode="after")
    @classmethod
    def _v_name(cls, v: str) -> str:
        if not SERVICE_NAME_RE.match(v):
            raise ValueError("not a valid service name")
        return v

    @field_validator("model_id", mode="after")
    @classmethod
    def _v_model_id(cls, v: str) -> str:
        if v.startswith("/"):
            if not LOCAL_MODEL_RE.match(v) or ".." in v.split("/"):
                raise ValueError("a local path must be under /data with safe characters")
            return v
        parts = v.split("/")
        if len(parts) > 2 or not all(HF_PART_RE.match(p) for p in parts):
            raise ValueError("not a Hugging Face model id")
        if any("--" in p or ".." in p or p.endswith(".") or p.endswith("-") for p in parts):
            raise ValueError("'--', '..' and a trailing '.'/'-' are not allowed by the Hub")
        return v

    @field_validator("revision", mode="after")
    @classmethod
    def _v_revision(cls, v: str | None) -> str | None:
        if v is not None and (not REVISION_RE.match(v) or ".." in v):
            raise ValueError("not a git ref or commit sha")
        return v

    @field_validator("quantize", "dtype", mode="after")
    @classmethod
    def _v_engine_values(cls, v: str | None, info: ValidationInfo) -> str | None:
        engine = info.data.get("engine")
        if v is None or engine is None:  # engine invalid: reported on its own
            return v
        spec = engine_spec(engine)
        if info.field_name == "quantize":
            values, flag = spec.quantize_values, spec.settings["quantize"].flag
        else:
            values, flag = spec.dtype_values, spec.settings["dtype"].flag
        if v not in values:
            raise ValueError(f"{spec.title}'s {flag} takes {', '.join(values)}")
        return v

    @model_validator(mode="after")
    def _v_engine_image(self) -> TGIService:
        # the image default follows the engine (TGI's default is the field's own)
        if "image" not in self.model_fields_set and self.engine != "tgi":
            self.image = engine_spec(self.engine).image
        return self

    @field_validator("cuda_graphs", mode="after")
    @classmethod
    def _v_cuda_graphs(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("empty; use null for TGI's default or [0] to disable")
        if len(set(v)) != len(v):
            raise ValueError("batch sizes repeat")
        if 0 in v and len(v) > 1:
            raise ValueError("0 disables CUDA graphs and must be alone")
        return v

    @field_validator("bind", mode="after")
    @classmethod
    def _v_bind(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError("not an IP address") from None
        return v

    @field_validator("shm_size", mode="after")
    @classmethod
    def _v_shm(cls, v: str) -> str:
        if not SHM_RE.match(v):
            raise ValueError("not a size")
        return v

    @field_validator("volume", mode="after")
    @classmethod
    def _v_volume(cls, v: str) -> str:
        if v.startswith("/"):
            reason = system_path_reason(_check_abs_path(v))
            if reason:
                raise ValueError(f"{reason}; it would be mounted read-write into the container")
            return v
        if not VOLUME_NAME_RE.match(v) or len(v) < 2:
            raise ValueError("neither an absolute path nor a Docker volume name")
        return v

    @field_validator("hf_token_env", "api_key_env", mode="after")
    @classmethod
    def _v_env_names(cls, v: str | None) -> str | None:
        return _check_env_name(v)

    # -- derived ------------------------------------------------------------------------

    def gpu_ids(self, host: HostConfig | None = None) -> list[int] | None:
        """Device ids assigned: [] for CPU, None for "all" (the host decides)."""
        gpus = self.gpus
        if gpus is None:
            gpus = "none" if host is not None and host.cpu_mode else "all"
        if gpus == "none":
            return []
        if gpus == "all":
            return None
        if isinstance(gpus, int):
            return list(range(gpus))
        return list(gpus)

    @property
    def gpu_count(self) -> int | None:
        """Number of GPUs assigned; None for "all"."""
        ids = self.gpu_ids()
        return None if ids is None else len(ids)

    def resolved_num_shard(
        self, host: HostConfig | None = None, host_gpu_count: int | None = None
    ) -> int | None:
        """`--num-shard` to pass: explicit value, else 1 for CPU or `sharded: false`, else
        the GPUs assigned; None (flag omitted) for "all" when the host's GPU count is unknown."""
        if self.num_shard is not None:
            return self.num_shard
        ids = self.gpu_ids(host)
        if ids == [] or self.sharded is False:
            return 1
        if ids is None:
            return host_gpu_count
        return len(ids)


class HostConfig(BaseModel):
    """Host data of one inventory host."""

    model_config = ConfigDict(extra="ignore", strict=True)

    gpus: Literal["all", "none"] = _field(
        "all",
        description='`"all"`: GPU host (driver required); `"none"`: CPU mode (no driver, GPU '
        "proof skipped).",
        allowed='"all" or "none"',
    )
    docker_source: Literal["distro", "docker-ce"] = _field(
        "distro",
        description="`distro` (Debian/Ubuntu `docker.io`) or `docker-ce` (Docker's apt repo).",
        allowed="distro or docker-ce",
    )
    docker_ce_repo_url: Url = _field(
        "https://download.docker.com/linux",
        description="Docker apt repo base URL (mirrorable); `/<distro-id>` is appended.",
        allowed="an http(s) URL",
    )
    docker_users: list[str] = _field(
        default_factory=list,
        description="Users added to the `docker` group.",
        allowed="a list of unix user names (`[a-z_][a-z0-9_-]*`, at most 32 chars)",
    )
    docker_insecure_registries: list[str] = _field(
        default_factory=list,
        description="Merged into daemon.json `insecure-registries` (air-gapped HTTP mirrors); "
        "an entry the deploy added goes when it is dropped here.",
        allowed="a list of registry `host[:port]` or CIDR networks",
    )
    nvidia_toolkit_repo_url: Url = _field(
        "https://nvidia.github.io/libnvidia-container",
        description="NVIDIA Container Toolkit apt repo; source is `<url>/stable/deb/$(ARCH) /`.",
        allowed="an http(s) URL",
    )
    nvidia_toolkit_gpgkey_url: Url = _field(
        "https://nvidia.github.io/libnvidia-container/gpgkey",
        description="ASCII-armoured signing key of the toolkit repo.",
        allowed="an http(s) URL",
    )
    nvidia_toolkit_version: str | None = _field(
        None,
        description="Pin for the four toolkit packages (`pkg=VERSION`), e.g. `1.17.8-1`.",
        allowed="a Debian version like 1.17.8-1, or null for the newest",
    )
    nvidia_runtime_default: bool = _field(
        False,
        description="`nvidia-ctk runtime configure --set-as-default`.",
        allowed="true or false",
    )
    nvidia_cdi: bool = _field(
        False,
        description="Generate the CDI spec `/etc/cdi/nvidia.yaml` (again after a driver change).",
        allowed="true or false",
    )
    cuda_image: ImageRef = _field(
        DEFAULT_CUDA_IMAGE,
        description="Image for the GPU proof (`nvidia-smi` in a container).",
        allowed="a Docker image reference",
    )
    tgi_root: str = _field(
        "/opt/tgi",
        description="Rendered files go to `<tgi_root>/<service name>/`.",
        allowed=f"a normalised absolute path, {SYSTEM_PATHS_TEXT}",
    )
    image_mirror: str | None = _field(
        None,
        description="Registry `host[:port]` replacing the registry part of every image.",
        allowed="a registry host[:port] or null",
    )
    ready_timeout: Annotated[int, Field(strict=True, gt=0)] = _field(
        1800,
        description="Seconds the deploy waits for each service to answer.",
        allowed="an integer > 0",
    )
    host_timeout: Annotated[int, Field(strict=True, ge=5)] = _field(
        60,
        description="Seconds a host may go without answering over SSH (keepalive probes) "
        "before the deploy drops it; the other hosts go on and the summary names it.",
        allowed="an integer >= 5",
    )
    apt_lock_timeout: Annotated[int, Field(strict=True, ge=0)] = _field(
        600,
        description="Seconds each apt command waits for apt's locks held by another apt or dpkg "
        "run (unattended-upgrades on a freshly booted cloud VM) before the deploy fails; `0`: "
        "no wait.",
        allowed="an integer >= 0",
    )
    hub_check: bool = _field(
        True,
        description="Before any change, check with huggingface_hub (endpoint `HF_ENDPOINT`) that "
        "the token can read each model and that its weights fit the volume; `false` on "
        "air-gapped hosts (skipped with a note).",
        allowed="true or false",
    )
    tgi_services: list[TGIService] = _field(
        default_factory=list,
        description="TGI services on this host (table below).",
        allowed="a list of service mappings",
    )

    _host_name: str = PrivateAttr(default="?")
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("docker_users", mode="after")
    @classmethod
    def _v_users(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not UNIX_USER_RE.match(u)]
        if bad:
            raise ValueError(f"not unix user names: {', '.join(map(repr, bad))}")
        return v

    @field_validator("docker_insecure_registries", mode="after")
    @classmethod
    def _v_insecure(cls, v: list[str]) -> list[str]:
        for item in v:
            if "/" in item:
                try:
                    ipaddress.ip_network(item)
                except ValueError:
                    raise ValueError(f"{item!r} is not a CIDR network") from None
            elif not REGISTRY_RE.match(item):
                raise ValueError(f"{item!r} is not a registry host[:port]")
        return v

    @field_validator("nvidia_toolkit_version", mode="after")
    @classmethod
    def _v_tk_version(cls, v: str | None) -> str | None:
        if v is not None and not DEB_VERSION_RE.match(v):
            raise ValueError("not a Debian package version")
        return v

    @field_validator("tgi_root", mode="after")
    @classmethod
    def _v_root(cls, v: str) -> str:
        reason = system_path_reason(_check_abs_path(v))
        if reason:
            raise ValueError(f"{reason}; `present: false` removes files under <tgi_root>/<name>")
        return v

    @field_validator("image_mirror", mode="after")
    @classmethod
    def _v_mirror(cls, v: str | None) -> str | None:
        return None if v is None else _check_registry(v)

    @model_validator(mode="after")
    def _v_semantics(self) -> HostConfig:
        # the cross-field rules need these models: imported here, where both exist
        from tgi_infra.config.rules import _semantic_problems

        services = [(i, s) for i, s in enumerate(self.tgi_services)]
        errors, warnings, resolved = _semantic_problems(self._host_name, self.gpus, services)
        if errors:
            raise ValueError("\n".join(errors))
        self.tgi_services = resolved
        self._warnings = warnings
        return self

    # -- derived ------------------------------------------------------------------------

    @property
    def host_name(self) -> str:
        return self._host_name

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    @property
    def cpu_mode(self) -> bool:
        return self.gpus == "none"

    def resolve_image(self, ref: str) -> str:
        return mirror_image(ref, self.image_mirror)

    def image_for(self, svc: TGIService) -> str:
        return self.resolve_image(svc.image)

    @property
    def cuda_image_resolved(self) -> str:
        return self.resolve_image(self.cuda_image)

    def service_dir(self, svc: TGIService) -> str:
        return posixpath.join(self.tgi_root, svc.name)

    def present_services(self) -> list[TGIService]:
        return [s for s in self.tgi_services if s.present]


# The host-level fields (every HostConfig field but the service list), read from the model so
# that a new field is a known variable everywhere (loading, docs) without a second list.
HOST_ONLY_FIELDS: tuple[str, ...] = tuple(f for f in HostConfig.model_fields if f != "tgi_services")
