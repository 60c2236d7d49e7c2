"""tgi-infra: Text Generation Inference on NVIDIA GPU hosts, deployed with pyinfra.

Library use, from your own pyinfra deploy file (``pyinfra inventory.py my_deploy.py``)::

    from tgi_infra import deploy_gpu_host, deploy_services

    deploy_gpu_host()     # Docker Engine, NVIDIA Container Toolkit, daemon.json, GPU proof
    deploy_services()     # the host's ``tgi_services`` (optional ``overrides={...}``)

The names are loaded on first use: importing ``tgi_infra`` (as the host checks do, inside
hosts without pyinfra) imports nothing else.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "deploy_gpu_host": "tgi_infra.deploys",
    "deploy_services": "tgi_infra.deploys",
    "deploy_tgi": "tgi_infra.deploys",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tgi_infra' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
