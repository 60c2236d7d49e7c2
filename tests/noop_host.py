"""A ``@fake`` host that already holds what the deploy writes: every read answers "as wanted".

``deployed_host(name, services)`` -> ``(name, data)`` for a pyinfra inventory: a Debian 12
host with systemd, ``docker.io`` running, the NVIDIA Container Toolkit installed from its
source, CPU mode (``tgi_gpus: none``), and per service its rendered files, env file, unit,
image and a running container with the config hash the deploy computes. The answers are keyed
by a substring of each read's command (``fake_responses``), one per read; the deploy's batched
read is answered from them by ``tests.fakehost``. A deploy of this host must change nothing.

The files' digests and the containers' labels come from the deploy's own renderer
(``render.py``): a deployed host holds what the deploy renders.
"""

from __future__ import annotations

import hashlib
import json
import os

from tgi_infra.config import load_host_config
from tgi_infra.host.nvidia_toolkit import KEYRING, PACKAGES, SOURCE_LIST, source_line
from tgi_infra.host.reading import (
    CDI_RECORD_PATH,
    DAEMON_JSON_PATH,
    MARK,
    NVIDIA_CTK_PATH,
    NVIDIA_DEV_CHAR_RULE,
    NVIDIA_DEV_CHAR_RULE_PATH,
)
from tgi_infra.services.managed_dir import MARKER, marker_content
from tgi_infra.services.render import env_file_content, render_for_deploy, unit_name

