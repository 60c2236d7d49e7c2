"""pytest front end of the host checks: ``pytest smoke --inventory FILE --host-checks``.

One test per (host, layer), layers in order connection → docker → nvidia-runtime → container →
host, so the first failing layer reads first. Same checks as
``python -m tgi_infra.smoke --host-checks``.
"""

import pytest
from tgi_infra.smoke.hostchecks import FAILED, SKIPPED


def test_host_layer(host_layer, host_reports, record_property) -> None:
    host, layer = host_layer
    checks = [c for c in host_reports[host].checks if c.layer == layer]
    for c in checks:
        record_property(f"{c.label}", f"{c.status}: {c.message}")
    failed = [c for c in checks if c.status == FAILED]
    if failed:
        pytest.fail(
            "\n".join(f"{c.label}: {c.message}" for c in failed),
            pytrace=False,
        )
    if checks and all(c.status == SKIPPED for c in checks):
        pytest.skip("; ".join(c.message for c in checks))
