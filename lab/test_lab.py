"""End to end on the container lab: provision, services, smoke, idempotence, changes, failures.

The real pyinfra CLI deploys inventories/lab.py over SSH; pytest-testinfra verifies each host's
real state over SSH too. Tests that change the lab restore it with a deploy of the default
inventory before they end.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import testinfra

from lab import lab
from lab.conftest import API_KEY, HF_TOKEN_CANARY, run_deploy, run_smoke
from lab.fleet import (
    SERVICES,
    TOOLKIT,
    assert_ok,
    container_ids,
    engine_of,
    lab_services,
    only,
    restore,
)


def ssh_host(state, name: str):
    """A testinfra host over SSH, with the lab's key (as pyinfra connects)."""
    cfg = Path(state.state_dir) / "ssh" / "config"
    if not cfg.exists():
        cfg.write_text(
            "Host *\n  User root\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
            f"  IdentityFile {state.ssh_key}\n  LogLevel ERROR\n"
        )
    return testinfra.get_host(f"ssh://{state.host(name).address}", ssh_config=str(cfg))


# -- provisioning, verified with testinfra ------------------------------------------------------


@pytest.mark.parametrize("name", list(SERVICES))
def test_host_state_after_deploy(deployed_lab, name):
    h = ssh_host(deployed_lab, name)
    kind = deployed_lab.host(name).kind
    assert h.package("docker.io").is_installed
    for pkg in TOOLKIT:
        p = h.package(pkg)
        assert p.is_installed, pkg
        assert p.version == "1.17.7-1", f"{pkg} {p.version}: not the pinned version"
    keyring = h.file("/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg")
    assert keyring.exists and keyring.mode == 0o644
    assert not keyring.content.startswith(b"-----BEGIN PGP"), "key must be dearmored (binary)"
    source = h.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").content_string
    assert source.strip() == (
        "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] "
        f"{deployed_lab.nvidia_repo_url}/stable/deb/$(ARCH) /"
    )
    daemon = json.loads(h.file("/etc/docker/daemon.json").content_string)
    assert daemon["runtimes"]["nvidia"] == {"args": [], "path": "nvidia-container-runtime"}
    assert deployed_lab.registry in daemon["insecure-registries"]
    preseeded = deployed_lab.host(name).preseeded_daemon_json
    for key, value in (preseeded or {}).items():
        assert daemon.get(key) == value, f"pre-existing daemon.json key {key} lost or changed"
    info = json.loads(h.check_output("docker info --format '{{json .Runtimes}}'"))
    assert "nvidia" in info, "dockerd was not restarted after daemon.json changed"
    if kind == "linux":
        assert h.service("docker").is_running and h.service("docker").is_enabled
    else:
        assert h.process.filter(comm="dockerd"), "dockerd not running on the WSL host"
        conf = h.file("/etc/wsl.conf").content_string
        assert "service docker start" in conf and "[automount]" in conf
    for svc, port in SERVICES[name].items():
        c = json.loads(h.check_output(f"docker inspect {svc}"))[0]
        assert c["State"]["Running"], f"{svc} not running"
        assert c["Config"]["Labels"].get("tgi-infra.config-hash"), "config-hash label missing"
        assert h.socket(f"tcp://0.0.0.0:{port}").is_listening
        env = h.file(f"/opt/tgi/{svc}/service.env")
        assert env.mode == 0o600 and env.user == "root" and env.group == "root"
        for script in ("tgi-service-creation.sh", "tgi-service.sh", "tgi-service-stop.sh"):
            assert h.file(f"/opt/tgi/{svc}/{script}").mode == 0o755
        unit = h.file(f"/etc/systemd/system/tgi-{svc}.service")
        if kind == "linux":
            assert unit.exists and h.service(f"tgi-{svc}").is_running
            assert c["HostConfig"]["RestartPolicy"]["Name"] == "no", "systemd supervises"
        else:
            assert not unit.exists
            assert c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


# -- smoke suite against every service -----------------------------------------------------------


def test_smoke_suite_passes_on_every_service(deployed_lab, tmp_path):
    out = tmp_path / "smoke.json"
    proc = run_smoke("--json", str(out))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    text = json.dumps(report)
    targets = {t["name"]: t for t in report["targets"]}
    for host, services in SERVICES.items():
        for svc in services:
            assert host in text and svc in text, f"{host}/{svc} not checked by the smoke suite"
            # the engine comes from the inventory, and picks the checks
            assert targets[f"{host}/{svc}"]["engine"] == engine_of(host, svc)


