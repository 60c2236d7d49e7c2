"""Preflight rules and the HostPlan, on facts parsed from the fixtures (see test_facts.py),
plus one run against THIS machine's real facts through pyinfra's @local connector."""

from __future__ import annotations

from pathlib import Path

import pytest
from tgi_infra.config import host_key, load_host_config
from tgi_infra.host import facts as f
from tgi_infra.host.preflight import (
    DOCKER_DESKTOP_NOTE,
    NO_DRIVER_FIX,
    PreflightFacts,
    check_host,
    errors,
    format_problems,
    plan_host,
    preflight,
    required_gpu_count,
)

FIX = Path(__file__).parent / "fixtures"
MARK = f.MARK


def fx(rel: str) -> str:
    return (FIX / rel).read_text()


def sec(name, body=(), args=""):
    body = body.splitlines() if isinstance(body, str) else list(body)
    return [f"{MARK}{name}{' ' + args if args else ''}", *body]


# --------------------------------------------------------------------------------------------
# fact builders (every value goes through the real parser)

NATIVE_KERNEL = "6.8.0-51-generic"
WSL_MARKERS = ["/proc/sys/fs/binfmt_misc/WSLInterop", "/run/WSL", "/usr/lib/wsl/lib"]


def platform(
    os_release="ID=ubuntu\nVERSION_ID=22.04\nVERSION_CODENAME=jammy", arch="amd64", wsl=False
):
    kernel = fx("platform/osrelease-wsl2").strip() if wsl else NATIVE_KERNEL
    proc = fx("platform/proc-version-wsl2" if wsl else "platform/proc-version-ubuntu2404")
    return f.parse_host_platform(
        sec("osrelease", kernel)
        + sec("proc_version", proc)
        + sec("markers", WSL_MARKERS if wsl else [])
        + sec("env", "WSL_DISTRO_NAME=")
        + sec("os_release", os_release)
        + sec("arch", arch)
    )


def gpus(fixture=None, rc=0):
    if fixture is None:
        return f.parse_nvidia_gpus(sec("nvidia-smi-missing"))
    return f.parse_nvidia_gpus(
        sec("nvidia-smi", fx(fixture), args="/usr/bin/nvidia-smi") + sec("rc", args=str(rc))
    )


def docker(flavour="docker.io", running=True):
    dpkg = {
        "docker.io": "docker.io\tinstall ok installed\t20.10.24+dfsg1-1+deb12u1+b6",
        "docker-ce": "docker-ce\tinstall ok installed\t5:28.3.2-1~ubuntu.22.04~jammy",
    }
    # the dockerd on PATH and what dpkg-query -S says of it (facts.DockerState)
    dockerd = {
        "docker.io": ("/usr/sbin/dockerd", "docker/dpkg-search-docker-io-bookworm.txt"),
        "docker-ce": ("/usr/bin/dockerd", "docker/dpkg-search-docker-ce-ubuntu2204.txt"),
        "moby-engine": ("/usr/bin/dockerd", "docker/dpkg-search-moby-engine.txt"),
    }
    info = {
        "docker.io": "docker/info-docker-io-bookworm.json",
        "docker-ce": "docker/info-docker-ce-ubuntu2204.json",
        "moby-engine": "docker/info-docker-io-bookworm.json",
        "docker-desktop": "docker/info-docker-desktop-wsl2.json",
    }
    if flavour == "absent":
        return f.parse_docker_state(sec("dpkg") + sec("cli"))
    info_file = info[flavour] if running else "docker/info-daemon-down.txt"
    # Docker Desktop's WSL integration makes /usr/bin/docker a symlink into its own mount
    target = (
        "/mnt/wsl/docker-desktop/cli-tools/usr/bin/docker"
        if flavour == "docker-desktop"
        else "/usr/bin/docker"
    )
    engine = []
    if flavour in dockerd:
        path, search = dockerd[flavour]
        engine = sec("dockerd", [path, path]) + sec("dockerd_dpkg", fx(search))
    return f.parse_docker_state(
        sec("dpkg", [dpkg[flavour]] if flavour in dpkg else [])
        + engine
        + sec("cli", ["/usr/bin/docker", target])
        + sec("info", fx(info_file))
    )


