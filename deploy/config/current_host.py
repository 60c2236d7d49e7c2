"""The validated config of the host being deployed, from pyinfra's inventory.

The inventory is validated once, before any host is touched: a bad value on any selected host
stops the deploy for every host, with every error listed (host, service, field, value, what is
allowed, and for an unknown ``tgi_*`` key the file that set it). Hosts left out by
``--limit`` are not deployed: their errors are shown as warnings and stop nothing.
"""

from __future__ import annotations

from functools import lru_cache

from pyinfra import host, inventory, logger, state
from pyinfra.api.exceptions import PyinfraError
from tgi_infra.config import ConfigError, HostConfig, validate_inventory
from tgi_infra.config.inventory import deploy_group_data_folders, group_files_on_disk, key_sources


class DeployConfigError(PyinfraError):
    """A config error, raised before any host is changed."""


def host_items(inv) -> list[tuple[str, dict]]:
    """(name, data) of every host of a pyinfra inventory."""
    return [(h.name, h.data.dict()) for h in inv]


def selected_hosts(st) -> list[str] | None:
    """Names pyinfra's ``--limit``/``--exclude`` selected (None: every host)."""
    limit = getattr(st, "limit_hosts", None)
    return None if limit is None else [h.name for h in limit]


@lru_cache(maxsize=1)
def _validated(_inventory_id: int) -> dict[str, HostConfig]:
    group_files = group_files_on_disk(deploy_group_data_folders(getattr(state, "cwd", None)))
    sources = {h.name: key_sources(h, inventory, group_files) for h in inventory}
    try:
        configs = validate_inventory(
            host_items(inventory), sources=sources, selected=selected_hosts(state)
        )
    except ConfigError as exc:
        raise DeployConfigError(
            f"invalid inventory, no host was changed:\n{exc.report()}"
        ) from None
    for warning in configs.warnings:
        if not any(warning in c.warnings for c in configs.values()):
            logger.warning(warning)  # per-host warnings are printed by the preflight
    return configs


def host_config() -> HostConfig:
    """This host's HostConfig (every host's config validated first)."""
    return _validated(id(inventory))[host.name]