# -- idempotence ---------------------------------------------------------------------------------


def test_second_deploy_changes_nothing(deployed_lab):
    again = run_deploy()
    assert_ok(again, "second deploy")
    totals = again.totals()
    assert totals["changed"] == 0 and totals["error"] == 0, again.output[-5000:]


# -- secrets -------------------------------------------------------------------------------------


def test_hf_token_only_in_the_env_file(deployed_lab):
    assert HF_TOKEN_CANARY not in deployed_lab.first_deploy.output, "token in pyinfra output"
    for host, services in SERVICES.items():
        found = lab.exec_on(
            deployed_lab, host, f"grep -rl {HF_TOKEN_CANARY} /opt/tgi /etc/systemd || true"
        ).split()
        assert sorted(found) == sorted(f"/opt/tgi/{s}/service.env" for s in services), found
        ps = lab.exec_on(deployed_lab, host, "ps -eo args")
        assert HF_TOKEN_CANARY not in ps and API_KEY not in ps
        for svc in services:
            c = json.loads(lab.exec_on(deployed_lab, host, f"docker inspect {svc}"))[0]
            argv = json.dumps([c["Path"], c["Args"], c["Config"]["Cmd"]])
            assert HF_TOKEN_CANARY not in argv and API_KEY not in argv


# -- changes -------------------------------------------------------------------------------------


def test_changing_one_model_recreates_only_that_container(deployed_lab):
    before = container_ids(deployed_lab)
    services = lab_services("lab-linux-1")
    services[1]["model_id"] = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    try:
        changed = run_deploy({"lab-linux-1": {"tgi_services": services}})
        assert_ok(changed, "deploy with one model changed")
        after = container_ids(deployed_lab)
        moved = {k for k in before if before[k] != after[k]}
        assert moved == {("lab-linux-1", "tgi-small")}, moved
        info = lab.exec_on(deployed_lab, "lab-linux-1", "curl -fsS localhost:8081/info")
        assert json.loads(info)["model_id"] == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    finally:
        restore("lab-linux-1")


def test_present_false_removes_service_and_keeps_cache(deployed_lab):
    marker = "/var/lib/tgi/data/models--keep-me/marker"
    lab.exec_on(deployed_lab, "lab-linux-1", f"mkdir -p {Path(marker).parent} && touch {marker}")
    services = lab_services("lab-linux-1")
    services[1]["present"] = False
    try:
        run = run_deploy({"lab-linux-1": {"tgi_services": services}}, args=only("lab-linux-1"))
        assert_ok(run, "deploy with present: false")
        h = ssh_host(deployed_lab, "lab-linux-1")
        assert h.run("docker inspect tgi-small").rc != 0, "container still there"
        assert not h.file("/etc/systemd/system/tgi-tgi-small.service").exists
        assert not h.file("/opt/tgi/tgi-small").exists
        assert h.file(marker).exists, "the model cache was not kept"
        assert json.loads(h.check_output("docker inspect tgi-service"))[0]["State"]["Running"]
    finally:
        restore("lab-linux-1")


# -- failures ------------------------------------------------------------------------------------


def test_crashing_service_fails_the_deploy_with_its_log_tail(deployed_lab):
    services = lab_services("lab-wsl-1")
    services[0]["env"] = {"TGI_STANDIN_FAULT": "crash_at_start"}
    try:
        run = run_deploy({"lab-wsl-1": {"tgi_services": services}}, args=only("lab-wsl-1"))
        assert run.returncode != 0, "a crashing service must fail the deploy"
        assert "service tgi-service is not ready" in run.output
        assert "likely cause: the GPU ran out of memory" in run.output, run.output[-4000:]
        assert "last log lines" in run.output and "OutOfMemory" in run.output
    finally:
        restore("lab-wsl-1")


