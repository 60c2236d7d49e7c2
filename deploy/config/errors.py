"""ConfigError and the wording of every message: host, service, field, value, what is allowed."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)
from tgi_infra.config.grammar import mask_secrets, masked

# fields that hold the NAME of a secret's variable: a bad value may be the secret itself
SECRET_NAME_FIELDS = ("hf_token_env", "api_key_env")

# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------


class ConfigError(Exception):
    """Every problem found, one message each; ``warnings`` are shown with them."""

    def __init__(self, errors: Iterable[str], warnings: Iterable[str] = ()):
        # no message repeats a secret: a token pasted anywhere in the inventory is masked
        self.errors = [mask_secrets(e) for e in errors]
        self.warnings = [mask_secrets(w) for w in warnings]
        super().__init__("\n".join(self.errors))

    def report(self) -> str:
        """Errors, then warnings: everything a user must see at once."""
        lines = [f"{len(self.errors)} error(s):", *(f"  {m}" for m in self.errors)]
        if self.warnings:
            lines += [f"{len(self.warnings)} warning(s):", *(f"  {m}" for m in self.warnings)]
        return "\n".join(lines)


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
    exc: ValidationError,
    model: type[BaseModel],
    raw: Mapping[str, Any],
    where: str,
    key_of: Callable[[str], str] = str,
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
        name = key_of(field)
        if err["type"] == "missing":
            out.append(f"{where}field {name}: is required; allowed: {_allowed(model, field)}")
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
            value = raw.get(field)
            if field in SECRET_NAME_FIELDS and isinstance(value, str):
                why = f" ({reason})" if reason else ""
                out.append(
                    f"{where}field {name}: value {masked(value)} is not allowed{why}; "
                    f"allowed: {_allowed(model, field)}"
                )
                continue
            out.append(_fmt(where, name, value, reason, _allowed(model, field)))
    return out
