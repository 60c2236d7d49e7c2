"""testinfra hosts from pyinfra's SSH settings, or ``local://`` on the host itself.

The inventory's ``ssh_hostname``, ``ssh_user``, ``ssh_port``, ``ssh_key``,
``ssh_known_hosts_file`` and ``ssh_strict_host_key_checking`` become an ssh_config file (one
``Host`` block, BatchMode: key or agent auth only, never a prompt) for testinfra's ``ssh://``
backend, the same settings pyinfra and the smoke tunnel use. ``_sudo``/``_sudo_user`` map to
testinfra's ``sudo``/``sudo_user``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tgi_infra.smoke.targets import SSHSettings

ALIAS = "tgi-host"


@dataclass(frozen=True)
class Connection:
    """How to reach one host: ``local`` or SSH settings, plus sudo."""

    host_name: str
    ssh: SSHSettings | None  # None: local://
    sudo: bool = False
    sudo_user: str | None = None

    def describe(self) -> str:
        if self.ssh is None:
            return "local://"
        user = f"{self.ssh.user}@" if self.ssh.user else ""
        port = f":{self.ssh.port}" if self.ssh.port else ""
        return f"ssh://{user}{self.ssh.hostname}{port}"


def connection_from_data(host_name: str, data: dict[str, Any], local: bool = False) -> Connection:
    from tgi_infra.smoke.targets import _ssh_settings

    return Connection(
        host_name=host_name,
        ssh=None if local else _ssh_settings(host_name, data),
        sudo=bool(data.get("_sudo")),
        sudo_user=data.get("_sudo_user"),
    )


def ssh_config_text(ssh: SSHSettings, alias: str = ALIAS) -> str:
    lines = [
        f"Host {alias}",
        f"  HostName {ssh.hostname}",
        "  BatchMode yes",
        "  ConnectTimeout 15",
        "  LogLevel ERROR",
        f"  StrictHostKeyChecking {ssh.strict_host_key_checking or 'accept-new'}",
    ]
    if ssh.user:
        lines.append(f"  User {ssh.user}")
    if ssh.port:
        lines.append(f"  Port {ssh.port}")
    if ssh.key:
        lines += [f'  IdentityFile "{ssh.key}"', "  IdentitiesOnly yes"]
    if ssh.known_hosts_file:
        lines.append(f'  UserKnownHostsFile "{ssh.known_hosts_file}"')
    return "\n".join(lines) + "\n"


def testinfra_host(conn: Connection, workdir: str | None = None):
    """A testinfra Host for the connection (the ssh_config file goes to ``workdir``)."""
    import testinfra

    sudo = {"sudo": True, "sudo_user": conn.sudo_user} if conn.sudo else {}
    if conn.ssh is None:
        return testinfra.get_host("local://", **sudo)
    base = Path(workdir or tempfile.mkdtemp(prefix="tgi-hostchecks-"))
    config = base / f"ssh_config.{conn.host_name}"
    config.write_text(ssh_config_text(conn.ssh))
    # controlpersist=0: one ssh per command, no master process left behind
    return testinfra.get_host(
        f"ssh://{ALIAS}", ssh_config=str(config), controlpersist=0, timeout=15, **sudo
    )
