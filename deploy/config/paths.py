"""Path rules: which host paths the deploy may own (``tgi_root``) or mount (``volume``), the
characters allowed in any value that reaches a command line or an env file, and Docker's
env-file line limit.

One rule each, written here once; the ``allowed`` texts of the fields quote them.
"""

from __future__ import annotations

import re

# Trees where nothing belongs to the deploy: neither ``tgi_root`` nor a ``/data`` mount may be
# one of them or lie under one (``/lib*`` is every top-level name starting with ``lib``).
SYSTEM_TREES = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/run",
    "/var/lib/docker",
)
# Shared parents: a directory under them is fine (``/opt/tgi``, ``/srv/tgi``, ``/home/me/tgi``),
# the directory itself is not.
SHARED_PARENTS = (
    "/",
    "/home",
    "/media",
    "/mnt",
    "/opt",
    "/root",
    "/srv",
    "/tmp",
    "/var",
    "/var/lib",
    "/var/tmp",
    "/var/log",
    "/var/cache",
)
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")

ALLOWED_TEXT = (
    "not a system directory: not /, /home, /media, /mnt, /opt, /root, /srv, /tmp, /var, "
    "/var/cache, /var/lib, /var/log, /var/tmp themselves, and nothing in or under /bin, /boot, "
    "/dev, /etc, /lib*, /proc, /run, /sbin, /sys, /usr, /var/run, /var/lib/docker"
)


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def system_path_reason(path: str) -> str | None:
    """Why ``path`` (normalised, absolute) is a system path, or None when it is not."""
    if path in DOCKER_SOCKETS:
        return "the Docker socket (root on the host for whoever can reach it)"
    first = "/" + path.split("/")[1] if path != "/" else "/"
    if first.startswith("/lib"):
        return f"a system directory (under {first})"
    for tree in SYSTEM_TREES:
        if _under(path, tree):
            what = "a system directory" if path == tree else f"under the system directory {tree}"
            return what
    if path in SHARED_PARENTS:
        return "a shared system directory itself; use a directory of its own under it"
    return None


# ---------------------------------------------------------------------------------------
# control characters
# ---------------------------------------------------------------------------------------

# C0 controls (NUL, tab, newline, CR, ...), DEL and the C1 controls: a newline splits an env-file
# line or a shell line, NUL truncates argv, the others hide text in terminals and logs.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_ALLOWED = "printable characters only (no newline, CR, tab, NUL or other control characters)"


def control_reason(value: str) -> str | None:
    m = CONTROL_RE.search(value)
    if not m:
        return None
    return f"contains the control character {m.group()!r} at index {m.start()}"


# ---------------------------------------------------------------------------------------
# Docker's env-file limit
# ---------------------------------------------------------------------------------------

# docker/cli pkg/kvfile (opts/envfile.go before it) reads `--env-file` with a bufio.Scanner of
# the default size: a line (with its newline) longer than bufio.MaxScanTokenSize = 64 KiB fails
# with "bufio.Scanner: token too long". So `KEY=value` may be at most 65535 bytes (UTF-8).
ENV_FILE_LINE_MAX = 64 * 1024 - 1


def env_line_reason(key: str, value: str) -> str | None:
    size = len(f"{key}={value}".encode())
    if size <= ENV_FILE_LINE_MAX:
        return None
    return (
        f"the env-file line {key}=... is {size} bytes; Docker's --env-file reads at most "
        f"{ENV_FILE_LINE_MAX} bytes per line (bufio.Scanner's 64 KiB token)"
    )


def shorten(value: str, limit: int = 60) -> str:
    """``repr`` of ``value``, cut to ``limit`` characters with the full length said."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} chars)"


def first_control(value: object) -> tuple[str, str] | None:
    """(offending string, reason) for the first string with a control character anywhere in
    ``value`` (strings, list items, mapping keys and values), or None."""
    if isinstance(value, str):
        reason = control_reason(value)
        return (value, reason) if reason else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = first_control(k) or first_control(v)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for item in value:
            found = first_control(item)
            if found:
                return found
    return None
