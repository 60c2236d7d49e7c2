"""Start-up shared by the stand-ins' CLIs: signals, the warm-up delay, binding, serving."""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from collections.abc import Callable

from .server import StandinServer, serve


def stop_event() -> tuple[threading.Event, list[str]]:
    stop, received = threading.Event(), []

    def on_signal(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop, received


def family_of(host: str) -> int:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET


def bind(
    handler, state, host: str, port: int, token_delay: float, log_error: Callable[[str], None]
) -> StandinServer | None:
    try:
        return StandinServer((host, port), handler, state, family_of(host), token_delay)
    except OSError as exc:
        log_error(
            f"[Errno {exc.errno}] error while attempting to bind on address "
            f"({host!r}, {port}): {exc.strerror}"
        )
        return None


__all__ = ["bind", "serve", "stop_event"]
