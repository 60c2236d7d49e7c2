"""deploy/services/swap.py commands: TGI's downloader from the new image, the token only by env
file;
the env file kept for a rollback, put back by it, dropped on commit."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from tgi_infra.services import swap as swap_mod
from tgi_infra.services.ready import WaitTarget
from tgi_infra.services.swap import (
    Swap,
    drop_env_command,
    keep_env_command,
    prefetch_command,
    previous_env_file,
    restore_env_command,
    rollback_command,
    start_command,
    stop_command,
)

from tests.helpers.recorded_host import RecordedHost


def spec(**kw) -> Swap:
    base = dict(name="tgi-a", unit="tgi-tgi-a.service", creation_script="/opt/tgi/tgi-a/c.sh",
                image="ghcr.io/huggingface/text-generation-inference:3.3.7",
                env_file="/opt/tgi/tgi-a/service.env", volume="/var/lib/tgi/data",
                model_id="org/m", revision="abc123", why="config changed")  # fmt: skip
    return Swap(**{**base, **kw})


def test_prefetch_runs_download_weights_of_the_new_image_with_the_env_file():
    argv = shlex.split(prefetch_command(spec()).removesuffix(" 2>&1"))
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--env-file") + 1] == "/opt/tgi/tgi-a/service.env"
    assert argv[argv.index("-v") + 1] == "/var/lib/tgi/data:/data"
    assert argv[argv.index("--entrypoint") + 1] == "text-generation-server"
    i = argv.index("ghcr.io/huggingface/text-generation-inference:3.3.7")
    assert argv[i + 1 :] == ["download-weights", "org/m", "--revision", "abc123"]
    assert not any("HF_TOKEN" in a for a in argv)
    assert "--revision" not in prefetch_command(spec(revision=None))


def test_stop_and_start_follow_the_supervisor():
    assert stop_command(spec(stop_timeout=120), "tgi-a") == (
        "systemctl stop tgi-tgi-a.service; docker stop -t 120 tgi-a >/dev/null"
    )
    assert "systemctl start tgi-tgi-a.service" in start_command(spec(), "tgi-a")
    assert stop_command(spec(unit=None, stop_timeout=330), "tgi-a") == (
        "docker stop -t 330 tgi-a >/dev/null"
    )
    assert start_command(spec(unit=None), "tgi-a") == "docker start tgi-a"
    assert spec().previous == "tgi-a-previous"


# -- the env file goes with its container: kept for a rollback, put back, dropped on commit ----


def sh(cmd: str) -> None:
    subprocess.run(["sh", "-c", cmd], check=True, timeout=30)


def test_previous_env_file_is_hidden_next_to_the_env_file():
    assert previous_env_file("/opt/tgi/tgi-a/service.env") == "/opt/tgi/tgi-a/.service.env.previous"


def test_keep_then_restore_puts_the_old_env_file_back_0600(tmp_path: Path):
    env = tmp_path / "service.env"
    env.write_text("HF_TOKEN=old\nMODEL_ID=org/old\n")
    env.chmod(0o644)  # even a file left wider by an older version: the copy is 0600
    os.umask(0o022)
    sh(keep_env_command(str(env)))
    prev = Path(previous_env_file(str(env)))
    assert prev.read_text() == "HF_TOKEN=old\nMODEL_ID=org/old\n"
    assert stat.S_IMODE(prev.stat().st_mode) == 0o600
    # the deploy replaces service.env by rename (deploy/services/atomic.py), as here
    new = tmp_path / "staged"
    new.write_text("HF_TOKEN=new\nMODEL_ID=org/new\n")
    new.chmod(0o600)
    new.rename(env)
    sh(restore_env_command(str(env)))
    assert env.read_text() == "HF_TOKEN=old\nMODEL_ID=org/old\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert not prev.exists()
    sh(restore_env_command(str(env)))  # nothing kept: nothing happens
    assert env.read_text() == "HF_TOKEN=old\nMODEL_ID=org/old\n"


def test_keep_replaces_a_stale_copy_and_drop_removes_it(tmp_path: Path):
    env, prev = tmp_path / "service.env", Path(previous_env_file(str(tmp_path / "service.env")))
    prev.write_text("HF_TOKEN=stale\n")
    env.write_text("HF_TOKEN=current\n")
    sh(keep_env_command(str(env)))
    assert prev.read_text() == "HF_TOKEN=current\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".service.env.previous", "service.env"]
    sh(drop_env_command(str(env)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.env"]
    prev.write_text("HF_TOKEN=stale\n")
    env.unlink()
    sh(keep_env_command(str(env)))  # no env file on the host: no copy to restore later
    assert not prev.exists()


@pytest.mark.parametrize("unit", ["tgi-tgi-a.service", None])
def test_rollback_stops_the_new_container_with_its_drain_time_before_removing_it(unit):
    """After failed smoke checks the new container may be serving: SIGTERM and the engine's
    drain time first, whichever supervisor, then the removal."""
    cmd = rollback_command(spec(unit=unit, stop_timeout=150))
    assert cmd.index("docker stop -t 150 tgi-a ") < cmd.index("docker rm -f tgi-a ")


def test_rollback_puts_the_env_file_back_before_the_previous_container_starts():
    cmd = rollback_command(spec())
    restore = restore_env_command("/opt/tgi/tgi-a/service.env")
    assert restore in cmd
    assert cmd.index("docker rm -f tgi-a ") < cmd.index(restore)
    assert cmd.index(restore) < cmd.index("docker rename tgi-a-previous tgi-a")
    assert cmd.index(restore) < cmd.index("systemctl start tgi-tgi-a.service")


def probe() -> WaitTarget:
    env = "/opt/tgi/tgi-a/service.env"
    return WaitTarget(
        name="tgi-a", url="http://127.0.0.1:8080", env_file=env, timeout=5, api_key=False
    )


def test_failed_new_container_restores_the_env_file_then_the_container(recorded, monkeypatch):
    from pyinfra.api.exceptions import OperationError

    calls = []

    def ready(state, host, probe):  # the new container never answers; the old one does
        calls.append(probe.name)
        if len(calls) == 1:
            raise OperationError("service tgi-a: not ready after 600s")

    monkeypatch.setattr(swap_mod, "wait_ready", ready)
    with pytest.raises(OperationError, match="rolled back: the previous container was restored"):
        swap_mod.replace(None, recorded, spec(), probe())
    restore = restore_env_command("/opt/tgi/tgi-a/service.env")
    [rollback] = [c for c in recorded.commands if restore in c]
    assert rollback == rollback_command(spec())
    assert not any(drop_env_command(spec().env_file) in c for c in recorded.commands)


def test_ready_new_container_drops_the_kept_env_file(recorded, monkeypatch):
    monkeypatch.setattr(swap_mod, "wait_ready", lambda state, host, probe: None)
    swap_mod.replace(None, recorded, spec(), probe())
    assert any(drop_env_command(spec().env_file) in c for c in recorded.commands)
    assert not any(restore_env_command(spec().env_file) in c for c in recorded.commands)
    # a rollout keeps both until its smoke checks (swap_finish.py)
    kept = RecordedHost()
    swap_mod.replace(None, kept, spec(keep_previous=True), probe())
    assert not any(drop_env_command(spec().env_file) in c for c in kept.commands)


def test_rollout_commit_drops_and_rollback_restores_the_env_file(recorded, monkeypatch):
    monkeypatch.setattr(swap_mod, "wait_ready", lambda state, host, probe: None)
    swap_mod.finish(None, recorded, "commit", "tgi-a", "tgi-tgi-a.service", probe())
    assert any(drop_env_command(spec().env_file) in c for c in recorded.commands)
    back = RecordedHost()
    swap_mod.finish(None, back, "rollback", "tgi-a", "tgi-tgi-a.service", probe())
    assert any(restore_env_command(spec().env_file) in c for c in back.commands)


def test_failed_prefetch_restores_the_env_file(monkeypatch):
    from pyinfra.api.exceptions import OperationError
    from tgi_infra.host import remote

    monkeypatch.setattr(remote, "connector_arguments", lambda state, host: {})

    host = RecordedHost(fails_on="download-weights")
    with pytest.raises(OperationError, match="service.env and files were put back"):
        swap_mod.prefetch(None, host, spec())
    assert restore_env_command(spec().env_file) in host.commands[-1]


# -- in the deploy: the copy is taken before service.env is replaced, only for a swap ---------

FLEET = """
import json as _json

