"""The inventory variables tables generated from the models: every variable
(docs/variables.md, `tgi-infra variables`) and the ones most inventories set (README.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import (
    BaseModel,
)
from tgi_infra.config.errors import (
    _allowed,
)
from tgi_infra.config.loading import (
    HOST_FIELD_NAMES,
    host_key,
)
from tgi_infra.config.models import (
    HostConfig,
    TGIService,
)

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


def _table(
    model: type[BaseModel],
    names: Iterable[str],
    key_of: Callable[[str], str] = str,
    with_allowed: bool = True,
) -> list[str]:
    if with_allowed:
        rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    else:
        rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name in names:
        info = model.model_fields[name]
        desc = (info.description or "").replace("|", "\\|")
        if with_allowed:
            allowed = _allowed(model, name).replace("|", "\\|")
            rows.append(f"| `{key_of(name)}` | {_default_doc(info)} | {allowed} | {desc} |")
        else:
            rows.append(f"| `{key_of(name)}` | {_default_doc(info)} | {desc} |")
    return rows


def inventory_variables_markdown() -> str:
    """Markdown tables of every host and service variable (docs/variables.md)."""
    lines = ["Host variables (pyinfra host or group data):", ""]
    lines += _table(HostConfig, HOST_FIELD_NAMES, key_of=host_key)
    lines += ["", "Service variables (each item of `tgi_services`):", ""]
    lines += _table(TGIService, TGIService.model_fields)
    return "\n".join(lines) + "\n"


# the variables most inventories set: the README's short table (every one: docs/variables.md)
COMMON_HOST_FIELDS: tuple[str, ...] = (
    "gpus",
    "docker_source",
    "image_mirror",
    "ready_timeout",
    "hub_check",
    "tgi_services",
)
COMMON_SERVICE_FIELDS: tuple[str, ...] = (
    "name",
    "engine",
    "model_id",
    "image",
    "gpus",
    "port",
    "bind",
    "volume",
    "hf_token_env",
    "api_key_env",
    "extra_args",
    "env",
    "present",
)


def common_variables_markdown() -> str:
    """The README's short table: the most used host and service variables, with defaults."""
    lines = ["Host variables (pyinfra host or group data):", ""]
    lines += _table(HostConfig, COMMON_HOST_FIELDS, key_of=host_key, with_allowed=False)
    lines += ["", "Service variables (each item of `tgi_services`):", ""]
    lines += _table(TGIService, COMMON_SERVICE_FIELDS, with_allowed=False)
    return "\n".join(lines) + "\n"
