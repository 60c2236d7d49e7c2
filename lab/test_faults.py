"""Faults during a deploy, on the container lab: a hung host, an interrupted deploy, a daemon that
never read its daemon.json. Each test restores the lab (a deploy of the default inventory)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from lab import lab
from lab.conftest import REPO, lab_env, run_deploy
from lab.fleet import only, restore

HOSTS = ("lab-linux-1", "lab-linux-2", "lab-wsl-1")
MANAGED = "/opt/tgi/tgi-service/tgi-service-stop.sh"  # a file every host's deploy writes


def _container(state, name: str):
    return docker.from_env().containers.get(state.host(name).container)


def _start_deploy(overrides: dict | None = None, *, confirm: bool = False) -> subprocess.Popen:
    """The real pyinfra CLI on the lab inventory; ``confirm``: without ``-y``, so it stops at
    its own prompt after reading every host and planning, before the first operation, until a
    newline arrives on its stdin."""
    pyinfra = os.path.join(os.path.dirname(sys.executable), "pyinfra")
    return subprocess.Popen(
        [pyinfra, *([] if confirm else ["-y"]), "inventories/lab.py", "deploy/main.py"],
        cwd=REPO,
        env=lab_env(overrides, PYTHONUNBUFFERED="1"),
        stdin=subprocess.PIPE if confirm else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(proc: subprocess.Popen, marker: str, timeout: float = 300) -> str:
    """The output up to ``marker`` (and what came with it), read as it comes: a prompt has no
    newline."""
    seen = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and select.select([fd], [], [], left)[0], (
            f"no {marker!r} in {timeout}s:\n{seen[-4000:]}"
        )
        chunk = os.read(fd, 65536)
        assert chunk, f"the deploy ended before {marker!r}:\n{seen[-4000:]}"
        seen += chunk.decode(errors="replace")
    return seen


def test_hung_host_fails_alone_within_the_bound_and_is_named(deployed_lab):
    timeout = 10
    hung = "lab-linux-2"
    for name in HOSTS:  # every host has one change to make: the others must make theirs
        lab.exec_on(deployed_lab, name, f"rm -f {MANAGED}")
    proc = _start_deploy({name: {"tgi_host_timeout": timeout} for name in HOSTS}, confirm=True)
    paused = None
    try:
        # mid-deploy: connected, facts read, nothing run yet (pyinfra waits at its prompt; a
        # pause after "Beginning operation run" raced the host's first operation under load)
        out = _read_until(proc, "Press enter to execute")
        _container(deployed_lab, hung).pause()
        paused = time.monotonic()
        # enter at that prompt, and at the one pyinfra shows without -y when a host failed
        # ("continue?"): the run goes on with the other hosts, as with -y
        rest, _ = proc.communicate("\n\n", timeout=300)
        took = time.monotonic() - paused
    finally:
        if proc.poll() is None:
            proc.kill()
        if paused is not None:
            _container(deployed_lab, hung).unpause()
    out += rest
    # bound: one keepalive interval (timeout/4) + the timeout, plus the rest of a no-op run
    assert took < timeout * 1.25 + 30, f"the run took {took:.0f}s after the pause:\n{out}"
    assert proc.returncode == 1, out
    summary = out.split("--> Results:")[-1]  # named again after pyinfra's results table
    assert f"host {hung}: dropped from this deploy: no answer over SSH" in summary, out
    assert "An internal exception occurred" not in out and "Traceback" not in out, out
    for name in HOSTS:
        present = lab.exec_on(deployed_lab, name, f"test -x {MANAGED} && echo yes", check=False)
        assert (present.strip() == "yes") == (name != hung), (name, out)
    print(f"hung host dropped; run ended {took:.1f}s after the pause (tgi_host_timeout={timeout})")
    restore()  # every host had a change


def test_daemon_json_changed_behind_dockers_back_is_applied_by_a_restart(deployed_lab):
    host = "lab-linux-1"
    path = "/etc/docker/daemon.json"
    extra = "extra.lab:5999"
    original = lab.exec_on(deployed_lab, host, f"cat {path}")
    edited = json.loads(original)
    edited["insecure-registries"] = [*edited.get("insecure-registries", []), extra]
    # what a deploy killed between "merge daemon.json" and "restart Docker" leaves behind
    lab.exec_on(deployed_lab, host, f"cat > {path} <<'EOF'\n{json.dumps(edited, indent=4)}\nEOF")
    info = "docker info --format '{{json .RegistryConfig.IndexConfigs}}'"
    try:
        assert extra not in lab.exec_on(deployed_lab, host, info)
        run = run_deploy(args=only(host))
        assert run.returncode == 0, run.output[-5000:]
        assert "the running Docker daemon does not match daemon.json" in run.output
        assert f"insecure registry '{extra}' not applied" in run.output
        assert extra in lab.exec_on(deployed_lab, host, info), "Docker was not restarted"
        again = run_deploy(args=only(host))
        assert again.returncode == 0, again.output[-5000:]
        assert again.totals()["changed"] == 0, again.output[-5000:]
    finally:
        lab.exec_on(deployed_lab, host, f"cat > {path} <<'EOF'\n{original}\nEOF")
        # several restarts within a minute: docker.service's start limit would refuse this one
        lab.exec_on(deployed_lab, host, "systemctl reset-failed docker; systemctl restart docker")
        restore(host)


@pytest.mark.parametrize(
    "entry",
    [
        [sys.executable, "-m", "tgi_infra", "deploy", "inventories/lab.py", "-y"],
        [sys.executable, "-m", "lab", "demo"],
        ["bash", "scripts/demo.sh"],
    ],
    ids=["tgi_infra-deploy", "lab-demo", "demo.sh"],
)
def test_interrupted_deploy_exits_non_zero(deployed_lab, entry):
    for name in HOSTS:  # work to do, so the run is in its operations when interrupted
        lab.exec_on(deployed_lab, name, f"rm -f {MANAGED}")
    proc = subprocess.Popen(
        entry,
        cwd=REPO,
        env=lab_env(PYTHONUNBUFFERED="1", TGI_LAB_REUSE="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        out = _read_until(proc, "--> Beginning operation run", timeout=600)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out += rest
    assert proc.returncode == 130, out[-4000:]
    assert "interrupted: the deploy (pyinfra) stopped before it finished" in out
    restore()  # every host had a change


def test_invalid_daemon_json_fails_preflight_once_before_any_change(deployed_lab):
    host = "lab-linux-2"
    path = "/etc/docker/daemon.json"
    original = lab.exec_on(deployed_lab, host, f"cat {path}")
    broken = '{\n  "log-driver": "json-file",\n}\n'
    lab.exec_on(deployed_lab, host, f"printf '%s' '{broken}' > {path}")
    try:
        run = run_deploy()
        assert run.returncode == 1, run.output[-5000:]
        assert run.output.count(f"{path} is not valid JSON") == 1, run.output[-5000:]
        assert "line 3 column 1" in run.output
        assert "daemon-json-invalid" in run.output and "no host was changed" in run.output
        assert "Traceback" not in run.output and "could not process fact" not in run.output
        assert "--> Beginning operation run" not in run.output, "operations ran"
        assert "Grand total" not in run.output, "a results table with phantom errors"
        assert lab.exec_on(deployed_lab, host, f"cat {path}") == broken, "the file was changed"
    finally:
        lab.exec_on(deployed_lab, host, f"cat > {path} <<'EOF'\n{original}\nEOF")
    restore(host)


def test_dockerd_killed_while_a_container_starts_is_named_as_the_cause(deployed_lab):
    from lab.fleet import lab_services

    host = "lab-wsl-1"  # no systemd: nothing restarts dockerd behind the test's back
    services = lab_services(host)
    services[0]["env"] = {"TGI_STANDIN_WARMUP_S": "120"}  # recreated, and slow to answer
    proc = _start_deploy({host: {"tgi_services": services}})
    try:
        # the new container is up and warming (the ready wait's first progress line): both the
        # plain path and the swap of a running service (deploy/services/swap.py) print it
        _read_until(proc, "waiting for tgi-service")
        lab.exec_on(deployed_lab, host, "pkill -KILL -x dockerd")
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        lab.exec_on(deployed_lab, host, "service docker start", check=False)
    assert proc.returncode != 0, out[-4000:]
    assert "service tgi-service is not ready" in out, out[-4000:]
    assert "likely cause: Docker daemon stopped" in out, out[-4000:]
    assert "likely cause: unknown" not in out
    restore(host)


def test_mirror_down_install_failure_names_the_unreachable_mirror(deployed_lab):
    host = "lab-linux-2"
    proxy = "/etc/apt/apt.conf.d/01lab-proxy"
    original = lab.exec_on(deployed_lab, host, f"cat {proxy}")
    # the apt mirror (the lab's apt cache) cannot be resolved; no package lists left; a
    # package the deploy installs is missing
    lab.exec_on(
        deployed_lab,
        host,
        f"sed -i 's#http://mirror.lab:3142#http://mirror-down.lab:3142#' {proxy} && "
        "rm -rf /var/lib/apt/lists/* && apt-get remove -y gnupg >/dev/null",
    )
    try:
        run = run_deploy(args=only(host))
        assert run.returncode != 0, run.output[-5000:]
        assert "apt-get install ca-certificates curl gnupg failed" in run.output, run.output[-5000:]
        # what apt says without lists: the package is unknown or has no candidate
        assert (
            "Unable to locate package gnupg" in run.output
            or "Package 'gnupg' has no installation candidate" in run.output
        ), run.output[-5000:]
        assert "apt-get update reported" in run.output
        assert "Could not resolve 'mirror-down.lab'" in run.output, run.output[-5000:]
    finally:
        lab.exec_on(deployed_lab, host, f"cat > {proxy} <<'EOF'\n{original}\nEOF")
    restore(host)
    assert lab.exec_on(deployed_lab, host, "dpkg -s gnupg | grep -c 'ok installed'").strip() == "1"


# -- a failed start, on one bare profile host ----------------------------------------------------


@pytest.fixture(scope="module")
def profile_host():
    """``lab-debian12-1`` (systemd, SSH as root) brought up bare on this lab's infra, and the
    environment of ``inventories/lab_profiles.py`` for it; removed afterwards."""
    from lab import profiles

    profile = profiles.BY_NAME["debian12"]
    spec = lab.HostSpec(profile.host, profile.kind, release=profile.release)
    state = lab.up(hosts=[spec], fresh=True, state_file=profiles.state_file(profile))
    env = profiles.profile_env(profile, Path(state.state_dir), lab_env())
    try:
        yield profile.host, env
    finally:
        if os.environ.get("TGI_LAB_KEEP") != "1":
            lab.remove_host(docker.from_env(timeout=600), profile.host)


def _profile_deploy(host: str, env: dict, cmd: list[str], service: dict) -> tuple[int, str]:
    overrides = json.dumps({host: {"tgi_services": [service]}})
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env={**env, "TGI_LAB_OVERRIDES": overrides},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _assert_one_block(out: str, name: str, cause: str) -> None:
    """The failed start is one block: the cause once, the log tail once, no traceback of the
    deploy's own (the engine's traceback in the log tail is under the host's prefix)."""
    tracebacks = [line for line in out.splitlines() if line.lstrip().startswith("Traceback")]
    assert not tracebacks and "site-packages/pyinfra/" not in out, out[-6000:]
    assert "Unexpected error in Python callback" not in out, out[-6000:]
    assert out.count(f"service {name} is not ready") == 1, out[-6000:]
    assert out.count("likely cause:") == 1, out[-6000:]
    assert f"likely cause: {cause}" in out, out[-6000:]
    assert out.count("last log lines (docker logs --tail 40") == 1, out[-6000:]


