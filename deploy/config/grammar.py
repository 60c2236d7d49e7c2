"""Grammars and field-level checks: image references, model ids, paths, sizes, env names.

Each ``_check_*`` raises ValueError with a reason; the allowed text lives on the Field."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
)
from pydantic.fields import PydanticUndefined
from tgi_infra.engines.tgi_launcher import (
    CONFIG_OWNED_FLAGS,
    FLAGS_BY_NAME,
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


def masked(value: Any) -> str:
    """What an error message shows of a value that may be a secret: its first 3 characters."""
    text = str(value)
    return f"'{text[:3]}…(masked, {len(text)} chars)'"


def mask_secrets(text: str) -> str:
    """``text`` with every token-looking substring (``hf_...``) masked."""
    return TOKEN_VALUE_RE.sub(lambda m: f"{m.group()[:3]}…(masked)", text)


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` (values, longest first) and any token-looking
    substring masked: what a log tail or an error message may show."""
    for value in sorted((v for v in secrets if v), key=len, reverse=True):
        text = text.replace(value, f"{value[:3]}…(masked)")
    return mask_secrets(text)


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