M = "@@tgi-infra:"
_INFO = ('{"ServerVersion":"28.3.2","CgroupDriver":"systemd","Name":"cpu-1",'
         '"OperatingSystem":"Debian GNU/Linux 12 (bookworm)","Runtimes":{"runc":{}}}')
_CONTAINER = _json.dumps({
    "Name": "/alpha", "Id": "abc", "Image": "sha256:1", "RestartCount": 0,
    "State": {"Running": %(running)r, "Status": "running", "ExitCode": 0},
    "Config": {"Labels": {"tgi-infra.config-hash": "an-older-config"}, "Image": "x"},
})
hosts = [("@fake/cpu", {
    "fake_delay": 0, "fake_delay_jitter": 0, "tgi_docker_source": "docker-ce",
    "tgi_gpus": "none", "tgi_hub_check": False,
    "tgi_services": [{"name": "alpha", "model_id": "org/a"}],
    "fake_responses": {
        "osrelease'; cat /proc/sys/kernel/osrelease": [
            M + "osrelease", "6.1.0-28-amd64", M + "proc_version", "Linux version 6.1.0",
            M + "markers", M + "env", "WSL_DISTRO_NAME=", M + "os_release", "ID=debian",
            'VERSION_ID="12"', "VERSION_CODENAME=bookworm", M + "arch", "amd64",
        ],
        "pid1_comm=": ["pid1_comm=systemd", "sd_booted=yes"],
        "docker.io docker-ce": [
            M + "dpkg", "docker-ce\\tinstall ok installed\\t5:28.3.2-1~debian.12~bookworm",
            M + "cli", "/usr/bin/docker", "/usr/bin/docker", M + "info", _INFO,
        ],
        "docker container inspect --format": [M + "names alpha", M + "inspect", _CONTAINER],
    },
})]
"""
KEEP = (
    "TGI service: keep the running container's files for a rollback (service.env 0600, "
    "scripts, unit)"
)


def plan_names(tmp_path: Path, running: bool) -> list[str]:
    import json
    import sys

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "fleet.py").write_text(FLEET % {"running": running})
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), "-y", "fleet.py", str(repo / "deploy/main.py"), "--debug-operations"]
        + ["--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [op["names"][0].rsplit(" | ", 1)[-1] for op in json.loads(proc.stdout)["op_order"]]


def test_deploy_keeps_the_env_file_before_replacing_it_for_a_swap(tmp_path: Path):
    names = plan_names(tmp_path, running=True)
    assert names.index(KEEP) < names.index("TGI service: service.env (0600, secrets)"), names
    assert names.index(KEEP) < names.index(
        "TGI service: replace the running container (previous kept until ready)"
    )
    # a stopped container is recreated, not swapped: nothing to roll back to, nothing kept
    assert KEEP not in plan_names(tmp_path, running=False)