def test_mirror_with_a_wrong_key_fails_with_apt_signature_error(deployed_lab):
    from lab.nvidia_mirror.build import build_mirror, resign_with_other_key

    www = Path(deployed_lab.state_dir) / "www"
    bad = www / "badkey"
    build_mirror(
        bad, gnupg_home=Path(deployed_lab.state_dir) / "gnupg", base_url=lab.NVIDIA_REPO_URL
    )
    resign_with_other_key(bad)
    bad_url = f"http://{lab.MIRROR_HOST}:8000/badkey"
    try:
        run = run_deploy(
            {"lab-linux-2": {"tgi_nvidia_toolkit_repo_url": bad_url}}, args=only("lab-linux-2")
        )
        assert run.returncode != 0
        assert "could not verify the NVIDIA Container Toolkit repository" in run.output
        assert "NO_PUBKEY" in run.output or "not signed" in run.output, run.output[-3000:]
        h = ssh_host(deployed_lab, "lab-linux-2")
        assert h.run("apt-get update -qq").rc == 0, "apt left broken by the bad source"
        assert not h.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").exists
    finally:
        restore("lab-linux-2")


def _fake_deb(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 550.54.15-0lab1\nArchitecture: all\n"
        "Maintainer: tgi-lab <lab@localhost>\nDescription: lab stand-in of a Linux NVIDIA "
        "driver package installed inside WSL (the known breakage)\n"
    )
    subprocess.run(["dpkg-deb", "--build", str(root), str(tmp_path / f"{name}.deb")], check=True,
                   capture_output=True)  # fmt: skip
    return tmp_path / f"{name}.deb"


def test_wsl_with_linux_driver_fails_preflight_before_any_change(deployed_lab, tmp_path):
    deb = _fake_deb(tmp_path, "nvidia-driver-550")
    cid = deployed_lab.host("lab-wsl-1").container
    subprocess.run(["docker", "cp", str(deb), f"{cid}:/tmp/driver.deb"], check=True)
    lab.exec_on(deployed_lab, "lab-wsl-1", "dpkg -i /tmp/driver.deb")
    before = container_ids(deployed_lab)
    services = lab_services("lab-linux-1")
    services[1]["model_id"] = "HuggingFaceTB/SmolLM2-1.7B-Instruct"  # a change elsewhere
    try:
        run = run_deploy(
            {"lab-wsl-1": {"tgi_gpus": "all", "tgi_services": [{"name": "tgi-service",
             "model_id": "m/x", "gpus": 1, "bind": "0.0.0.0"}]},
             "lab-linux-1": {"tgi_services": services}}
        )  # fmt: skip
        assert run.returncode != 0
        assert "libnvidia-ml.so.1: file exists" in run.output, run.output[-4000:]
        assert "nvidia-driver-550" in run.output
        assert container_ids(deployed_lab) == before, "a host changed although preflight failed"
    finally:
        lab.exec_on(deployed_lab, "lab-wsl-1", "dpkg -r nvidia-driver-550")


def test_gpu_host_without_driver_fails_preflight_naming_the_fix(deployed_lab):
    before = container_ids(deployed_lab)
    gpu_service = {"name": "tgi-service", "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "gpus": 1}
    run = run_deploy({"lab-linux-2": {"tgi_gpus": "all", "tgi_services": [gpu_service]}})
    assert run.returncode != 0
    assert "preflight failed, no host was changed" in run.output
    assert "lab-linux-2" in run.output and "driver" in run.output.lower()
    assert "gpus: none" in run.output, "the fix (or CPU mode) must be named"
    assert container_ids(deployed_lab) == before


def test_docker_users_join_the_docker_group_and_unknown_users_are_refused(deployed_lab):
    lab.exec_on(deployed_lab, "lab-linux-2", "id mlops >/dev/null 2>&1 || useradd -m mlops")
    try:
        users = {"lab-linux-2": {"tgi_docker_users": ["mlops"]}}
        run = run_deploy(users, args=only("lab-linux-2"))
        assert_ok(run, "deploy with docker_users")
        assert "docker" in ssh_host(deployed_lab, "lab-linux-2").user("mlops").groups
        again = run_deploy(users, args=only("lab-linux-2"))
        assert again.totals()["changed"] == 0, again.output[-3000:]
        bad = run_deploy(
            {"lab-linux-2": {"tgi_docker_users": ["nobody-here"]}}, args=only("lab-linux-2")
        )
        assert bad.returncode != 0
        assert "field docker_users: value 'nobody-here'" in bad.output
    finally:
        lab.exec_on(deployed_lab, "lab-linux-2", "userdel -r mlops 2>/dev/null || true")
