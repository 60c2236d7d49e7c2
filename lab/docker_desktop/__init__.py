"""Docker Desktop stand-in for the ``wsl-desktop`` lab host (contract: CONTRACT.md here).

Docker Desktop on Windows runs the engine in its own WSL2 distro (``docker-desktop``), not in the
user's distro. WSL2 distros share one network namespace and the tmpfs ``/mnt/wsl``. The WSL
integration puts the CLI under ``/mnt/wsl/docker-desktop/cli-tools`` (``/usr/bin/docker`` is a
symlink to it) and its ``docker-desktop-user-distro proxy`` makes ``/var/run/docker.sock`` reach
the engine (``/mnt/wsl/docker-desktop/shared-sockets/guest-services/docker.proxy.sock``).

Here: a sibling container (``<host container>-engine``) runs a real dockerd, in the network
namespace of the distro container (as WSL2 distros share theirs), with a volume shared at
``/mnt/wsl`` (as WSL2 shares /mnt/wsl) and one at ``/var/lib/tgi`` (Docker Desktop makes the
user distro's paths available to bind mounts; here only the deploy's model volume is shared).
Its os-release names ``Docker Desktop``, so ``docker info`` says ``Operating System: Docker
Desktop`` as Desktop's engine does. No ``docker.service`` exists in the distro.
"""

from __future__ import annotations

from pathlib import Path

import docker
import docker.errors

ENGINE_IMAGE_NAME = "tgi-lab/docker-desktop-engine:1"
HERE = Path(__file__).resolve().parent
DD_ROOT = "/mnt/wsl/docker-desktop"
PROXY_SOCK = f"{DD_ROOT}/shared-sockets/guest-services/docker.proxy.sock"

ENGINE_INIT = f"""\
#!/bin/sh
# Lab stand-in of Docker Desktop's engine distro (see lab/docker_desktop/CONTRACT.md)
set -e
root={DD_ROOT}
mkdir -p "$root/cli-tools/usr/bin" "$root/shared-sockets/guest-services"
cp /usr/bin/docker "$root/cli-tools/usr/bin/docker"
cp /opt/lab/docker-desktop-user-distro "$root/docker-desktop-user-distro"
chmod 755 "$root/cli-tools/usr/bin/docker" "$root/docker-desktop-user-distro"
# Desktop's engine runs in a VM, not a container: dockerd appends " (containerized)" to its
# Operating System when /proc/1/cgroup names a cgroup (moby pkg/parsers/operatingsystem
# IsContainerized); it is shown PID 1's line of a VM ("0::/") instead.
printf '0::/\n' > /run/pid1-cgroup && mount --bind /run/pid1-cgroup /proc/1/cgroup || true
# the user's Docker Desktop settings (Settings > Docker Engine): the lab's HTTP registry
exec dockerd -H "unix://{PROXY_SOCK}" --insecure-registry mirror.lab:5000 \\
  >/var/log/dockerd.log 2>&1
"""

# Stand-in of `docker-desktop-user-distro proxy --docker-desktop-root /mnt/wsl/docker-desktop`
USER_DISTRO_PROXY = f"""\
#!/bin/sh
# Lab stand-in of Docker Desktop's docker-desktop-user-distro (see CONTRACT.md): links the CLI
# and the engine's socket into this distro, then stays up as the real proxy does.
root={DD_ROOT}
[ "$1" = proxy ] && shift
while [ $# -gt 0 ]; do
  case "$1" in --docker-desktop-root) root=$2; shift 2 ;; *) shift ;; esac
done
while [ ! -S "$root/shared-sockets/guest-services/docker.proxy.sock" ]; do sleep 0.5; done
ln -sf "$root/cli-tools/usr/bin/docker" /usr/bin/docker
ln -sf "$root/shared-sockets/guest-services/docker.proxy.sock" /var/run/docker.sock
exec sleep infinity
"""


def engine_image_tag() -> str:
    from lab import images

    return ENGINE_IMAGE_NAME + images._SUFFIX


def ensure_engine_image(client: docker.DockerClient) -> str:
    from lab import images

    base = images.ensure_base(client)
    dockerfile = f"""\
FROM {base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
      docker.io >/dev/null && rm -rf /var/lib/apt/lists/*
RUN sed 's/^PRETTY_NAME=.*/PRETTY_NAME="Docker Desktop"/' /usr/lib/os-release > /tmp/os \\
    && rm -f /etc/os-release && mv /tmp/os /etc/os-release
COPY docker-desktop-user-distro /opt/lab/docker-desktop-user-distro
COPY init /init
CMD ["/init"]
"""
    files = {
        "docker-desktop-user-distro": USER_DISTRO_PROXY.encode(),
        "init": ENGINE_INIT.encode(),
    }
    return images._build(client, engine_image_tag(), dockerfile, files)


def engine_name(host_container: str) -> str:
    return f"{host_container}-engine"


def shared_volumes(host_volume: str) -> dict[str, str]:
    """Volumes the distro and the engine share: /mnt/wsl and the model volume's parent."""
    stem = host_volume.removesuffix("-docker")
    return {f"{stem}-mnt-wsl": "/mnt/wsl", f"{stem}-tgi-data": "/var/lib/tgi"}


def start_engine(client: docker.DockerClient, host_container, host_volume: str, labels: dict):
    """The engine next to the distro container (in its network namespace)."""
    name = engine_name(host_container.name)
    remove_engine(client, host_container.name)
    return client.containers.run(
        ensure_engine_image(client),
        name=name,
        detach=True,
        labels=labels,
        network_mode=f"container:{host_container.id}",
        init=True,
        cap_add=["ALL"],
        cap_drop=["SYS_RESOURCE"],
        security_opt=["seccomp=unconfined", "apparmor=unconfined"],
        cgroupns="host",
        tmpfs={"/run": "rw,exec,mode=755"},
        volumes={
            "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
            # named like a host's docker volume, so lab.down() removes it with the container
            f"{host_volume.removesuffix('-docker')}-engine-docker": {
                "bind": "/var/lib/docker",
                "mode": "rw",
            },
            **{v: {"bind": p, "mode": "rw"} for v, p in shared_volumes(host_volume).items()},
        },
    )


def remove_engine(client: docker.DockerClient, host_container_name: str) -> None:
    try:
        client.containers.get(engine_name(host_container_name)).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
