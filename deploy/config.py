"""The one validated config model: inventory host data -> HostConfig / TGIService.

Field names and defaults are the contract in docs/architecture.md.  Field-level rules are
pydantic validators; rules spanning fields, services or TGI's own startup checks are in
`_semantic_problems`.  Every error message names host, service, field, the bad value and
what is allowed, and the whole inventory is validated before anything is touched.
"""

from __future__ import annotations

import difflib
import ipaddress
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUndefined

from deploy.launcher import (
    CONFIG_OWNED_FLAGS,
    DTYPE_VALUES,
    FLAGS_BY_NAME,
    FORBIDDEN_FLAGS,
    QUANTIZE_VALUES,
    SHORT_FLAGS,
)

DEFAULT_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.7"
DEFAULT_CUDA_IMAGE = "nvidia/cuda:12.4.1-base-ubuntu22.04"

# ---------------------------------------------------------------------------------------
# grammars
# ---------------------------------------------------------------------------------------

# distribution/reference grammar (github.com/distribution/reference/regexp.go)
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
IMAGE_RE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
REGISTRY_RE = re.compile(rf"^{_DOMAIN}$")

HF_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
LOCAL_MODEL_RE = re.compile(r"^/data(?:/[A-Za-z0-9._-]+)+$")
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VOLUME_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]*$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHM_RE = re.compile(r"^(?P<num>[1-9][0-9]*)(?P<unit>[kmgt])b?$", re.IGNORECASE)
DEB_VERSION_RE = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$")
UNIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
SECRET_ENV_RE = re.compile(
    r"(?:^|_)(?:TOKEN|AUTHTOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|API_?KEY|ACCESS_KEY|"
    r"PRIVATE_KEY)(?:$|_)"
)
TOKEN_VALUE_RE = re.compile(r"hf_[A-Za-z0-9]{10,}")

# launcher env vars the config owns through fields (setting them in `env` would fight the flags)
_OWNED_ENV = {
    FLAGS_BY_NAME[flag].env: field
    for flag, field in CONFIG_OWNED_FLAGS.items()
    if FLAGS_BY_NAME[flag].env and flag != "--api-key"
}

_SHM_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_GIB = 1024**3


def shm_bytes(value: str) -> int:
    """`1g` -> 1073741824 (Docker's binary units)."""
    m = SHM_RE.match(value)
    if not m:
        raise ValueError(f"not a size: {value!r}")
    return int(m["num"]) * _SHM_UNITS[m["unit"].lower()]


def split_image(ref: str) -> tuple[str, str]:
    """`ghcr.io/a/b:1` -> ("ghcr.io", "a/b:1"); `ubuntu` -> ("docker.io", "library/ubuntu")."""
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    if "/" not in ref:
        return "docker.io", f"library/{ref}"
    return "docker.io", ref


def mirror_image(ref: str, mirror: str | None) -> str:
    """Replace the registry part of `ref` with `mirror` (a `host[:port]`)."""
    if not mirror:
        return ref
    return f"{mirror}/{split_image(ref)[1]}"


def looks_like_token(value: str) -> bool:
    return bool(TOKEN_VALUE_RE.search(value))


# ---------------------------------------------------------------------------------------
# field-level validators (raise ValueError with a reason; the allowed text is on the Field)
# ---------------------------------------------------------------------------------------


def _check_image(v: str) -> str:
    if len(v) > 255 or not IMAGE_RE.match(v):
        raise ValueError("not a Docker image reference")
    name = IMAGE_RE.match(v)["name"]  # type: ignore[index]
    if len(name) > 255:
        raise ValueError("image name longer than 255 characters")
    return v


def _check_url(v: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", v):
        raise ValueError("not an http(s) URL")
    return v.rstrip("/")


def _check_abs_path(v: str) -> str:
    if not SAFE_PATH_RE.match(v) or posixpath.normpath(v) != v or v == "/":
        raise ValueError("not a normalised absolute path other than /")
    return v


def _check_registry(v: str) -> str:
    if not REGISTRY_RE.match(v):
        raise ValueError("not a registry host[:port]")
    return v


def _check_gpus(v: Any) -> Any:
    if v is None or v in ("all", "none"):
        return v
    if isinstance(v, bool):
        raise ValueError("a boolean is not a GPU selection")
    if isinstance(v, int):
        if v < 1:
            raise ValueError("a GPU count must be at least 1")
        return v
    if isinstance(v, (list, tuple)):
        if not v:
            raise ValueError("an empty list selects no GPU; use 'none' for CPU")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v):
            raise ValueError("device ids must be integers >= 0")
        if len(set(v)) != len(v):
            raise ValueError("device ids repeat")
        return list(v)
    if isinstance(v, str):
        raise ValueError("use 'all', 'none', a count like 2 or a list like [0, 1]")
    raise ValueError("not a GPU selection")


