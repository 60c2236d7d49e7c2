"""Images of the container lab, built only from what this machine can reach.

- ``tgi-lab/base:bookworm``: ``debootstrap`` of Debian bookworm, ``docker import``-ed. Built once
  and cached: rebuilt only when missing.
- ``tgi-lab/infra``: base + Debian's ``apt-cacher-ng`` (apt cache for the lab hosts),
  ``docker-registry`` (the image mirror) and python3's http.server (the NVIDIA apt mirror
  stand-in). One container on the lab network, alias ``mirror.lab``.
- ``tgi-lab/host-linux``: base + sshd, systemd as PID 1, no Docker.
- ``tgi-lab/host-wsl``: base + sshd started by ``/init`` (no systemd), with the markers a real
  WSL2 distro has (``/run/WSL/``, ``/usr/lib/wsl/lib/``, ``/etc/wsl.conf``).
- ``tgi-lab/standin-base``: base without docs, man pages and translations, flattened: the
  stand-in images' base (every lab host pulls it, every lab's registry receives it).
- ``tgi-lab/tgi-standin``: the TGI stand-in (``lab/tgi_standin``) behind the real image's
  entrypoint ``text-generation-launcher``; pushed to the lab registry under the upstream
  repository path ``huggingface/text-generation-inference``.

Every image carries a label with a hash of its inputs; an image whose label differs is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

from lab.locks import machine_lock

LAB_DIR = Path(__file__).resolve().parent
BASE_IMAGE = "tgi-lab/base:bookworm"
# Debian releases the lab can build hosts of (debootstrap from Debian's archive); bookworm is
# the default lab's, the others serve the host profiles (lab/profiles.py).
RELEASES = {"bullseye": "11", "bookworm": "12", "trixie": "13"}
INFRA_IMAGE = "tgi-lab/infra:1"
STANDIN_BASE = "tgi-lab/standin-base:bookworm"
# what no stand-in reads: 72 of the base's 228 MB, pushed to each lab's registry and pulled by
# each lab host with the stand-ins
STANDIN_BASE_DROPS = ("/usr/share/doc", "/usr/share/locale", "/usr/share/man", "/usr/share/info")
# A lab instance (``TGI_LAB_INSTANCE``, see lab/lab.py) builds its own host and stand-in images,
# so that two worktrees with different stand-ins do not rebuild each other's.
_SUFFIX = f"-{os.environ['TGI_LAB_INSTANCE']}" if os.environ.get("TGI_LAB_INSTANCE") else ""
HOST_IMAGES = {"linux": f"tgi-lab/host-linux:1{_SUFFIX}", "wsl": f"tgi-lab/host-wsl:1{_SUFFIX}"}
# Host kinds of the profiles (lab/profiles.py; lab/host_kinds.py builds them)
PROFILE_KINDS = ("linux-sudo", "wsl-systemd", "wsl-desktop")
STANDIN_IMAGE = f"tgi-lab/tgi-standin:3.3.7{_SUFFIX}"
# The vLLM and SGLang stand-ins (lab/vllm_standin, lab/sglang_standin): engine -> (upstream
# repository, upstream tag, local tag). lab/lab.py pushes each to the lab registry under the
# upstream name, next to the TGI stand-in.
ENGINE_IMAGES = {
    "vllm": ("vllm/vllm-openai", "v0.33.0", f"tgi-lab/vllm-standin:0.33.0{_SUFFIX}"),
    "sglang": ("lmsysorg/sglang", "v0.5.23", f"tgi-lab/sglang-standin:0.5.23{_SUFFIX}"),
}
INPUT_LABEL = "tgi-lab.inputs"
# one image build at a time on this machine: lab instances brought up side by side (one per
# pytest-xdist worker) and the unit tests build the same images; the first builds, the others
# then find them built (each builder checks the inputs again once it holds the lock)
BUILD_LOCK = "lab-image-build"

DEBIAN_MIRROR = os.environ.get("TGI_LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "ca-certificates",
    "curl",
    "gnupg",
    "iproute2",
    "procps",
    "sudo",
    "python3",
    "kmod",
    "iptables",
    "lsb-release",
    "less",
]

# Apt traffic of lab hosts for Debian goes through the infra container's apt-cacher-ng; the
# NVIDIA mirror stand-in and the registry are reached directly.
APT_PROXY_CONF = 'Acquire::http::Proxy::deb.debian.org "http://mirror.lab:3142";\n'

SSHD_CONF = """\
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""

