"""`lab up` keeps a running lab host only while it mounts this checkout's state as it is on disk.

A checkout deleted and cloned again at the same path while its lab ran has a new SSH key at
the old path: the host's bind mount still holds the deleted file, so the path alone matches
and every SSH login is refused. The host must be started again instead."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from lab import lab


@pytest.fixture
def host(lab_base_image, tmp_path):
    """A running container bind-mounting a key file and a folder, as lab hosts and infra do."""
    keys, www = tmp_path / "authorized_keys", tmp_path / "www"
    keys.write_text("ssh-ed25519 AAAA-old lab\n")
    www.mkdir()
    name = f"tgi-lab-reuse-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "-v", f"{keys}:/root/.ssh/authorized_keys:ro",
         "-v", f"{www}:/srv/www:ro", lab_base_image, "sleep", "600"],
        check=True, capture_output=True,
    )  # fmt: skip
    yield name, keys, www
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_a_host_mounting_the_state_on_disk_is_kept(host):
    name, keys, www = host
    client = docker.from_env()
    kept = lab._running(client, name, mount=("/root/.ssh/authorized_keys", keys))
    assert kept is not None and kept.name == name
    assert lab._running(client, name, mount=("/srv/www", www)) is not None
    assert lab._exists(docker.from_env().containers.get, name)


@pytest.mark.parametrize("what", ["key file", "folder"])
def test_a_host_holding_a_deleted_file_at_the_same_path_is_started_again(host, what):
    name, keys, www = host
    if what == "key file":  # the clone's new key, at the old key's path
        keys.unlink()
        keys.write_text("ssh-ed25519 AAAA-new lab\n")
        mount = ("/root/.ssh/authorized_keys", keys)
    else:
        www.rmdir()
        www.mkdir()
        mount = ("/srv/www", www)
    assert lab._running(docker.from_env(), name, mount=mount) is None
    assert not lab._exists(docker.from_env().containers.get, name), "the stale host was not removed"


def test_a_mount_whose_source_is_gone_is_not_kept(host):
    name, keys, _ = host
    keys.unlink()
    mount = ("/root/.ssh/authorized_keys", Path(keys))
    assert lab._running(docker.from_env(), name, mount=mount) is None
