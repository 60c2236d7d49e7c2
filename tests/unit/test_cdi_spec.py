"""NVIDIA's CDI spec lives in /etc/cdi (kept across reboots) and is generated again when the
driver changed (``nvidia_toolkit.cdi``, the fact ``CdiSpecState``).

``/var/run/cdi`` is cleared at boot (NVIDIA's "Support for Container Device Interface" page;
CDI's own package doc: ``/etc/cdi`` holds static specs, ``/var/run/cdi`` dynamic ones, with
precedence). The spec names no driver version of its own, so the deploy records the version it
generated the spec for (``/var/lib/tgi-infra/cdi-nvidia.env``).

The decision (facts in), the deploy step on pyinfra's ``@fake`` connector (commands out), and
the deploy's commands run here with the lab's nvidia-ctk stand-in on PATH.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host import reading
from tgi_infra.host.nvidia_toolkit import cdi_commands, cdi_generate_reason

from tests.helpers.ctk_standin import install_standin

M = reading.MARK
GENERATE = "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"


def test_spec_goes_where_it_survives_a_reboot():
    assert reading.CDI_SPEC_PATH == "/etc/cdi/nvidia.yaml"
    assert not reading.CDI_RECORD_PATH.startswith(("/run/", "/var/run/", "/etc/cdi/"))


@pytest.mark.parametrize(
    "fact,driver,why",
    [
        ({"spec": False, "driver_version": None}, "550.54.15", "/etc/cdi/nvidia.yaml is missing"),
        (
            {"spec": True, "driver_version": "535.183.01"},
            "550.54.15",
            "the driver is 550.54.15 (generated for driver 535.183.01)",
        ),
        (
            {"spec": True, "driver_version": None},
            "550.54.15",
            "the driver is 550.54.15 (no record of its driver)",
        ),
        ({"spec": True, "driver_version": "550.54.15"}, "550.54.15", None),
        ({"spec": True, "driver_version": "535.183.01"}, None, None),  # driver unknown: kept
        ({"spec": False, "driver_version": None}, None, "/etc/cdi/nvidia.yaml is missing"),
    ],
)
def test_generate_when_missing_or_made_for_another_driver(fact, driver, why):
    assert cdi_generate_reason(fact, driver) == why


def test_fact_reads_spec_and_record():
    text = reading.cdi_record_content("550.54.15")
    lines = [f"{M}spec", f"{M}record", *text.splitlines()]
    assert reading.parse_cdi_state(lines) == {"spec": True, "driver_version": "550.54.15"}
    assert reading.parse_cdi_state([f"{M}record", *text.splitlines()])["spec"] is False
    assert reading.parse_cdi_state([]) == {"spec": False, "driver_version": None}


# -- the deploy's commands, run with the nvidia-ctk stand-in ------------------------------------


@pytest.fixture
def ctk_env(tmp_path: Path) -> dict[str, str]:
    ctk = install_standin(tmp_path, "nvidia_ctk.py", "nvidia-ctk")
    return {**os.environ, "PATH": f"{ctk.parent}:{os.environ['PATH']}"}


def _run(commands: list[str], env: dict) -> subprocess.CompletedProcess:
    # pyinfra's server.shell runs the commands in order and stops at the first that fails
    return subprocess.run(
        ["sh", "-c", " && ".join(commands)], capture_output=True, text=True, env=env
    )


def test_commands_write_the_spec_then_the_record_0644(tmp_path: Path, ctk_env):
    spec, record = tmp_path / "etc/cdi/nvidia.yaml", tmp_path / "state/cdi-nvidia.env"
    env = {**ctk_env, "NVIDIA_CTK_STANDIN_CDI_EMPTY": "1"}
    result = _run(cdi_commands("550.54.15", str(spec), str(record)), env)
    assert result.returncode == 0, result.stderr
    assert spec.read_text().startswith("---\ncdiVersion:")
    lines = [f"{M}spec", f"{M}record", *record.read_text().splitlines()]
    assert reading.parse_cdi_state(lines)["driver_version"] == "550.54.15"
    assert record.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in record.parent.iterdir()) == ["cdi-nvidia.env"]


def test_failed_generate_records_nothing(tmp_path: Path, ctk_env):
    spec, record = tmp_path / "etc/cdi/nvidia.yaml", tmp_path / "state/cdi-nvidia.env"
    result = _run(cdi_commands("550.54.15", str(spec), str(record)), ctk_env)  # no NVML
    assert result.returncode == 1
    assert "ERROR_LIBRARY_NOT_FOUND" in result.stderr
    assert not spec.exists() and not record.exists()


def test_unknown_driver_leaves_no_record(tmp_path: Path, ctk_env):
    spec, record = tmp_path / "etc/cdi/nvidia.yaml", tmp_path / "state/cdi-nvidia.env"
    record.parent.mkdir()
    record.write_text("driver_version=535.183.01\n")
    env = {**ctk_env, "NVIDIA_CTK_STANDIN_CDI_EMPTY": "1"}
    assert _run(cdi_commands(None, str(spec), str(record)), env).returncode == 0
    assert spec.exists() and not record.exists()


# -- the deploy step: facts in, commands out ----------------------------------------------------


def run_cdi_step(cdi_state: list[str], driver: str = "550.54.15", toolkit_changed=None):
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.operations import run_ops
    from tgi_infra.host import nvidia_toolkit

    responses = {
        "smi=$(command -v nvidia-smi": [
            f"{M}nvidia-smi /usr/bin/nvidia-smi",
            f"0, NVIDIA H100 80GB HBM3, 81559 MiB, {driver}, "
            "GPU-8d3c5a8e-3f53-2c1e-9a4b-0c4f2b7d9e11",
            f"{M}rc 0",
        ],
        f"cat {reading.CDI_RECORD_PATH}": cdi_state,
    }
    data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": responses}
    inventory = Inventory(([("@fake/gpu-1", data)], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@fake/gpu-1")
    cfg = load_host_config("gpu-1", {"tgi_gpus": "all", "tgi_nvidia_cdi": True})
    plan = SimpleNamespace(skip_engine_and_toolkit=False, systemd=True, wsl=False)
    add_deploy(state, nvidia_toolkit.cdi, cfg, plan, toolkit_changed=toolkit_changed)
    run_ops(state)
    assert host not in state.failed_hosts
    return host.connector.executed_commands


def _state(spec: bool, driver: str | None) -> list[str]:
    out = [f"{M}spec"] if spec else []
    if driver:
        out += [f"{M}record", *reading.cdi_record_content(driver).splitlines()]
    return out


def _generates(commands: list[str]) -> list[str]:
    return [c for c in commands if c.startswith(GENERATE)]


def test_missing_spec_is_generated_and_its_driver_recorded():
    commands = run_cdi_step(_state(False, None))
    assert len(_generates(commands)) == 1
    [record] = [c for c in commands if reading.CDI_RECORD_PATH in c and "printf" in c]
    assert "driver_version=550.54.15" in record and "chmod 644" in record
    assert commands.index(_generates(commands)[0]) < commands.index(record)


def test_driver_upgrade_regenerates_the_spec():
    commands = run_cdi_step(_state(True, "535.183.01"), driver="550.54.15")
    assert len(_generates(commands)) == 1


def test_current_spec_is_left_alone():
    assert _generates(run_cdi_step(_state(True, "550.54.15"))) == []


def test_toolkit_upgrade_of_this_deploy_regenerates_it():
    commands = run_cdi_step(_state(True, "550.54.15"), toolkit_changed=lambda: True)
    assert len(_generates(commands)) == 1
    assert _generates(run_cdi_step(_state(True, "550.54.15"), toolkit_changed=lambda: False)) == []