def facts(**kw) -> PreflightFacts:
    base = dict(
        platform=platform(),
        systemd=True,
        docker=docker(),
        gpus=gpus("nvidia/smi-1gpu-h100.csv"),
        nvidia_ctk_version=None,
        daemon_json=None,
        nvidia_driver_packages=[],
        wsl_conf=None,
    )
    base.update(kw)
    return PreflightFacts(**base)


def cfg(gpus_mode="all", services=None, **host):
    if services is None:
        services = [{"model_id": "org/model"}]
    data = {host_key(k): v for k, v in host.items()}
    return load_host_config("h1", {"tgi_gpus": gpus_mode, "tgi_services": services, **data})


def codes(problems, severity=None):
    return [p.code for p in problems if severity is None or p.severity == severity]


# --------------------------------------------------------------------------------------------
# baseline


def test_healthy_gpu_host_has_no_problems():
    problems, plan = check_host("h1", cfg(), facts())
    assert problems == []
    assert plan.install_engine and plan.engine_source == "distro" and plan.install_toolkit
    assert not plan.skip_engine_and_toolkit
    assert plan.dockerd_start == "systemd" and plan.systemd and not plan.wsl_boot_command
    assert (plan.gpu_count, plan.required_gpus, plan.gpu_proof) == (1, 1, True)
    assert (plan.distro_id, plan.codename, plan.arch) == ("ubuntu", "jammy", "amd64")
    assert "docker.io 20.10.24" in plan.engine_note


# --------------------------------------------------------------------------------------------
# distro / arch

SUPPORTED = [
    "ID=debian\nVERSION_ID=11\nVERSION_CODENAME=bullseye",
    fx("platform/os-release-debian12"),
    fx("platform/os-release-debian13"),
    "ID=ubuntu\nVERSION_ID=20.04\nVERSION_CODENAME=focal",
    fx("platform/os-release-ubuntu2204"),
    fx("platform/os-release-ubuntu2404"),
]
UNSUPPORTED = [
    ("ID=debian\nVERSION_ID=10\nVERSION_CODENAME=buster", "distro-version"),
    (fx("platform/os-release-debian-sid"), "distro-version"),
    (fx("platform/os-release-ubuntu1804"), "distro-version"),
    ("ID=ubuntu\nVERSION_ID=24.10\nVERSION_CODENAME=oracular", "distro-version"),
    (fx("platform/os-release-rocky9"), "distro"),
]


@pytest.mark.parametrize("os_release", SUPPORTED)
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_supported_platforms(os_release, arch):
    # TGI's own image is amd64-only (refused below); arm64 hosts name their own image
    services = [{"model_id": "org/model", "image": "registry.example/me/tgi:arm64"}]
    c = cfg(services=services) if arch == "arm64" else cfg()
    assert preflight("h1", c, facts(platform=platform(os_release, arch))) == []


@pytest.mark.parametrize("os_release, code", UNSUPPORTED)
def test_unsupported_distros(os_release, code):
    problems = preflight("h1", cfg(), facts(platform=platform(os_release)))
    assert codes(problems, "error") == [code]
    assert "Debian 11-13" in problems[0].fix and "Ubuntu 20.04-24.04" in problems[0].fix


@pytest.mark.parametrize("arch", ["armhf", "i386", "ppc64el"])
def test_unsupported_arches(arch):
    problems = preflight("h1", cfg(), facts(platform=platform(arch=arch)))
    assert codes(problems, "error") == ["arch"] and arch in problems[0].found


def test_wsl1_is_an_error():
    p = f.parse_host_platform(
        sec("osrelease", fx("platform/osrelease-wsl1"))
        + sec("proc_version", fx("platform/proc-version-wsl1"))
        + sec("os_release", fx("platform/os-release-ubuntu2204"))
        + sec("arch", "amd64")
    )
    problems = preflight("h1", cfg(), facts(platform=p))
    assert "wsl1" in codes(problems, "error")
    assert "wsl --set-version" in next(x for x in problems if x.code == "wsl1").fix