WSL_CONF = """\
# /etc/wsl.conf as a WSL2 distro ships it (lab stand-in of a WSL2 distro)
[automount]
enabled = true
options = "metadata"

[interop]
enabled = true
appendWindowsPath = true
"""

# Lab adaptation, not part of the deploy: these machines lack CAP_SYS_RESOURCE, so the
# `ulimit -n 1048576` in docker.io's /etc/init.d/docker fails here (it works on a real WSL
# distro, whose root has every capability). /etc/default/docker is sourced by that script and is
# a conffile the package keeps (apt runs with --force-confold), so a shell function that lets
# `ulimit` fail softly stands in for the missing capability.
WSL_DEFAULT_DOCKER = """\
# tgi-lab: the lab's containers lack CAP_SYS_RESOURCE; see lab/images.py
ulimit() { command ulimit "$@" 2>/dev/null || true; }
"""

WSL_INIT = """\
#!/bin/sh
# Lab stand-in of WSL2's /init: no systemd; the distro's processes are started by hand.
mkdir -p /run/WSL /run/sshd
ssh-keygen -A >/dev/null 2>&1
/usr/sbin/sshd
exec sleep infinity
"""

INFRA_INIT = """\
#!/bin/sh
# Lab infrastructure: apt cache, image registry and the NVIDIA apt mirror stand-in.
set -e
mkdir -p /run/apt-cacher-ng /var/cache/apt-cacher-ng /var/lib/docker-registry
chown -R apt-cacher-ng:apt-cacher-ng /run/apt-cacher-ng /var/cache/apt-cacher-ng
su -s /bin/sh apt-cacher-ng -c \
  "/usr/sbin/apt-cacher-ng -c /etc/apt-cacher-ng ForeGround=1" >/var/log/acng.log 2>&1 &
/usr/bin/docker-registry serve /etc/docker-registry/config.yml >/var/log/registry.log 2>&1 &
cd /srv/www && python3 -m http.server 8000 >/var/log/www.log 2>&1 &
wait
"""

