"""A free 127.0.0.1 port to hold for a while (a port written into a config long before the
container publishes it).

Ports the OS hands out (bind to port 0) come from the ephemeral range (Linux default
32768-60999), which every process's outgoing connections and every other xdist worker's
stand-ins also draw from: one picked there early may be taken by the time it is used. These come
from below that range, at random, so only another test picking the same number collides.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000


def free_port() -> int:
    """A port free now, from the OS (for a server started right away on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lasting_free_port() -> int:
    for _ in range(200):
        port = random.randint(LOW, HIGH)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {LOW}-{HIGH}")