# --------------------------------------------------------------------------------------------
# GPUs


def test_gpu_mode_without_driver_names_the_fix():
    problems = preflight("h1", cfg(), facts(gpus=gpus(None)))
    assert codes(problems) == ["no-driver"]
    assert problems[0].fix == NO_DRIVER_FIX
    assert NO_DRIVER_FIX == (
        "install the NVIDIA driver (e.g. `ubuntu-drivers install`) or set gpus: none"
    )
    assert problems[0].host == "h1" and "nvidia-smi not found" in problems[0].found


def test_gpu_mode_without_driver_on_wsl_points_to_windows():
    problems = preflight(
        "h1", cfg(), facts(platform=platform(wsl=True), systemd=False, gpus=gpus(None))
    )
    (p,) = [x for x in problems if x.code == "no-driver"]
    assert "Windows" in p.fix and "/usr/lib/wsl/lib" in p.fix


def test_cpu_mode_without_driver_is_fine():
    problems, plan = check_host("h1", cfg("none"), facts(gpus=gpus(None)))
    assert problems == []
    assert (plan.gpu_count, plan.required_gpus, plan.gpu_proof) == (0, 0, False)


@pytest.mark.parametrize(
    "fixture, rc, code",
    [
        ("nvidia/smi-driver-broken.txt", 9, "driver-broken"),
        ("nvidia/smi-nvml-mismatch.txt", 18, "driver-broken"),
        ("nvidia/smi-no-devices.txt", 6, "too-few-gpus"),
    ],
)
def test_broken_driver_or_no_devices(fixture, rc, code):
    problems = preflight("h1", cfg(), facts(gpus=gpus(fixture, rc)))
    assert codes(problems) == [code]
    assert fx(fixture).splitlines()[0] in problems[0].found


@pytest.mark.parametrize(
    "services, fixture, need, ok",
    [
        ([{"model_id": "o/m", "gpus": [0, 1]}], "nvidia/smi-1gpu-h100.csv", 2, False),
        ([{"model_id": "o/m", "gpus": 2}], "nvidia/smi-1gpu-h100.csv", 2, False),
        ([{"model_id": "o/m", "gpus": 8}], "nvidia/smi-8gpu-a100.csv", 8, True),
        ([{"model_id": "o/m", "gpus": [7]}], "nvidia/smi-8gpu-a100.csv", 8, True),
        (
            [
                {"name": "a", "model_id": "o/m", "gpus": [0, 1, 2, 3]},
                {"name": "b", "model_id": "o/m", "gpus": [4, 5, 6, 7, 8], "port": 8081},
            ],
            "nvidia/smi-8gpu-a100.csv",
            9,
            False,
        ),
        ([{"model_id": "o/m", "gpus": "all"}], "nvidia/smi-1gpu-h100.csv", 1, True),
        ([{"model_id": "o/m", "gpus": [3], "present": False}], "nvidia/smi-1gpu-h100.csv", 0, True),
    ],
)
def test_gpu_count_against_services(services, fixture, need, ok):
    c = cfg(services=services)
    assert required_gpu_count(c)[0] == need
    problems, plan = check_host("h1", c, facts(gpus=gpus(fixture)))
    assert plan.required_gpus == need
    if ok:
        assert problems == []
    else:
        (p,) = problems
        assert p.code == "too-few-gpus" and f"need {need}" in p.found
        assert "NVIDIA" in p.found  # lists what is there


def test_plan_gpu_count_is_what_nvidia_smi_sees():
    plan = plan_host(
        "h1",
        cfg(services=[{"model_id": "o/m", "gpus": 2}]),
        facts(gpus=gpus("nvidia/smi-8gpu-a100.csv")),
    )
    assert (plan.gpu_count, plan.required_gpus) == (8, 2)


