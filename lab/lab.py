"""The container lab: real hosts made of containers, so the whole pipeline runs without a GPU.

``up()`` brings up, on the Docker network ``tgi-lab``:

- ``tgi-lab-infra`` (alias ``mirror.lab``): apt-cacher-ng on :3142 (Debian packages for the
  hosts, cached across runs in a volume), Debian's docker-registry on :5000 (holding the TGI
  stand-in under the upstream path ``huggingface/text-generation-inference``), and the NVIDIA apt
  mirror stand-in on :8000 at ``/libnvidia-container`` (signed with a key the lab generates).
- lab hosts (SSH on :22, root, a key generated per lab): ``lab-linux-*`` run systemd as PID 1,
  ``lab-wsl-*`` have no systemd and carry WSL2's markers. None has Docker yet: the deploy installs
  it. Each has its own ``/var/lib/docker`` volume for the nested engine.

What is a stand-in (cannot exist here): the GPU (hosts run in CPU mode, ``gpus: none``), NVIDIA's
packages (``lab/nvidia_mirror``), TGI itself (``lab/tgi_standin``) and WSL's kernel.
Everything else is real: Debian, systemd, sshd, apt with signed repositories, Docker Engine,
the registry, pyinfra over SSH.

The lab's state (addresses, key, mirror URLs) is written to ``state.json`` in the state directory
(``$TGI_LAB_STATE_DIR``, default ``lab/.state``), which ``inventories/lab.py`` reads.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import socket
import subprocess
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker
import docker.errors
from tgi_infra.config.models import mirror_image

from lab import images
from lab.inventory_data import ENGINE_CPU_IMAGES
from lab.runs import FIRST_DEPLOY

# Several labs can run side by side on one Docker Engine (one per checkout or worktree):
# ``TGI_LAB_INSTANCE=name`` gives this lab its own network, infra, host containers and volumes.
# Host names inside the lab (lab-linux-1, mirror.lab, ...) stay the same in every instance.
INSTANCE = os.environ.get("TGI_LAB_INSTANCE", "")
_SUFFIX = f"-{INSTANCE}" if INSTANCE else ""
NETWORK = f"tgi-lab{_SUFFIX}"
INFRA_NAME = f"tgi-lab-infra{_SUFFIX}"
MIRROR_HOST = "mirror.lab"
REGISTRY = f"{MIRROR_HOST}:5000"
NVIDIA_REPO_URL = f"http://{MIRROR_HOST}:8000/libnvidia-container"
TGI_REPOSITORY = "huggingface/text-generation-inference"
TGI_TAG = "3.3.7"
LABEL = "tgi-lab.role"
INSTANCE_LABEL = "tgi-lab.instance"
STATE_LABEL = "tgi-lab.state"  # the state directory a host belongs to (several labs may share)
CACHE_VOLUMES = {
    f"tgi-lab-acng{_SUFFIX}": "/var/cache/apt-cacher-ng",
    f"tgi-lab-registry{_SUFFIX}": "/var/lib/docker-registry",
}

# The daemon.json one host starts with: the deploy must keep every one of these keys.
PRESEEDED_DAEMON_JSON = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "registry-mirrors": ["http://mirror.lab:5000"],
}


@dataclass
class HostSpec:
    name: str
    kind: str  # linux | wsl, or a profile kind (lab/host_kinds.py)
    daemon_json: dict | None = None
    release: str = "bookworm"  # Debian release of the host (lab/images.py RELEASES)


DEFAULT_HOSTS = [
    HostSpec("lab-linux-1", "linux"),
    HostSpec("lab-linux-2", "linux", daemon_json=PRESEEDED_DAEMON_JSON),
    HostSpec("lab-wsl-1", "wsl"),
]


@dataclass
class LabHost:
    name: str
    kind: str
    address: str
    container: str
    preseeded_daemon_json: dict | None = None


@dataclass
class LabState:
    state_dir: str
    ssh_key: str
    network: str
    registry: str
    registry_local: str  # 127.0.0.1:PORT, the registry as the control machine sees it
    nvidia_repo_url: str
    nvidia_gpgkey_url: str
    nvidia_versions: list[str]
    tgi_image: str
    hosts: list[LabHost] = field(default_factory=list)
    # engine -> the vLLM / SGLang stand-in as the hosts pull it (upstream name in the registry)
    engine_images: dict[str, str] = field(default_factory=dict)

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no lab host {name!r}; lab hosts: {[h.name for h in self.hosts]}")

    def save(self, name: str = "state.json") -> Path:
        path = Path(self.state_dir) / name
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def state_dir() -> Path:
    default = images.LAB_DIR / ".state"
    path = Path(os.environ.get("TGI_LAB_STATE_DIR", default)).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_state(path: Path | None = None) -> LabState:
    path = path or state_dir() / "state.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: bring the lab up first (python -m lab up)")
    raw = json.loads(path.read_text())
    raw["hosts"] = [LabHost(**h) for h in raw["hosts"]]
    return LabState(**raw)


def _log(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def _ensure_ssh_key(sdir: Path) -> Path:
    key = sdir / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tgi-lab", "-f", str(key)],
            check=True,
        )
    auth = key.parent / "authorized_keys"
    auth.write_text(key.with_suffix(".pub").read_text())
    auth.chmod(0o600)
    return key


def labels(role: str, **more: str) -> dict[str, str]:
    """The labels of everything this lab instance creates (containers, volumes, network):
    ``down`` finds an instance's parts by them, never by a name pattern."""
    return {LABEL: role, INSTANCE_LABEL: INSTANCE, **more}


