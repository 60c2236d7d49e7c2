"""The smoke checks as pytest tests: ``pytest smoke --url http://host:8080``."""

from __future__ import annotations

import pytest
from tgi_infra.smoke.report import load_properties
from tgi_infra.smoke.runner import FAILED, PASSED, SKIPPED, run_check, run_load_check


def test_check(smoke_case, smoke_sessions, record_property) -> None:
    target, name = smoke_case
    ctx, ready = smoke_sessions.get(target)
    if name == "ready":
        result = ready
    elif ready.status != PASSED or ctx is None:
        pytest.skip(f"not run: {target.name} is not ready")
    elif name == "load":  # --load: after the checks (pytest runs the cases in order)
        result = run_load_check(ctx)
    else:
        result = run_check(name, ctx)
    if result.measurements:
        for key, value in result.measurements.items():
            record_property(key, value)
    for key, value in load_properties(result.load).items():
        record_property(key, value)
    if result.status == FAILED:
        pytest.fail(f"{target.name} :: {name}: {result.message}", pytrace=False)
    if result.status == SKIPPED:
        pytest.skip(result.message)
