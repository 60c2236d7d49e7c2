"""Locks between processes of this machine (``flock`` on a lock file): lab instances brought up
side by side, pytest-xdist workers, concurrent builds of the NVIDIA mirror stand-in. The first
holder does the work; the others wait, then find it done."""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created when missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def machine_lock(name: str) -> AbstractContextManager[None]:
    """One lock per ``name`` for the whole machine (a file in the temp directory)."""
    return file_lock(Path(tempfile.gettempdir()) / f"tgi-infra-{name}.lock")