def instance_volume(client: docker.DockerClient, name: str) -> str:
    """The named volume ``name``, created with this instance's labels if missing."""
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels=labels("volume"))
    return name


def _ensure_network(client: docker.DockerClient):
    try:
        return client.networks.get(NETWORK)
    except docker.errors.NotFound:
        return client.networks.create(NETWORK, driver="bridge", labels=labels("network"))


def _on_network(client: docker.DockerClient, alias: str) -> dict:
    """Attach to the lab network only, reachable by ``alias`` from the other lab containers."""
    endpoint = client.api.create_endpoint_config(aliases=[alias])
    return {"network": NETWORK, "networking_config": {NETWORK: endpoint}}


def _running(client: docker.DockerClient, name: str, mount: tuple[str, Path] | None = None):
    """The running container ``name``, or None (a stopped one, or one that mounts another
    checkout's state, as ``mount=(destination, source)`` tells, is removed).

    Another checkout's state can sit at the same path: a checkout deleted and cloned again
    there while its lab ran. The bind mount still holds the deleted file or folder (the old
    SSH key: every login refused), so the inode seen inside must be the one on disk."""
    try:
        c = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    sources = {m["Destination"]: m.get("Source") for m in c.attrs.get("Mounts", [])}
    if c.status != "running" or (
        mount and (sources.get(mount[0]) != str(mount[1]) or not _mounts_what_is_on_disk(c, *mount))
    ):
        c.remove(force=True, v=True)
        return None
    return c


def _mounts_what_is_on_disk(container, destination: str, source: Path) -> bool:
    try:
        inode = os.stat(source).st_ino
    except FileNotFoundError:
        return False
    code, out = exec_in(container.name, f"stat -L -c %i {shlex.quote(destination)}")
    return code == 0 and out.strip() == str(inode)


def _address(container) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]


def _wait_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: {host}:{port} not open after {timeout:.0f}s") from exc
            time.sleep(0.3)


def _ensure_mirror(sdir: Path):
    from lab.nvidia_mirror.build import build_mirror

    www = sdir / "www"
    www.mkdir(parents=True, exist_ok=True)
    return build_mirror(
        www / "libnvidia-container", gnupg_home=sdir / "gnupg", base_url=NVIDIA_REPO_URL
    )


def _ensure_infra(client: docker.DockerClient, sdir: Path):
    infra = _running(client, INFRA_NAME, mount=("/srv/www", sdir / "www"))
    if infra is None:
        _log("starting infra (apt cache, registry, NVIDIA mirror stand-in)")
        infra = client.containers.run(
            images.ensure_infra(client),
            name=INFRA_NAME,
            hostname=MIRROR_HOST,
            detach=True,
            labels=labels("infra"),
            **_on_network(client, MIRROR_HOST),
            ports={"5000/tcp": ("127.0.0.1", None)},
            volumes={
                **{
                    instance_volume(client, vol): {"bind": path, "mode": "rw"}
                    for vol, path in CACHE_VOLUMES.items()
                },
                str(sdir / "www"): {"bind": "/srv/www", "mode": "ro"},
            },
        )
    infra.reload()
    addr = _address(infra)
    for port in (3142, 5000, 8000):
        _wait_port(addr, port, 60, "lab infra")
    local_port = infra.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
    return infra, f"127.0.0.1:{local_port}"


