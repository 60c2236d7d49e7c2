"""Host checks against this machine through testinfra's real ``local://`` backend.

This machine runs a real Docker Engine (the suite needs one), so: the docker layer passes, the
nvidia-runtime layer fails for real whatever this machine has (the pinned toolkit version exists
nowhere), and the container layer is exercised with real containers made here from
``tgi-lab/base:bookworm``
(stand-ins for TGI containers: the checks only read their state, labels and published ports),
each in one of the states a broken deploy leaves behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.services.render import render_service, secrets_digest
from tgi_infra.smoke.hostchecks import FAILED, PASSED, SKIPPED, HostCheckSettings, run_host
from tgi_infra.smoke.hostchecks_connect import Connection

from tests.helpers.ports import lasting_free_port

REPO = Path(__file__).resolve().parents[2]
IMAGE = "tgi-lab/base:bookworm"
PIN = "0.0.1-unittest"
SCHEMA = json.loads((REPO / "smoke" / "report-schema.json").read_text())


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


pytestmark = pytest.mark.usefixtures("lab_base_image")


def _systemd_pid1() -> bool:
    comm = Path("/proc/1/comm").read_text().strip() if Path("/proc/1/comm").exists() else ""
    return Path("/run/systemd/system").is_dir() and comm == "systemd"


class Machine:
    """This machine as an inventory host with one service per broken state."""

    def __init__(self, tmp: Path):
        self.tag = f"hcunit-{uuid.uuid4().hex[:8]}"
        self.root = tmp / "tgi"
        self.volume = tmp / "models"
        names = ["ok", "drift", "gone", "stop", "flap", "open", "noport"]
        self.ports = {k: lasting_free_port() for k in names}  # held until the containers start
        self.names = {k: f"{self.tag}-{k}" for k in names}
        self.data = {
            "tgi_gpus": "none",
            "tgi_root": str(self.root),
            # a version no machine has: the nvidia-runtime layer fails here whatever this
            # machine has installed (the lab checks a real toolkit: lab/test_host_checks.py)
            "tgi_nvidia_toolkit_version": PIN,
            "tgi_services": [
                {
                    "name": self.names[k],
                    "model_id": "org/model",
                    "port": self.ports[k],
                    "bind": "127.0.0.1",
                    "volume": str(self.volume),
                }
                for k in names
            ],
        }
        self.cfg = load_host_config("local-1", self.data)
        self.supervisor = "systemd" if _systemd_pid1() else "docker"

    def svc(self, key: str):
        return next(s for s in self.cfg.tgi_services if s.name == self.names[key])

    def expected_hash(self, key: str) -> str:
        svc = self.svc(key)
        return render_service(
            "local-1", self.cfg, svc, self.supervisor, secrets_digest=secrets_digest(svc, {})
        ).config_hash

    def env_file(self, key: str, mode: int) -> Path:
        path = self.root / self.names[key] / "service.env"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# stand-in env file\n")
        path.chmod(mode)
        return path

    def start(self, key: str, label: str | None = None, publish: int | None = None, *extra):
        args = ["run", "-d", "--name", self.names[key]]
        args += ["--label", f"tgi-infra.config-hash={label or self.expected_hash(key)}"]
        if publish:
            args += ["-p", f"127.0.0.1:{publish}:80"]
        _docker(*args, *extra)

    def remove(self) -> None:
        for name in self.names.values():
            _docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    m = Machine(tmp_path_factory.mktemp("hc"))
    try:
        for key in ("ok", "drift", "noport", "open", "stop", "flap", "gone"):
            m.env_file(key, 0o644 if key == "open" else 0o600)
        m.start("ok", None, m.ports["ok"], IMAGE, "sleep", "infinity")
        m.start("drift", "bogus", m.ports["drift"], IMAGE, "sleep", "infinity")
        m.start("noport", None, None, IMAGE, "sleep", "infinity")  # nothing published
        m.start("open", None, m.ports["open"], IMAGE, "sleep", "infinity")
        m.start("stop", None, None, IMAGE, "true")
        m.start("flap", None, None, "--restart", "always", IMAGE, "sh", "-c", "sleep 0.2; exit 3")
        yield m
    finally:
        m.remove()


@pytest.fixture(scope="module")
def report(machine):
    settings = HostCheckSettings(
        min_free_gb=0.001, restart_window_s=2.0, inventory="inv.py", environ={}
    )
    return run_host("local-1", machine.cfg, Connection("local-1", None), settings)


def _check(report, name, svc_key=None, machine=None):
    return report.check(name, machine.names[svc_key] if svc_key else None)


def test_docker_layer_passes_on_a_live_daemon(report) -> None:
    assert report.connection == "local://"
    assert report.check("connect").status == PASSED
    assert report.check("dockerd").status == PASSED, report.check("dockerd").message
    info = report.check("docker_info")
    assert info.status == PASSED and info.message.startswith("Docker ")
    # local://, no sudo, docker-py installed: the Docker API, not `docker inspect`/`docker info`
    assert info.message.endswith(" via docker-py"), info.message


def test_docker_py_layer_reports_a_dead_daemon(machine, monkeypatch) -> None:
    """The docker-py path says what the CLI path says: docker layer failed, with the fix."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{machine.root}/dead.sock")
    settings = HostCheckSettings(min_free_gb=0.001, restart_window_s=0.1, inventory="inv.py")
    r = run_host("local-1", machine.cfg, Connection("local-1", None), settings)
    info = r.check("docker_info")
    assert info.status == FAILED and info.found.startswith("no Docker daemon answers at unix://")
    assert r.first_failing_layer() == "docker"
    assert r.check("running", machine.names["ok"]).status == SKIPPED


