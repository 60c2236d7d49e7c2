"""The likely cause the deploy prints when a service does not become ready
(deploy/services/ready.py),
on outputs captured from Docker (fixtures/docker/, see fixtures/README.md): the daemon
unreachable, and containers Docker could not start (a host port already taken, no GPU runtime,
the NVIDIA runtime refusing an image whose CUDA is newer than the driver), which the readiness
wait reads from ``State.Error`` of a container left ``created``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tgi_infra.readiness import ContainerState, failed_start, parse_state
from tgi_infra.services.ready import UNKNOWN, likely_cause

FIX = Path(__file__).parent / "fixtures" / "docker"


def _state(name: str) -> str:
    # as the wait reads it: stdout lines joined, stripped (ready._run)
    return (FIX / f"inspect-state-{name}.txt").read_text().strip()


def test_docker_daemon_stopped_while_the_container_starts():
    state = _state("daemon-down")
    assert parse_state(state) is None  # the daemon's answer, not a state
    log = (FIX / "logs-daemon-down.txt").read_text()
    why = f"the container is missing ({state})"  # what the wait says when inspect fails
    cause = likely_cause(f"{why}\n{log}")
    assert cause.startswith("Docker daemon stopped"), cause
    assert "systemctl start docker" in cause and "service docker start" in cause


def test_states_the_wait_reads():
    assert parse_state(_state("running")) == ContainerState("running", 0, "0", "")
    assert parse_state(_state("exited")) == ContainerState("exited", 0, "3", "")
    assert parse_state(_state("missing")) is None
    assert failed_start(parse_state(_state("running"))) is None
    assert failed_start(parse_state(_state("exited"))) == "the container exited with code 3"
    # created and not started yet (no error): the wait goes on
    assert failed_start(ContainerState("created", 0, "0", "")) is None


@pytest.mark.parametrize(
    ("fixture", "cause"),
    [
        ("start-failed-port-in-use", "the service's port is taken on the host"),
        ("start-failed-port-allocated", "the service's port is taken on the host"),
        ("start-failed-no-gpu-runtime", "Docker cannot give the container GPUs"),
        ("start-failed-cuda-requirement", "the host's NVIDIA driver is too old"),
    ],
)
def test_a_container_docker_could_not_start_fails_at_once_with_its_cause(fixture, cause):
    found = parse_state(_state(fixture))
    assert found is not None and found.status == "created" and found.exit_code == "128"
    why = failed_start(found)
    assert why is not None and why.startswith("Docker could not start the container: ")
    assert found.error in why
    # the container never ran: its log is empty, the cause is in the daemon's answer
    assert likely_cause(f"{why}\n", "tgi").startswith(cause)


def test_a_log_without_a_known_signature_stays_unknown():
    assert likely_cause("Starting download\nShard 0 loaded\n") == UNKNOWN
