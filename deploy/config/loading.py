"""Loading host data: the ``tgi_`` key namespace, one validation path for a host and for
the whole inventory (every error of every host, before any host is touched)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import (
    ValidationError,
)
from tgi_infra.config.errors import (
    ConfigError,
    _allowed,
    _convert,
    _fmt,
)
from tgi_infra.config.models import (
    HOST_ONLY_FIELDS,
    HostConfig,
    TGIService,
)
from tgi_infra.config.paths import CONTROL_ALLOWED, first_control, shorten
from tgi_infra.config.rules import (
    _semantic_problems,
    _svc_where,
    unset_api_key_problems,
    without_fields,
)

# ---------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------

# every HostConfig field, in the model's order (the services last)
HOST_FIELD_NAMES: tuple[str, ...] = tuple(HostConfig.model_fields)

# Host data keys live in the ``tgi_`` namespace, so that they cannot be mistaken for another
# deploy's keys (pyinfra-docker's ``docker_*``, a role's ``nvidia_*``): the key of a HostConfig
# field is the field name with ``tgi_`` in front (``tgi_docker_source``), or the field name
# itself where it already starts with ``tgi_`` (``tgi_root``, ``tgi_services``).
HOST_KEY_PREFIX = "tgi_"


def host_key(field: str) -> str:
    """The host data key of a HostConfig field."""
    return field if field.startswith(HOST_KEY_PREFIX) else HOST_KEY_PREFIX + field


HOST_KEYS: dict[str, str] = {host_key(f): f for f in HOST_FIELD_NAMES}

# The same keys without the prefix (``docker_source``, ``services``, ``root``): a key a user
# wrote as the bare field name is not read, so it gets a warning naming the prefixed key.
UNPREFIXED_KEYS: dict[str, str] = {
    key.removeprefix(HOST_KEY_PREFIX): key for key in HOST_KEYS if key != HOST_KEY_PREFIX
}


def _control_errors(where: str, raw: Mapping[str, Any], key_of=str) -> dict[str, str]:
    """{field: message} for every field whose value holds a control character (newline, CR,
    NUL, ...): the one rule for every value that reaches a command line or an env file."""
    out: dict[str, str] = {}
    for field, value in raw.items():
        found = first_control(value)
        if found:
            bad, reason = found
            out[str(field)] = (
                f"{where}field {key_of(str(field))}: value {shorten(bad)} is not allowed "
                f"({reason}); allowed: {CONTROL_ALLOWED}"
            )
    return out


def load_host_config(
    host_name: str,
    data: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> HostConfig:
    """Validate one host's data (pyinfra host data dict); raise ConfigError with all errors.

    Only keys of the ``tgi_`` namespace are read; pyinfra's own keys (``ssh_*``, ``_sudo``, ...)
    and other deploys' keys are left alone. A ``tgi_*`` key this package does not know is an
    error naming the closest known key (a typo must not silently fall back to a default).
    ``sources`` maps a key to the file that set it (``tgi_infra.config.inventory.key_sources``), so
    that the message names it. ``environ``, when given, is the control machine's environment
    the deploy will run with: an ``api_key_env`` naming a variable unset there is an error too.
    """
    sources = sources or {}
    where = f"host {host_name}: "
    errors: list[str] = []
    warnings: list[str] = []
    host_raw = {f: data[host_key(f)] for f in HOST_ONLY_FIELDS if host_key(f) in data}
    base: HostConfig | None = None
    control = _control_errors(where, host_raw, key_of=host_key)
    errors += control.values()
    try:
        base = HostConfig.model_validate(host_raw)
    except ValidationError as exc:
        converted = _convert(exc, HostConfig, host_raw, where, key_of=host_key)
        errors += without_fields(converted, where, map(host_key, control))

    for key in data:
        if not isinstance(key, str):
            continue
        if key.startswith(HOST_KEY_PREFIX) and key not in HOST_KEYS:
            close = difflib.get_close_matches(key, list(HOST_KEYS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            errors.append(
                f"{where}variable {key}{_set_in(sources, key)}: value {data[key]!r} is not "
                f"allowed: unknown variable{hint}; allowed: the tgi_* variables of the "
                "README's table"
            )
        elif key in UNPREFIXED_KEYS:
            warnings.append(
                f"{where}variable {key}{_set_in(sources, key)} is not read "
                "(this package's variables are prefixed): "
                f"did you mean {UNPREFIXED_KEYS[key]}?"
            )

    services_raw = data.get("tgi_services", [])
    # every service, also one with field errors: the rules spanning fields and services (names,
    # ports, GPUs, TGI's start-up checks) run on the fields that did validate, so that a host's
    # errors come in one report rather than one layer at a time
    services: list[tuple[int, TGIService]] = []
    failed_fields: dict[int, set[str]] = {}
    labels: dict[int, str] = {}
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
        ok_label = isinstance(name, str) and name and not first_control(name)
        label = name if ok_label else f"#{index}"
        where_svc = _svc_where(host_name, label)
        control = _control_errors(where_svc, raw)
        errors += control.values()
        try:
            svc = TGIService.model_validate(dict(raw))
        except ValidationError as exc:
            errors += without_fields(_convert(exc, TGIService, raw, where_svc), where_svc, control)
            failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} | set(control)
            svc = _partial_service(raw, failed)
        else:
            failed = set(control)  # valid to the model but not to the command line
            if failed:
                svc = _partial_service(raw, failed)
        if svc is None:
            continue
        if failed:
            failed_fields[index] = failed
        labels[index] = label
        services.append((index, svc))

    host_gpus = host_raw.get("gpus", "all")
    e, w, resolved = _semantic_problems(host_name, host_gpus, services, failed_fields, labels)
    errors += e
    warnings += w
    if environ is not None:
        errors += unset_api_key_problems(host_name, resolved, environ)
    errors = _with_sources(errors, where, sources)
    warnings = _with_sources(warnings, where, sources)
    if errors or base is None:
        raise ConfigError(errors, warnings)
    host = base.model_copy(update={"tgi_services": resolved})
    host._host_name = host_name
    host._warnings = warnings
    return host


# model_id of a partial service whose own model_id failed: no rule spanning fields reads it
_PLACEHOLDER_MODEL_ID = "placeholder"


def _partial_service(raw: Mapping[str, Any], failed: set[str]) -> TGIService | None:
    """The service made of the fields that validated, the ``failed`` ones (updated in place)
    left at their defaults: what the rules spanning fields and services may read of it.
    Never deployed: its host already has an error for each failed field."""
    data = {k: v for k, v in raw.items() if k in TGIService.model_fields and k not in failed}
    for _ in TGIService.model_fields:  # a field can only fail once
        try:
            return TGIService.model_validate({"model_id": _PLACEHOLDER_MODEL_ID, **data})
        except ValidationError as exc:
            more = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} - {"model_id"}
            if not more & set(data):
                return None
            failed |= more
            data = {k: v for k, v in data.items() if k not in more}
    return None


class ValidatedInventory(dict):
    """host name -> HostConfig, plus ``warnings``: every warning of every host (and the
    errors of hosts that were not selected), to be printed with the result."""

    warnings: list[str]


def _set_in(sources: Mapping[str, str], key: str) -> str:
    return f" (set in {sources[key]})" if key in sources else ""


def _message_key(message: str, where: str) -> str | None:
    """The host data key a message is about: ``tgi_<field>`` for ``host h: field tgi_x: ...``,
    ``tgi_services`` for every ``host h: service s: ...`` message."""
    if message.startswith(f"{where}field "):
        return message.removeprefix(f"{where}field ").split(":", 1)[0]
    if message.startswith(f"{where}service "):
        return "tgi_services"
    return None


def _with_sources(messages: list[str], where: str, sources: Mapping[str, str]) -> list[str]:
    """Each message about a value ends with the file that set it (``; set in <file>``), as
    unknown variables name theirs: a bad value in ``group_data/<group>.py`` names that file."""
    out = []
    for message in messages:
        key = _message_key(message, where)
        out.append(f"{message}; set in {sources[key]}" if key in sources else message)
    return out


def validate_inventory(
    hosts: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    sources: Mapping[str, Mapping[str, str]] | None = None,
    selected: Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ValidatedInventory:
    """Validate every host; raise one ConfigError listing all errors of all hosts.

    sources: host name -> (key -> file that set it), for the messages.
    selected: the host names a command acts on (pyinfra's ``--limit``); the errors of the
      other hosts are demoted to warnings and those hosts are left out of the result.
    environ: the control machine's environment, to check the variables ``api_key_env`` names
      (``load_host_config``); None leaves them unchecked.
    Warnings (every host's) travel on the returned configs and on the ConfigError.
    """
    chosen = None if selected is None else set(selected)
    out = ValidatedInventory()
    errors: list[str] = []
    warnings: list[str] = []
    for name, data in hosts:
        try:
            cfg = load_host_config(name, data, (sources or {}).get(name), environ)
        except ConfigError as exc:
            if chosen is None or name in chosen:
                errors += exc.errors
            else:
                warnings += [f"{m} (host not selected, not deployed)" for m in exc.errors]
            warnings += exc.warnings
            continue
        warnings += cfg.warnings
        if chosen is None or name in chosen:
            out[name] = cfg
    if errors:
        raise ConfigError(errors, warnings)
    out.warnings = warnings
    return out