# --------------------------------------------------------------------------------------------
# the engine image's CUDA against the host's NVIDIA driver (engines/spec.py CudaBuild)

SMI_535 = "nvidia/smi-8gpu-a100.csv"  # 535.183.01, A100 (data center)
SMI_550 = "nvidia/smi-1gpu-h100.csv"  # 550.54.15, H100
SMI_570 = "nvidia/smi-1gpu-h100-driver570.csv"  # 570.172.08, H100
SMI_580 = "nvidia/smi-1gpu-h100-driver580.csv"  # 580.95.05, H100
SMI_570_GEFORCE = "nvidia/smi-1gpu-rtx4090-driver570.csv"  # 570.172.08, GeForce RTX 4090
IMAGES = {
    "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.7",
    "vllm": "vllm/vllm-openai:v0.33.0",
    "vllm-cu129": "vllm/vllm-openai:v0.33.0-cu129",
    "sglang": "lmsysorg/sglang:v0.5.23",
    "sglang-cu129": "lmsysorg/sglang:v0.5.23-cu129",
}


def engine_service(image_key: str, **kw) -> dict:
    engine = image_key.split("-")[0]
    svc = {"name": "svc-a", "model_id": "org/model", "engine": engine, **kw}
    if image_key != engine:
        svc["image"] = IMAGES[image_key]
    return svc


@pytest.mark.parametrize(
    "fixture, fits",
    [
        # TGI 3.3.7: CUDA 12.4 base (R525/R535 admitted, every brand) -> every tested driver
        (SMI_535, {"tgi", "vllm-cu129", "sglang-cu129"}),
        (SMI_550, {"tgi", "vllm-cu129", "sglang-cu129"}),
        (SMI_570, {"tgi", "vllm-cu129", "sglang-cu129"}),
        (SMI_580, set(IMAGES)),
        # GeForce: the CUDA 12.9 builds admit R535-R570 only for data-center/professional GPUs
        (SMI_570_GEFORCE, {"tgi"}),
    ],
)
def test_each_engine_image_needs_a_driver_that_runs_its_cuda(fixture, fits):
    driver = fx(fixture).split(", ")[3]
    for key in IMAGES:
        c = cfg(services=[engine_service(key)])
        problems, plan = check_host("h1", c, facts(gpus=gpus(fixture)))
        got = [x for x in problems if x.code == "driver-too-old"]
        if key in fits:
            assert problems == [], (key, driver, format_problems(problems))
        else:
            (p,) = got
            assert p.severity == "error" and p.host == "h1", key
            assert f"service svc-a: field image: value '{IMAGES[key]}'" in p.found
            assert f"the driver found is {driver}" in p.found, p.found
        assert not any("not checked" in n for n in plan.notes)


def test_sglang_on_a_570_driver_names_what_is_required_and_the_cu129_image():
    problems = preflight(
        "gpu-1", cfg(services=[engine_service("sglang")]), facts(gpus=gpus(SMI_570))
    )
    (p,) = errors(problems)
    assert p.code == "driver-too-old" and p.host == "gpu-1"
    assert p.found == (
        "service svc-a: field image: value 'lmsysorg/sglang:v0.5.23' is built on CUDA 13.0 and "
        "needs an NVIDIA driver >= 580.65.06 (R580+); the driver found is 570.172.08 "
        "(NVIDIA H100 80GB HBM3)"
    )
    assert p.fix == (
        "upgrade the NVIDIA driver on the host to 580.65.06 or newer (R580+), or set the "
        "service's image to lmsysorg/sglang:v0.5.23-cu129 (CUDA 12.9, which 570.172.08 runs)"
    )
    text = format_problems(problems)
    assert "host gpu-1:" in text and "[driver-too-old]" in text


@pytest.mark.parametrize("fixture", [SMI_535, SMI_550, SMI_570])
def test_vllm_on_an_older_driver_names_its_cu129_image(fixture):
    (p,) = preflight("h1", cfg(services=[engine_service("vllm")]), facts(gpus=gpus(fixture)))
    assert "vllm/vllm-openai:v0.33.0' is built on CUDA 13.0" in p.found
    assert "set the service's image to vllm/vllm-openai:v0.33.0-cu129 (CUDA 12.9" in p.fix


