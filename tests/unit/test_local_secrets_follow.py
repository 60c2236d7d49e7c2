"""tgi_infra.local against real containers here: its output never carries the
service's secrets, listing survives a container removed meanwhile, and ``logs -f`` follows.

Containers are made from ``tgi-lab/base:bookworm`` (built locally, never pulled), labelled as the
deploy labels a service supervised by Docker, with the secrets in their env as ``service.env``
puts them there; every one is removed after.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tgi_infra import local
from tgi_infra.services.render import LABEL_MANAGED, LABEL_SERVICE, LABEL_SUPERVISOR

REPO = Path(__file__).resolve().parents[2]
HF_TOKEN = "hf_" + secrets.token_hex(17)
API_KEY = "key-" + secrets.token_hex(12)  # not token-shaped: only its value identifies it


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def service(lab_base_image):
    """run(script) -> name: a labelled container running ``sh -c script``; removed after."""
    made: list[str] = []

    def run(script: str) -> str:
        name = f"local-gap-{uuid.uuid4().hex[:8]}"
        made.append(name)
        _docker(
            "run", "-d", "--name", name,
            "--label", f"{LABEL_MANAGED}=true", "--label", f"{LABEL_SERVICE}={name}",
            "--label", f"{LABEL_SUPERVISOR}=docker",
            "--env", f"HF_TOKEN={HF_TOKEN}", "--env", f"API_KEY={API_KEY}",
            "--entrypoint", "sh", lab_base_image, "-c", script,
        )  # fmt: skip
        return name

    yield run
    for name in made:
        _docker("rm", "-f", name, check=False)


def _no_secret(text: str) -> None:
    assert HF_TOKEN not in text and API_KEY not in text, text
    assert HF_TOKEN[3:12] not in text and API_KEY[4:16] not in text, text


def test_ready_wait_error_and_logs_mask_the_services_secrets(service):
    """A launcher that prints its secrets (real TGI logs ``api_key: Some("<key>")``) and exits:
    the NotReady message, ``tgi-infra start --wait`` and ``tgi-infra logs`` show them masked."""
    name = service('echo "token=$HF_TOKEN"; echo "api_key: Some(\\"$API_KEY\\")"; exit 1')
    with pytest.raises(local.NotReady) as err:
        local.wait_ready(name, timeout=60)
    text = str(err.value)
    assert f"service {name} is exited" in text and "token=hf_…(masked)" in text, text
    assert 'api_key: Some("key…(masked)")' in text, text
    _no_secret(text)
    _no_secret(local.logs(name))
    for argv in (["start", name, "--wait", "30"], ["logs", name]):
        proc = subprocess.run(
            [sys.executable, "-m", "tgi_infra", *argv],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        _no_secret(proc.stdout + proc.stderr)
        assert "(masked)" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_listing_survives_a_container_removed_meanwhile(service, monkeypatch):
    """docker-py lists the ids, then inspects each: a container removed in between (a deploy
    replacing it, ``docker rm`` in another shell) is left out, not a NotFound traceback. The
    removal is real: it happens on the daemon just before docker-py inspects that container."""
    import docker

    kept, gone = service("sleep 300"), service("sleep 300")
    gone_id = _docker("inspect", "-f", "{{.Id}}", gone).stdout.strip()
    real = docker.from_env()
    inspect = real.api.inspect_container

    def inspect_after_removal(container, *a, **kw):
        if container == gone_id:
            _docker("rm", "-f", gone)
        return inspect(container, *a, **kw)

    monkeypatch.setattr(real.api, "inspect_container", inspect_after_removal)
    monkeypatch.setattr(local, "client", lambda: real)
    names = [s.name for s in local.services()]
    assert kept in names and gone not in names


# SIGINT as the command inherits it: default from a terminal; ignored when a script started it
# in the background (a non-interactive shell sets SIG_IGN for `&` jobs, and Python then installs
# no KeyboardInterrupt handler): `kill -INT` must end the follow either way. Set explicitly, so
# that the test does not depend on how the test run itself was started.
@pytest.mark.parametrize("inherited", [signal.SIG_DFL, signal.SIG_IGN], ids=["default", "ignored"])
def test_logs_follow_prints_lines_as_they_come_until_interrupted(service, inherited):
    name = service('echo "line-1"; sleep 3; echo "line-2 $API_KEY"; sleep 300')
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgi_infra", "logs", name, "-f"],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, inherited),
    )
    seen = ""
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while "line-2" not in seen:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, seen
            seen += line
        assert "line-1" in seen and proc.poll() is None  # still following after line-2
        _no_secret(seen)
        assert "line-2 key…(masked)" in seen, seen
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, seen + out
    assert "Traceback" not in out, out
