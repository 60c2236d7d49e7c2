"""The validated config of the host being deployed, from pyinfra's inventory.

The whole inventory is validated once, before any host is touched: a bad value on any host stops
the deploy for every host, with every error listed (host, service, field, value, what is allowed).
"""

from __future__ import annotations

from functools import lru_cache

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError
from tgi_infra.config import ConfigError, HostConfig, validate_inventory


class DeployConfigError(PyinfraError):
    """A config error, raised before any host is changed."""


def host_items(inv) -> list[tuple[str, dict]]:
    """(name, data) of every host of a pyinfra inventory."""
    return [(h.name, h.data.dict()) for h in inv]


@lru_cache(maxsize=1)
def _validated(_inventory_id: int) -> dict[str, HostConfig]:
    try:
        return validate_inventory(host_items(inventory))
    except ConfigError as exc:
        raise DeployConfigError(f"invalid inventory, no host was changed:\n{exc}") from None


def host_config() -> HostConfig:
    """This host's HostConfig (every host's config validated first)."""
    return _validated(id(inventory))[host.name]