def test_nvidia_runtime_layer_fails_when_the_toolkit_is_not_the_pinned_one(report) -> None:
    """No machine has the pinned version: the real dpkg answer, with the fix. (daemon.json and
    docker's runtimes on a host with and without the toolkit: lab/test_host_checks.py.)"""
    pk = report.check("toolkit_packages")
    assert pk.status == FAILED and pk.expected.endswith(f"installed at {PIN}")
    assert f"nvidia-container-toolkit={PIN}" in pk.next_step
    assert report.first_failing_layer() == "nvidia-runtime"


def test_healthy_container_passes_every_container_check(report, machine) -> None:
    for name in ("running", "config_hash", "restarts", "port", "env_file"):
        c = _check(report, name, "ok", machine)
        assert c.status == PASSED, (name, c.message)


def test_missing_container_says_redeploy(report, machine) -> None:
    c = _check(report, "running", "gone", machine)
    assert c.status == FAILED and c.found == "no such container"
    assert c.next_step == "pyinfra inv.py deploy/main.py --limit local-1"
    assert _check(report, "config_hash", "gone", machine).status == SKIPPED


def test_stopped_container_says_docker_logs(report, machine) -> None:
    c = _check(report, "running", "stop", machine)
    assert c.status == FAILED and "exited" in c.found
    assert c.next_step.startswith(f"docker logs --tail 50 {machine.names['stop']}")


def test_label_drift(report, machine) -> None:
    c = _check(report, "config_hash", "drift", machine)
    assert c.status == FAILED and "drifted" in c.message
    assert c.found == "tgi-infra.config-hash=bogus..."
    assert c.expected == f"tgi-infra.config-hash={machine.expected_hash('drift')[:16]}..."
    assert c.next_step == "pyinfra inv.py deploy/main.py --limit local-1"


def test_restarting_container(report, machine) -> None:
    c = _check(report, "restarts", "flap", machine)
    assert c.status == FAILED, c.message
    assert c.next_step == f"docker logs --tail 50 {machine.names['flap']}"


def test_port_not_listening(report, machine) -> None:
    c = _check(report, "port", "noport", machine)
    assert c.status == FAILED
    assert c.expected.startswith(f"tcp://127.0.0.1:{machine.ports['noport']} listening")


@pytest.mark.skipif(os.geteuid() != 0, reason="the env file must be root-owned: run as root")
def test_world_readable_env_file(report, machine) -> None:
    c = _check(report, "env_file", "open", machine)
    path = machine.root / machine.names["open"] / "service.env"
    assert c.status == FAILED
    assert (c.expected, c.found) == ("0600 root:root", "0644 root:root")
    assert c.next_step == f"chmod 600 {path}"


def test_host_layer_disk_and_cpu_mode_gpus(report, machine) -> None:
    disk = report.check(f"disk_free {machine.volume}")
    assert disk.status == PASSED and "GB free on" in disk.message
    gpus = _check(report, "gpus", "ok", machine)
    assert gpus.status == SKIPPED and "CPU mode" in gpus.message


def test_gpu_mode_and_low_disk(machine) -> None:
    """GPU mode on a machine without GPUs: no host GPU to find inside the container (the UUID
    comparison itself is tested on written nvidia-smi output: test_hostchecks_gpus.py)."""
    ok_only = machine.data["tgi_services"][:1]
    cfg = load_host_config("local-1", {**machine.data, "tgi_gpus": "all", "tgi_services": ok_only})
    settings = HostCheckSettings(min_free_gb=1e9, restart_window_s=0.1, inventory="inv.py")
    r = run_host("local-1", cfg, Connection("local-1", None), settings)
    gpus = r.check("gpus", machine.names["ok"])
    assert gpus.status == FAILED
    assert gpus.found.startswith("no GPU listed"), gpus.found
    assert gpus.next_step.startswith(
        f"docker exec {machine.names['ok']} nvidia-smi --query-gpu=uuid"
    )
    disk = r.check(f"disk_free {machine.volume}")
    assert disk.status == FAILED and disk.expected == ">= 1e+09 GB free"
    assert disk.next_step.startswith(f"df -h {machine.volume}")