def _push_standin(client: docker.DockerClient, registry_local: str) -> None:
    image = client.images.get(images.ensure_standin_image(client))
    repo = f"{registry_local}/{TGI_REPOSITORY}"
    image.tag(repo, TGI_TAG)
    for line in client.images.push(repo, tag=TGI_TAG, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(f"pushing the TGI stand-in to the lab registry: {line['error']}")


def _push_engine_standins(client: docker.DockerClient, registry_local: str) -> None:
    """The vLLM and SGLang stand-ins under their upstream names (lab/images.py ENGINE_IMAGES)."""
    for engine, (repository, tag, _) in images.ENGINE_IMAGES.items():
        image = client.images.get(images.ensure_engine_image(engine, client))
        repo = f"{registry_local}/{repository}"
        image.tag(repo, tag)
        for line in client.images.push(repo, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(
                    f"pushing the {engine} stand-in to the lab registry: {line['error']}"
                )
        # the engine's CPU build (what the lab inventory names: the lab has no GPU), as the
        # hosts pull it through the image mirror
        cpu_ref = mirror_image(ENGINE_CPU_IMAGES[engine], registry_local)
        cpu_repo, _, cpu_tag = cpu_ref.rpartition(":")
        image.tag(cpu_repo, cpu_tag)
        for line in client.images.push(cpu_repo, tag=cpu_tag, stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(
                    f"pushing the {engine} stand-in as {cpu_ref} to the lab registry: "
                    f"{line['error']}"
                )


def host_container_name(name: str) -> str:
    return f"tgi{_SUFFIX}-{name}"


def host_volume_name(name: str) -> str:
    return f"tgi-lab{_SUFFIX}-{name}-docker"


def _start_host(client: docker.DockerClient, spec: HostSpec, sdir: Path, fresh: bool) -> LabHost:
    cname = host_container_name(spec.name)
    image = images.ensure_host_image(spec.kind, client, release=spec.release)
    keys = ("/root/.ssh/authorized_keys", sdir / "ssh" / "authorized_keys")
    container = None if fresh else _running(client, cname, mount=keys)
    if container is not None and container.image.id != client.images.get(image).id:
        container = None  # the host image changed: start this host again, bare
    desktop = spec.kind == "wsl-desktop"
    if container is not None and desktop:
        from lab import docker_desktop

        if _running(client, docker_desktop.engine_name(cname)) is None:
            container = None  # its Docker Desktop stand-in is gone: start both again
    if container is None:
        remove_host(client, spec.name)
        _log(f"starting host {spec.name} ({spec.kind})")
        container = client.containers.create(
            image,
            name=cname,
            hostname=spec.name,
            detach=True,
            labels=labels("host", **{"tgi-lab.kind": spec.kind, STATE_LABEL: str(sdir)}),
            **_on_network(client, spec.name),
            # --privileged fails on these machines (SYS_RESOURCE is missing): all the rest.
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            cgroupns="host",
            # WSL's /init reaps orphans; without systemd the lab needs docker-init for that
            init=spec.kind == "wsl",  # the profile kinds run systemd
            tmpfs={"/run": "rw,exec,mode=755", "/run/lock": "rw"},
            volumes={
                "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                instance_volume(client, host_volume_name(spec.name)): {
                    "bind": "/var/lib/docker",
                    "mode": "rw",
                },
                str(sdir / "ssh" / "authorized_keys"): {
                    "bind": "/root/.ssh/authorized_keys",
                    "mode": "ro",
                },
                **_profile_volumes(spec, sdir),
            },
        )
        if spec.daemon_json is not None:
            _put_file(container, "/etc/docker/daemon.json", json.dumps(spec.daemon_json, indent=2))
        container.start()
        if desktop:
            from lab import docker_desktop

            volume = host_volume_name(spec.name)
            instance_volume(client, f"{volume.removesuffix('-docker')}-engine-docker")
            docker_desktop.start_engine(
                client, container, volume, labels=labels("engine", **{STATE_LABEL: str(sdir)})
            )
    addr = _address(container)
    _wait_port(addr, 22, 90, f"sshd on {spec.name}")
    return LabHost(spec.name, spec.kind, addr, cname, spec.daemon_json)


def _profile_volumes(spec: HostSpec, sdir: Path) -> dict:
    """Mounts of the profile host kinds: the deploy user's key, Docker Desktop's shares."""
    if spec.kind == "linux-sudo":
        keys = str(sdir / "ssh" / "authorized_keys")
        from lab.host_kinds import DEPLOY_KEYS

        return {keys: {"bind": DEPLOY_KEYS, "mode": "ro"}}
    if spec.kind == "wsl-desktop":
        from lab import docker_desktop

        shared = docker_desktop.shared_volumes(host_volume_name(spec.name))
        client = docker.from_env()
        return {instance_volume(client, v): {"bind": p, "mode": "rw"} for v, p in shared.items()}
    return {}


def _put_file(container, path: str, content: str, mode: int = 0o644) -> None:
    data = content.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        parts = Path(path).parts[1:]
        for i in range(1, len(parts)):
            d = tarfile.TarInfo("/".join(parts[:i]))
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(d)
        info = tarfile.TarInfo("/".join(parts))
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    container.put_archive("/", buf.getvalue())


def remove_host(client: docker.DockerClient, name: str) -> None:
    from lab import docker_desktop

    docker_desktop.remove_engine(client, host_container_name(name))
    try:
        client.containers.get(host_container_name(name)).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    volume = host_volume_name(name)
    for vol in (volume, *docker_desktop.shared_volumes(volume), f"{volume[:-7]}-engine-docker"):
        try:
            client.volumes.get(vol).remove(force=True)
        except docker.errors.NotFound:
            pass


def up(
    hosts: list[HostSpec] | None = None, fresh: bool = False, state_file: str = "state.json"
) -> LabState:
    """Bring the lab up (idempotent: running parts are kept unless ``fresh``). ``state_file``
    (in the state directory) is where this set of hosts is recorded: the host profiles
    (lab/profiles.py) keep theirs apart from the default lab's ``state.json``."""
    hosts = DEFAULT_HOSTS if hosts is None else hosts
    client = docker.from_env(timeout=600)
    sdir = state_dir()
    if fresh:  # bare hosts: a first deploy kept for the lab tests (lab/runs.py) is void
        (sdir / FIRST_DEPLOY).unlink(missing_ok=True)
    key = _ensure_ssh_key(sdir)
    mirror = _ensure_mirror(sdir)
    _ensure_network(client)
    for kind, release in sorted({(h.kind, h.release) for h in hosts}):
        images.ensure_host_image(kind, client, release=release)
    _, registry_local = _ensure_infra(client, sdir)
    _push_standin(client, registry_local)
    _push_engine_standins(client, registry_local)
    state = LabState(
        state_dir=str(sdir),
        ssh_key=str(key),
        network=NETWORK,
        registry=REGISTRY,
        registry_local=registry_local,
        nvidia_repo_url=NVIDIA_REPO_URL,
        nvidia_gpgkey_url=f"{NVIDIA_REPO_URL}/gpgkey",
        nvidia_versions=list(mirror.versions),
        tgi_image=f"{REGISTRY}/{TGI_REPOSITORY}:{TGI_TAG}",
        hosts=[_start_host(client, spec, sdir, fresh) for spec in hosts],
        engine_images={
            engine: f"{REGISTRY}/{repository}:{tag}"
            for engine, (repository, tag, _) in images.ENGINE_IMAGES.items()
        },
    )
    path = state.save(state_file)
    _log(f"lab up: {', '.join(f'{h.name}={h.address}' for h in state.hosts)} (state: {path})")
    return state


def instance_image_tags() -> list[str]:
    """The image tags of this instance (lab/images.py gives each instance its own host, stand-in
    and engine tags: the name with ``-<instance>``; the default instance's are the bare names)."""
    from lab import docker_desktop

    kinds = ("linux", "wsl", *images.PROFILE_KINDS)
    return sorted(
        {images.host_image_tag(kind, release) for kind in kinds for release in images.RELEASES}
        | {images.STANDIN_IMAGE, *(local for _, _, local in images.ENGINE_IMAGES.values())}
        | {docker_desktop.engine_image_tag()}
    )


def shared_image_tags() -> list[str]:
    """The images every instance builds on (Debian bases, the infra image, the stand-ins' base)."""
    bases = [images.base_image(release) for release in images.RELEASES]
    return [*bases, images.INFRA_IMAGE, images.STANDIN_BASE]


def registry_tags(registry_local: str) -> list[str]:
    """What ``up`` tags to push the stand-ins to the registry at ``registry_local``."""
    refs = [f"{registry_local}/{TGI_REPOSITORY}:{TGI_TAG}"]
    for engine, (repository, tag, _) in images.ENGINE_IMAGES.items():
        refs += [
            f"{registry_local}/{repository}:{tag}",
            mirror_image(ENGINE_CPU_IMAGES[engine], registry_local),
        ]
    return refs


def _instance_of(obj) -> str:
    return (obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}).get(
        INSTANCE_LABEL, ""
    )


def _published_ports(containers) -> set[str]:
    ports = set()
    for c in containers:
        for bindings in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
            ports |= {b["HostPort"] for b in bindings or [] if b.get("HostPort")}
    return ports


def _recorded_registry_ports(sdir: Path) -> set[str]:
    """Ports of the registry as the control machine saw it, from this state dir's state files."""
    ports = set()
    for path in sdir.glob("*.json"):
        try:
            local = json.loads(path.read_text()).get("registry_local", "")
        except (OSError, ValueError, AttributeError):
            continue
        host, _, port = str(local).rpartition(":")
        if host == "127.0.0.1" and port.isdigit():
            ports.add(port)
    return ports


def _mounted_volumes(containers) -> set[str]:
    return {
        m["Name"]
        for c in containers
        for m in c.attrs.get("Mounts", [])
        if m.get("Type") == "volume"
    }


def _exists(get, name: str) -> bool:
    try:
        get(name)
        return True
    except docker.errors.NotFound:  # ImageNotFound is a NotFound
        return False


@dataclass
class DownPlan:
    """What ``down`` removes, decided before anything is removed (``down --dry-run`` prints
    it): only this instance's parts, and the shared images when no other instance is left."""

    containers: list = field(default_factory=list)  # docker Container objects
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # the instance's and its registry's tags
    shared: list[str] = field(default_factory=list)  # images every instance builds on
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            *(f"container {c.name}" for c in self.containers),
            *(f"volume {v}" for v in self.volumes),
            *(f"network {n}" for n in self.networks),
            *(f"image tag {t}" for t in [*self.tags, *self.shared]),
        ]