def _check_env_name(v: str | None) -> str | None:
    if v is None:
        return v
    if v.startswith("hf_") or looks_like_token(v):
        raise ValueError("looks like a token VALUE; give the NAME of the environment variable")
    if not ENV_NAME_RE.match(v):
        raise ValueError("not an environment variable name")
    return v


def _check_env_map(v: Any) -> Any:
    if not isinstance(v, Mapping):
        raise ValueError("not a mapping")
    out: dict[str, str] = {}
    for key, val in v.items():
        if isinstance(val, bool):
            val = "true" if val else "false"
        elif isinstance(val, (int, float)):
            val = str(val)
        if not isinstance(key, str) or not isinstance(val, str):
            raise ValueError(f"{key!r}: keys and values must be strings or numbers")
        if "\n" in val or "\r" in val or "\0" in val:
            raise ValueError(f"{key}: value contains a newline or NUL")
        out[key] = val
    return out


ImageRef = Annotated[str, BeforeValidator(lambda v: _check_image(v) if isinstance(v, str) else v)]
Url = Annotated[str, BeforeValidator(lambda v: _check_url(v) if isinstance(v, str) else v)]


def _field(default: Any = PydanticUndefined, *, description: str, allowed: str, **kw: Any):
    extra = {"allowed": allowed}
    if "default_doc" in kw:
        extra["default_doc"] = kw.pop("default_doc")
    return Field(default, description=description, json_schema_extra=extra, **kw)


def _or(values: Iterable[str]) -> str:
    return ", ".join(values) + " or null"


