"""Waiting for a service to answer: the one poll loop, and the one reading of a container's state.

Three places wait for a service, each where it runs: the deploy on the remote host
(``ready.py``: commands through pyinfra), the local verbs on this machine (``local.py``:
Docker's API) and the smoke suite over HTTP (``smoke/checks.py``). They share this module: the
loop (:func:`poll`: backoff, deadline, progress lines) and the rules that tell a container that
will never answer from one that is still starting (:func:`failed_start`,
:func:`crash_looping`). Standard library only: the smoke suite imports it inside hosts
without pyinfra.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Waited(Generic[T]):
    value: T
    seconds: float  # since the wait's start
    attempts: int


class WaitTimedOut(Exception):
    """The deadline passed; ``status`` is the last thing the step said, ``attempts`` how often
    it was asked."""

    def __init__(self, status: str, seconds: float, attempts: int):
        super().__init__(status)
        self.status, self.seconds, self.attempts = status, seconds, attempts


def poll(
    step: Callable[[float], tuple[T | None, str]],
    timeout: float,
    *,
    start: float | None = None,
    first_delay: float = 1.0,
    factor: float = 1.5,
    max_delay: float = 5.0,
    report: Callable[[str, float], None] | None = None,
    report_after: float = 15.0,
    report_every: float = 15.0,
) -> Waited[T]:
    """Ask ``step(seconds waited)`` until it returns a value (not None) with backoff between
    tries (``first_delay``, times ``factor``, at most ``max_delay``); the step raises to stop
    with a failure, and says what it saw (its second item) while not done. After ``timeout``
    seconds (from ``start``, a ``time.monotonic()`` value, default now) :class:`WaitTimedOut`
    carries the last status. ``report(status, seconds)`` is called ``report_after`` s after this
    call, then every ``report_every`` s."""
    start = time.monotonic() if start is None else start
    delay, attempts = first_delay, 0
    next_report = time.monotonic() - start + report_after
    while True:
        attempts += 1
        value, status = step(time.monotonic() - start)
        elapsed = time.monotonic() - start
        if value is not None:
            return Waited(value, elapsed, attempts)
        if elapsed >= timeout:
            raise WaitTimedOut(status, elapsed, attempts)
        if report is not None and elapsed >= next_report:
            report(status, elapsed)
            next_report = elapsed + report_every
        time.sleep(min(delay, max(timeout - elapsed, 0.0)))
        delay = min(delay * factor, max_delay)


# -- a container's state -------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerState:
    status: str  # created, running, restarting, exited, dead, ...
    restarts: int
    exit_code: str
    error: str  # the daemon's last error starting it (State.Error), "" when none


STATE_FORMAT = "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{.State.Error}}"


def parse_state(out: str) -> ContainerState | None:
    """``docker inspect -f STATE_FORMAT``'s output; None when docker answered something else
    (no such container, the daemon unreachable: the answer is then the reason)."""
    m = re.fullmatch(r"(\w+) (\d+) (-?\d+) ?(.*)", out.strip(), re.S)
    if not m:
        return None
    return ContainerState(m[1], int(m[2]), m[3], m[4].strip())


def state_of(attrs: dict) -> ContainerState:
    """The same reading from Docker's API (a container's ``attrs``)."""
    st = attrs.get("State") or {}
    return ContainerState(
        str(st.get("Status") or "unknown"),
        int(attrs.get("RestartCount") or 0),
        str(st.get("ExitCode", 0)),
        str(st.get("Error") or ""),
    )


def failed_start(found: ContainerState) -> str | None:
    """Why a container will not become ready: it exited, or Docker could not start it (a
    ``docker start`` that failed leaves it ``created`` with the daemon's error: a host port
    already taken, the NVIDIA runtime refusing the image; systemd would retry it in vain);
    None while it may still."""
    if found.status in ("exited", "dead"):
        said = f": {found.error}" if found.error else ""
        return f"the container {found.status} with code {found.exit_code}{said}"
    if found.status == "created" and found.error:
        return f"Docker could not start the container: {found.error}"
    return None


def crash_looping(first_restarts: int, found: ContainerState) -> str | None:
    """A container restarted twice since the wait began (or stuck restarting after three):
    it will not settle; None otherwise."""
    restarts = found.restarts
    if restarts - first_restarts >= 2 or found.status == "restarting" and restarts >= 3:
        return f"the container is crash-looping ({restarts} restarts)"
    return None
