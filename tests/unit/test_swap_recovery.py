"""An interrupted swap (deploy/services/swap.py): the next deploy finishes it. Facts in (the
service's
container, ``<name>-previous``, the copies kept in its directory), one decision and the host
commands out; the rendered files go with their container like the env file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tgi_infra.services import swap as swap_mod
from tgi_infra.services.managed_dir import is_managed_name
from tgi_infra.services.ready import WaitTarget
from tgi_infra.services.swap import (
    COMMIT,
    PUT_BACK,
    ROLL_BACK,
    Swap,
    drop_command,
    interrupted_swap,
    keep_command,
    kept_names,
    restore_command,
    rollback_command,
)

from tests.helpers.recorded_host import RecordedHost

ENV = "/opt/tgi/tgi-a/service.env"
UNIT = "tgi-tgi-a.service"
RUNNING = {"running": True, "status": "running", "labels": {"tgi-infra.config-hash": "new"}}
STOPPED = {"running": False, "status": "exited", "labels": {"tgi-infra.config-hash": "new"}}
OLD = {"running": False, "status": "exited", "labels": {"tgi-infra.config-hash": "old"}}


def spec(**kw) -> Swap:
    base = dict(name="tgi-a", unit=UNIT, creation_script="", image="", env_file=ENV, volume="",
                model_id="org/m", revision=None, why="an interrupted swap")  # fmt: skip
    return Swap(**{**base, **kw})


# -- the decision: facts in ------------------------------------------------------------------


def test_nothing_left_over_is_nothing_to_do():
    assert interrupted_swap("tgi-a", RUNNING, None, []) is None
    assert interrupted_swap("tgi-a", None, None, []) is None


def test_previous_container_next_to_a_running_new_one_is_committed():
    left = interrupted_swap("tgi-a", RUNNING, OLD, [".service.env.previous"])
    assert left.action == COMMIT
    assert left.found == ("tgi-a-previous", ".service.env.previous")
    assert left.line("tgi-a") == (
        "tgi-a: an interrupted swap was found (tgi-a-previous, .service.env.previous): the new "
        "container runs: the previous one is removed (committed)"
    )


@pytest.mark.parametrize("current", [None, STOPPED], ids=["new-missing", "new-stopped"])
def test_previous_container_without_a_running_new_one_is_restored(current):
    left = interrupted_swap("tgi-a", current, OLD, [])
    assert left.action == ROLL_BACK
    assert "the new container is missing or not running: the previous one is restored" in (
        left.line("tgi-a")
    )


def test_copies_without_a_previous_container_are_put_back():
    """The swap stopped before the old container was set aside: it still runs, and the
    copies are its files (the ones on disk are the new config's)."""
    left = interrupted_swap("tgi-a", RUNNING, None, [".service.env.previous"])
    assert left.action == PUT_BACK
    assert "put back" in left.line("tgi-a")


def test_the_line_names_the_previous_container_and_the_env_copy_and_counts_the_rest():
    left = interrupted_swap("tgi-a", RUNNING, OLD, list(kept_names(ENV, UNIT)))
    assert left.line("tgi-a").startswith(
        "tgi-a: an interrupted swap was found (tgi-a-previous, .service.env.previous, 6 kept "
        "rendered files): the new container runs"
    )


def test_kept_names_are_the_env_file_the_scripts_and_the_unit():
    assert kept_names(ENV, UNIT) == (
        ".service.env.previous",
        ".tgi-service-creation.sh.previous",
        ".tgi-service.sh.previous",
        ".tgi-service-stop.sh.previous",
        ".tgi-service-logs.sh.previous",
        ".service.env.example.previous",
        ".tgi-tgi-a.service.previous",
    )
    assert UNIT not in " ".join(kept_names(ENV, None))
    # `present: false` removes them with the rest of the service's files
    assert all(is_managed_name(n) and is_managed_name(n + ".new") for n in kept_names(ENV, UNIT))
    assert not is_managed_name(".notes.previous")


# -- the commands: out -------------------------------------------------------------------------


def probe() -> WaitTarget:
    return WaitTarget(
        name="tgi-a", url="http://127.0.0.1:8080", env_file=ENV, timeout=5, api_key=False
    )


def test_commit_removes_the_previous_container_and_every_copy(recorded, monkeypatch):
    monkeypatch.setattr(swap_mod, "wait_ready", lambda *a: pytest.fail("nothing to wait for"))
    left = interrupted_swap("tgi-a", RUNNING, OLD, [])
    swap_mod.recover(None, recorded, spec(), left, probe())
    assert recorded.commands == [
        f"docker rm -f tgi-a-previous >/dev/null 2>&1; {drop_command(ENV, UNIT)}"
    ]
    assert ".tgi-service-creation.sh.previous" in drop_command(ENV, UNIT)


def test_roll_back_restores_files_then_the_previous_container_and_waits(recorded, monkeypatch):
    waited = []
    monkeypatch.setattr(swap_mod, "wait_ready", lambda state, host, p: waited.append(p.name))
    swap_mod.recover(None, recorded, spec(), interrupted_swap("tgi-a", None, OLD, []), probe())
    assert recorded.commands[0] == rollback_command(spec())
    assert "docker inspect -f '{{.State.Running}}' tgi-a" in recorded.commands[1]
    assert waited == ["tgi-a"]


def test_put_back_restores_the_files_and_touches_no_container(recorded, monkeypatch):
    monkeypatch.setattr(swap_mod, "wait_ready", lambda *a: pytest.fail("nothing to wait for"))
    left = interrupted_swap("tgi-a", RUNNING, None, [".tgi-service-creation.sh.previous"])
    swap_mod.recover(None, recorded, spec(), left, probe())
    assert recorded.commands == [restore_command(ENV, UNIT)]


def test_rollback_puts_the_rendered_files_back_before_the_previous_container_starts():
    cmd = rollback_command(spec())
    script = "mv -f -- /opt/tgi/tgi-a/.tgi-service-creation.sh.previous "
    unit = f"mv -f -- /opt/tgi/tgi-a/.{UNIT}.previous /etc/systemd/system/{UNIT} && "
    assert cmd.index("docker rm -f tgi-a ") < cmd.index(script) < cmd.index("docker rename")
    # a unit that differs is loaded again before systemd starts the previous container
    assert cmd.index(unit + "systemctl daemon-reload") < cmd.index(f"systemctl start {UNIT}")


def test_failed_prefetch_puts_the_rendered_files_back(recorded):
    from pyinfra.api.exceptions import OperationError

    host = RecordedHost(fails_on="download-weights")
    with pytest.raises(OperationError, match="service.env and files were put back"):
        swap_mod.prefetch(None, host, spec(image="img", volume="/v"))
    assert host.commands[-1] == restore_command(ENV, UNIT)


# -- on real files: kept, new ones written, put back; or dropped ------------------------------


def sh(cmd: str) -> None:
    subprocess.run(["sh", "-c", cmd], check=True, timeout=30)


def test_rendered_files_are_kept_and_put_back_with_their_modes(tmp_path: Path, monkeypatch):
    units = tmp_path / "units"
    units.mkdir()
    monkeypatch.setattr(swap_mod, "UNIT_DIR", str(units))
    d = tmp_path / "svc"
    d.mkdir()
    env = d / "service.env"
    env.write_text("HF_TOKEN=old\n")
    old = {n: f"# old {n}\n" for n in swap_mod.RENDERED_FILES}
    for n, text in old.items():
        (d / n).write_text(text)
        (d / n).chmod(0o755 if n.endswith(".sh") else 0o644)
    (units / UNIT).write_text("[Unit]\n")
    sh(keep_command(str(env), UNIT))
    for n in swap_mod.RENDERED_FILES:  # the deploy writes the new config (by rename)
        (d / n).write_text(f"# new {n}\n")
    env.write_text("HF_TOKEN=new\n")
    # an identical unit is not moved (no daemon-reload needed): its copy is dropped
    sh(restore_command(str(env), UNIT))
    assert {n: (d / n).read_text() for n in old} == old
    assert (d / "tgi-service-creation.sh").stat().st_mode & 0o777 == 0o755
    assert (d / "service.env.example").stat().st_mode & 0o777 == 0o644
    assert env.read_text() == "HF_TOKEN=old\n"
    assert sorted(p.name for p in d.iterdir()) == sorted([*old, "service.env"])
    assert (units / UNIT).read_text() == "[Unit]\n"


def test_drop_removes_every_copy_and_keeps_the_new_files(tmp_path: Path):
    env = tmp_path / "service.env"
    env.write_text("HF_TOKEN=old\n")
    for n in swap_mod.RENDERED_FILES:
        (tmp_path / n).write_text("old\n")
    sh(keep_command(str(env), None))
    assert len(list(tmp_path.iterdir())) == 2 * (len(swap_mod.RENDERED_FILES) + 1)
    (tmp_path / "tgi-service-creation.sh").write_text("new\n")
    sh(drop_command(str(env), None))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*swap_mod.RENDERED_FILES, "service.env"]
    )
    assert (tmp_path / "tgi-service-creation.sh").read_text() == "new\n"


