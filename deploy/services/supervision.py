"""Who keeps a TGI container running: a systemd unit, or Docker's restart policy.

One rule, used by the deploy (``deploy/services/operations.py``) and by the host checks (the
``tgi-infra.config-hash`` label depends on it), so both agree on every kind of host:

- systemd is PID 1 and the engine is this host's own (``docker.service``, native Linux or WSL
  with ``[boot] systemd=true`` and Docker Engine in the distro): a unit ``tgi-<name>.service``
  (``Requires=docker.service``) runs ``docker start -a``; the container has ``--restart no``.
- no systemd (WSL's default without ``[boot] systemd=true``): Docker's restart policy
  ``unless-stopped``; dockerd itself is started by ``service docker start`` and WSL's
  ``[boot] command``.
- Docker Desktop's WSL integration, with or without systemd in the distro: Docker's restart
  policy ``unless-stopped``. The engine runs in Docker Desktop's own distro, not under this
  distro's systemd: there is no ``docker.service`` to require (a unit with
  ``Requires=docker.service`` cannot start), and the container's life follows Desktop's engine,
  not the user's distro. WSL stops an idle distro while Desktop's engine keeps running, so a
  unit in the distro would stop the service (``ExecStop=docker stop``) each time the distro
  shuts down, and only start it again when someone opens the distro. Docker's restart policy
  restarts the container with the engine, as Docker's documentation recommends for
  containers that must outlive a shell ("Start containers automatically").

Import-light (no pyinfra): the host checks import it.
"""

from __future__ import annotations

from typing import Literal

Supervisor = Literal["systemd", "docker"]


def supervisor(systemd: bool, docker_desktop: bool) -> Supervisor:
    """``systemd`` only where systemd runs the engine too; else ``docker`` (restart policy)."""
    return "systemd" if systemd and not docker_desktop else "docker"