def _labelled_containers(client: docker.DockerClient) -> list:
    """Every lab container of every instance, as ``client.containers.list(all=True, ...)``
    gives them, less those removed between the list and their inspect: labs come and go side
    by side (one per pytest-xdist worker), and docker-py's own list fails on such a one."""
    found = []
    for row in client.api.containers(all=True, filters={"label": LABEL}):
        try:
            found.append(client.containers.get(row["Id"]))
        except docker.errors.NotFound:
            continue
    return found


def plan_down(
    client: docker.DockerClient, purge: bool = False, keep_caches: bool = False
) -> DownPlan:
    """What ``down`` removes (see ``down``)."""
    sdir = state_dir()
    every = _labelled_containers(client)
    ours = [c for c in every if _instance_of(c) == INSTANCE]
    mine = [c for c in ours if c.labels.get(STATE_LABEL) == str(sdir)]
    rest = [c for c in ours if c not in mine]
    plan = DownPlan(containers=list(mine))
    if any(c.labels.get(LABEL) == "host" for c in rest):
        # a second checkout uses this instance name with its own state directory
        others = sorted({c.labels.get(STATE_LABEL, "?") for c in rest})
        plan.volumes = sorted(_mounted_volumes(mine))
        plan.notes.append(f"kept the instance's infra: its hosts of {', '.join(others)} remain")
        return plan
    plan.containers += rest
    labelled = client.volumes.list(filters={"label": LABEL})
    volumes = _mounted_volumes(ours) | {v.name for v in labelled if _instance_of(v) == INSTANCE}
    volumes |= set(CACHE_VOLUMES)  # created unlabelled by earlier versions of the lab
    if keep_caches:
        volumes -= set(CACHE_VOLUMES)
    plan.volumes = sorted(v for v in volumes if _exists(client.volumes.get, v))
    plan.networks = [n.name for n in client.networks.list(names=[NETWORK]) if n.name == NETWORK]
    others = [c for c in every if c not in ours]
    # the tags up pushed to this instance's registry (127.0.0.1:PORT/...), unless another
    # instance's infra publishes that port now (then the same names are its tags)
    ports = (_published_ports(rest) | _recorded_registry_ports(sdir)) - _published_ports(others)
    tags = [t for port in sorted(ports) for t in registry_tags(f"127.0.0.1:{port}")]
    if not keep_caches:
        tags += instance_image_tags()
    plan.tags = [t for t in tags if _exists(client.images.get, t)]
    if purge:
        # another instance: one with containers, or volumes it kept (down --keep-caches)
        left = {_instance_of(x) or "(default)" for x in others} | {
            _instance_of(v) or "(default)" for v in labelled if _instance_of(v) != INSTANCE
        }
        if left:
            plan.notes.append(
                "kept the shared images (Debian bases, infra): other lab instances remain: "
                + ", ".join(sorted(left))
            )
        else:
            plan.shared = [t for t in shared_image_tags() if _exists(client.images.get, t)]
    return plan


