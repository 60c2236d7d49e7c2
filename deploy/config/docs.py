"""The inventory variables table (README.md) generated from the models."""

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
    model: type[BaseModel], names: Iterable[str], key_of: Callable[[str], str] = str
) -> list[str]:
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for name in names:
        info = model.model_fields[name]
        allowed = _allowed(model, name).replace("|", "\\|")
        desc = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{key_of(name)}` | {_default_doc(info)} | {allowed} | {desc} |")
    return rows


def inventory_variables_markdown() -> str:
    """Markdown tables of every host and service variable (for README.md)."""
    lines = ["Host variables (pyinfra host or group data):", ""]
    lines += _table(HostConfig, HOST_FIELD_NAMES, key_of=host_key)
    lines += ["", "Service variables (each item of `tgi_services`):", ""]
    lines += _table(TGIService, TGIService.model_fields)
    return "\n".join(lines) + "\n"