def test_a_geforce_gpu_gets_no_fallback_that_its_driver_cannot_start():
    (p,) = preflight(
        "h1", cfg(services=[engine_service("sglang")]), facts(gpus=gpus(SMI_570_GEFORCE))
    )
    assert "NVIDIA GeForce RTX 4090" in p.found
    assert "set the service's image" not in p.fix
    assert (
        "lmsysorg/sglang:v0.5.23-cu129 (CUDA 12.9) does not run on it either: it needs an NVIDIA "
        "driver >= 575.51.03 (R575+), or an R535/R550/R560/R565/R570 driver on data-center"
    ) in p.fix
    assert "on data-center and professional GPUs" in p.fix


def test_wsl_checks_the_windows_driver_and_says_where_to_upgrade_it():
    # WSL2 reports the Windows driver (566.36); CUDA 13.0 needs R580 there too
    problems = preflight("wsl1", cfg(services=[engine_service("sglang")]), wsl_facts())
    (p,) = errors(problems)
    assert p.code == "driver-too-old"
    assert "566.36 (the Windows driver, through WSL2)" in p.found
    assert p.fix.startswith("upgrade the NVIDIA driver on Windows")
    assert preflight("wsl1", cfg(services=[engine_service("tgi")]), wsl_facts()) == []


def test_each_service_is_checked_on_its_own_gpus():
    services = [
        engine_service("tgi", name="tgi-a", gpus=[0, 1]),
        engine_service("sglang", name="sgl-b", gpus=[2, 3], port=8081),
    ]
    problems = preflight("h1", cfg(services=services), facts(gpus=gpus(SMI_535)))
    (p,) = problems
    assert p.found.startswith("service sgl-b: field image:") and "NVIDIA A100-SXM4-80GB" in p.found


def test_a_custom_image_is_not_checked_and_the_plan_says_so():
    c = cfg(services=[engine_service("sglang", image="registry.example/me/sglang:patched")])
    problems, plan = check_host("h1", c, facts(gpus=gpus(SMI_535)))
    assert problems == []
    (note,) = [n for n in plan.notes if "not checked" in n]
    assert note.startswith("service svc-a: image registry.example/me/sglang:patched is not one")
    assert "NVIDIA driver 535.183.01 is not checked" in note


def test_a_mirrored_default_image_is_still_the_known_build():
    c = cfg(services=[engine_service("sglang")], image_mirror="registry.lab:5000")
    assert errors(preflight("h1", c, facts(gpus=gpus(SMI_550))))[0].code == "driver-too-old"


def test_cpu_services_are_not_checked():
    # a CPU-mode host, and a CPU service (SGLang's Xeon build) on a GPU host
    cpu_host = cfg("none", services=[engine_service("sglang", image=IMAGES["sglang"] + "-xeon")])
    problems, plan = check_host("h1", cpu_host, facts(gpus=gpus(SMI_535)))
    assert problems == [] and not any("not checked" in n for n in plan.notes)
    xeon = IMAGES["sglang"] + "-xeon"
    cpu_b = engine_service("sglang", name="cpu-b", gpus="none", image=xeon, port=8081)
    mixed = cfg(services=[engine_service("tgi", name="gpu-a", gpus=[0]), cpu_b])
    problems, plan = check_host("h1", mixed, facts(gpus=gpus(SMI_535)))
    assert problems == [] and not any("cpu-b" in n for n in plan.notes)


# --------------------------------------------------------------------------------------------
# WSL


WSL_DRIVER_PKGS = f.parse_linux_nvidia_driver_packages(
    fx("nvidia/dpkg-query-wsl-linux-driver.txt").splitlines()
)


