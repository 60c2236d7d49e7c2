"""The bench's own lab hosts ``bench-1``..``bench-8``, next to (never instead of) the shared lab.

They run on the shared lab network and use the shared infra container (apt cache, registry,
NVIDIA mirror stand-in, reached as ``mirror.lab``), with a state directory of their own
(``$TGI_LAB_STATE_DIR``, default ``/tmp/bench-state`` or ``/tmp/bench-state-<instance>`` with
``TGI_LAB_INSTANCE``: its SSH key and ``state.json``). Container, volume, network and infra names
all come from ``lab.lab``, so with ``TGI_LAB_INSTANCE`` the bench hosts are that instance's
(``tgi-<instance>-bench-1`` on ``tgi-lab-<instance>``).

``lab.lab.up()`` is not called here on purpose: it recreates the shared infra container
whenever that container mounts another state directory's ``www`` (and every checkout's lab uses
its own), which would pull the mirror from under the lead's hosts. Only when no infra container
runs at all is it started, the way ``lab.up()`` does. ``lab.down()`` is never called: only the
bench hosts are removed (``lab.remove_host``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from lab import lab

DEFAULT_STATE_DIR = f"/tmp/bench-state-{lab.INSTANCE}" if lab.INSTANCE else "/tmp/bench-state"
MAX_HOSTS = 8


def bench_state_dir() -> Path:
    path = Path(os.environ.setdefault("TGI_LAB_STATE_DIR", DEFAULT_STATE_DIR)).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def host_names(n: int) -> list[str]:
    if not 1 <= n <= MAX_HOSTS:
        raise ValueError(f"bench hosts: 1..{MAX_HOSTS}, not {n}")
    return [f"bench-{i}" for i in range(1, n + 1)]


def _shared_infra(client: docker.DockerClient, sdir: Path) -> str:
    """registry_local of the running shared infra (started only when there is none)."""
    try:
        infra = client.containers.get(lab.INFRA_NAME)
        if infra.status != "running":
            infra = None
    except docker.errors.NotFound:
        infra = None
    lab._ensure_network(client)
    if infra is None:
        lab._ensure_mirror(sdir)
        _, registry_local = lab._ensure_infra(client, sdir)
        lab._push_standin(client, registry_local)
        return registry_local
    infra.reload()
    return f"127.0.0.1:{infra.attrs['NetworkSettings']['Ports']['5000/tcp'][0]['HostPort']}"


def up(names: list[str], fresh: bool = True) -> lab.LabState:
    """Start ``names`` (bare when ``fresh``) and write the bench ``state.json``."""
    client = docker.from_env(timeout=600)
    sdir = bench_state_dir()
    key = lab._ensure_ssh_key(sdir)
    registry_local = _shared_infra(client, sdir)
    lab.images.ensure_host_image("linux", client)
    specs = [lab.HostSpec(name, "linux") for name in names]
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = list(pool.map(lambda s: lab._start_host(client, s, sdir, fresh), specs))
    state = lab.LabState(
        state_dir=str(sdir),
        ssh_key=str(key),
        network=lab.NETWORK,
        registry=lab.REGISTRY,
        registry_local=registry_local,
        nvidia_repo_url=lab.NVIDIA_REPO_URL,
        nvidia_gpgkey_url=f"{lab.NVIDIA_REPO_URL}/gpgkey",
        nvidia_versions=[],
        tgi_image=f"{lab.REGISTRY}/{lab.TGI_REPOSITORY}:{lab.TGI_TAG}",
        hosts=started,
    )
    state.save()
    return state


def remove(names: list[str] | None = None) -> None:
    """Remove bench hosts (all eight by default) and their Docker volumes; nothing else."""
    client = docker.from_env(timeout=600)
    for name in names or host_names(MAX_HOSTS):
        lab.remove_host(client, name)
