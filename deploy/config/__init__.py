"""The one validated config model: inventory host data -> HostConfig / TGIService.

Split along its seams, one validation path:

- ``grammar``: regexes and field-level checks (image refs, model ids, paths, sizes, env names);
- ``models``: ``TGIService`` and ``HostConfig`` (pydantic, strict; every field documented);
- ``rules``: rules spanning fields and services (TGI's startup checks, uniqueness per host);
- ``errors``: ``ConfigError`` and the wording (host, service, field, value, what is allowed);
- ``loading``: the ``tgi_`` key namespace, ``load_host_config`` and ``validate_inventory``;
- ``docs``: the inventory variables tables (docs/variables.md, the README's short one).
"""

from tgi_infra.config.docs import inventory_variables_markdown
from tgi_infra.config.errors import ConfigError
from tgi_infra.config.grammar import (
    DEFAULT_CUDA_IMAGE,
    DEFAULT_IMAGE,
    looks_like_token,
    mirror_image,
    shm_bytes,
    split_image,
)
from tgi_infra.config.loading import (
    HOST_FIELD_NAMES,
    HOST_KEY_PREFIX,
    HOST_KEYS,
    ValidatedInventory,
    host_key,
    load_host_config,
    validate_inventory,
)
from tgi_infra.config.models import HOST_ONLY_FIELDS, HostConfig, TGIService
from tgi_infra.config.rules import parse_extra_args, unset_api_key_problems

__all__ = [
    "DEFAULT_CUDA_IMAGE",
    "DEFAULT_IMAGE",
    "HOST_FIELD_NAMES",
    "HOST_KEYS",
    "HOST_KEY_PREFIX",
    "HOST_ONLY_FIELDS",
    "ConfigError",
    "HostConfig",
    "TGIService",
    "ValidatedInventory",
    "host_key",
    "inventory_variables_markdown",
    "load_host_config",
    "looks_like_token",
    "mirror_image",
    "parse_extra_args",
    "shm_bytes",
    "split_image",
    "unset_api_key_problems",
    "validate_inventory",
]