def _remove_volumes(client: docker.DockerClient, names) -> None:
    for name in names:
        try:
            client.volumes.get(name).remove(force=True)
            _log(f"removed volume {name}")
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # still used by a container of another lab
            _log(f"kept volume {name}: {exc.explanation}")


def _untag(client: docker.DockerClient, tags) -> None:
    """Remove the tags (an image another tag or a container still uses is kept)."""
    for tag in tags:
        try:
            client.images.remove(tag)
            _log(f"removed image tag {tag}")
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            _log(f"kept image {tag}: {exc.explanation}")


def down(purge: bool = False, keep_caches: bool = False, dry_run: bool = False) -> DownPlan:
    """Remove this lab instance (``TGI_LAB_INSTANCE``) and nothing of another instance.

    First the hosts of this state directory; when no other host of the instance remains (a
    second checkout may share an instance name with its own state directory), the rest of the
    instance: its infra container, network, volumes (hosts' Docker volumes, apt and registry
    caches), its image tags and the tags ``up`` pushed to its registry. ``keep_caches`` keeps
    the instance's apt and registry cache volumes and its image tags, for a faster next
    ``up``. ``purge`` also removes the images every instance shares (Debian bases, infra),
    only when no other instance has a container or a volume left; otherwise it says which
    instances remain. ``dry_run`` prints the plan (``plan_down``) and removes nothing."""
    client = docker.from_env(timeout=600)
    plan = plan_down(client, purge=purge, keep_caches=keep_caches)
    for note in plan.notes:
        _log(note)
    if dry_run:
        for line in plan.lines():
            _log(f"would remove {line}")
        return plan
    for c in plan.containers:
        _log(f"removing container {c.name}")
        c.remove(force=True, v=True)
    _remove_volumes(client, plan.volumes)
    for name in plan.networks:
        client.networks.get(name).remove()
        _log(f"removed network {name}")
    _untag(client, [*plan.tags, *plan.shared])
    return plan


