"""A deploy that restarts Docker waits until every service that ran answers again
(``ready.wait_back``, planned by ``tgi_services.wait_after_docker_restart``).

* The wait on a scripted host (the answers of ``docker inspect``, ``curl`` and ``docker logs``
  in the order a restarting host gives them) with a simulated clock: a container the
  supervisor has not started again yet is waited for, a daemon that does not answer yet too,
  one that never comes back fails with its log tail and likely cause.
* The whole deploy (the real ``deploy/main.py`` through the real pyinfra CLI) executed on
  pyinfra's ``@fake`` connector: after "Restart Docker" each running service is reported back
  once; a service the deploy re-creates anyway is left to its own wait; without a restart
  there is no wait.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api.exceptions import OperationError
from tgi_infra import readiness
from tgi_infra.host import remote
from tgi_infra.services import ready
from tgi_infra.services.ready import WaitTarget

REPO = Path(__file__).resolve().parents[2]


class Clock:
    """time.monotonic / time.sleep of ready.py: sleeping advances the clock, nothing waits."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Out:
    def __init__(self, text: str):
        self.stdout_lines = text.splitlines()
        self.stderr_lines: list[str] = []


class RestartingHost:
    """Answers like a host whose Docker just restarted. ``states``: what successive
    ``docker inspect`` calls print (the last one repeats); ``health``: /health codes."""

    name = "gpu-1"
    print_prefix = "[gpu-1] "

    def __init__(self, states: list[str], health: list[str], log: str = "Shard 0 ready\n"):
        self.states, self.health, self.log = list(states), list(health), log
        self.commands: list[str] = []

    @staticmethod
    def _next(seq: list[str]) -> str:
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def run_shell_command(self, cmd: str, **_kw):
        self.commands.append(cmd)
        if cmd.startswith("docker inspect"):
            return True, Out(self._next(self.states))
        if cmd.startswith("docker logs"):
            return True, Out(self.log)
        if "/health" in cmd:
            return True, Out(self._next(self.health))
        return True, Out("200")  # the one-token request


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ready, "time", c)
    monkeypatch.setattr(readiness, "time", c)
    monkeypatch.setattr(remote, "connector_arguments", lambda state, host: {})
    return c


def probe(name: str = "alpha", timeout: int = 600) -> WaitTarget:
    return WaitTarget(
        name=name, url="http://127.0.0.1:8080", env_file="", timeout=timeout, api_key=False
    )


def test_container_started_again_by_its_supervisor_is_reported_back(clock, caplog):
    host = RestartingHost(
        ["exited 0 143", "exited 0 143", "running 0 0"], ["000", "000", "000", "200"]
    )
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        ready.wait_back(None, host, [probe()], why="daemon.json changed")
    [line] = [r.getMessage() for r in caplog.records if "back after" in r.getMessage()]
    assert line.startswith("[gpu-1] alpha back after ")
    seconds = int(line.split("back after ")[1].split("s")[0])
    assert seconds > 0 and seconds <= clock.now - 1000.0  # time since the wait began
    assert "Docker restarted: daemon.json changed" in line
    assert any("/generate" in c for c in host.commands)


def test_daemon_not_answering_yet_is_waited_for(clock, caplog):
    down = (
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?"
    )
    host = RestartingHost([down, down, "running 0 0"], ["200"])
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        ready.wait_back(None, host, [probe()], why="daemon.json changed")
    assert any("alpha back after" in r.getMessage() for r in caplog.records)


def test_container_not_started_again_fails_with_log_tail_and_cause(clock):
    host = RestartingHost(
        ["exited 0 1"], ["000"], log="error: unexpected argument '--frobnicate' found\n"
    )
    with pytest.raises(OperationError) as err:
        ready.wait_back(None, host, [probe()], why="daemon.json changed")
    text = str(err.value)
    assert "service alpha did not come back after the Docker restart (daemon.json changed)" in text
    assert "exited with code 1 and was not started again" in text
    assert "likely cause: the launcher refused its arguments" in text
    assert "unexpected argument '--frobnicate'" in text  # the log tail
    assert clock.now - 1000.0 >= ready.BACK_GRACE_S  # it gave the supervisor its time


def test_service_that_never_answers_fails_at_the_ready_timeout(clock):
    host = RestartingHost(["running 0 0"], ["000"])
    with pytest.raises(OperationError, match="timed out after 120s; last status: port not open"):
        ready.wait_back(None, host, [probe(timeout=120)], why="daemon.json changed")


def test_services_the_deploy_recreates_are_left_to_their_own_wait(clock, caplog):
    host = RestartingHost(["running 0 0"], ["200"])
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        ready.wait_back(
            None, host, [probe("alpha"), probe("beta")], why="x", skip=lambda: {"alpha"}
        )
    assert not any("alpha" in c for c in host.commands)
    assert any("beta" in c for c in host.commands)
    messages = [r.getMessage() for r in caplog.records]
    assert "[gpu-1] alpha: (re)created by this deploy, waited for then" in messages
    assert any(m.startswith("[gpu-1] beta back after 0s") for m in messages)


def test_a_first_start_still_fails_at_once_on_an_exited_container(clock):
    """No grace outside the wait after a restart: a crash at start is reported at once."""
    host = RestartingHost(["exited 0 1"], ["000"])
    with pytest.raises(OperationError, match="is not ready: the container exited with code 1"):
        ready.wait_ready(None, host, probe())
    assert clock.now == 1000.0