def test_cli_local_host_checks_json_and_junit(machine, tmp_path) -> None:
    """`python -m tgi_infra.smoke --local --host NAME --host-checks`: JSON per the schema, JUnit,
    exit 1."""
    import jsonschema

    inv = tmp_path / "inv.py"
    data = {**machine.data, "tgi_services": machine.data["tgi_services"][:1]}  # "ok" only
    inv.write_text(f"hosts = [('local-1', {data!r})]\n")
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "smoke", "--inventory", str(inv), "--local", "--host", "local-1"]
        + ["--host-checks", "--no-http", "--restart-window", "0.1"]
        + ["--json", str(out_json), "--junit", str(out_xml)],
        capture_output=True,
        text=True,
        cwd=REPO,
        # the containers were labelled for no secrets (environ={}): none may leak in
        env={
            **{k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "API_KEY")},
            "TGI_SMOKE_MIN_FREE_GB": "0.001",
            "COLUMNS": "200",
        },
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "local-1: FIRST FAILING LAYER: nvidia-runtime" in proc.stdout
    report = json.loads(out_json.read_text())
    jsonschema.validate(report, SCHEMA)
    host = report["hosts"][0]
    assert host["first_failing_layer"] == "nvidia-runtime" and host["connection"] == "local://"
    layers = {layer["name"]: layer["status"] for layer in host["layers"]}
    assert layers == {
        "connection": "passed",
        "docker": "passed",
        "nvidia-runtime": "failed",  # the pin no machine has
        "container": "passed",
        "host": "passed",
    }, proc.stdout
    assert report["passed"] is False and report["targets"] == []
    xml = out_xml.read_text()
    assert 'name="host-checks local-1"' in xml and 'classname="local-1.nvidia-runtime"' in xml


@pytest.mark.parametrize(
    "args,text",
    [
        (["--host-checks"], "need --inventory"),
        (["--inventory", "x.py", "--local", "--host-checks"], "exactly one --host"),
        (["--inventory", "x.py", "--no-http"], "--no-http leaves nothing"),
    ],
)
def test_host_check_usage_errors(args, text, capsys) -> None:
    from tgi_infra.smoke.cli import main

    assert main(args) == 2
    assert text in capsys.readouterr().err


def _pytest_hosts(machine, tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """`pytest --pyargs tgi_infra.smoke.test_hosts --inventory INV --host-checks ...` on this
    machine's "ok" service: (the process, {test name: passed/failure/skipped})."""
    import xml.etree.ElementTree as ET

    inv = tmp_path / "inv.py"
    data = {**machine.data, "tgi_services": machine.data["tgi_services"][:1]}  # "ok" only
    inv.write_text(f"hosts = [('local-1', {data!r})]\n")
    junit = tmp_path / "hosts.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "tgi_infra.smoke.test_hosts", "-q"]
        + ["-p", "tgi_infra.smoke.plugin", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        + ["--inventory", str(inv), "--local", "--host", "local-1", "--host-checks"]
        + ["--restart-window", "0.1", "--min-free-gb", "0.001", *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        # the plugin alone (the environment's others cost seconds to load); no secrets
        env={
            **{k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "API_KEY")},
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
        timeout=120,
    )
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kind = [e.tag for e in case if e.tag in ("failure", "skipped")]
        outcome[case.get("name")] = kind[0] if kind else "passed"
    return proc, outcome


def test_pytest_front_end_runs_one_test_per_check(machine, tmp_path) -> None:
    """`pytest --pyargs tgi_infra.smoke --inventory INV --host-checks`: the checks are pytest
    tests, one per check and host (service, volume), with the command line's outcomes."""
    proc, outcome = _pytest_hosts(machine, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    ok = machine.names["ok"]
    assert outcome["test_toolkit_packages[local-1]"] == "failure"  # the pin no machine has
    for name in ("connect", "docker_info", "dockerd"):
        assert outcome[f"test_{name}[local-1]"] == "passed", (name, proc.stdout)
    for name in ("running", "config_hash", "restarts", "port", "env_file"):
        assert outcome[f"test_{name}[local-1/{ok}]"] == "passed", (name, proc.stdout)
    assert outcome[f"test_disk_free[local-1:{machine.volume}]"] == "passed"
    assert outcome[f"test_gpus[local-1/{ok}]"] == "skipped"  # CPU mode
    assert f"nvidia-container-toolkit={PIN}" in proc.stdout


def test_pytest_front_end_one_check_alone_runs_what_it_builds_on(machine, tmp_path) -> None:
    """-k picks one check: the connection and `docker info` it needs run first, unselected, so
    the container is found running (not skipped as if Docker were down)."""
    proc, outcome = _pytest_hosts(machine, tmp_path, "-k", "test_running")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome == {f"test_running[local-1/{machine.names['ok']}]": "passed"}, proc.stdout
