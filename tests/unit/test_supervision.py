"""deploy/services/supervision.py: who supervises a TGI container, per kind of host.

The rule decides what is rendered: a systemd unit that ``Requires=docker.service`` only where
systemd runs the engine; Docker's restart policy under WSL without systemd and under Docker
Desktop (whose engine is outside the distro: no docker.service there). The lab profiles
``wsl-systemd`` and ``wsl-desktop`` (lab/test_profiles.py) run the same on real hosts.
"""

from __future__ import annotations

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.services.render import render_service
from tgi_infra.services.supervision import supervisor

DATA = {
    "tgi_gpus": "none",
    "tgi_services": [{"name": "tgi-service", "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct"}],
}


@pytest.mark.parametrize(
    ("host", "systemd", "desktop", "unit", "restart"),
    [
        ("native Linux, systemd", True, False, True, "no"),
        ("WSL with systemd, Docker Engine in the distro", True, False, True, "no"),
        ("WSL without systemd", False, False, False, "unless-stopped"),
        ("WSL with systemd, Docker Desktop", True, True, False, "unless-stopped"),
        ("WSL without systemd, Docker Desktop", False, True, False, "unless-stopped"),
    ],
)
def test_supervision_per_host_kind(host, systemd, desktop, unit, restart):
    cfg = load_host_config("h", DATA)
    svc = cfg.tgi_services[0]
    rendered = render_service("h", cfg, svc, supervisor(systemd, desktop))
    units = [rel for rel in rendered.files if rel.endswith(".service")]
    create = rendered.files["tgi-service-creation.sh"][0]
    assert bool(units) == unit, f"{host}: units {units}"
    assert f"--restart {restart}" in create or f"--restart={restart}" in create, create
    if unit:
        assert "Requires=docker.service" in rendered.files[units[0]][0]
    else:
        # the creation script must not depend on a unit (systemctl start fails without one)
        assert "systemctl" not in create, f"{host}: {create}"
