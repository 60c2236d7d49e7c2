"""Fact parsers on captured command outputs, the fact commands run for real.

Fixtures (tests/unit/fixtures/README.md says which are captured on this machine and which are
written from the documented formats because no GPU / WSL / Docker Desktop exists here).
Real-system tests run every fact's ``command()`` with bash and sh here (Debian bookworm,
docker.io running, no GPU, no systemd) and through pyinfra's own ``@local`` connector.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tgi_infra.host import facts as f

FIX = Path(__file__).parent / "fixtures"


def fx(rel: str) -> str:
    return (FIX / rel).read_text()


def lines(rel: str) -> list[str]:
    return fx(rel).splitlines()


def section(name: str, body: list[str] | str = (), args: str = "") -> list[str]:
    if isinstance(body, str):
        body = body.splitlines()
    return [f"{f.MARK}{name}{' ' + args if args else ''}", *body]


def run_sh(command: str, shell: str = "bash", env: dict | None = None) -> list[str]:
    proc = subprocess.run(
        [shell, "-c", command], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    return proc.stdout.splitlines()


def run_fact(fact_cls, *args, shell="bash", env=None):
    """What pyinfra does: run command(), process() the stdout lines, default() when empty."""
    fact = fact_cls()
    out = run_sh(fact.command(*args), shell, env)
    return fact.process(out) if out else fact.default()


# --------------------------------------------------------------------------------------------
# helpers


def test_split_sections_keeps_args_and_preamble():
    out = f.split_sections(["pre", f"{f.MARK}a", "1", "2", f"{f.MARK}b x y", f"{f.MARK}c"])
    assert out == {"": ["pre"], "a": ["1", "2"], "b": [], "b:args": ["x y"], "c": []}


def test_parse_os_release_real_debian12():
    rel = f.parse_os_release(fx("platform/os-release-debian12"))
    assert rel["ID"] == "debian"
    assert rel["VERSION_ID"] == "12"
    assert rel["VERSION_CODENAME"] == "bookworm"
    assert rel["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"


@pytest.mark.parametrize(
    "value, expected",
    [("amd64", "amd64"), ("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "armhf")],
)
def test_normalise_arch(value, expected):
    assert f.normalise_arch(value + "\n") == expected


# --------------------------------------------------------------------------------------------
# HostPlatform


def platform_output(
    os_release="platform/os-release-debian12",
    osrelease="6.18.44-fc-v669",
    proc_version="platform/proc-version-this-machine",
    markers=(),
    distro_name="",
    arch="amd64",
):
    return [
        *section("osrelease", osrelease),
        *section("proc_version", fx(proc_version)),
        *section("markers", list(markers)),
        *section("env", f"WSL_DISTRO_NAME={distro_name}"),
        *section("os_release", fx(os_release)),
        *section("arch", arch),
    ]


def test_platform_native_debian():
    p = f.parse_host_platform(platform_output())
    assert p["wsl"] is False and p["wsl_version"] is None and p["wsl_signals"] == []
    assert (p["distro_id"], p["version_id"], p["codename"]) == ("debian", "12", "bookworm")
    assert p["arch"] == "amd64"
    assert p["kernel"] == "6.18.44-fc-v669"


def test_platform_native_ubuntu_uname_fallback():
    p = f.parse_host_platform(
        platform_output(
            "platform/os-release-ubuntu2404",
            "6.8.0-51-generic",
            "platform/proc-version-ubuntu2404",
            arch="aarch64",
        )
    )
    assert (p["wsl"], p["distro_id"], p["version_id"], p["codename"], p["arch"]) == (
        False,
        "ubuntu",
        "24.04",
        "noble",
        "arm64",
    )


def test_platform_real_wsl2():
    p = f.parse_host_platform(
        platform_output(
            "platform/os-release-ubuntu2204",
            fx("platform/osrelease-wsl2").strip(),
            "platform/proc-version-wsl2",
            markers=[
                "/proc/sys/fs/binfmt_misc/WSLInterop",
                "/run/WSL",
                "/usr/lib/wsl/lib",
                "/etc/wsl.conf",
            ],
            distro_name="Ubuntu-22.04",
        )
    )
    assert p["wsl"] is True and p["wsl_version"] == 2
    assert p["codename"] == "jammy"
    assert "osrelease:5.15.167.4-microsoft-standard-WSL2" in p["wsl_signals"]
    assert "proc_version:5.15.167.4-microsoft-standard-WSL2" in p["wsl_signals"]
    assert "/proc/sys/fs/binfmt_misc/WSLInterop" in p["wsl_signals"]
    assert "WSL_DISTRO_NAME=Ubuntu-22.04" in p["wsl_signals"]


def test_platform_wsl1():
    p = f.parse_host_platform(
        platform_output(
            "platform/os-release-ubuntu2204",
            fx("platform/osrelease-wsl1").strip(),
            "platform/proc-version-wsl1",
            markers=["/proc/sys/fs/binfmt_misc/WSLInterop"],
        )
    )
    assert p["wsl"] is True and p["wsl_version"] == 1


@pytest.mark.parametrize(
    "markers, distro_name, expected",
    [
        # the container lab's lab-wsl-1: only fakeable markers, host kernel in /proc/version
        (["/run/WSL", "/usr/lib/wsl/lib", "/etc/wsl.conf"], "", True),
        (["/run/WSL", "/usr/lib/wsl/lib"], "", True),
        (["/proc/sys/fs/binfmt_misc/WSLInterop-late"], "", True),
        (["/run/WSL"], "", False),
        (["/usr/lib/wsl/lib"], "", False),
        (["/etc/wsl.conf"], "", False),
        ([], "Ubuntu", False),
    ],
)
def test_platform_wsl_markers_rule(markers, distro_name, expected):
    p = f.parse_host_platform(platform_output(markers=markers, distro_name=distro_name))
    assert p["wsl"] is expected
    assert p["wsl_version"] == (2 if expected else None)
    assert set(markers) <= set(p["wsl_signals"])


def test_platform_default_is_unknown_not_crash():
    p = f.HostPlatform.default()
    assert p["wsl"] is False and p["distro_id"] is None and p["arch"] is None


# --------------------------------------------------------------------------------------------
# SystemdPid1


@pytest.mark.parametrize(
    "out, expected",
    [
        (["pid1_comm=systemd", "sd_booted=yes"], True),
        (["pid1_comm=init", "sd_booted=no"], False),  # WSL without systemd (Microsoft /init)
        (["pid1_comm=process_api", "sd_booted=no"], False),  # this machine
        (["pid1_comm=bash", "sd_booted=yes"], False),  # image shipped the dir, no systemd
        (["pid1_comm=", "sd_booted=yes"], True),  # comm unreadable: sd_booted decides
    ],
)
def test_parse_systemd_pid1(out, expected):
    assert f.parse_systemd_pid1(out) is expected


# --------------------------------------------------------------------------------------------
# Docker


def test_docker_info_real_docker_io():
    info = f.parse_docker_info(fx("docker/info-docker-io-bookworm.json"))
    assert info["running"] is True
    assert info["server_version"] == "20.10.24+dfsg1"
    assert info["runtimes"] == ["io.containerd.runc.v2", "io.containerd.runtime.v1.linux", "runc"]
    assert info["default_runtime"] == "runc"
    assert info["operating_system"] == "Debian GNU/Linux 12 (bookworm)"
    assert info["error"] is None
    assert not f.is_docker_desktop_info(info)


def test_docker_info_real_daemon_down():
    info = f.parse_docker_info(fx("docker/info-daemon-down.txt"))
    assert info["running"] is False and info["server_version"] is None
    assert "Cannot connect to the Docker daemon" in info["error"]


def test_docker_info_desktop_wsl2():
    info = f.parse_docker_info(fx("docker/info-docker-desktop-wsl2.json"))
    assert info["running"] is True and info["server_version"] == "27.4.0"
    assert "nvidia" in info["runtimes"]
    assert info["kernel_version"].endswith("microsoft-standard-WSL2")
    assert f.is_docker_desktop_info(info)


def test_docker_info_ce():
    info = f.parse_docker_info(fx("docker/info-docker-ce-ubuntu2204.json"))
    assert (info["server_version"], info["cgroup_driver"], info["default_runtime"]) == (
        "28.3.2",
        "systemd",
        "runc",
    )
    assert info["runtimes"] == ["io.containerd.runc.v2", "nvidia", "runc"]
    assert not f.is_docker_desktop_info(info)


def docker_output(dpkg="docker/dpkg-query-docker-bookworm.txt", cli=None, info=None):
    out = section("dpkg", fx(dpkg) if dpkg else [])
    out += section("cli", cli or [])
    if cli:
        out += section("info", fx(info) if info else [])
    return out


def test_docker_state_real_docker_io():
    s = f.parse_docker_state(
        docker_output(
            cli=["/usr/bin/docker", "/usr/bin/docker"], info="docker/info-docker-io-bookworm.json"
        )
    )
    assert s["flavour"] == "docker.io" and s["installed"] and s["running"]
    # docker-ce is known to dpkg but "not-installed": it must not count
    assert s["packages"] == {"docker.io": "20.10.24+dfsg1-1+deb12u1+b6"}


def test_docker_state_desktop_by_info_and_by_cli_symlink_when_down():
    up = f.parse_docker_state(
        docker_output(
            dpkg=None, cli=["/usr/bin/docker"] * 2, info="docker/info-docker-desktop-wsl2.json"
        )
    )
    assert up["flavour"] == "docker-desktop" and up["running"] and up["packages"] == {}
    down = f.parse_docker_state(
        docker_output(
            dpkg=None,
            cli=["/usr/bin/docker", "/mnt/wsl/docker-desktop/cli-tools/usr/bin/docker"],
            info="docker/info-daemon-down.txt",
        )
    )
    assert down["flavour"] == "docker-desktop" and down["running"] is False


def test_docker_state_ce_absent_other():
    ce_dpkg = ["docker-ce\tinstall ok installed\t5:28.3.2-1~ubuntu.22.04~jammy"]
    ce = f.parse_docker_state(
        section("dpkg", ce_dpkg)
        + section("cli", ["/usr/bin/docker"] * 2)
        + section("info", fx("docker/info-docker-ce-ubuntu2204.json"))
    )
    assert ce["flavour"] == "docker-ce" and ce["server_version"] == "28.3.2"
    absent = f.parse_docker_state(section("dpkg") + section("cli"))
    assert absent["flavour"] == "absent" and not absent["installed"] and not absent["running"]
    assert absent["error"] == "docker CLI not found"
    other = f.parse_docker_state(
        section("dpkg")
        + section("cli", ["/snap/bin/docker"] * 2)
        + section("info", fx("docker/info-daemon-down.txt"))
    )
    assert other["flavour"] == "other" and other["installed"]


# --------------------------------------------------------------------------------------------
# NVIDIA


def test_nvidia_smi_csv_one_h100():
    (gpu,) = f.parse_nvidia_smi_csv(lines("nvidia/smi-1gpu-h100.csv"))
    assert gpu == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "memory_mib": 81559,
        "driver_version": "550.54.15",
        "uuid": "GPU-2f3c8e4a-9b1d-6c7e-0f2a-3b4c5d6e7f80",
    }


def test_nvidia_smi_csv_eight_a100():
    gpus = f.parse_nvidia_smi_csv(lines("nvidia/smi-8gpu-a100.csv"))
    assert [g["index"] for g in gpus] == list(range(8))
    assert {g["name"] for g in gpus} == {"NVIDIA A100-SXM4-80GB"}
    assert {g["memory_mib"] for g in gpus} == {81920}
    assert len({g["uuid"] for g in gpus}) == 8


@pytest.mark.parametrize(
    "fixture",
    [
        "nvidia/smi-driver-broken.txt",
        "nvidia/smi-no-devices.txt",
        "nvidia/bash-command-not-found.txt",
    ],
)
def test_nvidia_smi_csv_rejects_messages(fixture):
    with pytest.raises(ValueError, match="not an nvidia-smi CSV record"):
        f.parse_nvidia_smi_csv(lines(fixture))


def smi_output(fixture, rc, path="/usr/bin/nvidia-smi"):
    return section("nvidia-smi", fx(fixture), args=path) + section("rc", args=str(rc))


def test_nvidia_gpus_ok_and_wsl():
    ok = f.parse_nvidia_gpus(smi_output("nvidia/smi-8gpu-a100.csv", 0))
    assert ok["driver"] is True and ok["error"] is None and len(ok["gpus"]) == 8
    wsl = f.parse_nvidia_gpus(
        smi_output("nvidia/smi-wsl2-rtx4090.csv", 0, "/usr/lib/wsl/lib/nvidia-smi")
    )
    assert wsl["nvidia_smi"] == "/usr/lib/wsl/lib/nvidia-smi"
    assert wsl["gpus"][0]["driver_version"] == "566.36"


def test_nvidia_gpus_missing_broken_nodevices_mismatch():
    missing = f.parse_nvidia_gpus(section("nvidia-smi-missing"))
    assert missing == {
        "driver": False,
        "error": "nvidia-smi not found",
        "gpus": [],
        "nvidia_smi": None,
    }
    broken = f.parse_nvidia_gpus(smi_output("nvidia/smi-driver-broken.txt", 9))
    assert broken["driver"] is False and broken["error"].startswith(f.NVIDIA_SMI_DRIVER_BROKEN)
    none = f.parse_nvidia_gpus(smi_output("nvidia/smi-no-devices.txt", 6))
    assert (
        none["driver"] is True and none["gpus"] == [] and none["error"] == "No devices were found"
    )
    mismatch = f.parse_nvidia_gpus(smi_output("nvidia/smi-nvml-mismatch.txt", 18))
    assert mismatch["driver"] is False and "version mismatch" in mismatch["error"]
    timeout = f.parse_nvidia_gpus(section("nvidia-smi", args="/x") + section("rc", args="124"))
    assert timeout["driver"] is False and "timed out" in timeout["error"]


def test_nvidia_ctk_version():
    assert f.parse_nvidia_ctk_version(lines("nvidia/nvidia-ctk-version.txt")) == "1.17.8"
    assert f.parse_nvidia_ctk_version(["bash: nvidia-ctk: command not found"]) is None
    assert f.NvidiaCtkVersion.default() is None


def test_linux_driver_packages_wsl_breakage_fixture():
    pkgs = f.parse_linux_nvidia_driver_packages(lines("nvidia/dpkg-query-wsl-linux-driver.txt"))
    assert pkgs == [
        "libnvidia-cfg1-550",
        "libnvidia-common-550",
        "libnvidia-compute-550",
        "libnvidia-decode-550",
        "libnvidia-encode-550",
        "libnvidia-extra-550",
        "libnvidia-fbc1-550",
        "nvidia-compute-utils-550",
        "nvidia-dkms-550",  # half-configured: files on disk, counts
        "nvidia-driver-550",
        "nvidia-kernel-common-550",
        "nvidia-kernel-source-550",
        "nvidia-utils-550",
    ]
    assert not any("container" in p or "egl-wayland" in p for p in pkgs)


def test_linux_driver_packages_toolkit_only_and_debian_names():
    assert f.parse_linux_nvidia_driver_packages(lines("nvidia/dpkg-query-toolkit-only.txt")) == []
    assert f.parse_linux_nvidia_driver_packages(lines("nvidia/dpkg-query-debian-driver.txt")) == [
        "libcuda1",
        "libnvidia-ml1",
        "libnvidia-ptxjitcompiler1",
        "nvidia-driver",
        "nvidia-kernel-dkms",
        "nvidia-smi",
    ]
    # usable on pyinfra's deb.DebPackages value too
    assert f.filter_linux_driver_packages(
        {"nvidia-driver-550": ["550.120"], "nvidia-container-toolkit": ["1.17.8-1"], "vim": ["9"]}
    ) == ["nvidia-driver-550"]


# --------------------------------------------------------------------------------------------
# daemon.json / wsl.conf


@pytest.mark.parametrize("fixture", ["nvidia-runtime.json", "other-keys.json", "hosts-key.json"])
def test_daemon_json_fixtures(fixture):
    body = fx(f"daemon_json/{fixture}")
    value = f.DaemonJson().process(section("present", body))
    assert value == json.loads(body)


def test_daemon_json_other_keys_kept():
    value = f.parse_daemon_json(fx("daemon_json/other-keys.json"))
    assert value["log-driver"] == "json-file"
    assert value["registry-mirrors"] == ["https://mirror.example.internal"]
    assert value["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"


def test_daemon_json_absent_empty_invalid():
    assert f.DaemonJson().process(section("absent")) is None
    assert f.DaemonJson().process(section("present")) == {}
    with pytest.raises(f.FactParseError, match=r"/etc/docker/daemon.json is not valid JSON"):
        f.DaemonJson().process(section("present", fx("daemon_json/invalid-trailing-comma.json")))
    with pytest.raises(f.FactParseError, match="must hold a JSON object"):
        f.parse_daemon_json("[1, 2]")


def test_wsl_conf():
    conf = f.WslConf().process(section("present", fx("wsl_conf/systemd-enabled.conf")))
    assert conf == {
        "boot": {"systemd": "true"},
        "network": {"generateResolvConf": "false", "hostname": "gpu-wsl"},
        "user": {"default": "ubuntu"},
    }
    boot = f.parse_wsl_conf(fx("wsl_conf/boot-command.conf"))
    assert boot["boot"]["command"] == '"service docker start"'
    assert f.wsl_conf_value(boot, "BOOT", "Command") == "service docker start"
    assert f.wsl_conf_value(boot, "boot", "systemd") is None
    assert f.WslConf().process(section("absent")) is None
    with pytest.raises(f.FactParseError, match="/etc/wsl.conf is not valid INI"):
        f.parse_wsl_conf(fx("wsl_conf/no-section.conf"))


# --------------------------------------------------------------------------------------------
# containers / images


def test_container_inspect_real_fixture():
    out = section("names", args="fixture-created fixture-running fixture-exited gone")
    out += section("inspect", fx("docker/container-inspect-three.json"))
    states = f.parse_container_state(out)
    assert states["gone"] is None
    running = states["fixture-running"]
    assert running["running"] is True and running["status"] == "running"
    assert running["labels"] == {"tgi-infra.config-hash": "def456", "tgi-infra.managed": "true"}
    assert running["image"] == "labbase:test" and running["image_id"].startswith("sha256:")
    created = states["fixture-created"]
    assert (created["running"], created["status"], created["restart_count"]) == (
        False,
        "created",
        0,
    )
    assert created["labels"]["tgi-infra.config-hash"] == "abc123"
    exited = states["fixture-exited"]
    assert (exited["status"], exited["exit_code"], exited["labels"]) == ("exited", 3, {})


def test_container_inspect_none_and_docker_missing():
    out = section("names", args="a b") + section(
        "inspect", fx("docker/container-inspect-none.json")
    )
    assert f.parse_container_state(out) == {"a": None, "b": None}
    assert f.parse_container_state(section("names", args="a") + section("docker-missing")) == {
        "a": None
    }
    with pytest.raises(f.FactParseError):
        f.parse_container_state(section("names", args="a") + section("inspect", "{not json"))


@pytest.mark.parametrize("bad", ["-rm", "a b", "a;rm -rf /", "", "$(id)"])
def test_container_and_image_args_are_checked(bad):
    with pytest.raises(ValueError):
        f.ContainerState().command([bad])
    if bad.startswith("-") or " " in bad or not bad:
        with pytest.raises(ValueError):
            f.DockerImagePresent().command(bad)


def test_image_ref_is_quoted(tmp_path):
    marker = tmp_path / "pwned"
    assert run_fact(f.DockerImagePresent, f"$(touch${{IFS}}{marker})") is False
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# fact commands with stand-in binaries (real shell plumbing; the binary is the stand-in)
#
# nvidia-smi / nvidia-ctk / dpkg-query / docker cannot show GPUs, WSL packages or Docker
# Desktop on this machine. Each stand-in prints a fixture in the real tool's output format
# (documented next to the fixture) and exits with the real tool's exit code.


def stand_in(tmp_path: Path, name: str, stdout: str, rc: int = 0) -> dict:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / name
    body = tmp_path / f"{name}.out"
    body.write_text(stdout)
    script.write_text(f"#!/bin/sh\ncat '{body}'\nexit {rc}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    "fixture, rc, n, driver",
    [
        ("nvidia/smi-8gpu-a100.csv", 0, 8, True),
        ("nvidia/smi-1gpu-h100.csv", 0, 1, True),
        ("nvidia/smi-driver-broken.txt", 9, 0, False),  # real exit code 9
        ("nvidia/smi-no-devices.txt", 6, 0, True),  # real exit code 6
    ],
)
def test_nvidia_gpus_command_with_stand_in(tmp_path, fixture, rc, n, driver):
    env = stand_in(tmp_path, "nvidia-smi", fx(fixture), rc)
    value = run_fact(f.NvidiaGpus, env=env)
    assert len(value["gpus"]) == n and value["driver"] is driver
    assert value["nvidia_smi"] == str(tmp_path / "bin" / "nvidia-smi")


def test_nvidia_ctk_and_driver_packages_commands_with_stand_ins(tmp_path):
    env = stand_in(tmp_path, "nvidia-ctk", fx("nvidia/nvidia-ctk-version.txt"))
    assert run_fact(f.NvidiaCtkVersion, env=env) == "1.17.8"
    env = stand_in(tmp_path, "dpkg-query", fx("nvidia/dpkg-query-wsl-linux-driver.txt"), 1)
    pkgs = run_fact(f.LinuxNvidiaDriverPackages, env=env)
    assert "nvidia-driver-550" in pkgs and "nvidia-container-toolkit" not in pkgs


def test_docker_state_command_desktop_symlink_stand_in(tmp_path):
    # Docker Desktop's WSL integration: /usr/bin/docker -> /mnt/wsl/docker-desktop/cli-tools/...
    env = stand_in(tmp_path, "docker-real", fx("docker/info-docker-desktop-wsl2.json"))
    target = tmp_path / "mnt/wsl/docker-desktop/cli-tools/usr/bin/docker"
    target.parent.mkdir(parents=True)
    shutil.move(tmp_path / "bin" / "docker-real", target)
    (tmp_path / "bin" / "docker").symlink_to(target)
    value = run_fact(f.DockerState, env=env)
    assert value["flavour"] == "docker-desktop" and value["running"] is True
    assert value["cli_target"] == str(target)


# --------------------------------------------------------------------------------------------
# real system: this machine's Docker Engine (real containers and images)

SHELLS = [s for s in ("bash", "sh") if shutil.which(s)]


# What this machine's distro, Docker, GPU and toolkit are is not the unit tests' business: the
# facts run against known hosts in the lab (lab/test_facts_on_hosts.py); here only Docker, which
# the suite needs, is used through real containers.


@pytest.fixture(scope="module")
def probe_container():
    """A real labelled container from an empty imported image (no registry, no network)."""
    tag = f"tgi-infra-facts-test/empty:{os.getpid()}"  # one image per xdist worker
    name = f"tgi-infra-facts-test-{os.getpid()}"
    tar = subprocess.run(["tar", "cf", "-", "--files-from", "/dev/null"], capture_output=True)
    subprocess.run(
        ["docker", "import", "-", tag], input=tar.stdout, check=True, capture_output=True
    )
    subprocess.run(
        ["docker", "create", "--name", name, "--label", "tgi-infra.config-hash=h1", tag, "/x"],
        check=True,
        capture_output=True,
    )
    yield name, tag
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "rmi", tag], capture_output=True)


def test_real_container_state_and_image(probe_container):
    name, tag = probe_container
    states = run_fact(f.ContainerState, [name, "tgi-infra-no-such-container"])
    assert states["tgi-infra-no-such-container"] is None
    assert states[name]["status"] == "created" and states[name]["running"] is False
    assert states[name]["labels"] == {"tgi-infra.config-hash": "h1"}
    assert states[name]["image"] == tag
    assert run_fact(f.DockerImagePresent, tag) is True
    assert run_fact(f.DockerImagePresent, "tgi-infra-facts-test/absent:1") is False


def test_real_through_pyinfra_local_connector(probe_container):
    """The same facts through pyinfra itself (sh -c wrapping, status and output handling)."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all

    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@local")
    assert host.get_fact(f.ContainerState, [probe_container[0]])[probe_container[0]]["status"] == (
        "created"
    )
    assert host.get_fact(f.DockerImagePresent, probe_container[1]) is True
    assert not state.failed_hosts
