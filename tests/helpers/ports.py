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
    """A port free now for a stand-in started right away on it. From the same range as
    ``lasting_free_port``, not the OS's: between this check and the server's bind, another
    xdist worker asking the OS for a port could be handed the same one, and the test would then
    talk to that worker's server (a stand-in without its fault: seen in the floor run)."""
    return lasting_free_port()


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


def connectable(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