def wsl_facts(**kw):
    base = dict(
        platform=platform(fx("platform/os-release-ubuntu2204"), wsl=True),
        systemd=False,
        gpus=gpus("nvidia/smi-wsl2-rtx4090.csv"),
    )
    base.update(kw)
    return facts(**base)


def test_wsl_with_linux_driver_is_the_known_breakage():
    problems = preflight("wsl1", cfg(), wsl_facts(nvidia_driver_packages=WSL_DRIVER_PKGS))
    (p,) = errors(problems)
    assert p.code == "wsl-linux-driver" and p.host == "wsl1"
    assert "nvidia-driver-550" in p.found
    assert "libnvidia-ml.so.1: file exists" in p.found
    assert "/usr/lib/wsl/lib" in p.found and "Windows" in p.found
    assert p.fix.startswith("`apt-get purge " + " ".join(WSL_DRIVER_PKGS))
    assert "nvidia-container-toolkit" not in p.fix


def test_wsl_linux_driver_is_a_warning_in_cpu_mode_and_fine_on_native():
    problems = preflight("h1", cfg("none"), wsl_facts(nvidia_driver_packages=WSL_DRIVER_PKGS))
    assert [(x.code, x.severity) for x in problems if x.code == "wsl-linux-driver"] == [
        ("wsl-linux-driver", "warning")
    ]
    assert preflight("h1", cfg(), facts(nvidia_driver_packages=WSL_DRIVER_PKGS)) == []


def test_wsl_in_distro_engine_without_systemd():
    problems, plan = check_host("h1", cfg(), wsl_facts())
    assert problems == []
    assert plan.wsl and not plan.skip_engine_and_toolkit and plan.install_engine
    assert plan.dockerd_start == "service" and plan.wsl_boot_command
    assert plan.gpu_count == 1


def test_wsl_docker_desktop_skips_engine_and_toolkit():
    problems, plan = check_host("h1", cfg(), wsl_facts(docker=docker("docker-desktop")))
    assert problems == []
    assert plan.skip_engine_and_toolkit is True
    assert plan.install_engine is False and plan.install_toolkit is False
    assert plan.engine_source is None and plan.dockerd_start == "docker-desktop"
    assert not plan.wsl_boot_command
    assert DOCKER_DESKTOP_NOTE in plan.notes and plan.engine_note == DOCKER_DESKTOP_NOTE
    assert plan.gpu_proof  # Desktop's GPU support is still proven


def test_wsl_docker_desktop_down_is_an_error():
    problems = preflight("h1", cfg(), wsl_facts(docker=docker("docker-desktop", running=False)))
    assert codes(problems) == ["docker-desktop-down"]
    assert "Cannot connect" in problems[0].found


def test_wsl_docker_desktop_and_in_distro_engine_told_apart():
    d = docker("docker-desktop")
    d["packages"] = {"docker.io": "20.10.24+dfsg1-1+deb12u1+b6"}
    problems, plan = check_host("h1", cfg(), wsl_facts(docker=d))
    assert codes(problems) == ["docker-desktop-and-engine"] and problems[0].severity == "warning"
    assert "apt-get purge docker.io" in problems[0].fix
    assert plan.skip_engine_and_toolkit


# Docker Desktop for Linux, snap and static Docker: refused (below)


def test_wsl_conf_systemd_pending_restart():
    conf = f.parse_wsl_conf(fx("wsl_conf/systemd-enabled.conf"))
    problems = preflight("h1", cfg(), wsl_facts(wsl_conf=conf))
    assert codes(problems) == ["wsl-systemd-pending"] and "wsl --shutdown" in problems[0].fix
    assert preflight("h1", cfg(), wsl_facts(wsl_conf=conf, systemd=True)) == []


# --------------------------------------------------------------------------------------------
# engine / daemon / toolkit


def test_engine_source_conflicts():
    problems = preflight("h1", cfg(), facts(docker=docker("docker-ce")))
    assert codes(problems) == ["engine-conflict"] and "docker_source: docker-ce" in problems[0].fix
    assert preflight("h1", cfg(docker_source="docker-ce"), facts(docker=docker("docker-ce"))) == []
    problems = preflight("h1", cfg(docker_source="docker-ce"), facts())
    assert codes(problems) == ["engine-conflict"] and "docker_source: distro" in problems[0].fix


