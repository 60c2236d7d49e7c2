"""Every apt command of the deploy waits for apt's locks (deploy/host/apt_install.py), up to
``tgi_apt_lock_timeout``: unattended-upgrades holds them on a freshly booted cloud VM.

Two halves: the deploy's steps on pyinfra's ``@fake`` connector (facts in, commands out: which
apt commands run and with what), and the waiting itself with the real apt of this machine, in
a private apt root (``APT_CONFIG``: its own lists, dpkg status, cache, sources) whose locks a
second process holds with fcntl, as apt and dpkg take them.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host import apt_install

LISTS_HELD = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)"


# -- the deploy's apt commands: facts in, commands out ----------------------------------------


def run_install_steps(responses: dict, **host_data) -> tuple[list[str], bool]:
    """docker_engine.install then nvidia_toolkit.install on a fresh Debian host (dpkg knows
    no package): the commands run, and whether the host failed."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops
    from tgi_infra.host import docker_engine, nvidia_toolkit

    data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": responses}
    inventory = Inventory(([("@fake/gpu-1", data)], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@fake/gpu-1")
    cfg = load_host_config("gpu-1", {"tgi_gpus": "all", **host_data})
    plan = SimpleNamespace(
        skip_engine_and_toolkit=False,
        docker_flavour="absent",
        engine_note="",
        distro_id="debian",
        codename="bookworm",
    )
    add_deploy(state, docker_engine.install, cfg, plan)
    add_deploy(state, nvidia_toolkit.install, cfg, plan)
    try:
        run_ops(state)
    except PyinfraError:  # "No hosts remaining!": the one host failed
        pass
    return host.connector.executed_commands, host in state.failed_hosts


def apt_commands(commands: list[str]) -> list[str]:
    return [c for c in commands if "apt-get" in c and " --dry-run" not in c]


def test_every_install_carries_the_dpkg_lock_wait_of_the_setting():
    commands, failed = run_install_steps({}, tgi_apt_lock_timeout=42)
    assert not failed
    installs = [c for c in apt_commands(commands) if " install" in c]
    # prerequisites, docker.io, the toolkit's four packages (pyinfra's apt.packages)
    assert any("docker.io" in c for c in installs), commands
    assert any("nvidia-container-toolkit" in c for c in installs), commands
    assert len(installs) >= 3
    for command in installs:
        assert "-o DPkg::Lock::Timeout=42" in command, command
    updates = [c for c in apt_commands(commands) if "apt-get update" in c]
    assert len(updates) >= 2, commands  # the full update, the toolkit source's own


def test_the_default_wait_is_ten_minutes():
    commands, failed = run_install_steps({})
    assert not failed
    installs = [c for c in apt_commands(commands) if " install" in c]
    assert installs and all("-o DPkg::Lock::Timeout=600" in c for c in installs), installs


def test_update_is_tried_again_while_the_lists_lock_is_held_then_fails_naming_it(caplog):
    held = {"success": False, "stdout": ["Reading package lists..."], "stderr": [LISTS_HELD]}
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        commands, failed = run_install_steps({"apt-get update": held}, tgi_apt_lock_timeout=2)
    assert failed
    assert time.monotonic() - start >= 2
    updates = [c for c in commands if "apt-get update" in c]
    assert len(updates) >= 2, commands  # tried again while the lock was held
    assert not any(" install" in c for c in apt_commands(commands)), commands
    log = caplog.text
    assert (
        "waiting up to 2 s (tgi_apt_lock_timeout) for apt's lock /var/lib/apt/lists/lock "
        "(held by process 812 (apt-get))"
    ) in log
    assert "was still held after 2 s (tgi_apt_lock_timeout)" in log, log
    assert "Traceback" not in log


def test_a_lock_error_is_not_taken_for_a_bad_toolkit_signature(caplog):
    """The toolkit's own update, refused for a held lock, fails as such: its source is kept
    (a signature failure would disable it)."""
    from tgi_infra.host.nvidia_toolkit import SOURCE_LIST

    held = {"success": False, "stderr": [LISTS_HELD]}
    responses = {"sources.list.d/nvidia-container-toolkit.list -o": held}
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        commands, failed = run_install_steps(responses, tgi_apt_lock_timeout=0)
    assert failed
    assert not any(f"mv -f {SOURCE_LIST}" in c for c in commands), commands
    assert "still held after 0 s" in caplog.text
    assert "could not verify" not in caplog.text


# -- what apt says when a lock is held --------------------------------------------------------


@pytest.mark.parametrize(
    "line, path, holder",
    [
        (LISTS_HELD, "/var/lib/apt/lists/lock", "process 812 (apt-get)"),
        (  # apt 2.x, unattended-upgrades holding dpkg's frontend lock
            "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1463 "
            "(unattended-upgr)",
            "/var/lib/dpkg/lock-frontend",
            "process 1463 (unattended-upgr)",
        ),
        (  # apt 1.6 (Ubuntu 18.04)
            "E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily "
            "unavailable)",
            "/var/lib/dpkg/lock",
            None,
        ),
    ],
)
def test_held_lock_names_the_lock_and_its_holder(line, path, holder):
    lock = apt_install.held_lock(["Reading package lists...", line, "E: Unable to lock ..."])
    assert lock == apt_install.HeldLock(path, holder)


def test_other_errors_are_not_a_held_lock():
    assert apt_install.held_lock(["E: Unable to locate package docker-compose"]) is None


# -- the waiting, with the real apt of this machine -------------------------------------------


@pytest.fixture
def apt_root(tmp_path: Path) -> dict[str, str]:
    """An apt of its own (no source: nothing downloaded), as ``APT_CONFIG``; the paths of its
    locks under ``lists``, ``frontend`` and ``dpkg``."""
    for d in (
        "state/lists/partial",
        "cache/archives/partial",
        "dpkg/updates",
        "etc/sources.list.d",
        "etc/apt.conf.d",
        "etc/preferences.d",
        "log",
    ):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "dpkg/status").write_text("")
    (tmp_path / "etc/sources.list").write_text("")
    conf = tmp_path / "apt.conf"
    conf.write_text(
        f'Dir::State "{tmp_path}/state";\n'
        f'Dir::State::status "{tmp_path}/dpkg/status";\n'
        f'Dir::Cache "{tmp_path}/cache";\n'
        f'Dir::Etc "{tmp_path}/etc";\n'
        f'Dir::Log "{tmp_path}/log";\n'
    )
    return {
        "APT_CONFIG": str(conf),
        "lists": str(tmp_path / "state/lists/lock"),
        "frontend": str(tmp_path / "dpkg/lock-frontend"),
        "dpkg": str(tmp_path / "dpkg/lock"),
    }


HOLD = """
import fcntl, os, sys, time
fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o640) for p in sys.argv[2:]]
for fd in fds:
    fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


@contextmanager
def held(seconds: float, *paths: str) -> Iterator[int]:
    """``paths`` locked by another process (fcntl, as apt and dpkg lock) for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(seconds), *paths], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def holder(pid: int) -> str:
    """How apt names a lock's holder: its pid and comm."""
    return f"process {pid} ({Path(f'/proc/{pid}/comm').read_text().strip()})"


