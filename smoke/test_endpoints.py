"""The smoke checks as pytest tests: ``pytest smoke --url http://host:8080``."""

from __future__ import annotations

import pytest
from tgi_infra.smoke.report import load_properties
from tgi_infra.smoke.runner import FAILED, SKIPPED


def test_check(smoke_case, smoke_sessions, record_property) -> None:
    """One check of one target, on the target's session (the command line's code path):
    ``ready`` opens it; ``load`` (--load) comes after the checks, as pytest runs the cases in
    order."""
    target, name = smoke_case
    result = smoke_sessions.get(target).check(name)
    if result.measurements:
        for key, value in result.measurements.items():
            record_property(key, value)
    for key, value in load_properties(result.load).items():
        record_property(key, value)
    if result.status == FAILED:
        pytest.fail(f"{target.name} :: {name}: {result.message}", pytrace=False)
    if result.status == SKIPPED:
        pytest.skip(result.message)
