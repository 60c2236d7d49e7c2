"""Host checks (smoke/hostchecks.py) against the deployed lab: green after the real deploy, then
each breakage a user can meet is caught at its layer with its message, and repaired after.

Breakages are made on the lab host (``docker exec``), checked over SSH exactly as
``python -m tgi_infra.smoke --inventory inventories/lab.py --host-checks`` does, and repaired by
the real
``pyinfra`` deploy (``--limit`` to the broken host). The last test runs the same checks with
testinfra's ``local://`` backend from inside a lab host (see ``install_local_runner``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tgi_infra.smoke.hostchecks import (
    FAILED,
    PASSED,
    SKIPPED,
    HostCheckSettings,
    inventory_hosts,
    run_hosts,
)

from lab import lab
from lab.conftest import lab_env
from lab.local_runner import REPO, install_local_runner

pytestmark = pytest.mark.lab

INVENTORY = "inventories/lab.py"
LINUX, WSL = "lab-linux-1", "lab-wsl-1"
SERVICE, SMALL = "tgi-service", "tgi-small"  # the two services of LINUX
IMAGE_PATH = "huggingface/text-generation-inference:3.3.7"


def check_hosts(*names: str):
    """Host checks of these inventory hosts over SSH, like the CLI (tiny disk threshold: the
    lab's disk is whatever this machine has)."""
    settings = HostCheckSettings(
        min_free_gb=0.01, restart_window_s=1.0, inventory=INVENTORY, environ=lab_env()
    )
    reports = run_hosts(inventory_hosts(INVENTORY, list(names)), settings)
    return {r.host: r for r in reports}


def redeploy(host: str) -> None:
    """Repair: the real deploy, limited to the broken host."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), "-y", INVENTORY, "deploy/main.py", "--limit", host],
        cwd=REPO,
        env=lab_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def failed(report) -> list[str]:
    return [f"{c.layer}/{c.label}: {c.message}" for c in report.checks if c.status == FAILED]


def test_host_checks_pass_on_every_host_after_deploy(deployed_lab, tmp_path) -> None:
    names = [h.name for h in deployed_lab.hosts]
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "smoke", "--inventory", INVENTORY, "--host-checks"]
        + ["--min-free-gb", "0.01", "--restart-window", "1", "--json", str(out)],
        cwd=REPO,
        env=lab_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    report = json.loads(out.read_text())
    assert sorted(h["name"] for h in report["hosts"]) == sorted(names)
    for h in report["hosts"]:
        assert h["first_failing_layer"] is None, h
        layers = [layer["name"] for layer in h["layers"]]
        assert layers == ["connection", "docker", "nvidia-runtime", "container", "host", "http"]
        gpus = [c for lay in h["layers"] if lay["name"] == "host" for c in lay["checks"]]
        assert {c["status"] for c in gpus if c["name"] == "gpus"} == {SKIPPED}  # CPU mode
    assert report["passed"] is True


def test_docker_stopped_and_nvidia_runtime_removed(deployed_lab) -> None:
    try:
        lab.exec_on(deployed_lab, LINUX, "systemctl stop docker docker.socket")
        r = check_hosts(LINUX)[LINUX]
        assert r.first_failing_layer() == "docker", failed(r)
        d = r.check("dockerd")
        assert d.status == FAILED and d.found == "inactive"
        assert "systemctl start docker" in d.next_step
        assert r.check("docker_info").status == FAILED
        assert r.check("running", SERVICE).status == SKIPPED
        assert "layer docker failed" in r.check("running", SERVICE).message

        lab.exec_on(deployed_lab, LINUX, "systemctl start docker.socket docker")
        edit = (
            "import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); "
            "d.pop('runtimes', None); json.dump(d, open(p, 'w'), indent=2)"
        )
        restart = "systemctl reset-failed docker; systemctl restart docker"  # start limit: 3/min
        lab.exec_on(deployed_lab, LINUX, f'python3 -c "{edit}" && {restart}')
        r = check_hosts(LINUX)[LINUX]
        assert r.first_failing_layer() == "nvidia-runtime", failed(r)
        dj = r.check("daemon_json")
        assert dj.status == FAILED
        assert dj.next_step == (
            "nvidia-ctk runtime configure --runtime=docker && systemctl restart docker"
        )
        assert r.check("docker_runtimes").status == FAILED
        assert "nvidia" not in r.check("docker_runtimes").found
        assert r.check("toolkit_packages").status == PASSED
    finally:
        redeploy(LINUX)
    r = check_hosts(LINUX)[LINUX]
    assert r.passed, failed(r)


def test_container_breakages(deployed_lab) -> None:
    """Container removed, recreated by hand (label drift), env file world-readable."""
    env_file = f"/opt/tgi/{SERVICE}/service.env"
    image = f"{deployed_lab.registry}/{IMAGE_PATH}"
    try:
        lab.exec_on(deployed_lab, LINUX, f"docker rm -f {SMALL}")
        lab.exec_on(
            deployed_lab, LINUX, f"systemctl stop tgi-{SERVICE}.service; docker rm -f {SERVICE}"
        )
        lab.exec_on(
            deployed_lab,
            LINUX,
            f"docker run -d --name {SERVICE} --label tgi-infra.config-hash=bogus "
            f"-p 0.0.0.0:8080:80 {image} --model-id x",
        )
        lab.exec_on(deployed_lab, LINUX, f"chmod 644 {env_file}")
        r = check_hosts(LINUX)[LINUX]
        assert r.first_failing_layer() == "container", failed(r)

        gone = r.check("running", SMALL)
        assert gone.status == FAILED and gone.found == "no such container"
        assert gone.next_step == f"pyinfra {INVENTORY} deploy/main.py --limit {LINUX}"

        drift = r.check("config_hash", SERVICE)
        assert drift.status == FAILED and "drifted" in drift.message
        assert drift.found == "tgi-infra.config-hash=bogus..."
        assert drift.next_step == f"pyinfra {INVENTORY} deploy/main.py --limit {LINUX}"
        assert r.check("running", SERVICE).status == PASSED

        env = r.check("env_file", SERVICE)
        assert env.status == FAILED and env.found == "0644 root:root"
        assert env.next_step == f"chmod 600 {env_file}"
        assert r.check("env_file", SMALL).status == PASSED
    finally:
        redeploy(LINUX)
    r = check_hosts(LINUX)[LINUX]
    assert r.passed, failed(r)


def test_local_backend_inside_a_lab_host(deployed_lab) -> None:
    """WSL users run the checks on the host itself: ``local://``, same checks, same verdicts."""

    loaded = subprocess.run(
        [sys.executable, "-m", "tgi_infra.smoke.inventory_loader", INVENTORY],
        cwd=REPO,
        env=lab_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = {}
    for host in (LINUX, WSL):
        prefix = install_local_runner(deployed_lab, host, loaded.stdout, docker_py=host == LINUX)
        # the secrets the deploy used (the expected config hash covers them), by env, not argv
        env = {k: v for k, v in lab_env().items() if k in ("HF_TOKEN", "TGI_LAB_API_KEY")}
        code, out = lab.exec_in(
            deployed_lab.host(host).container,
            f"{prefix} python3 -m tgi_infra.smoke.hostchecks "
            "--inventory /opt/tgi-smoke/hosts.json "
            f"--local --host {host} --min-free-gb 0.01 --restart-window 1 --json -",
            env=env,
        )
        assert "[\n" in out, f"{host}: exit {code}:\n{out}"
        results[host] = json.loads(out[out.index("[\n") :])[0]
    for r in results.values():
        assert r["connection"] == "local://"
        assert r["passed"], [c for c in r["checks"] if c["status"] == FAILED]
        names = {(c["layer"], c["name"]) for c in r["checks"] if c["status"] == PASSED}
        assert {("docker", "dockerd"), ("nvidia-runtime", "daemon_json")} <= names
        assert ("container", "config_hash") in names  # same hash as the deploy computed
    # the Docker API where docker-py is installed, the docker CLI where it is not
    info = {
        h: next(c for c in r["checks"] if c["name"] == "docker_info") for h, r in results.items()
    }
    assert info[LINUX]["message"].endswith(" via docker-py"), info[LINUX]
    assert info[WSL]["message"].endswith(" via docker CLI"), info[WSL]
    supervisor = {h: r["checks"][0]["message"] for h, r in results.items()}
    assert "supervisor: systemd" in supervisor[LINUX]
    assert "no systemd" in supervisor[WSL]


def test_pytest_front_end_runs_one_test_per_check_and_host(deployed_lab):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "smoke/test_hosts.py", "--inventory", "inventories/lab.py",
         "--host-checks", "--min-free-gb", "0.1", "-q", "-p", "no:cacheprovider"],
        cwd=REPO, env=lab_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
    # 3 hosts x (connect, docker_info, dockerd, daemon_json, docker_runtimes, toolkit_packages),
    # then the container checks of each service, the disk of each volume, the GPUs
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 3 * 6 + 5, proc.stdout[-2000:]
    assert " failed" not in proc.stdout, proc.stdout[-2000:]