DOCKER_INFO = {
    "ServerVersion": "26.1.5",
    "Runtimes": {"runc": {}, "nvidia": {}},
    "DefaultRuntime": "runc",
    "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
    "Name": "gpu",
    "CgroupDriver": "systemd",
    "DockerRootDir": "/var/lib/docker",
}
DAEMON_JSON = {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
DRIVER = "550.54.15"
KEY_FPR = "fpr:::::::::C95B321B61E88C1809C4F759DDCAE044F796ECB0:"


STAT = "stat -c 'user=%U group=%G mode=%A atime=%X mtime=%Y ctime=%Z size=%s %N'"


def _stat(path: str, mode: str, kind: str = "-") -> str:
    return f"user=root group=root mode={kind}{mode} atime=0 mtime=0 ctime=0 size=1 '{path}'"


def _perm(mode: int) -> str:
    bits = ""
    for shift in (6, 3, 0):
        v = (mode >> shift) & 7
        bits += ("r" if v & 4 else "-") + ("w" if v & 2 else "-") + ("x" if v & 1 else "-")
    return bits


def _file(responses: dict, path: str, content: str, mode: int) -> None:
    """A file the deploy wrote: its stat (File) and sha1 (Sha1File)."""
    q = path  # the reads quote nothing in these paths (no special characters)
    responses[f"{STAT} {q} "] = [_stat(path, _perm(mode))]
    responses[f"test -e {q} && ( sha1sum {q} "] = [
        f"{hashlib.sha1(content.encode()).hexdigest()}  {path}"
    ]


def _dir(responses: dict, path: str) -> None:
    responses[f"{STAT} {path} "] = [_stat(path, "rwxr-xr-x", "d")]


def _env_digests(content: str) -> list[str]:
    from tgi_infra.services.secrets import SECRET_NAMES

    def digest(lines: list[str]) -> str:
        text = "".join(f"{line}\n" for line in lines)
        return hashlib.sha256(text.encode()).hexdigest()

    lines = content.splitlines()
    public = [line for line in lines if not any(line.startswith(f"{n}=") for n in SECRET_NAMES)]
    secrets = [n for n in SECRET_NAMES if any(line.startswith(f"{n}=") for line in lines)]
    full = hashlib.sha256(content.encode()).hexdigest()
    return [full, digest(lines), digest(public), " ".join(secrets)]


def deployed_host(
    name: str, services: list[dict], wsl: bool = False, gpus: int = 0, **data
) -> tuple[str, dict]:
    """``wsl``: a WSL2 distro without systemd (``service docker start`` from wsl.conf's
    ``[boot]``, containers kept by Docker's restart policy), as the lab's ``lab-wsl-1``.
    ``gpus``: that many NVIDIA GPUs (driver 550) instead of CPU mode, with the nvidia runtime,
    NVIDIA's /dev/char links and udev rule, and a current CDI spec.
    ``tgi_docker_insecure_registries`` in ``data``: in daemon.json, applied by the running
    daemon and in the deploy's record."""
    cpu = {"tgi_gpus": "none"} if not gpus else {}
    host_data = {"fake_delay": 0, "fake_delay_jitter": 0, **cpu, **data}
    host_data["tgi_services"] = services
    cfg = load_host_config(name, host_data)
    supervisor = "docker" if wsl else "systemd"
    daemon = dict(DAEMON_JSON)
    info = dict(DOCKER_INFO)
    registries = list(cfg.docker_insecure_registries)
    if registries:  # in daemon.json, applied by the running daemon, recorded as the deploy's
        daemon["insecure-registries"] = registries
        info["RegistryConfig"] = {
            "IndexConfigs": {r: {"Name": r, "Secure": False} for r in registries},
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        }
    if gpus and cfg.nvidia_runtime_default:
        daemon["default-runtime"] = info["DefaultRuntime"] = "nvidia"
    r: dict = {}
    # the preflight's reads
    r["osrelease'; cat /proc/sys/kernel/osrelease"] = [
        f"{MARK}osrelease",
        "6.6.87.2-microsoft-standard-WSL2" if wsl else "6.1.0-28-amd64",
        f"{MARK}proc_version",
        "Linux version 6.1.0",
        f"{MARK}markers",
        *(["/run/WSL", "/usr/lib/wsl/lib", "/etc/wsl.conf"] if wsl else []),
        f"{MARK}env",
        "WSL_DISTRO_NAME=" + ("Debian" if wsl else ""),
        f"{MARK}os_release",
        "ID=debian",
        'VERSION_ID="12"',
        "VERSION_CODENAME=bookworm",
        f"{MARK}arch",
        "amd64",
    ]
    r["pid1_comm="] = (
        ["pid1_comm=init", "sd_booted=no"] if wsl else ["pid1_comm=systemd", "sd_booted=yes"]
    )
    r["docker.io docker-ce"] = [
        f"{MARK}dpkg",
        "docker.io\tinstall ok installed\t26.1.5+dfsg1-1",
        f"{MARK}cli",
        "/usr/bin/docker",
        "/usr/bin/docker",
        f"{MARK}info",
        json.dumps(info),
    ]
    r["nvidia-ctk --version"] = ["NVIDIA Container Toolkit CLI version 1.17.8"]
    daemon_text = json.dumps(daemon, indent=4, sort_keys=True)
    r[f"echo present; cat {DAEMON_JSON_PATH}"] = ["present", *daemon_text.splitlines()]
    r[f"{MARK}present'; cat {DAEMON_JSON_PATH}"] = [f"{MARK}present", *daemon_text.splitlines()]
    if wsl:
        r["cat /etc/wsl.conf"] = [f"{MARK}present", "[boot]", 'command = "service docker start"']
        r["for SERVICE in `ls /etc/init.d/`"] = ["docker=0"]
    else:
        r["cat /etc/wsl.conf"] = [f"{MARK}absent"]
    if registries:
        added = {"added": {"insecure-registries": registries}, "created_keys": []}
        r["daemon-json-added.json"] = [f"{MARK}present", json.dumps(added)]
    else:
        r["daemon-json-added.json"] = [f"{MARK}absent"]
    if gpus:
        r["nvidia-smi"] = [
            f"{MARK}nvidia-smi /usr/bin/nvidia-smi",
            *(f"{i}, NVIDIA H100 80GB HBM3, 81559 MiB, {DRIVER}, GPU-{i:08d}" for i in range(gpus)),
            f"{MARK}rc 0",
        ]
        nodes = [f"/dev/nvidia{i} 195:{i} ok" for i in range(gpus)]
        r["proc_devices'; grep"] = [
            f"{MARK}proc_devices",
            "195 nvidia",
            f"{MARK}nodes",
            *nodes,
            "/dev/nvidiactl 195:255 ok",
            f"{MARK}nvidia_ctk",
            NVIDIA_CTK_PATH,
            f"{MARK}rule",
            *NVIDIA_DEV_CHAR_RULE.splitlines(),
        ]
        _dir(r, NVIDIA_DEV_CHAR_RULE_PATH.rsplit("/", 1)[0])
        _file(r, NVIDIA_DEV_CHAR_RULE_PATH, NVIDIA_DEV_CHAR_RULE, 0o644)
        r[CDI_RECORD_PATH] = [f"{MARK}spec", f"{MARK}record", f"driver_version={DRIVER}"]
    else:
        r["nvidia-smi"] = [f"{MARK}nvidia-smi-missing"]
    # packages (pyinfra's DebPackages: dpkg -l)
    installed = ["ca-certificates", "curl", "gnupg", "docker.io", *PACKAGES]
    r["dpkg -l"] = [f"ii  {p}  1.17.8-1  amd64  {p}" for p in installed]
    r["dpkg-query -W -f='${Package} ${Status}"] = []
    # the toolkit's apt key and source
    r[f"{STAT} {KEYRING} "] = [_stat(KEYRING, "rw-r--r--")]
    _file(r, SOURCE_LIST, source_line(cfg), 0o644)
    r["--show-keys"] = [f"{MARK}keyring", KEY_FPR, f"{MARK}published", KEY_FPR]
    r["apt-cache madison"] = [
        "nvidia-container-toolkit | 1.17.8-1 | https://nvidia.github.io/libnvidia-container "
        "stable/deb/amd64/ Packages"
    ]
    # systemd units: docker and each service's
    units = ["docker.service", *(unit_name(s) for s in cfg.present_services())]
    for unit in units if not wsl else []:
        r[f"show --all --property Id --property SubState {unit}"] = [
            f"Id={unit}",
            "SubState=running",
        ]
        r[f"show --all --property Id --property UnitFileState {unit}"] = [
            f"Id={unit}",
            "UnitFileState=enabled",
        ]
    # the services
    containers = []
    for svc in cfg.present_services():
        base = cfg.service_dir(svc)
        rendered = render_for_deploy(name, cfg, svc, supervisor, gpus, os.environ)
        _dir(r, base)
        _file(r, f"{base}/{MARKER}", marker_content(svc.name), 0o644)
        for rel, (content, mode) in rendered.files.items():
            path = (
                f"/etc/systemd/system/{unit_name(svc)}"
                if rel.endswith(".service")
                else f"{base}/{rel}"
            )
            _file(r, path, content, mode)
        env = env_file_content(svc, os.environ)
        _file(r, f"{base}/service.env", env, 0o600)
        r[f"sha256sum < {base}/service.env"] = _env_digests(env)
        r[f"--filter publish={svc.port} "] = ["--", svc.name]
        r[f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 http://127.0.0.1:{svc.port}/"] = [
            "200"
        ]
        containers.append(
            {
                "Name": f"/{svc.name}",
                "Id": hashlib.sha1(svc.name.encode()).hexdigest(),
                "Image": "sha256:" + "0" * 64,
                "RestartCount": 0,
                "State": {"Running": True, "Status": "running", "ExitCode": 0},
                "Config": {
                    "Labels": {
                        "tgi-infra.managed": "true",
                        "tgi-infra.config-hash": rendered.config_hash,
                    },
                    "Image": cfg.image_for(svc),
                },
            }
        )
    r["docker container inspect --format"] = [
        f"{MARK}names " + " ".join(s.name for s in cfg.tgi_services),
        f"{MARK}inspect",
        *(json.dumps(c) for c in containers),
    ]
    if cfg.docker_users:  # each already in the docker group
        r[f"if id -u {cfg.docker_users[0]} "] = [f"{u}|{u}|{u} docker" for u in cfg.docker_users]
    r["docker image inspect --format"] = ["sha256:" + "0" * 64]
    r['echo "free $(df'] = ["free 1000000000000"]
    host_data["fake_responses"] = r
    return name, host_data
