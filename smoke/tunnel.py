"""SSH local port forward to a service that binds loopback on a remote host.

Runs ``ssh -N -L 127.0.0.1:<free port>:<bind>:<port>`` with the host's pyinfra SSH settings
(ssh_hostname, ssh_user, ssh_port, ssh_key, ssh_known_hosts_file,
ssh_strict_host_key_checking) in BatchMode: key or agent auth only, never a prompt.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

from tgi_infra.smoke.targets import SSHSettings


class TunnelError(Exception):
    pass


def free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ssh_forward_command(
    ssh: SSHSettings, local_port: int, remote_bind: str, port: int
) -> list[str]:
    remote = f"[{remote_bind}]" if ":" in remote_bind else remote_bind
    if remote == "localhost":
        remote = "127.0.0.1"
    cmd = [
        "ssh",
        "-N",
        "-L",
        f"127.0.0.1:{local_port}:{remote}:{port}",
        "-o",
        "BatchMode=yes",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-o",
        f"StrictHostKeyChecking={ssh.strict_host_key_checking or 'accept-new'}",
    ]
    if ssh.known_hosts_file:
        cmd += ["-o", f"UserKnownHostsFile={ssh.known_hosts_file}"]
    if ssh.port:
        cmd += ["-p", str(ssh.port)]
    if ssh.key:
        cmd += ["-i", ssh.key, "-o", "IdentitiesOnly=yes"]
    if ssh.user:
        cmd += ["-l", ssh.user]
    cmd.append(ssh.hostname)
    return cmd


@contextlib.contextmanager
def ssh_tunnel(
    ssh: SSHSettings, remote_bind: str, port: int, timeout: float = 30.0
) -> Iterator[str]:
    """Yield ``http://127.0.0.1:<local port>`` forwarded to remote_bind:port on the host."""
    local_port = free_local_port()
    cmd = ssh_forward_command(ssh, local_port, remote_bind, port)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise TunnelError(
                    f"ssh tunnel to {ssh.hostname} ({remote_bind}:{port}) exited "
                    f"{proc.returncode}: {err or 'no output'}; command: {' '.join(cmd)}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", local_port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                raise TunnelError(
                    f"ssh tunnel to {ssh.hostname}: local port {local_port} not open "
                    f"after {timeout:.0f}s; command: {' '.join(cmd)}"
                )
            time.sleep(0.1)
        yield f"http://127.0.0.1:{local_port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
