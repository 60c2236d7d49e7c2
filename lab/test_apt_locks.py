"""A first deploy on a fresh host whose apt is busy (unattended-upgrades on a freshly booted
cloud VM): the deploy waits for apt's locks and succeeds once they are released.

The locks are held on the host as apt and dpkg hold them (fcntl, by a process of the host):
first apt's lists lock (``apt-get update``, for which apt itself never waits: the deploy tries
again), then dpkg's frontend lock and lock (the install: apt waits itself, ``-o
DPkg::Lock::Timeout``). Each is released only once the deploy is seen waiting for it.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from lab import lab
from lab.conftest import REPO, lab_env

LISTS_LOCK = "/var/lib/apt/lists/lock"
DPKG_LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")
# a process of the host holding fcntl locks until killed (its pid is printed)
HOLD = (
    "import fcntl, os, sys, time\n"
    "fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o640) for p in sys.argv[1:]]\n"
    "[fcntl.lockf(fd, fcntl.LOCK_EX) for fd in fds]\n"
    "time.sleep(3600)\n"
)


@pytest.fixture(scope="module")
def fresh_host():
    """``lab-debian12-1`` (systemd, SSH as root) brought up bare on this lab's infra, its lab
    state and the environment of ``inventories/lab_profiles.py`` for it; removed afterwards."""
    from lab import profiles

    profile = profiles.BY_NAME["debian12"]
    spec = lab.HostSpec(profile.host, profile.kind, release=profile.release)
    state = lab.up(hosts=[spec], fresh=True, state_file=profiles.state_file(profile))
    env = profiles.profile_env(profile, Path(state.state_dir), lab_env())
    try:
        yield state, profile.host, env
    finally:
        if os.environ.get("TGI_LAB_KEEP") != "1":
            lab.remove_host(docker.from_env(timeout=600), profile.host)


def _hold(state, host: str, *paths: str) -> str:
    """Start a holder of ``paths`` on the host; its pid once it holds them all."""
    script = HOLD.replace("'", "'\\''")
    pid = lab.exec_on(
        state,
        host,
        f"setsid python3 -c '{script}' {' '.join(paths)} >/dev/null 2>&1 < /dev/null & echo $!",
    ).strip()
    probe = (
        f'python3 -c \'import fcntl, os; fcntl.lockf(os.open("{paths[-1]}", '
        "os.O_RDWR | os.O_CREAT), fcntl.LOCK_EX | fcntl.LOCK_NB)' 2>/dev/null "
        "&& echo free || echo held"
    )
    deadline = time.monotonic() + 30
    while lab.exec_on(state, host, probe).strip() != "held":
        assert time.monotonic() < deadline, f"{host}: the holder never took {paths}"
        time.sleep(0.2)
    return pid


def _host_now(state, host: str) -> datetime.datetime:
    stamp = lab.exec_on(state, host, "date '+%Y-%m-%d %H:%M:%S'").strip()
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")


def _read_until(proc: subprocess.Popen, marker: str, seen: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while not any(marker in line for line in seen):
        line = proc.stdout.readline()
        assert line, f"the deploy ended before {marker!r}:\n{''.join(seen)[-5000:]}"
        seen.append(line)
        assert time.monotonic() < deadline, f"no {marker!r} in {timeout}s:\n{''.join(seen)[-5000:]}"


def _wait_for_process(state, host: str, pattern: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not lab.exec_on(state, host, f"pgrep -f -- '{pattern}' || true").strip():
        assert time.monotonic() < deadline, f"{host}: no process {pattern!r} in {timeout}s"
        time.sleep(0.5)


def test_first_deploy_waits_for_apt_locks_held_by_another_apt_run(fresh_host):
    state, host, env = fresh_host
    # the deploy must install Docker Engine (apt-get update, then apt-get install)
    assert "ok installed" not in lab.exec_on(state, host, "dpkg -s docker.io 2>&1 || true")
    lists_holder = _hold(state, host, LISTS_LOCK)
    dpkg_holder = _hold(state, host, *DPKG_LOCKS)
    pyinfra = os.path.join(os.path.dirname(sys.executable), "pyinfra")
    proc = subprocess.Popen(
        [pyinfra, "-y", "inventories/lab_profiles.py", "deploy/main.py"],
        cwd=REPO,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        # apt-get update refused (lists lock): the deploy says it waits, and tries again
        _read_until(proc, f"for apt's lock {LISTS_LOCK}", seen, timeout=600)
        time.sleep(5)
        assert proc.poll() is None, "".join(seen)[-5000:]
        lab.exec_on(state, host, f"kill {lists_holder}")
        # the install now waits inside apt for dpkg's locks (DPkg::Lock::Timeout)
        # ([a]: the pattern does not match the shell that runs pgrep)
        _wait_for_process(state, host, "[a]pt-get .*install.*DPkg::Lock::Timeout=600")
        time.sleep(5)
        assert proc.poll() is None, "".join(seen)[-5000:]
        assert "ok installed" not in lab.exec_on(state, host, "dpkg -s docker.io 2>&1 || true")
        released = _host_now(state, host)
        lab.exec_on(state, host, f"kill {dpkg_holder}")
        rest, _ = proc.communicate(timeout=1500)
        seen.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
        lab.exec_on(state, host, f"kill {lists_holder} {dpkg_holder} 2>/dev/null", check=False)
    out = "".join(seen)
    assert proc.returncode == 0, out[-6000:]
    assert "Could not get lock" not in out, out[-6000:]
    # docker.io went in after dpkg's locks were released (dpkg.log: "<date> <time> install ...")
    line = lab.exec_on(state, host, "grep -m1 ' install docker.io' /var/log/dpkg.log").strip()
    installed = datetime.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    assert installed >= released, (line, released)