# -- the whole deploy on @fake: facts in, operations and their output out ----------------------

SERVICE = {"name": "alpha", "model_id": "org/a"}
HOST_DATA = {
    "tgi_docker_source": "docker-ce",
    "tgi_gpus": "none",
    "tgi_hub_check": False,
    "tgi_services": [SERVICE],
}
RUNTIME = {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
INFO = {
    "ServerVersion": "28.3.2",
    "CgroupDriver": "systemd",
    "Name": "cpu-1",
    "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
    "Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}},
}

FLEET = """
import json as _json
M = "@@tgi-infra:"
_DATA = _json.loads(%(data)r)
hosts = [("@fake/cpu", {
    "fake_delay": 0, "fake_delay_jitter": 0, **_DATA,
    "fake_responses": {
        "osrelease'; cat /proc/sys/kernel/osrelease": [
            M + "osrelease", "6.1.0-28-amd64", M + "proc_version", "Linux version 6.1.0",
            M + "markers", M + "env", "WSL_DISTRO_NAME=", M + "os_release", "ID=debian",
            'VERSION_ID="12"', "VERSION_CODENAME=bookworm", M + "arch", "amd64",
        ],
        "pid1_comm=": ["pid1_comm=systemd", "sd_booted=yes"],
        "docker.io docker-ce": [
            M + "dpkg", "docker-ce\\tinstall ok installed\\t5:28.3.2-1~debian.12~bookworm",
            M + "cli", "/usr/bin/docker", "/usr/bin/docker", M + "info", %(info)r,
        ],
        "docker info --format": [%(info)r],
        "nvidia-container-toolkit nvidia-container-toolkit-base": %(toolkit)r,
        "cat /etc/docker/daemon.json": [M + "present", %(daemon_json)r],
        "docker container inspect --format": [M + "names alpha", M + "inspect", %(container)r],
        "sha256sum <": %(env_digests)r,
        "docker inspect -f": ["running 0 0"],
        "curl -s -o /dev/null": ["200"],
    },
})]
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TGI_"))}
    return {**env, "PYINFRA_PROGRESS": "off"}


def deploy_on_fake(tmp_path: Path, *, daemon_json: dict, label: str | None) -> str:
    """Executes deploy/main.py on a @fake host whose service alpha runs with ``label`` as its
    config hash (None: the hash the deploy renders, i.e. unchanged); returns the output."""
    from tgi_infra.config import load_host_config
    from tgi_infra.services.render import env_file_content, render_for_deploy
    from tgi_infra.services.secrets import sha256

    env = _env()
    cfg = load_host_config("@fake/cpu", HOST_DATA)
    svc = cfg.tgi_services[0]
    rendered = render_for_deploy("@fake/cpu", cfg, svc, "systemd", 0, env)
    content = env_file_content(svc, env)
    container = {
        "Name": "/alpha",
        "Id": "abc",
        "Image": "sha256:1",
        "RestartCount": 0,
        "State": {"Running": True, "Status": "running", "ExitCode": 0},
        "Config": {"Labels": {"tgi-infra.config-hash": label or rendered.config_hash}},
    }
    toolkit = [
        f"{p}\t1.17.8-1\tii "
        for p in (
            "nvidia-container-toolkit",
            "nvidia-container-toolkit-base",
            "libnvidia-container-tools",
            "libnvidia-container1",
        )
    ]
    fleet = FLEET % {
        "data": json.dumps(HOST_DATA),
        "info": json.dumps(INFO),
        "daemon_json": json.dumps(daemon_json),
        "container": json.dumps(container),
        "env_digests": [sha256(content)] * 3 + [""],
        "toolkit": toolkit,
    }
    (tmp_path / "fleet.py").write_text(fleet)
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), "-y", "fleet.py", str(REPO / "deploy/main.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


WAIT_OP = "TGI services: wait until each answers again after the Docker restart"


def test_restart_for_daemon_json_waits_for_the_running_service(tmp_path: Path):
    # daemon.json lacks the nvidia runtime: nvidia-ctk changes it, Docker is restarted
    out = deploy_on_fake(tmp_path, daemon_json={}, label=None)
    assert "Restart Docker (daemon.json changed)" in out
    assert out.index("Restart Docker (daemon.json changed)") < out.index(WAIT_OP)
    assert out.count("alpha back after 0s (Docker restarted: daemon.json changed") == 1
    assert "alpha ready after" not in out  # unchanged: no second wait in deploy_services


def test_a_service_the_deploy_recreates_is_waited_for_once(tmp_path: Path):
    out = deploy_on_fake(tmp_path, daemon_json={}, label="an-older-config")
    assert "alpha: (re)created by this deploy, waited for then" in out
    assert "alpha back after" not in out
    assert out.count("alpha ready after") == 1  # the swap's own wait


def test_no_restart_no_wait(tmp_path: Path):
    out = deploy_on_fake(tmp_path, daemon_json=RUNTIME, label=None)
    for op in ("Restart Docker (daemon.json changed)", WAIT_OP):
        after = out.split("Starting operation: tgi_infra.deploy_gpu_host | ")
        [block] = [b for b in after if op in b.splitlines()[0]]
        assert block.splitlines()[1].strip() == "[@fake/cpu] No changes", block
    assert "alpha back after" not in out
