"""Issue 12 preflight items on recorded/written facts (nothing read from this machine):
defect 3 (arm64 and TGI's amd64-only image), 7 (Docker that apt does not manage),
9 (WSL ``[boot] command`` needs Windows 11 / Server 2022)."""

from __future__ import annotations

import pytest
from tgi_infra.host import facts as f
from tgi_infra.host.preflight import check_host, errors, preflight

from tests.unit.test_preflight import cfg, codes, docker, facts, platform, sec

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"


# --- defect 3: arm64 ----------------------------------------------------------------------


@pytest.mark.parametrize("gpus_mode", ["all", "none"])
def test_arm64_with_tgis_image_is_refused_before_any_change(gpus_mode):
    problems = preflight("h1", cfg(gpus_mode), facts(platform=platform(arch="arm64")))
    (problem,) = [p for p in errors(problems) if p.code == "image-arch"]
    assert "arm64" in problem.found and TGI in problem.found and "tgi-service" in problem.found
    assert "linux/amd64" in problem.found and "image" in problem.fix


def test_arm64_with_mirrored_tgi_image_is_refused_too():
    c = cfg(image_mirror="registry.lab:5000")
    assert "image-arch" in codes(preflight("h1", c, facts(platform=platform(arch="arm64"))))


def test_arm64_with_an_image_the_user_names_is_allowed_and_said():
    own = [{"model_id": "org/m", "image": "registry.example:5000/me/tgi-arm64:3.3.7"}]
    problems, plan = check_host("h1", cfg(services=own), facts(platform=platform(arch="arm64")))
    assert "image-arch" not in codes(problems)
    assert any("registry.example:5000/me/tgi-arm64:3.3.7" in n and "arm64" in n for n in plan.notes)


def test_amd64_with_tgis_image_is_fine():
    assert "image-arch" not in codes(preflight("h1", cfg(), facts()))


def test_absent_service_does_not_count():
    gone = [{"model_id": "org/m", "present": False}]
    problems = preflight("h1", cfg(services=gone), facts(platform=platform(arch="arm64")))
    assert "image-arch" not in codes(problems)


# --- defect 7: Docker not managed by apt ---------------------------------------------------


def _other(cli: list[str], info: str | None = None):
    lines = sec("dpkg") + sec("cli", cli)
    if info is not None:
        lines += sec("info", info)
    return f.parse_docker_state(lines)


def test_snap_docker_is_refused_with_what_the_deploy_would_not_do():
    problems, plan = check_host("h1", cfg(), facts(docker=_other(["/snap/bin/docker"] * 2)))
    (p,) = [x for x in problems if x.code == "docker-snap"]
    assert p.severity == "error" and "/snap/bin/docker" in p.found
    assert "snap remove --purge docker" in p.fix
    assert "/var/snap/docker" in p.found  # the daemon.json nvidia-ctk would not reach


def test_static_docker_binaries_are_refused():
    problems = preflight("h1", cfg(), facts(docker=_other(["/usr/local/bin/docker"] * 2)))
    (p,) = [x for x in problems if x.code == "docker-unmanaged"]
    assert p.severity == "error" and "/usr/local/bin/docker" in p.found
    assert "not installed by apt" in p.found


def test_docker_desktop_for_linux_is_refused_not_warned():
    problems, _ = check_host("h1", cfg(), facts(docker=docker("docker-desktop")))
    (p,) = [x for x in problems if x.code == "docker-desktop-native"]
    assert p.severity == "error"
    assert "docker context use default" in p.fix


def test_apt_engines_are_still_fine():
    for flavour in ("docker.io", "docker-ce", "absent"):
        c = cfg(docker_source="docker-ce" if flavour == "docker-ce" else "distro")
        assert errors(preflight("h1", c, facts(docker=docker(flavour)))) == []


# --- defect 9: WSL [boot] command ----------------------------------------------------------


def test_wsl_boot_command_note_names_windows_11_and_the_windows_10_way():
    wsl = platform(wsl=True)
    _, plan = check_host("h1", cfg("none"), facts(platform=wsl, systemd=False, gpus={}))
    assert plan.wsl_boot_command
    (note,) = [n for n in plan.notes if "Windows 11" in n]
    assert "Windows 11" in note and "Windows Server 2022" in note and "Windows 10" in note


def test_no_boot_note_where_the_deploy_does_not_rely_on_it():
    _, plan = check_host("h1", cfg(), facts())
    assert not [n for n in plan.notes if "Windows 11" in n]