PosInt = Annotated[int, Field(strict=True, ge=1)]

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
        description="TGI image; its registry is replaced by `image_mirror` when that is set.",
        allowed="a Docker image reference (`[registry/]path[:tag][@digest]`)",
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
    quantize: Literal[QUANTIZE_VALUES] | None = _field(  # type: ignore[valid-type]
        None,
        description="`--quantize`; cannot be combined with `dtype`.",
        allowed=_or(QUANTIZE_VALUES),
    )
    dtype: Literal[DTYPE_VALUES] | None = _field(  # type: ignore[valid-type]
        None,
        description="`--dtype`; cannot be combined with `quantize`.",
        allowed=_or(DTYPE_VALUES),
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
        description="`--max-batch-prefill-tokens`; must be >= `max_input_tokens`.",
        allowed="an integer >= max_input_tokens and <= max_batch_total_tokens, or null",
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
        allowed="a normalised absolute path or a Docker volume name",
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
        "the config owns",
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
            return _check_abs_path(v)
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


HOST_ONLY_FIELDS = (
    "gpus",
    "docker_source",
    "docker_ce_repo_url",
    "docker_users",
    "docker_insecure_registries",
    "nvidia_toolkit_repo_url",
    "nvidia_toolkit_gpgkey_url",
    "nvidia_toolkit_version",
    "nvidia_runtime_default",
    "nvidia_cdi",
    "cuda_image",
    "tgi_root",
    "image_mirror",
    "ready_timeout",
)


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
        description="Merged into daemon.json `insecure-registries` (air-gapped HTTP mirrors).",
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
        description="Generate the CDI spec `/var/run/cdi/nvidia.yaml`.",
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
        allowed="a normalised absolute path other than /",
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
        return _check_abs_path(v)

    @field_validator("image_mirror", mode="after")
    @classmethod
    def _v_mirror(cls, v: str | None) -> str | None:
        return None if v is None else _check_registry(v)

    @model_validator(mode="after")
    def _v_semantics(self) -> HostConfig:
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


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------


class ConfigError(Exception):
    """Every problem found, one message each."""

    def __init__(self, errors: Iterable[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def _allowed(model: type[BaseModel], field: str) -> str:
    info = model.model_fields.get(field)
    extra = info.json_schema_extra if info else None
    if isinstance(extra, dict) and "allowed" in extra:
        return str(extra["allowed"])
    return "see docs"


def _fmt(where: str, field: str, value: Any, reason: str | None, allowed: str) -> str:
    why = f" ({reason})" if reason else ""
    return f"{where}field {field}: value {value!r} is not allowed{why}; allowed: {allowed}"


_SILENT_TYPES = {"literal_error", "enum"}


def _convert(
    exc: ValidationError, model: type[BaseModel], raw: Mapping[str, Any], where: str
) -> list[str]:
    """One message per top-level field, with our wording instead of pydantic's dump."""
    per_field: dict[str, dict[str, Any]] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        field = str(loc[0]) if loc else "?"
        if field in per_field:
            continue
        per_field[field] = err
    out = []
    known = list(model.model_fields)
    for field, err in per_field.items():
        if err["type"] == "missing":
            out.append(f"{where}field {field}: is required; allowed: {_allowed(model, field)}")
        elif err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(field, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            out.append(
                f"{where}field {field}: value {raw.get(field)!r} is not allowed: unknown "
                f"field{hint}; allowed: {', '.join(known)}"
            )
        else:
            reason = None
            if err["type"] not in _SILENT_TYPES:
                reason = str(err["msg"]).removeprefix("Value error, ")
                if len(err["loc"]) > 1:
                    reason = f"item {'.'.join(map(str, err['loc'][1:]))}: {reason}"
            out.append(_fmt(where, field, raw.get(field), reason, _allowed(model, field)))
    return out


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


def _args_env_problems(where: str, extra_args: Any, env: Any) -> list[str]:
    """extra_args / env rules; also run on raw data of a service with other field errors."""
    errors: list[str] = []
    if isinstance(extra_args, list) and all(isinstance(a, str) for a in extra_args):
        _, problems = parse_extra_args(extra_args)
        allowed_extra = _allowed(TGIService, "extra_args")
        for p in problems:
            errors.append(f"{where}field extra_args: {p}; allowed: {allowed_extra}")
    if not isinstance(env, Mapping):
        return errors
    for key, val in env.items():
        reason = None
        if not isinstance(key, str) or not ENV_KEY_RE.match(key):
            reason = "not an environment variable name"
        elif SECRET_ENV_RE.search(key.upper()):
            reason = "secret-looking names go through hf_token_env / api_key_env"
        elif key in _OWNED_ENV:
            reason = f"the launcher reads it; set field {_OWNED_ENV[key].split(' ')[0]} instead"
        elif isinstance(val, str) and looks_like_token(val):
            reason = "its value looks like a token; secrets go through hf_token_env / api_key_env"
        if reason:
            errors.append(
                f"{where}field env: value {key!r} is not allowed ({reason}); allowed: "
                f"{_allowed(TGIService, 'env')}"
            )
    return errors


def _service_problems(host_name: str, svc: TGIService, label: str) -> tuple[list[str], list[str]]:
    """Checks of one service whose `gpus` is already resolved against the host mode."""
    where = _svc_where(host_name, label)
    errors: list[str] = []
    warnings: list[str] = []

    def err(field: str, value: Any, reason: str) -> None:
        errors.append(_fmt(where, field, value, reason, _allowed(TGIService, field)))

    ids = svc.gpu_ids()
    cpu_svc = ids == []

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

    if svc.quantize is not None and svc.dtype is not None:
        err("dtype", svc.dtype, f"TGI refuses --dtype together with --quantize {svc.quantize}")

    t_in, t_tot = svc.max_input_tokens, svc.max_total_tokens
    t_pre, t_btot = svc.max_batch_prefill_tokens, svc.max_batch_total_tokens
    if t_in is not None and t_tot is not None and t_in >= t_tot:
        err("max_input_tokens", t_in, f"must be < max_total_tokens ({t_tot})")
    if t_tot is not None and t_btot is not None and t_tot > t_btot:
        err("max_total_tokens", t_tot, f"must be <= max_batch_total_tokens ({t_btot})")
    if t_in is not None and t_pre is not None and t_pre < t_in:
        err("max_batch_prefill_tokens", t_pre, f"must be >= max_input_tokens ({t_in})")
    if t_pre is not None and t_btot is not None and t_pre > t_btot:
        err("max_batch_prefill_tokens", t_pre, f"must be <= max_batch_total_tokens ({t_btot})")

    errors += _args_env_problems(where, svc.extra_args, svc.env)
    return errors, warnings


def _gpu_label(ids: list[int] | None) -> str:
    return "all" if ids is None else ",".join(map(str, ids))


def _semantic_problems(
    host_name: str, host_gpus: str, services: list[tuple[int, TGIService]]
) -> tuple[list[str], list[str], list[TGIService]]:
    """Per-service and cross-service checks; returns (errors, warnings, resolved services)."""
    cpu_host = host_gpus == "none"
    errors: list[str] = []
    warnings: list[str] = []
    resolved: list[TGIService] = []
    by_name: dict[str, int] = {}
    by_port: dict[int, str] = {}
    gpu_users: list[tuple[str, list[int] | None]] = []
    for index, svc in services:
        label = svc.name
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
        e, w = _service_problems(host_name, svc, label)
        errors += e
        warnings += w
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
        resolved.append(svc)
        if not svc.present:
            continue
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
        by_port.setdefault(svc.port, svc.name)
        ids = svc.gpu_ids()
        if ids == []:
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
        gpu_users.append((svc.name, ids))
    return errors, warnings, resolved


# ---------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------

HOST_FIELD_NAMES: tuple[str, ...] = (*HOST_ONLY_FIELDS, "tgi_services")
_OUR_PREFIXES = ("tgi_", "nvidia_")


def load_host_config(host_name: str, data: Mapping[str, Any]) -> HostConfig:
    """Validate one host's data (pyinfra host data dict); raise ConfigError with all errors.

    Only the documented fields are read; pyinfra's own keys (`ssh_*`, `_sudo`, ...) and any
    other data are ignored (unknown `tgi_*` / `nvidia_*` keys give a warning: likely typos).
    """
    where = f"host {host_name}: "
    errors: list[str] = []
    warnings: list[str] = []
    host_raw = {k: data[k] for k in HOST_ONLY_FIELDS if k in data}
    base: HostConfig | None = None
    try:
        base = HostConfig.model_validate(host_raw)
    except ValidationError as exc:
        errors += _convert(exc, HostConfig, host_raw, where)

    for key in data:
        if isinstance(key, str) and key.startswith(_OUR_PREFIXES) and key not in HOST_FIELD_NAMES:
            close = difflib.get_close_matches(key, HOST_FIELD_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{where}unknown variable {key} is ignored{hint}")

    services_raw = data.get("tgi_services", [])
    services: list[tuple[int, TGIService]] = []
    if services_raw is None:
        services_raw = []
    if not isinstance(services_raw, (list, tuple)):
        errors.append(
            _fmt(where, "tgi_services", services_raw, None, _allowed(HostConfig, "tgi_services"))
        )
        services_raw = []
    for index, raw in enumerate(services_raw):
        if not isinstance(raw, Mapping):
            errors.append(
                f"{where}service #{index}: value {raw!r} is not allowed; allowed: a mapping of "
                f"service fields ({', '.join(TGIService.model_fields)})"
            )
            continue
        name = raw.get("name", TGIService.model_fields["name"].default)
        label = name if isinstance(name, str) and name else f"#{index}"
        try:
            services.append((index, TGIService.model_validate(dict(raw))))
        except ValidationError as exc:
            where_svc = _svc_where(host_name, label)
            errors += _convert(exc, TGIService, raw, where_svc)
            failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            errors += _args_env_problems(
                where_svc,
                raw.get("extra_args") if "extra_args" not in failed else None,
                raw.get("env") if "env" not in failed else None,
            )

    host_gpus = host_raw.get("gpus", "all")
    e, w, resolved = _semantic_problems(host_name, host_gpus, services)
    errors += e
    warnings += w
    if errors or base is None:
        raise ConfigError(errors)
    host = base.model_copy(update={"tgi_services": resolved})
    host._host_name = host_name
    host._warnings = warnings
    return host


def validate_inventory(hosts: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, HostConfig]:
    """Validate every host; raise one ConfigError listing all errors of all hosts."""
    out: dict[str, HostConfig] = {}
    errors: list[str] = []
    for name, data in hosts:
        try:
            out[name] = load_host_config(name, data)
        except ConfigError as exc:
            errors += exc.errors
    if errors:
        raise ConfigError(errors)
    return out


# ---------------------------------------------------------------------------------------
# docs
# ---------------------------------------------------------------------------------------


def _default_doc(info: Any) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "default_doc" in extra:
        return str(extra["default_doc"])
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "`None`"
    if isinstance(default, str):
        return f'`"{default}"`'
    return f"`{default!r}`"


def _table(model: type[BaseModel], names: Iterable[str], prefix: str = "") -> list[str]:
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for name in names:
        info = model.model_fields[name]
        allowed = _allowed(model, name).replace("|", "\\|")
        desc = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | {_default_doc(info)} | {allowed} | {desc} |")
    return rows


def inventory_variables_markdown() -> str:
    """Markdown tables of every host and service variable (for README.md)."""
    lines = ["Host variables (pyinfra host or group data):", ""]
    lines += _table(HostConfig, HOST_FIELD_NAMES)
    lines += ["", "Service variables (each item of `tgi_services`):", ""]
    lines += _table(TGIService, TGIService.model_fields)
    return "\n".join(lines) + "\n"
