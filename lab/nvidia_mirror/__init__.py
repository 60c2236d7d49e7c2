"""STAND-IN for NVIDIA's Container Toolkit apt repository, served by the TGI lab.

See CONTRACT.md for what is faithful to the real repository and programs and what is not.
"""

from .build import (
    DEFAULT_KEY_NAME,
    KEYRING_PATH,
    LIST_PATH,
    ROTATED_KEY_NAME,
    MirrorInfo,
    apt_source_line,
    build_mirror,
    publish_version,
    resign_with_other_key,
    rotate_key,
)
from .packages import ARCHES, PACKAGES, VERSIONS

__all__ = [
    "ARCHES",
    "DEFAULT_KEY_NAME",
    "KEYRING_PATH",
    "LIST_PATH",
    "PACKAGES",
    "VERSIONS",
    "MirrorInfo",
    "apt_source_line",
    "ROTATED_KEY_NAME",
    "build_mirror",
    "publish_version",
    "resign_with_other_key",
    "rotate_key",
]