def test_plan_for_absent_docker_and_docker_ce_source():
    plan = plan_host("h1", cfg(docker_source="docker-ce"), facts(docker=docker("absent")))
    assert plan.install_engine and plan.engine_source == "docker-ce"
    assert plan.docker_flavour == "absent"
    assert "install docker-ce from Docker apt repository" == plan.engine_note


def test_daemon_json_hosts_with_systemd_warns():
    d = f.parse_daemon_json(fx("daemon_json/hosts-key.json"))
    assert codes(preflight("h1", cfg(), facts(daemon_json=d))) == ["daemon-json-hosts"]
    ok = f.parse_daemon_json(fx("daemon_json/other-keys.json"))
    assert preflight("h1", cfg(), facts(daemon_json=ok)) == []


def test_native_without_systemd_warns():
    problems, plan = check_host("h1", cfg(), facts(systemd=False))
    assert codes(problems) == ["no-systemd"] and problems[0].severity == "warning"
    assert plan.dockerd_start == "service" and not plan.wsl_boot_command


def test_toolkit_pin_downgrade_warns_and_plan_notes_change():
    ctk = f.parse_nvidia_ctk_version(fx("nvidia/nvidia-ctk-version.txt").splitlines())
    older = cfg(nvidia_toolkit_version="1.16.2-1")
    assert codes(preflight("h1", older, facts(nvidia_ctk_version=ctk))) == ["toolkit-downgrade"]
    newer = cfg(nvidia_toolkit_version="1.18.0-1")
    problems, plan = check_host("h1", newer, facts(nvidia_ctk_version=ctk))
    assert problems == [] and any("1.17.8" in n and "1.18.0-1" in n for n in plan.notes)
    same = cfg(nvidia_toolkit_version="1.17.8-1")
    assert plan_host("h1", same, facts(nvidia_ctk_version=ctk)).notes == []


# --------------------------------------------------------------------------------------------
# output


def test_errors_come_first_and_format_names_host_found_fix():
    problems = preflight(
        "gpu-7",
        cfg(),
        facts(platform=platform(arch="i386"), gpus=gpus(None), systemd=False),
    )
    assert [x.severity for x in problems] == ["error", "error", "warning"]
    text = format_problems(problems)
    assert text.splitlines()[0] == "preflight: 2 error(s), 1 warning(s)"
    assert "host gpu-7:" in text and "ERROR [arch]" in text and "WARNING [no-systemd]" in text
    assert f"fix: {NO_DRIVER_FIX}" in text
    assert str(problems[0]).startswith("host gpu-7: error: ")
    assert format_problems([]) == "preflight: no problems"


# The same rules on real facts of known hosts: lab/test_facts_on_hosts.py (not this machine).


# --------------------------------------------------------------------------------------------
# Preflight on recorded/written facts: arm64 and TGI's amd64-only image, Docker that apt
# does not manage, WSL's ``[boot] command`` (needs Windows 11 / Server 2022).


TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"


# --- arm64 and TGI's amd64-only image ----------------------------------------------


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


# --- Docker that apt does not manage --------------------------------------------------------


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


# --- WSL [boot] command (Windows 11 / Server 2022) ---------------------------------------


def test_wsl_boot_command_note_names_windows_11_and_the_windows_10_way():
    wsl = platform(wsl=True)
    _, plan = check_host("h1", cfg("none"), facts(platform=wsl, systemd=False, gpus={}))
    assert plan.wsl_boot_command
    (note,) = [n for n in plan.notes if "Windows 11" in n]
    assert "Windows 11" in note and "Windows Server 2022" in note and "Windows 10" in note


def test_no_boot_note_where_the_deploy_does_not_rely_on_it():
    _, plan = check_host("h1", cfg(), facts())
    assert not [n for n in plan.notes if "Windows 11" in n]
