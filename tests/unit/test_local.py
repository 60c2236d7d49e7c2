"""tgi_infra.local and its CLI verbs against real containers on this machine's Docker Engine.

The service is created exactly as the deploy creates it on a host without systemd: the
``docker run`` argv that deploy/services/render.py renders (supervisor ``docker``: restart policy
``unless-stopped``, the deploy's labels), with the TGI stand-in image (lab/tgi_standin) as
the image. Everything is removed after. The systemd-supervised case needs systemd as PID 1:
it runs in the lab (lab/test_local_lab.py).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tgi_infra import local
from tgi_infra.config import load_host_config
from tgi_infra.services.render import (
    LABEL_ENGINE,
    LABEL_MODEL,
    LABEL_PORT,
    LABEL_SERVICE,
    LABEL_SUPERVISOR,
    LABEL_UNIT,
    render_service,
    stop_timeout,
)
from tgi_infra.smoke.tunnel import free_local_port

REPO = Path(__file__).resolve().parents[2]
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def _cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgi_infra", *args],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
        **kw,
    )


@pytest.fixture(scope="module")
def standin_image() -> str:
    from lab.images import ensure_standin_image

    return ensure_standin_image()


class Deployed:
    """One service deployed on this machine the way the deploy does it without systemd."""

    def __init__(self, tmp: Path, image: str):
        self.name = f"local-{uuid.uuid4().hex[:8]}"
        self.port = free_local_port()
        data = {
            "tgi_gpus": "none",
            "tgi_root": str(tmp / "tgi"),
            "tgi_services": [
                {
                    "name": self.name,
                    "model_id": MODEL,
                    "image": image,
                    "port": self.port,
                    "bind": "127.0.0.1",
                    "volume": str(tmp / "models"),
                    "env": {"TGI_STANDIN_WARMUP_S": "0.2"},
                }
            ],
        }
        self.cfg = load_host_config("this-machine", data)
        self.svc = self.cfg.tgi_services[0]
        self.rendered = render_service("this-machine", self.cfg, self.svc, "docker")
        env_file = Path(self.rendered.env_file_path)
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(self.rendered.env_file({})[0])
        env_file.chmod(0o600)
        _docker(*self.rendered.docker_argv)
        # the deploy ends when the service is ready, and so does this: a launcher stopped before
        # it set its signal handler (TGI's sets it after parsing its arguments and reading the
        # model's config: launcher/src/main.rs) ignores SIGTERM as the container's PID 1, and
        # `docker stop` then waits out the stop timeout (120 s here) before SIGKILL
        local.wait_ready(self.name, timeout=120)

    def inspect(self) -> dict:
        return json.loads(_docker("container", "inspect", self.name).stdout)[0]

    def remove(self) -> None:
        _docker("rm", "-f", self.name, check=False)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, standin_image):
    d = Deployed(tmp_path_factory.mktemp("local"), standin_image)
    try:
        yield d
    finally:
        d.remove()


def test_the_deploy_labels_what_the_local_tools_read() -> None:
    cfg = load_host_config(
        "h", {"tgi_gpus": "none", "tgi_services": [{"name": "a", "model_id": MODEL, "port": 9}]}
    )
    for supervisor in ("systemd", "docker"):
        argv = render_service("h", cfg, cfg.tgi_services[0], supervisor).docker_argv
        labels = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv[:-1]) if a == "--label")
        assert labels[LABEL_SERVICE] == "a" and labels[LABEL_MODEL] == MODEL
        assert labels[LABEL_ENGINE] == "tgi" and labels[LABEL_PORT] == "9"
        assert labels[LABEL_SUPERVISOR] == supervisor
        assert labels.get(LABEL_UNIT) == ("tgi-a.service" if supervisor == "systemd" else None)


def test_status_reports_model_engine_port_health_and_hash(deployed) -> None:
    svc = local.wait_ready(deployed.name, timeout=60)
    assert svc.name == deployed.name and svc.model_id == MODEL and svc.engine == "tgi"
    assert (svc.supervisor, svc.unit) == ("docker", None)
    assert svc.port == deployed.port and svc.url == f"http://127.0.0.1:{deployed.port}"
    assert svc.state == "running" and svc.health == local.HEALTHY
    assert svc.config_hash == deployed.rendered.config_hash
    assert deployed.name in [s.name for s in local.services()]


def test_stop_start_restart_through_docker(deployed) -> None:
    local.wait_ready(deployed.name, timeout=60)
    before = deployed.inspect()["State"]["StartedAt"]

    stopped = local.stop(deployed.name)
    assert stopped.state == "exited" and stopped.health == local.STOPPED
    assert deployed.inspect()["State"]["Running"] is False

    started = local.start(deployed.name)
    assert started.state == "running"
    assert local.wait_ready(deployed.name, timeout=60).health == local.HEALTHY
    after_start = deployed.inspect()["State"]["StartedAt"]
    assert after_start != before

    local.restart(deployed.name)
    assert deployed.inspect()["State"]["StartedAt"] != after_start
    assert local.wait_ready(deployed.name, timeout=60).health == local.HEALTHY


def test_the_container_carries_the_stop_timeout_derived_from_the_engine(deployed) -> None:
    """`docker run --stop-timeout`: a plain `docker stop`, dockerd's own shutdown and
    `tgi-infra local stop/restart` give TGI its --graceful-termination-timeout (90 s) + 30 s."""
    attrs = deployed.inspect()
    assert attrs["Config"]["StopTimeout"] == stop_timeout(deployed.svc) == 120
    assert local._stop_timeout(attrs) == 120
    assert local._stop_timeout({"Config": {}}) == 30  # deployed before: the earlier -t 30


def test_logs_are_the_containers(deployed) -> None:
    local.wait_ready(deployed.name, timeout=60)
    text = local.logs(deployed.name, tail=500)
    # what the stand-in prints, as TGI does, when it starts serving (lab/tgi_standin/logs.py)
    assert MODEL in text, text[-2000:]
    assert len(local.logs(deployed.name, tail=1).splitlines()) == 1


def test_cli_verbs(deployed) -> None:
    local.wait_ready(deployed.name, timeout=60)
    out = _cli("status", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    row = rows[deployed.name]
    assert (row["model_id"], row["engine"], row["port"]) == (MODEL, "tgi", deployed.port)
    assert row["health"] == "healthy" and row["config_hash"] == deployed.rendered.config_hash

    table = _cli("status", deployed.name)
    assert table.returncode == 0, table.stderr
    line = next(ln for ln in table.stdout.splitlines() if ln.startswith(deployed.name))
    assert MODEL in line and "docker" in line and str(deployed.port) in line and "healthy" in line

    stop = _cli("stop", deployed.name)
    assert stop.returncode == 0, stop.stderr
    assert "container exited" in stop.stdout
    assert deployed.inspect()["State"]["Running"] is False
    start = _cli("start", deployed.name, "--wait", "60")
    assert start.returncode == 0, start.stderr
    assert f"ready at http://127.0.0.1:{deployed.port}" in start.stdout
    restart = _cli("restart", deployed.name, "--wait", "60")
    assert restart.returncode == 0, restart.stderr
    logs = _cli("logs", deployed.name, "-n", "1000")
    assert logs.returncode == 0 and MODEL in logs.stdout, logs.stderr


def test_unknown_service_lists_the_known_ones(deployed) -> None:
    with pytest.raises(local.NoSuchService) as err:
        local.status("no-such-service")
    assert deployed.name in err.value.known
    out = _cli("stop", "no-such-service")
    assert out.returncode == 1
    assert "error: no service 'no-such-service' on this machine; known services:" in out.stderr
    assert deployed.name in out.stderr


def test_no_docker_daemon(tmp_path) -> None:
    dead = f"unix://{tmp_path}/dead.sock"
    env = {**os.environ, "DOCKER_HOST": dead}
    out = _cli("status", env=env)
    assert out.returncode == 1
    assert f"error: no Docker daemon answers at {dead}" in out.stderr, out.stderr
    assert "systemctl start docker" in out.stderr and "Traceback" not in out.stderr


def _unreachable_socket(tmp_path: Path) -> str:
    """A listening socket this (non-root) user may not connect to: mode 000."""
    path = tmp_path / "closed.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.listen(1)
    path.chmod(0)
    return f"unix://{path}"


def _cli_as_nobody(args: list[str], err_path: Path) -> int:
    """The package CLI in a forked child that dropped root for ``nobody`` (uid/gid 65534, no
    supplementary groups): the venv's python (under /root) is not reachable by nobody, so the
    child keeps this process's imports instead of exec-ing one."""
    import docker  # noqa: F401 - imported before the fork, as root
    from tgi_infra.cli.commands import main

    with err_path.open("w") as err:
        pid = os.fork()
        if pid == 0:  # child
            try:
                sys.stderr = err  # (pytest replaces sys.stderr: not fd 2)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                os.environ["USER"] = "nobody"
                code = main(args)
            except BaseException:  # noqa: BLE001 - report anything and leave the child
                import traceback

                traceback.print_exc()
                code = 99
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_permission_denied_on_the_socket(tmp_path) -> None:
    """A user who may not use the Docker socket. As root: the user nobody on the real socket
    (root would bypass any file mode). Otherwise: this user on a socket of mode 000."""
    if os.geteuid() == 0:
        where = os.environ.get("DOCKER_HOST") or local.DEFAULT_SOCKET
        err = tmp_path / "err"
        code = _cli_as_nobody(["status"], err)
        stderr = err.read_text()
    else:
        where = _unreachable_socket(tmp_path)
        out = _cli("status", env={**os.environ, "DOCKER_HOST": where})
        code, stderr = out.returncode, out.stderr
    assert code == 1, stderr
    assert f"error: permission denied on the Docker socket {where}" in stderr, stderr
    assert "usermod -aG docker" in stderr and "sudo" in stderr