# -- in the deploy: the leftovers are facts, the recovery comes before the rest ---------------

FLEET = """
import json as _json

M = "@@tgi-infra:"
_INFO = ('{"ServerVersion":"28.3.2","CgroupDriver":"systemd","Name":"cpu-1",'
         '"OperatingSystem":"Debian GNU/Linux 12 (bookworm)","Runtimes":{"runc":{}}}')


def _container(name, running, config_hash):
    return _json.dumps({
        "Name": "/" + name, "Id": name, "Image": "sha256:1", "RestartCount": 0,
        "State": {"Running": running, "Status": "running" if running else "exited",
                  "ExitCode": 0},
        "Config": {"Labels": {"tgi-infra.config-hash": config_hash}, "Image": "x"},
    })


_INSPECT = [_container(n, r, h) for n, r, h in %(containers)r]
hosts = [("@fake/cpu", {
    "fake_delay": 0, "fake_delay_jitter": 0, "tgi_docker_source": "docker-ce",
    "tgi_gpus": "none", "tgi_hub_check": False,
    "tgi_services": [{"name": "alpha", "model_id": "org/a", "present": %(present)r}],
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
        "docker container inspect --format": [
            M + "names alpha alpha-previous", M + "inspect", *_INSPECT,
        ],
        "@@tgi-infra-managed:exists": [
            "@@tgi-infra-managed:exists", "@@tgi-infra-managed:entries", *%(entries)r,
        ],
    },
})]
"""
RECOVER = "TGI service: finish an interrupted swap (commit it or roll it back)"
KEEP = (
    "TGI service: keep the running container's files for a rollback (service.env 0600, "
    "scripts, unit)"
)
REPLACE = "TGI service: replace the running container (previous kept until ready)"


