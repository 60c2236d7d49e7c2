"""``python -m lab down`` removes its own lab instance and nothing of another one.

Two real instances side by side on this Docker Engine, each made of what ``lab up`` creates,
labelled and named by lab/lab.py's own functions (``labels``, ``instance_volume``, the name
functions, the image tags), but from a tiny imported image and never started: ``down`` works
on labels, names and tags, so a full lab is not needed. The instances have unique names; the
test only ever calls ``down`` on them, never ``--purge`` on the last one (that would remove
the images every instance shares), and checks ``down --purge --dry-run``'s plan (exactly the
instance's own parts) before the real ``down --purge``: a ``down`` that reaches beyond its own
instance fails the test before it removes another lab.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import docker
import docker.errors
import pytest

from lab import lab

REPO = Path(__file__).resolve().parents[1]

# run with TGI_LAB_INSTANCE / TGI_LAB_STATE_DIR of one instance: creates its parts as up does
MAKE_INSTANCE = """
import json, sys
import docker
from lab import lab

image, port = sys.argv[1], sys.argv[2]
client = docker.from_env()
sdir = lab.state_dir()
lab._ensure_network(client)

def create(name, role, volumes, **more):
    mounts = {lab.instance_volume(client, v): {"bind": p, "mode": "rw"} for v, p in volumes.items()}
    client.containers.create(image, command=["/none"], name=name, network=lab.NETWORK,
                             labels=lab.labels(role, **more), volumes=mounts)

create(lab.INFRA_NAME, "infra", lab.CACHE_VOLUMES)
host = lab.host_container_name("lab-linux-1")
create(host, "host", {lab.host_volume_name("lab-linux-1"): "/var/lib/docker"},
       **{"tgi-lab.kind": "linux", lab.STATE_LABEL: str(sdir)})
registry = f"127.0.0.1:{port}"
(sdir / "state.json").write_text(json.dumps({"registry_local": registry}))
tags = [*lab.instance_image_tags(), *lab.registry_tags(registry)]
for tag in tags:
    repo, _, version = tag.rpartition(":")
    client.images.get(image).tag(repo, version)