def exec_in(
    container: str, cmd: str, env: dict[str, str] | None = None, split: bool = False
) -> tuple[int, str]:
    """``bash -c cmd`` in a container through the ``docker exec`` CLI: exit code and output
    (stdout then stderr when ``split``, else both as they came).

    Not docker-py's ``exec_run``: it reads the upgraded connection's raw socket past the
    buffer that parsed the response headers, so output that arrives with the headers (a fast
    command on a loaded machine) is lost and an empty string comes back with exit code 0
    (docker/docker-py#2042; a lab run failed on it). ``env`` reaches the command through the
    CLI's environment (``-e NAME``), never its argv."""
    argv = ["docker", "exec", *(a for k in env or {} for a in ("-e", k)), container]
    proc = subprocess.run(
        [*argv, "bash", "-c", cmd],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if split else subprocess.STDOUT,
    )
    out = proc.stdout + (proc.stderr or b"")
    return proc.returncode, out.decode(errors="replace")


def exec_on(state: LabState, host: str, cmd: str, check: bool = True) -> str:
    """Run a shell command on a lab host through Docker (test helper, not the deploy path)."""
    code, text = exec_in(state.host(host).container, cmd)
    if check and code != 0:
        raise RuntimeError(f"{host}: `{cmd}` exited {code}:\n{text}")
    return text
