"""A host that stops answering fails alone, after a bounded time; the other hosts go on.

Why pyinfra alone waits forever: its SSH connector (``pyinfra/connectors/ssh.py``) runs every
command with no time limit unless the operation is given ``_timeout``; opening a channel waits
up to paramiko's ``Transport.channel_timeout`` (one hour), and SFTP uploads block without limit.
A host whose processes are frozen (``docker pause``, a hung kernel, a VM stopped by its
hypervisor) keeps its TCP connection up, so nothing ever fails, and each pyinfra operation waits
for every host before the next one starts: one hung host stalls the whole fleet.

A per-command ``_timeout`` is the wrong bound here: a ``docker pull`` of a TGI image or the wait
for a model download legitimately run for many minutes. What is bounded instead is how long a
host may go without answering at all, the way OpenSSH's ``ServerAliveInterval`` /
``ServerAliveCountMax`` do: every few seconds a ``keepalive@openssh.com`` global request goes to
the host's sshd (which answers it at once, even while a long command runs); when no answer comes
within ``tgi_host_timeout`` seconds, the SSH transport is closed. Every command waiting on that
host then fails at once, pyinfra marks the host failed, the other hosts go on, and the end of the
run names the host (:class:`DroppedHostsReport`).
"""

from __future__ import annotations

import functools
import time

import gevent
from paramiko.ssh_exception import SSHException
from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_host, ctx_state

KEEPALIVE_REQUEST = "keepalive@openssh.com"  # what OpenSSH's ServerAliveInterval sends
MAX_PROBE_INTERVAL_S = 15.0

# host name -> why it was dropped (read by DroppedHostsReport at the end of the run)
dropped: dict[str, str] = {}
_watched: set[str] = set()


def probe_interval(timeout: float) -> float:
    """Seconds between keepalives: a quarter of the timeout, between 1 and 15 s."""
    return max(1.0, min(MAX_PROBE_INTERVAL_S, timeout / 4))


def channel_timeout(timeout: float) -> float:
    """How long opening a channel may wait: past the keepalive's worst case (one interval to the
    next keepalive, then ``timeout`` for its answer), so the watchdog names the host first."""
    return timeout + 2 * probe_interval(timeout)


def ssh_transport(host):
    """The paramiko transport of a host reached over SSH; None for other connectors."""
    client = getattr(host.connector, "client", None)
    get_transport = getattr(client, "get_transport", None)
    return get_transport() if get_transport else None


class DroppedHostsReport(BaseStateCallback):
    """After pyinfra's results table: one line per host dropped for not answering."""

    @staticmethod
    def host_disconnect(state, host):
        if host.name in dropped:
            logger.error(f"host {host.name}: dropped from this deploy: {dropped[host.name]}")


def watch(timeout: int) -> bool:
    """Start watching the current host (once per host); False when it is not reached over SSH."""
    # the real objects, not pyinfra's context proxies: the watchdog greenlet has no context
    state, host = ctx_state.get(), ctx_host.get()
    transport = ssh_transport(host)
    if transport is None:
        return False
    if host.name in _watched:
        return True
    if not _watched:
        state.add_callback_handler(DroppedHostsReport())
    _watched.add(host.name)
    # a channel that the host never confirms fails after the same bound, not paramiko's hour;
    # the keepalive (one interval, then `timeout`) drops the host first, so a channel opened the
    # moment the host hung fails naming why (the dropped host), not as a bare channel timeout
    transport.channel_timeout = channel_timeout(timeout)
    # a host that dies mid-deploy (reboot, sshd killed): opening a channel raises the
    # transport's EOFError, which pyinfra does not catch (a traceback and the whole run ends);
    # an SSHException naming the host fails that host alone
    transport.get_exception = _closed_as_ssh_error(transport, host)
    # a file transfer cut by the drop ends in EOFError or pyinfra's ConnectError ("Unable to
    # establish SFTP connection"), which pyinfra does not catch there (they would end the whole
    # run): make them the OSError pyinfra fails the host with
    for name in ("put_file", "get_file"):
        if hasattr(host.connector, name):
            setattr(host.connector, name, _eof_as_oserror(getattr(host.connector, name), host))
    gevent.spawn(_watch, host, transport, timeout)
    return True


def _watch(host, transport, timeout: int) -> None:
    interval = probe_interval(timeout)
    while transport.is_active():
        gevent.sleep(interval)
        if not transport.is_active():
            return  # pyinfra disconnected at the end of the run
        started = time.monotonic()
        try:
            with gevent.Timeout(timeout):
                transport.global_request(KEEPALIVE_REQUEST, wait=True)
        except gevent.Timeout:
            silent = time.monotonic() - started
            dropped[host.name] = (
                f"no answer over SSH for {silent:.0f}s (tgi_host_timeout: {timeout}s); the host "
                "is hung or unreachable: check it, then run the deploy again"
            )
            logger.error(f"{host.print_prefix}{dropped[host.name]}")
            _drop(host, transport)
            return


def _drop(host, transport) -> None:
    """Close the SSH transport: every command waiting on the host fails now.

    A channel still being opened then raises ``transport.get_exception()``: an SSHException
    naming the cause (:func:`_closed_as_ssh_error`), which pyinfra fails this host with."""
    transport.close()


def _closed_as_ssh_error(transport, host):
    get_exception = transport.get_exception

    def wrapper():
        exc = get_exception()
        if transport.is_active():
            return exc
        if exc is None or isinstance(exc, (EOFError, OSError)):
            why = dropped.get(host.name) or (
                f"the SSH connection closed ({type(exc).__name__ if exc else 'EOF'}): the host "
                "went down, rebooted or its sshd stopped"
            )
            return SSHException(f"host {host.name}: {why}")
        return exc

    return wrapper


def _eof_as_oserror(func, host):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (EOFError, PyinfraError, SSHException) as exc:
            if host.name not in dropped and not isinstance(exc, EOFError):
                raise
            why = dropped.get(host.name, "the SSH connection closed")
            raise ConnectionAbortedError(f"host {host.name}: {why}") from exc

    return wrapper