def test_failed_start_is_one_block_naming_the_cause_once(profile_host):
    """The TGI stand-in crashes at warm-up (CUDA OOM): first on a fresh start through the
    deploy wrapper (``tgi-infra deploy``), then as a change of a running service through plain
    ``pyinfra`` (the swap rolls back to the previous container)."""
    from lab.profiles import INVENTORY, SERVICE

    host, env = profile_host
    crashing = {**SERVICE, "env": {"TGI_STANDIN_FAULT": "crash_at_start"}}
    oom = "the GPU ran out of memory at warm-up"
    wrapper = [sys.executable, "-m", "tgi_infra", "deploy", INVENTORY, "-y"]
    plain = [os.path.join(os.path.dirname(sys.executable), "pyinfra"), "-y", INVENTORY]
    plain.append("deploy/main.py")

    rc, out = _profile_deploy(host, env, wrapper, crashing)
    assert rc != 0, out[-6000:]
    _assert_one_block(out, SERVICE["name"], oom)
    assert "No hosts remaining!" not in out and "every host failed" in out, out[-3000:]

    rc, out = _profile_deploy(host, env, plain, dict(SERVICE))
    assert rc == 0, out[-6000:]
    rc, out = _profile_deploy(host, env, plain, crashing)
    assert rc != 0, out[-6000:]
    _assert_one_block(out, SERVICE["name"], oom)
    assert f"service {SERVICE['name']}: change not applied" in out, out[-6000:]
    assert "the previous container was restored and serves again" in out, out[-6000:]