def test_wait_ready_fails_with_the_log_when_the_container_exits(tmp_path, standin_image) -> None:
    """A service whose launcher refuses its flags: wait_ready stops at once with the cause."""
    name = f"local-bad-{uuid.uuid4().hex[:6]}"
    try:
        _docker(
            "run", "-d", "--name", name, "--label", "tgi-infra.managed=true",
            "--label", f"{LABEL_SUPERVISOR}=docker", standin_image, "--no-such-flag",
        )  # fmt: skip
        start = time.monotonic()
        with pytest.raises(local.NotReady) as err:
            local.wait_ready(name, timeout=120)
        assert time.monotonic() - start < 60
        assert f"service {name} is exited" in str(err.value)
        assert "likely cause: the launcher refused its arguments" in str(err.value)
    finally:
        _docker("rm", "-f", name, check=False)


def notebook_doc_snippet() -> str:
    """The python block of docs/notebook.md ("From a notebook on the same machine")."""
    doc = (REPO / "docs/notebook.md").read_text()
    assert doc.startswith("# From a notebook on the same machine\n")
    return re.search(r"```python\n(.*?)```", doc, re.S).group(1)


@pytest.mark.release  # the whole smoke suite through a fresh interpreter: slow
def test_readme_notebook_section_runs_as_written(deployed) -> None:
    """The snippet, unchanged, against a stopped service: started, ready, called, smoked."""
    local.stop(deployed.name)
    snippet = notebook_doc_snippet()
    assert "local.start(name)" in snippet and "local.smoke(name)" in snippet
    out = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=REPO,
        env={**os.environ, "TGI_SERVICE": deployed.name},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{MODEL} tgi docker http://127.0.0.1:{deployed.port} healthy ")
    assert lines[1].startswith("200 ")
    assert any(ln.startswith("passed   generate:") for ln in lines), out.stdout
    assert local.status(deployed.name).running