def runner(apt_root: dict[str, str]):
    env = {**os.environ, "APT_CONFIG": apt_root["APT_CONFIG"]}

    def run(command: str) -> tuple[bool, list[str]]:
        proc = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
        return proc.returncode == 0, (proc.stdout + proc.stderr).splitlines()

    return run


def test_real_apt_update_refuses_at_once_and_the_deploy_waits_for_the_lists_lock(apt_root):
    run = runner(apt_root)
    with held(30, apt_root["lists"]) as pid:
        ok, lines = run(apt_install.update_command())  # apt itself does not wait here
        assert not ok
        assert apt_install.held_lock(lines) == apt_install.HeldLock(apt_root["lists"], holder(pid))
    waits = []
    with held(2, apt_root["lists"]):
        start = time.monotonic()
        ok, lines, lock = apt_install.run_waiting_for_locks(
            run, apt_install.update_command(), 60, on_wait=waits.append
        )
    assert ok and lock is None, lines
    assert time.monotonic() - start >= 1.5
    assert [w.path for w in waits] == [apt_root["lists"]]


def test_real_apt_update_gives_up_after_the_timeout_naming_the_holder(apt_root):
    with held(30, apt_root["lists"]) as pid:
        start = time.monotonic()
        ok, _, lock = apt_install.run_waiting_for_locks(
            runner(apt_root), apt_install.update_command(), 2
        )
        elapsed = time.monotonic() - start
        assert not ok and lock == apt_install.HeldLock(apt_root["lists"], holder(pid))
    assert 2 <= elapsed < 10


def test_real_apt_install_waits_for_dpkgs_locks_itself(apt_root):
    """The install command as the deploy builds it: apt waits for lock-frontend and lock
    (DPkg::Lock::Timeout), then goes on."""
    run = runner(apt_root)
    command = apt_install.install_command([], [], 60)
    with held(2, apt_root["frontend"], apt_root["dpkg"]):
        start = time.monotonic()
        ok, lines = run(command)
    assert ok, lines
    assert time.monotonic() - start >= 1.5
    # without the option apt refuses at once: the option is what waited
    with held(30, apt_root["frontend"], apt_root["dpkg"]):
        ok, lines = run(command.replace(apt_install.lock_wait_option(60), ""))
    assert not ok and apt_install.held_lock(lines).path == apt_root["frontend"], lines
