"""Shared fixtures of the unit tests."""

import pytest


@pytest.fixture(scope="session")
def lab_base_image() -> str:
    """``tgi-lab/base:bookworm`` (debootstrap + docker import), built here when missing.

    Tests that run real containers use it instead of skipping on a fresh machine: the suite
    needs Docker Engine (scripts/setup.sh starts it).
    """
    from lab.images import ensure_base

    return ensure_base()
