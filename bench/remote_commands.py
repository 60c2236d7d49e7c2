"""Remote commands per host, counted by the host's own sshd: the same count for every tool.

Each command a tool runs over SSH is one session channel on the host's sshd: pyinfra (paramiko,
one connection per host) opens an ``exec`` channel per command and one ``sftp`` subsystem per
connection, kept for every upload; Ansible (OpenSSH with ControlMaster, pipelining on) opens one
session per module run or raw command on its shared connection, and an ``sftp`` session per
copied file. With
``LogLevel VERBOSE`` sshd logs every session it starts (OpenSSH ``session.c`` ``do_exec``):

    Starting session: command for root from 172.18.0.1 port 40144 id 0
    Starting session: subsystem 'sftp' for root from 172.18.0.1 port 40144 id 3
    Starting session: shell on pts/0 for root from 10.0.0.9 port 52810 id 0

and every connection (``Accepted publickey for root from ... ssh2: ...``). The bench turns
VERBOSE on in each host's sshd (a drop-in file and a reload, through ``docker exec``, not over
SSH and not timed) and reads the host's journal through ``docker exec`` before and after a run.
"""

from __future__ import annotations

import re
import subprocess

VERBOSE_CONF = "/etc/ssh/sshd_config.d/bench-log.conf"
# the sshd programs that log sessions: sshd, and sshd-session from OpenSSH 9.8 on
IDENTIFIERS = ("sshd", "sshd-session")
SESSION = re.compile(
    r"Starting session: (?:(command)|subsystem '([^']*)'|(shell)|(forced-command))"
)
ACCEPTED = re.compile(r"Accepted \S+ for \S+ from ")
KEYS = ("commands", "sftp", "other_sessions", "connections")


def count(lines: list[str]) -> dict[str, int]:
    """Sessions in sshd log lines: ``commands`` (exec requests), ``sftp`` (sftp
    subsystem sessions), ``other_sessions`` (shells, forced commands, other subsystems) and
    ``connections`` (accepted logins)."""
    out = dict.fromkeys(KEYS, 0)
    for line in lines:
        m = SESSION.search(line)
        if m:
            if m.group(1):
                out["commands"] += 1
            elif m.group(2) == "sftp":
                out["sftp"] += 1
            else:
                out["other_sessions"] += 1
        elif ACCEPTED.search(line):
            out["connections"] += 1
    return out


def _exec(container: str, *argv: str) -> str:
    res = subprocess.run(
        ["docker", "exec", container, *argv], capture_output=True, text=True, timeout=60
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"bench host {container}: {' '.join(argv)} exited {res.returncode}: "
            f"{res.stderr.strip()[-300:]}"
        )
    return res.stdout


def enable(container: str) -> None:
    """``LogLevel VERBOSE`` in the host's sshd (a drop-in, then ``systemctl reload ssh``)."""
    _exec(
        container,
        "sh",
        "-c",
        f"echo 'LogLevel VERBOSE' > {VERBOSE_CONF} && systemctl reload ssh",
    )


def cursor(container: str) -> str:
    """The journal's cursor now (of its last entry), where the next read starts."""
    out = _exec(container, "journalctl", "-q", "-n", "1", "--show-cursor", "-o", "cat")
    m = re.search(r"^-- cursor: (\S+)$", out, re.M)
    if not m:
        raise RuntimeError(f"bench host {container}: no journal cursor in {out[-200:]!r}")
    return m.group(1)


def since(container: str, after: str) -> list[str]:
    """sshd's journal lines after the cursor ``after``."""
    argv = ["journalctl", "-q", "--no-pager", "-o", "short-iso", f"--after-cursor={after}"]
    for ident in IDENTIFIERS:
        argv += ["-t", ident]
    return _exec(container, *argv).splitlines()


class Counter:
    """Counts per host over one run: ``start()`` before it, ``stop()`` after it."""

    def __init__(self, containers: dict[str, str]):
        self.containers = containers  # host name -> container name
        self.cursors: dict[str, str] = {}

    def start(self) -> None:
        self.cursors = {h: cursor(c) for h, c in self.containers.items()}

    def stop(self) -> dict[str, dict[str, int]]:
        return {h: count(since(c, self.cursors[h])) for h, c in self.containers.items()}