REGISTRY_CONF = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
"""


def _client() -> docker.DockerClient:
    return docker.from_env(timeout=600)


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _image_inputs(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return (client.images.get(tag).labels or {}).get(INPUT_LABEL)
    except docker.errors.ImageNotFound:
        return None


def _log(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def base_image(release: str = "bookworm") -> str:
    return f"tgi-lab/base:{release}"


def ensure_base(client: docker.DockerClient | None = None, release: str = "bookworm") -> str:
    """debootstrap ``release`` into a temp dir and ``docker import`` it, unless cached."""
    client = client or _client()
    if release not in RELEASES:
        raise ValueError(f"unknown Debian release {release!r}; allowed: {', '.join(RELEASES)}")
    tag = base_image(release)
    # bookworm's inputs stay what they were, so the default lab's cached base is kept
    extra = () if release == "bookworm" else (release,)
    inputs = _digest(DEBIAN_MIRROR, *extra, *BASE_PACKAGES)
    if _image_inputs(client, tag) == inputs:
        return tag
    with machine_lock(BUILD_LOCK):
        if _image_inputs(client, tag) != inputs:  # another lab may have built it meanwhile
            _debootstrap_import(release, tag, inputs)
    return tag


def _debootstrap_import(release: str, tag: str, inputs: str) -> None:
    _log(f"building {tag} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="tgi-lab-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(BASE_PACKAGES),
                release,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Keep the image small and free of host-specific identity.
        for p in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / p, ignore_errors=True)
            (rootfs / p).mkdir(parents=True, exist_ok=True)
        for key in rootfs.glob("etc/ssh/ssh_host_*"):
            key.unlink()
        (rootfs / "etc/machine-id").write_text("")
        _import_tar(["tar", "-C", str(rootfs), "-c", "."], tag, inputs)


def _import_tar(tar_command: list[str], tag: str, inputs: str) -> None:
    """``docker import`` the root file system ``tar_command`` writes as ``tag`` (one layer,
    labelled with its ``inputs``)."""
    tar = subprocess.Popen(tar_command, stdout=subprocess.PIPE)
    subprocess.run(
        ["docker", "import", "--change", f"LABEL {INPUT_LABEL}={inputs}"]
        + ["--change", 'CMD ["/bin/bash"]', "-", tag],
        stdin=tar.stdout,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if tar.wait() != 0:
        raise RuntimeError(f"importing {tag}: {shlex.join(tar_command)} failed")


def ensure_standin_base(client: docker.DockerClient | None = None) -> str:
    """The stand-ins' base: the base image without ``STANDIN_BASE_DROPS``, flattened to one
    layer (a deletion in a layer of its own would make the image bigger, not smaller)."""
    client = client or _client()
    base = client.images.get(ensure_base(client))
    inputs = _digest(base.id, *STANDIN_BASE_DROPS)
    if _image_inputs(client, STANDIN_BASE) == inputs:
        return STANDIN_BASE
    with machine_lock(BUILD_LOCK):
        if _image_inputs(client, STANDIN_BASE) != inputs:
            _log(f"building {STANDIN_BASE}")
            trimmed = client.containers.run(
                base.id, ["rm", "-rf", *STANDIN_BASE_DROPS], detach=True
            )
            try:
                if trimmed.wait()["StatusCode"] != 0:
                    raise RuntimeError(f"trimming {STANDIN_BASE}: {trimmed.logs()!r}")
                _import_tar(["docker", "export", trimmed.id], STANDIN_BASE, inputs)
            finally:
                trimmed.remove(force=True)
    return STANDIN_BASE


def _from_standin_base(client: docker.DockerClient) -> str:
    """The stand-in images' ``FROM`` line, with the base's inputs in a comment: a rebuilt base
    changes the Dockerfile, so the stand-ins are built again on it."""
    base = ensure_standin_base(client)
    return f"FROM {base}\n# {base}: {_image_inputs(client, base)}\n"


def _build(client: docker.DockerClient, tag: str, dockerfile: str, files: dict[str, bytes]) -> str:
    """Build ``tag`` from an in-memory context unless its inputs are unchanged."""
    inputs = _digest(dockerfile, *(k.encode() + v for k, v in sorted(files.items())))
    if _image_inputs(client, tag) == inputs:
        return tag
    with machine_lock(BUILD_LOCK):
        if _image_inputs(client, tag) != inputs:  # another lab may have built it meanwhile
            _build_image(client, tag, dockerfile, files, inputs)
    return tag


def _build_image(
    client: docker.DockerClient, tag: str, dockerfile: str, files: dict[str, bytes], inputs: str
) -> None:
    _log(f"building {tag}")
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        all_files = dict(files)
        all_files["Dockerfile"] = (dockerfile + f"\nLABEL {INPUT_LABEL}={inputs}\n").encode()
        for name, data in sorted(all_files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    try:
        client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True, pull=False)
    except docker.errors.BuildError as exc:
        log = "".join(str(x.get("stream", x.get("error", ""))) for x in exc.build_log)
        raise RuntimeError(f"building {tag} failed:\n{log[-4000:]}") from exc


def ensure_infra(client: docker.DockerClient | None = None) -> str:
    client = client or _client()
    base = ensure_base(client)
    dockerfile = f"""\
