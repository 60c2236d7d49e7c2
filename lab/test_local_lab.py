"""``python -m tgi_infra status|start|stop|restart|logs`` ON a deployed lab host, as a user on
the GPU host itself runs them: the package and docker-py copied in (lab/test_host_checks.py
``install_local_runner``), run as root inside the host against its own Docker Engine.

On ``lab-linux-1`` (systemd as PID 1) the services are supervised by their units: stop, start
and restart must go through ``tgi-<name>.service`` (the unit is active after start, a new
invocation after restart; a bare ``docker start``/``docker restart`` would leave the unit
inactive), and logs are the unit's journal. On ``lab-wsl-1`` (no systemd) status says Docker's
restart policy supervises.
"""

from __future__ import annotations

import json
import shlex

import pytest

from lab import lab
from lab.local_runner import install_local_runner

pytestmark = pytest.mark.lab

LINUX, WSL = "lab-linux-1", "lab-wsl-1"
# the services inventories/lab.py gives lab-linux-1: (model, engine, port)
SERVICES = {
    "tgi-service": ("HuggingFaceTB/SmolLM2-135M-Instruct", "tgi", 8080),
    "tgi-small": ("HuggingFaceTB/SmolLM2-360M-Instruct", "tgi", 8081),
    "vllm-service": ("HuggingFaceTB/SmolLM2-135M-Instruct", "vllm", 8082),
}
SERVICE = "tgi-small"
UNIT = f"tgi-{SERVICE}.service"


class Runner:
    def __init__(self, state, host: str):
        self.state, self.host = state, host
        self.prefix = install_local_runner(state, host, "[]", docker_py=True)

    def cli(self, *args: str) -> tuple[int, str]:
        cmd = f"{self.prefix} python3 -m tgi_infra {' '.join(map(shlex.quote, args))}"
        return lab.exec_in(self.state.host(self.host).container, cmd, split=True)

    def sh(self, cmd: str) -> str:
        return lab.exec_on(self.state, self.host, cmd, check=False).strip()

    def unit(self, prop: str) -> str:
        return self.sh(f"systemctl show -p {prop} --value {UNIT}")

    def started_at(self) -> str:
        return self.sh(f"docker inspect -f '{{{{.State.StartedAt}}}}' {SERVICE}")


@pytest.fixture(scope="module")
def linux(deployed_lab):
    return Runner(deployed_lab, LINUX)


def test_status_on_a_systemd_host(linux) -> None:
    code, out = linux.cli("status", "--json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)}
    assert sorted(rows) == sorted(SERVICES)
    for name, row in rows.items():
        model_id, engine, port = SERVICES[name]
        assert (row["model_id"], row["engine"]) == (model_id, engine), row
        assert (row["supervisor"], row["unit"]) == ("systemd", f"tgi-{name}.service")
        assert row["port"] == port and row["url"] == f"http://127.0.0.1:{port}"
        assert (row["state"], row["health"]) == ("running", "healthy"), row
        label = linux.sh(
            f"docker inspect -f '{{{{index .Config.Labels \"tgi-infra.config-hash\"}}}}' {name}"
        )
        assert row["config_hash"] == label and len(label) == 64


def test_stop_start_restart_logs_go_through_the_unit(linux) -> None:
    try:
        code, out = linux.cli("stop", SERVICE)
        assert code == 0, out
        assert f"systemctl stop {UNIT}" in out
        assert linux.sh(f"systemctl is-active {UNIT}") == "inactive"
        assert linux.sh(f"docker inspect -f '{{{{.State.Running}}}}' {SERVICE}") == "false"
        code, out = linux.cli("status", SERVICE, "--json")
        assert json.loads(out)[0]["health"] == "stopped", out

        code, out = linux.cli("start", SERVICE, "--wait", "120")
        assert code == 0, out
        assert f"systemctl start {UNIT}" in out and "ready at http://127.0.0.1:8081" in out
        assert linux.sh(f"systemctl is-active {UNIT}") == "active"  # the unit runs it

        invocation, started = linux.unit("InvocationID"), linux.started_at()
        code, out = linux.cli("restart", SERVICE, "--wait", "120")
        assert code == 0, out
        assert f"systemctl restart {UNIT}" in out
        assert linux.sh(f"systemctl is-active {UNIT}") == "active"
        assert linux.unit("InvocationID") != invocation  # a new run of the unit
        assert linux.started_at() != started  # of a restarted container

        code, out = linux.cli("logs", SERVICE, "-n", "200")
        assert code == 0, out
        # the unit's journal: systemd's own lines and the container's output (docker start -a)
        assert f"Stopped {UNIT}" in out or "Stopped TGI tgi-small" in out, out[-3000:]
        assert f"Started {UNIT}" in out or "Started TGI tgi-small" in out, out[-3000:]
        assert SERVICES[SERVICE][0] in out, out[-3000:]
    finally:
        lab.exec_on(linux.state, LINUX, f"systemctl start {UNIT}", check=False)
    code, out = linux.cli("status", SERVICE, "--json")
    row = json.loads(out)[0]
    assert row["state"] == "running", row


def test_unknown_service_inside_the_host(linux) -> None:
    code, out = linux.cli("restart", "tgi-nope")
    assert code == 1
    assert "no service 'tgi-nope' on this machine; known services: tgi-service, tgi-small" in out


def test_status_on_a_host_without_systemd(deployed_lab) -> None:
    wsl = Runner(deployed_lab, WSL)
    code, out = wsl.cli("status", "--json")
    assert code == 0, out
    [row] = json.loads(out)
    assert (row["name"], row["supervisor"], row["unit"]) == ("tgi-service", "docker", None)
    assert row["model_id"] == SERVICES["tgi-service"][0] and row["health"] == "healthy"
