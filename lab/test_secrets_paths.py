"""On the lab: secrets never readable or printed, atomic writes, removal of only
what the deploy made, system paths refused before any host is touched.

Each test restores the lab with a deploy of the default inventory before it ends.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from lab import lab
from lab.conftest import API_KEY, HF_TOKEN_CANARY, run_deploy
from lab.fleet import assert_ok, lab_services, only, restore

HOST = "lab-linux-2"  # one service, with an API key
SVC_DIR = "/opt/tgi/tgi-service"


def deploy(*args: str, overrides: dict | None = None, timeout: int = 900, **env: str):
    """The real pyinfra CLI (``args`` before the inventory: ``-vvv``, ``--limit HOST``)."""
    return run_deploy(overrides, timeout, args=args, **env)


def sh(state, host: str, cmd: str, check: bool = True) -> str:
    return lab.exec_on(state, host, cmd, check=check)


# -- secrets --------------------------------------------------------------------------------------

READER = r"""
rm -f /tmp/nobody-raw /tmp/nobody-tries /tmp/nobody-tries.new /tmp/nobody-example
touch /tmp/nobody-raw /tmp/nobody-tries /tmp/nobody-example
chown nobody /tmp/nobody-raw /tmp/nobody-tries /tmp/nobody-example
setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c '
  cat DIR/service.env.example > /tmp/nobody-example 2>&1
  i=0
  while :; do
    cat DIR/service.env DIR/.service.env.tgi-tmp/* /tmp/pyinfra-* >> /tmp/nobody-raw 2>/dev/null
    # the count is replaced by a rename: a kill between truncation and write of a plain `>`
    # would leave the file empty and read as 0 tries
    i=$((i + 1)); [ $((i % 50)) -ne 0 ] ||
      { echo $i > /tmp/nobody-tries.new && mv -f /tmp/nobody-tries.new /tmp/nobody-tries; }
  done' > /dev/null 2>&1 &
echo $! > /tmp/nobody-reader.pid
"""


@pytest.fixture()
def sudo_deployer(deployed_lab):
    """A login user with passwordless sudo on lab-linux-1, connected as inventories/gpu.py's
    example does (``ssh_user`` + ``_sudo``)."""
    host = "lab-linux-1"
    key = Path(deployed_lab.ssh_key).with_suffix(".pub").read_text()
    sh(
        deployed_lab,
        host,
        "id deployer >/dev/null 2>&1 || useradd -m -s /bin/bash deployer; "
        "gpasswd -d deployer docker >/dev/null 2>&1 || true; "
        "install -d -m 700 -o deployer -g deployer /home/deployer/.ssh; "
        f"printf '%s\\n' '{key.strip()}' > /home/deployer/.ssh/authorized_keys; "
        "chown deployer:deployer /home/deployer/.ssh/authorized_keys; "
        "echo 'deployer ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deployer; "
        "chmod 440 /etc/sudoers.d/deployer",
    )
    return {host: {"ssh_user": "deployer", "_sudo": True}}


@pytest.mark.parametrize("login", ["root", "sudo"])
def test_env_file_is_never_readable_by_another_user(deployed_lab, sudo_deployer, login):
    """`nobody` reads service.env, its staging dir and pyinfra's /tmp uploads in a loop while
    deploys recreate service.env with a new token: it must never read a token."""
    host, overrides = (HOST, None) if login == "root" else ("lab-linux-1", sudo_deployer)
    sh(deployed_lab, host, READER.replace("DIR", SVC_DIR))
    try:
        for i in range(3):
            # the review's case: the file is recreated (absent before the deploy), new content
            sh(deployed_lab, host, f"rm -f {SVC_DIR}/service.env")
            run = deploy(
                "--limit", host, overrides=overrides, HF_TOKEN=f"hf_Rotate{i}Canary0123456789abc"
            )
            assert_ok(run, f"deploy {i} ({login})")
            assert "service.env (0600, secrets)" in run.output
    finally:
        alive = sh(
            deployed_lab,
            host,
            "kill -0 $(cat /tmp/nobody-reader.pid) 2>/dev/null && echo alive || echo gone",
            check=False,
        )
        sh(deployed_lab, host, "kill $(cat /tmp/nobody-reader.pid)", check=False)
        time.sleep(0.5)
    example = sh(deployed_lab, host, "cat /tmp/nobody-example")
    tries = int(sh(deployed_lab, host, "cat /tmp/nobody-tries").strip() or 0)
    assert "Managed by tgi-infra" in example, f"reader could not start: {example!r}"
    assert "alive" in alive, f"the reader ended during the deploys (after {tries} tries)"
    assert tries > 100, f"reader did not run ({tries} tries)"
    raw = sh(deployed_lab, host, "cat /tmp/nobody-raw")
    leaked = sorted(set(re.findall(r"hf_Rotate\w+", raw)))
    assert not leaked and "HF_TOKEN=" not in raw, f"nobody read {leaked} in {tries} loops"
    stat = sh(deployed_lab, host, f"stat -c '%a %U %G' {SVC_DIR}/service.env").strip()
    assert stat == "600 root root"
    assert "tgi-tmp" not in sh(deployed_lab, host, f"ls -A {SVC_DIR}")
    restore(host)


def test_no_verbosity_prints_a_secret(deployed_lab):
    """-vvv with a new token and key (service.env rewritten, container recreated, waited for)."""
    token, key = "hf_VerboseCanary0123456789abcdef", "verbose-api-key-7d1e"
    try:
        run = deploy("-vvv", "--limit", HOST, HF_TOKEN=token, TGI_LAB_API_KEY=key)
        assert_ok(run, "deploy at -vvv")
        # a new token recreates the running container: through the swap (deploy/services/swap.py)
        # on a
        # running service, or plainly when it is missing
        recreated = (
            "replace the running container" in run.output or "(re)create container" in run.output
        )
        assert recreated and "docker container inspect" in run.output
        assert token not in run.output and key not in run.output
        assert HF_TOKEN_CANARY not in run.output and API_KEY not in run.output
        noop = deploy("-vvv", "--limit", HOST, HF_TOKEN=token, TGI_LAB_API_KEY=key)
        assert_ok(noop, "second deploy at -vvv")
        assert token not in noop.output and key not in noop.output
    finally:
        restore(HOST)


# -- atomic writes --------------------------------------------------------------------------------

STOP = "/opt/tgi/tgi-small/tgi-service-stop.sh"
LOGS = "/opt/tgi/tgi-small/tgi-service-logs.sh"


@pytest.mark.parametrize(
    "fault, mount, cause",
    [
        (
            "full",
            "d=/opt/tgi/tgi-small; mkdir -p /root/keep && cp -a $d/. /root/keep/ && "
            "mount -t tmpfs -o size=64k,mode=755 tmpfs $d && cp -a /root/keep/. $d/ && "
            "(dd if=/dev/zero of=$d/filler bs=4k 2>/dev/null; true)",
            "no space left on /opt/tgi/tgi-small",
        ),
        (
            "read-only",
            "d=/opt/tgi/tgi-small; mount --bind $d $d && mount -o remount,bind,ro $d",
            "read-only file system at /opt/tgi/tgi-small",
        ),
    ],
)
def test_failed_write_keeps_the_old_file_and_names_the_cause(deployed_lab, fault, mount, cause):
    """The review's full disk left a 0-byte script: a file the deploy creates (the logs script,
    removed first) must not appear half-written, a file it replaces (the stop script, made
    stale first) must keep its old content, and the output names the cause."""
    host = "lab-linux-1"
    sh(deployed_lab, host, f"printf '#!/bin/sh\\n# old\\n' > {STOP} && rm -f {LOGS}")
    before = sh(deployed_lab, host, f"cat {STOP}")
    sh(deployed_lab, host, mount)
    try:
        run = deploy("--limit", host)
        assert run.returncode != 0, run.output[-3000:]
        assert cause in run.output, run.output[-4000:]
        assert "size mismatch" not in run.output and "OSError" not in run.output, run.output
        empty = sh(deployed_lab, host, "find /opt/tgi/tgi-small -type f -size 0").split()
        assert not empty, f"empty files left: {empty}"
        assert sh(deployed_lab, host, f"cat {STOP}") == before, "the old file was not kept"
        assert "tgi-tmp" not in sh(deployed_lab, host, "ls -A /opt/tgi/tgi-small")
        assert "200" in sh(
            deployed_lab, host, "curl -s -o /dev/null -w '%{http_code}' localhost:8081/health"
        )
    finally:
        sh(deployed_lab, host, "umount /opt/tgi/tgi-small", check=False)
        sh(deployed_lab, host, "rm -f /opt/tgi/tgi-small/filler; rm -rf /root/keep", check=False)
    restore(host)
    assert "# old" not in sh(deployed_lab, host, f"cat {STOP}")
    assert sh(deployed_lab, host, f"test -s {LOGS} && echo ok").strip() == "ok"


# -- destructive paths ----------------------------------------------------------------------------


def test_present_false_removes_only_what_the_deploy_wrote(deployed_lab):
    host = "lab-linux-1"
    sh(deployed_lab, host, "echo mine > /opt/tgi/tgi-small/notes.txt")
    sh(deployed_lab, host, "mkdir -p /opt/tgi/ghost && echo mine > /opt/tgi/ghost/tgi-service.sh")
    services = lab_services(host)
    services[1]["present"] = False
    services.append({"name": "ghost", "model_id": "org/model", "port": 8090, "present": False})
    try:
        run = run_deploy({host: {"tgi_services": services}}, args=only(host))
        assert_ok(run, "deploy with present: false")
        left = sh(deployed_lab, host, "ls -A /opt/tgi/tgi-small").split()
        assert left == ["notes.txt"], left
        assert "keeping /opt/tgi/tgi-small: it holds files tgi-infra did not write" in run.output
        assert sh(deployed_lab, host, "cat /opt/tgi/ghost/tgi-service.sh").strip() == "mine"
        assert "keeping /opt/tgi/ghost: it has no .tgi-infra-managed marker" in run.output
        again = run_deploy({host: {"tgi_services": services}}, args=only(host))
        assert_ok(again, "second deploy with present: false")
        assert again.totals()["changed"] == 0, again.output[-3000:]
        # nothing else in it: the directory goes too
        sh(deployed_lab, host, "rm /opt/tgi/tgi-small/notes.txt")
        assert_ok(run_deploy(args=only(host)), "deploy with tgi-small present again")
        assert ".tgi-infra-managed" in sh(deployed_lab, host, "ls -A /opt/tgi/tgi-small")
        again = run_deploy({host: {"tgi_services": services}}, args=only(host))
        assert_ok(again, "present: false again")
        assert sh(deployed_lab, host, "test -e /opt/tgi/tgi-small || echo gone").strip() == "gone"
    finally:
        sh(deployed_lab, host, "rm -rf /opt/tgi/ghost", check=False)
        restore(host)


@pytest.mark.parametrize(
    "overrides, field, value",
    [
        ({"tgi_root": "/etc"}, "tgi_root", "'/etc'"),
        ({"tgi_root": "/usr/local"}, "tgi_root", "'/usr/local'"),
        ({"volume": "/var/run/docker.sock"}, "volume", "'/var/run/docker.sock'"),
        ({"volume": "/etc"}, "volume", "'/etc'"),
        ({"extra_args": ["--max-best-of", "1\n--x"]}, "extra_args", "'1\\n--x'"),
    ],
)
def test_system_paths_are_refused_before_any_host_is_touched(deployed_lab, overrides, field, value):
    """The review's reproduction: tgi_root /etc and a service whose name is a directory there."""
    host = "lab-linux-1"
    sh(deployed_lab, host, "mkdir -p /etc/tgi-scratch && echo keep > /etc/tgi-scratch/file")
    svc = {"name": "tgi-scratch", "model_id": "org/model", "port": 8090, "present": False}
    host_data = {k: v for k, v in overrides.items() if k == "tgi_root"}
    svc.update({k: v for k, v in overrides.items() if k != "tgi_root"})
    services = [*lab_services(host), svc]
    try:
        run = run_deploy({host: {**host_data, "tgi_services": services}}, args=only(host))
        assert run.returncode != 0
        assert "no host was changed" in run.output
        assert f"field {field}: value {value} is not allowed" in run.output, run.output[-3000:]
        assert sh(deployed_lab, host, "cat /etc/tgi-scratch/file").strip() == "keep"
    finally:
        sh(deployed_lab, host, "rm -rf /etc/tgi-scratch", check=False)