print(json.dumps({
    "containers": [lab.INFRA_NAME, host],
    "caches": sorted(lab.CACHE_VOLUMES),
    "volumes": [lab.host_volume_name("lab-linux-1")],
    "network": lab.NETWORK,
    "tags": tags,
    "instance_tags": lab.instance_image_tags(),
    "shared": lab.shared_image_tags(),
}))
"""


def lab_env(instance: str, sdir: Path) -> dict[str, str]:
    return {**os.environ, "TGI_LAB_INSTANCE": instance, "TGI_LAB_STATE_DIR": str(sdir)}


def run_lab(instance: str, sdir: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=lab_env(instance, sdir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def tiny_image(client: docker.DockerClient, instance: str) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("README")
        data = b"an image for lab/test_lab_down.py\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buf.getvalue(), repository="tgi-lab-test/tiny", tag=instance)
    return f"tgi-lab-test/tiny:{instance}"


class Instance:
    def __init__(self, client: docker.DockerClient, name: str, sdir: Path) -> None:
        self.client, self.name, self.sdir = client, name, sdir
        self.image = tiny_image(client, name)
        port = free_port()
        # no real lab's registry tag is reused: a port free now may be one an earlier lab's
        # registry had, its tags still on this machine (a run failed on that); take another
        pushed = f"{lab.TGI_REPOSITORY}:{lab.TGI_TAG}"
        while lab._exists(client.images.get, f"127.0.0.1:{port}/{pushed}"):
            port = free_port()
        out = run_lab(name, sdir, "-c", MAKE_INSTANCE, self.image, port).stdout
        self.parts = json.loads(out)

    def down(self, *flags: str) -> str:
        proc = run_lab(self.name, self.sdir, "-m", "lab", "down", *flags)
        return proc.stdout + proc.stderr

    def containers(self) -> list[str]:
        names = []
        for name in self.parts["containers"]:
            try:
                names.append(self.client.containers.get(name).name)
            except docker.errors.NotFound:
                pass
        return names

    def volumes(self, key: str = "volumes") -> list[str]:
        names = []
        for name in self.parts[key]:
            try:
                names.append(self.client.volumes.get(name).name)
            except docker.errors.NotFound:
                pass
        return names

    def network(self) -> bool:
        return any(n.name == self.parts["network"] for n in self.client.networks.list())

    def tags(self, key: str = "tags") -> list[str]:
        found = []
        for tag in self.parts[key]:
            try:
                self.client.images.get(tag)
                found.append(tag)
            except docker.errors.ImageNotFound:
                pass
        return found

    def complete(self) -> bool:
        return (
            len(self.containers()) == 2
            and self.volumes() == self.parts["volumes"]
            and self.volumes("caches") == self.parts["caches"]
            and self.network()
            and self.tags() == self.parts["tags"]
        )

    def gone(self) -> bool:
        return not (
            self.containers()
            or self.volumes()
            or self.volumes("caches")
            or self.network()
            or self.tags()
        )

    def clean_up(self) -> None:
        """Whatever the test left of this instance, by its exact names only."""
        for name in self.parts.get("containers", []):
            try:
                self.client.containers.get(name).remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for name in [*self.parts.get("volumes", []), *self.parts.get("caches", [])]:
            try:
                self.client.volumes.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        for net in self.client.networks.list(names=[self.parts.get("network", "-")]):
            if net.name == self.parts.get("network"):
                net.remove()
        for tag in [*self.parts.get("tags", []), self.image]:
            try:
                self.client.images.remove(tag)
            except docker.errors.ImageNotFound:
                pass


@pytest.fixture
def two_instances(tmp_path):
    client = docker.from_env()
    stem = f"downtest{secrets.token_hex(3)}"
    made: list[Instance] = []
    try:
        for suffix in ("a", "b"):
            made.append(Instance(client, f"{stem}{suffix}", tmp_path / suffix))
        yield made
    finally:
        for instance in made:
            instance.clean_up()


def existing(client: docker.DockerClient, tags: list[str]) -> list[str]:
    out = []
    for tag in tags:
        try:
            client.images.get(tag)
            out.append(tag)
        except docker.errors.ImageNotFound:
            pass
    return out


def planned(out: str) -> set[str]:
    return {
        line.split("would remove ", 1)[1] for line in out.splitlines() if "would remove " in line
    }


def test_down_removes_its_own_instance_and_nothing_of_another(two_instances):
    a, b = two_instances
    assert a.complete() and b.complete()
    shared_before = existing(a.client, a.parts["shared"])

    # the plan first, removing nothing: exactly a's parts (a down that reached beyond its own
    # instance stops the test here, before it removes anything of another lab)
    out = a.down("--purge", "--dry-run")
    assert planned(out) == {
        *(f"container {n}" for n in a.parts["containers"]),
        *(f"volume {v}" for v in [*a.parts["volumes"], *a.parts["caches"]]),
        f"network {a.parts['network']}",
        *(f"image tag {t}" for t in a.parts["tags"]),
    }, out
    assert a.complete()
    # b still there, so the shared images stay, and the output says why
    assert "kept the shared images" in out and b.name in out

    # --purge: everything of a (caches and image tags too), nothing of b nor the shared images
    out = a.down("--purge")
    assert a.gone(), out
    assert b.complete(), out
    assert existing(a.client, a.parts["shared"]) == shared_before

    # --keep-caches: b's hosts, host volumes, network go; its caches and image tags stay
    out = b.down("--keep-caches")
    assert b.containers() == [] and b.volumes() == [] and not b.network(), out
    assert b.volumes("caches") == b.parts["caches"]
    assert b.tags("instance_tags") == b.parts["instance_tags"]
    # a plain down removes the rest
    out = b.down()
    assert b.gone(), out


def test_a_container_another_lab_removes_meanwhile_does_not_fail_down(tmp_path):
    """Labs come and go side by side (one per pytest-xdist worker): a lab container removed
    between ``down``'s list and its inspect of that container is left out, not an error
    (docker-py's own ``containers.list`` raises NotFound there; a suite run failed on it). The
    container is really removed, by the Docker API, right after the list was taken."""
    from lab import lab

    client = docker.from_env()
    stem = f"downrace{secrets.token_hex(3)}"
    image = tiny_image(client, stem)
    kept = client.containers.create(
        image, command=["/none"], name=f"{stem}-kept", labels=lab.labels("host")
    )
    gone = client.containers.create(
        image, command=["/none"], name=f"{stem}-gone", labels=lab.labels("host")
    )
    real_list = client.api.containers

    def list_then_remove(*args, **kwargs):
        rows = real_list(*args, **kwargs)
        if any(r["Id"] == gone.id for r in rows):
            client.api.remove_container(gone.id, force=True)  # another lab's down, meanwhile
        return rows

    try:
        client.api.containers = list_then_remove
        with pytest.raises(docker.errors.NotFound):  # what down used before
            client.containers.list(all=True, filters={"label": lab.LABEL})
        gone = client.containers.create(
            image, command=["/none"], name=f"{stem}-gone", labels=lab.labels("host")
        )
        ids = {c.id for c in lab._labelled_containers(client)}
        assert kept.id in ids and gone.id not in ids
    finally:
        client.api.containers = real_list
        for name in (f"{stem}-kept", f"{stem}-gone"):
            try:
                client.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        client.images.remove(image)
