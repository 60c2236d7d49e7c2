"""The likely cause the deploy prints when a service does not become ready (deploy/ready.py),
on outputs captured from a lab host's docker CLI (docker.io 20.10) with its daemon unreachable
(fixtures/docker/*-daemon-down.txt: the same `docker inspect` / `docker logs` the wait runs)."""

from __future__ import annotations

from pathlib import Path

from tgi_infra.ready import likely_cause

FIX = Path(__file__).parent / "fixtures" / "docker"


def test_docker_daemon_stopped_while_the_container_starts():
    state = (FIX / "inspect-state-daemon-down.txt").read_text().strip()
    log = (FIX / "logs-daemon-down.txt").read_text()
    why = f"the container is missing ({state})"  # what the wait says when inspect fails
    cause = likely_cause(f"{why}\n{log}")
    assert cause.startswith("Docker daemon stopped"), cause
    assert "systemctl start docker" in cause and "service docker start" in cause


def test_a_log_without_a_known_signature_stays_unknown():
    assert likely_cause("Starting download\nShard 0 loaded\n").startswith("unknown")
