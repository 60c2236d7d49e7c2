"""Host profiles (lab/profiles.py): each one deploy -> smoke + host checks -> second deploy.

The CI set runs by default; ``TGI_LAB_PROFILES=all`` (or ``=debian11,debian13``) selects more,
e.g. ``TGI_LAB_PROFILES=all .venv/bin/python -m pytest lab/test_profiles.py``
(``python -m lab profiles --all`` runs the same without pytest).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lab import profiles
from lab.conftest import lab_env

SELECTED = {p.name for p in profiles.select(os.environ.get("TGI_LAB_PROFILES"))}


def _sh(container: str, cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", container, "sh", "-c", cmd], capture_output=True, text=True
    )


def _policy(container: str) -> str:
    out = _sh(container, "docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' tgi-service")
    return out.stdout.strip()


def _profile_checks(p: profiles.Profile, state) -> None:
    """What makes the profile the shape it claims, and how the deploy treated it."""
    h = state.host(p.host)
    c = h.container
    if p.kind == "linux-sudo":
        key = state.ssh_key
        opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
        opts += ["-o", "UserKnownHostsFile=/dev/null", "-i", key]
        root = subprocess.run(["ssh", *opts, f"root@{h.address}", "true"], capture_output=True)
        assert root.returncode != 0, "root login must be refused on the sudo profile"
        who = subprocess.run(
            ["ssh", *opts, f"deploy@{h.address}", "id -un; sudo -n id -un"],
            capture_output=True,
            text=True,
        )
        assert who.stdout.split() == ["deploy", "root"], who.stdout + who.stderr
    if p.kind == "linux":
        from lab.images import RELEASES

        version = _sh(c, ". /etc/os-release; echo $VERSION_ID").stdout.strip()
        assert version == RELEASES[p.release], f"{p.name}: Debian {version}"
    env = _sh(c, "stat -c '%a %U %G' /opt/tgi/tgi-service/service.env").stdout.strip()
    assert env == "600 root root", env
    unit = "/etc/systemd/system/tgi-tgi-service.service"
    if p.kind in ("linux", "linux-sudo", "wsl-systemd"):
        assert _sh(c, "systemctl is-active docker").stdout.strip() == "active"
        assert _sh(c, "systemctl is-active tgi-tgi-service").stdout.strip() == "active"
        assert _policy(c) == "no", "systemd supervises: the container has --restart no"
    if p.kind == "wsl":
        assert _policy(c) == "unless-stopped"
        assert "service docker start" in _sh(c, "cat /etc/wsl.conf").stdout
    if p.kind == "wsl-desktop":
        assert _sh(c, "systemctl cat docker.service").returncode != 0, "no docker.service"
        assert _sh(c, "dpkg -s docker.io").returncode != 0, "no engine in the distro"
        assert _sh(c, "dpkg -s nvidia-container-toolkit").returncode != 0, "no toolkit"
        assert _sh(c, f"test -e {unit}").returncode != 0, "no unit under Docker Desktop"
        os_name = _sh(c, "docker info -f '{{.OperatingSystem}}'").stdout.strip()
        assert os_name == "Docker Desktop", os_name
        assert _policy(c) == "unless-stopped", "Docker's restart policy supervises"


@pytest.mark.parametrize("name", [p.name for p in profiles.PROFILES])
def test_profile_deploys_smokes_and_is_idempotent(name, tmp_path):
    if name not in SELECTED:
        pytest.skip(f"profile {name} is not in this run (TGI_LAB_PROFILES=all runs every one)")
    import docker

    from lab import lab

    p = profiles.BY_NAME[name]
    result = profiles.run_profile(p, env=lab_env(), keep=True)
    try:
        tails = "\n".join(f"--- {k} ---\n{v[-3000:]}" for k, v in result.outputs.items())
        assert result.deploy_rc == 0, f"first deploy failed:\n{tails}"
        assert result.smoke_rc == 0 and not result.smoke.get("failed"), tails
        assert result.host_checks.get("passed") and not result.host_checks.get("failed"), tails
        assert result.second_rc == 0 and result.second_changes == 0, tails
        state = lab.load_state(lab.state_dir() / profiles.state_file(p))
        _profile_checks(p, state)
    finally:
        out = Path(os.environ.get("TGI_LAB_PROFILE_RESULTS", lab.state_dir() / "profiles.jsonl"))
        row = {k: v for k, v in vars(result).items() if k != "outputs"}
        with out.open("a") as f:
            f.write(json.dumps({**row, "ok": result.ok}) + "\n")
        print("\n" + profiles.TABLE_HEAD + "\n" + result.row())
        if os.environ.get("TGI_LAB_KEEP") != "1":
            lab.remove_host(docker.from_env(timeout=600), p.host)