FROM {base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
      apt-cacher-ng docker-registry >/dev/null && rm -rf /var/lib/apt/lists/*
COPY registry.yml /etc/docker-registry/config.yml
COPY init /init
RUN mkdir -p /srv/www
EXPOSE 3142 5000 8000
CMD ["/init"]
"""
    return _build(
        client,
        INFRA_IMAGE,
        dockerfile,
        {"registry.yml": REGISTRY_CONF.encode(), "init": INFRA_INIT.encode()},
    )


def host_image_tag(kind: str, release: str = "bookworm") -> str:
    if kind in HOST_IMAGES and release == "bookworm":
        return HOST_IMAGES[kind]
    return f"tgi-lab/host-{kind}:1-{release}{_SUFFIX}"


def ensure_host_image(
    kind: str, client: docker.DockerClient | None = None, release: str = "bookworm"
) -> str:
    client = client or _client()
    base = ensure_base(client, release)
    common = f"""\
FROM {base}
COPY apt-proxy.conf /etc/apt/apt.conf.d/01lab-proxy
COPY sshd.conf /etc/ssh/sshd_config.d/lab.conf
RUN mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh && ssh-keygen -A
"""
    files = {"apt-proxy.conf": APT_PROXY_CONF.encode(), "sshd.conf": SSHD_CONF.encode()}
    systemd_pid1 = """\
RUN systemctl enable ssh && systemctl mask getty@tty1.service console-getty.service \\
    systemd-logind.service >/dev/null 2>&1 || true
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
"""
    if release == "trixie":
        # Lab adaptation, not part of the deploy: these hosts are unprivileged containers whose
        # /proc/sys is read-only, and Docker 26+ (trixie's docker.io) fails to start containers
        # when it cannot disable IPv6 on their interface; Docker's own switch for that case
        # (libnetwork: DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE) is set for dockerd. A real trixie
        # host's /proc/sys is writable and needs none of it.
        systemd_pid1 = (
            "RUN mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\n"
            "Environment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\\n' "
            "> /etc/systemd/system/docker.service.d/lab-ipv6.conf\n" + systemd_pid1
        )
    if kind == "linux":
        dockerfile = common + systemd_pid1
    elif kind == "wsl":
        dockerfile = (
            common
            + """\
COPY wsl.conf /etc/wsl.conf
COPY default-docker /etc/default/docker
COPY init /init
RUN mkdir -p /usr/lib/wsl/lib /usr/lib/wsl/drivers && chmod 644 /etc/wsl.conf
CMD ["/init"]
"""
        )
        files.update(
            {
                "wsl.conf": WSL_CONF.encode(),
                "init": WSL_INIT.encode(),
                "default-docker": WSL_DEFAULT_DOCKER.encode(),
            }
        )
    elif kind in PROFILE_KINDS:
        from lab.host_kinds import profile_kind_build

        extra, more = profile_kind_build(kind)
        dockerfile = common + extra + systemd_pid1
        files.update(more)
    else:
        allowed = ", ".join(("linux", "wsl", *PROFILE_KINDS))
        raise ValueError(f"unknown lab host kind {kind!r}; allowed: {allowed}")
    return _build(client, host_image_tag(kind, release), dockerfile, files)


def ensure_standin_image(client: docker.DockerClient | None = None) -> str:
    """The TGI stand-in behind TGI's real entrypoint name, ``text-generation-launcher``."""
    client = client or _client()
    pkg = LAB_DIR / "tgi_standin"
    files: dict[str, bytes] = {}
    for path in sorted([*pkg.rglob("*.py"), pkg / "launcher-args.json"]):
        files[f"tgi_standin/{path.relative_to(pkg)}"] = path.read_bytes()
    files["text-generation-launcher"] = (
        b"#!/bin/sh\n# Lab stand-in of TGI's launcher (see tgi_standin/CONTRACT.md)\n"
        b'PYTHONPATH=/opt/tgi_standin exec python3 -m tgi_standin "$@"\n'
    )
    files["text-generation-server"] = (
        b"#!/bin/sh\n# Lab stand-in of TGI's text-generation-server (download-weights only)\n"
        b"PYTHONPATH=/opt/tgi_standin exec python3 -c "
        b"'import sys; from tgi_standin.weights import server_main; sys.exit(server_main())' "
        b'"$@"\n'
    )
    body = """\
COPY tgi_standin /opt/tgi_standin/tgi_standin
COPY text-generation-launcher /usr/local/bin/text-generation-launcher
COPY text-generation-server /usr/local/bin/text-generation-server
ENV PORT=80 HUGGINGFACE_HUB_CACHE=/data PYTHONUNBUFFERED=1
LABEL org.opencontainers.image.title="TGI stand-in (tgi-lab)"
ENTRYPOINT ["text-generation-launcher"]
"""
    return _build(client, STANDIN_IMAGE, _from_standin_base(client) + body, files)


STANDINS_ROOT = "/opt/standins"


def engine_image_files(engine: str) -> tuple[dict[str, bytes], str]:
    """(build context files, Dockerfile body after FROM) of the ``engine`` stand-in image.

    Layout: ``/opt/standins/lab/`` holds ``standin_common``, the engine's stand-in and the
    deterministic model it shares with TGI's (``tgi_standin/generation.py``, ``tokenizer.py``);
    a ``.pth`` file puts ``/opt/standins`` on python3's path (the container's environment may be
    replaced, the path stays). vLLM: ``vllm`` on PATH, ``ENTRYPOINT ["vllm", "serve"]`` as the
    real image. SGLang: a ``sglang`` package whose ``launch_server`` module runs the stand-in, so
    ``python3 -m sglang.launch_server ...`` works as in ``lmsysorg/sglang``."""
    if engine not in ENGINE_IMAGES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINE_IMAGES)}")
    files: dict[str, bytes] = {"standins/lab/__init__.py": b""}
    for pkg in ("standin_common", f"{engine}_standin"):
        for path in sorted((LAB_DIR / pkg).iterdir()):
            if path.is_file() and path.suffix in (".py", ".json", ".md"):
                files[f"standins/lab/{pkg}/{path.name}"] = path.read_bytes()
    for name in ("__init__.py", "generation.py", "tokenizer.py"):
        files[f"standins/lab/tgi_standin/{name}"] = (LAB_DIR / "tgi_standin" / name).read_bytes()
    files["standins.pth"] = f"{STANDINS_ROOT}\n".encode()
    # huggingface_hub, which both real images ship: the deploy's prefetch calls its
    # snapshot_download (lab/standin_common/hub.py follows its contract)
    files["standins/huggingface_hub/__init__.py"] = (
        b'"""Lab stand-in of huggingface_hub (lab/standin_common/hub.py)."""\n\n'
        b"from lab.standin_common.hub import LocalEntryNotFoundError, snapshot_download\n\n"
        b'__all__ = ["LocalEntryNotFoundError", "snapshot_download"]\n'
    )
    pth = "/usr/lib/python3/dist-packages/standins.pth"
    if engine == "vllm":
        files["vllm"] = (
            b"#!/bin/sh\n# Lab stand-in of vLLM's CLI (see lab/vllm_standin/CONTRACT.md)\n"
            b'exec python3 -u -m lab.vllm_standin "$@"\n'
        )
        body = f"""\
COPY standins {STANDINS_ROOT}
COPY standins.pth {pth}
COPY vllm /usr/local/bin/vllm
RUN chmod 0755 /usr/local/bin/vllm
ENV PYTHONUNBUFFERED=1 HF_HOME=/root/.cache/huggingface
LABEL org.opencontainers.image.title="vLLM stand-in (tgi-lab)"
ENTRYPOINT ["vllm", "serve"]
"""
    else:
        files["sglang/__init__.py"] = b'"""Lab stand-in of SGLang (lab/sglang_standin)."""\n'
        files["sglang/launch_server.py"] = (
            b'"""python3 -m sglang.launch_server: the lab\'s SGLang stand-in."""\n\n'
            b'if __name__ == "__main__":\n'
            b"    from lab.sglang_standin.cli import main\n\n"
            b"    raise SystemExit(main())\n"
        )
        body = f"""\
COPY standins {STANDINS_ROOT}
COPY sglang {STANDINS_ROOT}/sglang
COPY standins.pth {pth}
ENV PYTHONUNBUFFERED=1 HF_HOME=/root/.cache/huggingface
WORKDIR /sgl-workspace
LABEL org.opencontainers.image.title="SGLang stand-in (tgi-lab)"
"""
    return files, body


def ensure_engine_image(engine: str, client: docker.DockerClient | None = None) -> str:
    """The ``engine`` (vllm, sglang) stand-in image, built from the stand-ins' base."""
    client = client or _client()
    files, body = engine_image_files(engine)
    return _build(client, ENGINE_IMAGES[engine][2], _from_standin_base(client) + body, files)