def plan(
    tmp_path: Path, containers: list, entries: list, present: bool = True
) -> tuple[list[str], str]:
    repo = Path(__file__).resolve().parents[2]
    fleet = FLEET % {"containers": containers, "entries": entries, "present": present}
    (tmp_path / "fleet.py").write_text(fleet)
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
    names = [op["names"][0].rsplit(" | ", 1)[-1] for op in json.loads(proc.stdout)["op_order"]]
    return names, proc.stderr


def test_deploy_commits_a_previous_container_left_next_to_the_running_one(tmp_path: Path):
    names, log = plan(
        tmp_path,
        [("alpha", True, "an-older-config"), ("alpha-previous", False, "older-still")],
        ["service.env", ".service.env.previous", ".tgi-service-creation.sh.previous"],
    )
    assert "alpha: an interrupted swap was found (alpha-previous, .service.env.previous, " in log
    assert "the previous one is removed (committed)" in log
    # first the leftovers, then this deploy's own swap keeps fresh copies
    assert names.index(RECOVER) < names.index(KEEP) < names.index(REPLACE), names


def test_deploy_restores_a_previous_container_then_plans_on_it(tmp_path: Path):
    """The new container is gone: the previous one (an older config, running once restored)
    is what the deploy then changes, by a swap that keeps its restored files."""
    names, log = plan(tmp_path, [("alpha-previous", False, "an-older-config")], [])
    assert "alpha: an interrupted swap was found (alpha-previous): the new container is " in log
    assert "the previous one is restored (rolled back)" in log
    assert names.index(RECOVER) < names.index(KEEP) < names.index(REPLACE), names
    assert "TGI service: (re)create container" not in names


def test_deploy_without_leftovers_plans_no_recovery(tmp_path: Path):
    names, log = plan(tmp_path, [("alpha", True, "an-older-config")], ["service.env"])
    assert RECOVER not in names
    assert "interrupted swap" not in log


def test_removing_a_service_removes_its_leftover_previous_container(tmp_path: Path):
    containers = [("alpha", True, "an-older-config"), ("alpha-previous", False, "older-still")]
    names, log = plan(tmp_path, containers, [], present=False)
    assert "Removed TGI service: previous container of an interrupted swap" in names, names
    assert "alpha: an interrupted swap left alpha-previous: removed" in log
