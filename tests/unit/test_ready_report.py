"""A service that does not become ready fails the deploy with one block: why, the likely cause
once, the log tail once, each line under the host's prefix; no Python traceback, no "Unexpected
error in Python callback" (pyinfra 3 prints both, and the message again on one line, for any
exception out of a ``python.call`` target: deploy/host/remote.py ``reported``).

The real pyinfra CLI on ``@local`` runs the deploy's own readiness operation
(``tgi_services._wait_ready``) against real containers on this machine's Docker: one that
crashed with a TGI log (fixtures/engine-logs), one that Docker could not start because its host
port is taken. Both the wrapper's entry (``python -m tgi_infra.cli.pyinfra_entry``, what
``tgi-infra deploy`` runs) and plain ``pyinfra``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

LOGS = Path(__file__).parent / "fixtures" / "engine-logs"
TIMEOUT_S = 30  # the service's tgi_ready_timeout in these runs

DEPLOY = """
import os
from pyinfra.operations import server
from tgi_infra.config import load_host_config
from tgi_infra.services.operations import _wait_ready

name, port = os.environ["TEST_SERVICE"], int(os.environ["TEST_PORT"])
cfg = load_host_config("@local", {
    "tgi_services": [{"name": name, "model_id": "bigscience/bloom-560m", "port": port}],
    "tgi_ready_timeout": int(os.environ["TEST_TIMEOUT"]),
})
if os.environ.get("TEST_START"):  # as systemd's `docker start -a` would
    server.shell(name="docker start", commands=[f"docker start {name} || true"])
_wait_ready(cfg, cfg.tgi_services[0])
"""

ENTRIES = {
    "wrapper": [sys.executable, "-m", "tgi_infra.cli.pyinfra_entry"],
    "pyinfra": [str(Path(sys.executable).with_name("pyinfra"))],
}


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def service(lab_base_image):
    name = f"tgi-infra-test-ready-{uuid.uuid4().hex[:8]}"
    yield name
    _docker("rm", "-f", name)


def _deploy(tmp_path: Path, entry: str, name: str, port: int, start: bool = False):
    (tmp_path / "deploy.py").write_text(DEPLOY)
    env = {**os.environ, "TEST_SERVICE": name, "TEST_PORT": str(port)}
    env["TEST_TIMEOUT"] = str(TIMEOUT_S)
    if start:
        env["TEST_START"] = "1"
    proc = subprocess.run(
        [*ENTRIES[entry], "-y", "@local", "deploy.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _block(out: str, name: str) -> list[str]:
    """The failure block: from "service NAME is not ready" to pyinfra's own "Error:" line."""
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if f"service {name} is not ready" in line)
    end = next(i for i in range(first, len(lines)) if "Error: executed" in lines[i])
    return lines[first:end]


def _assert_one_clean_block(out: str, name: str) -> list[str]:
    # a traceback of the deploy's own (an engine's, in the log tail, is under the prefix)
    assert not [line for line in out.splitlines() if line.lstrip().startswith("Traceback")], out
    assert "site-packages/pyinfra/" not in out, out
    assert "Unexpected error in Python callback" not in out, out
    assert "OperationError" not in out, out
    assert out.count(f"service {name} is not ready") == 1, out
    assert out.count("likely cause:") == 1, out
    block = _block(out, name)
    assert all("[@local]" in line for line in block), block
    return block


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_crashed_service_is_one_block_naming_its_cause_once(
    service, lab_base_image, tmp_path, entry
):
    log = LOGS / "tgi-oom-warmup.log"
    run = _docker(
        "run", "-d", "--name", service, "-v", f"{log}:/log:ro", lab_base_image,
        "sh", "-c", "cat /log; exit 1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _docker("wait", service).stdout.strip() == "1"
    rc, out = _deploy(tmp_path, entry, service, port=18080)
    assert rc != 0, out
    block = _assert_one_clean_block(out, service)
    text = "\n".join(block)
    assert "is not ready: the container exited with code 1" in block[0], block
    assert "likely cause: the GPU ran out of memory at warm-up" in text, text
    # the log tail, once, after the cause
    assert out.count("Error: WebserverFailed") == 1, out
    assert text.index("likely cause:") < text.index("Error: WebserverFailed")
    if entry == "wrapper":
        assert "No hosts remaining!" not in out and "every host failed" in out, out


def test_a_container_docker_cannot_start_fails_at_once_naming_the_taken_port(
    service, lab_base_image, tmp_path
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        create = _docker(
            "create", "--name", service, "-p", f"127.0.0.1:{port}:80", lab_base_image,
            "sleep", "60",
        )  # fmt: skip
        assert create.returncode == 0, create.stderr
        rc, out = _deploy(tmp_path, "wrapper", service, port, start=True)
    assert rc != 0, out
    block = _assert_one_clean_block(out, service)
    assert "Docker could not start the container:" in block[0], block
    assert f"127.0.0.1:{port}: bind: address already in use" in block[0], block
    assert "likely cause: the service's port is taken on the host" in "\n".join(block), block
    # at once: the wait's first look ended it (no progress line, printed from 15 s of waiting
    # on, and no timeout); the run's own wall time says nothing on a loaded machine
    assert f"waiting for {service}:" not in out and "timed out" not in out, out[-3000:]
