"""apt on hosts: apt's locks waited for, and apt update's warnings kept on a failed install.

**Locks.** On a freshly booted Ubuntu/Debian cloud VM, ``apt-daily``/``unattended-upgrades``
hold apt's locks for minutes, and apt fails at once with ``E: Could not get lock ...``. Every
apt command of the deploy waits for them, up to ``tgi_apt_lock_timeout`` seconds:

- ``apt-get install`` (here and through pyinfra's ``apt.packages``) carries
  ``-o DPkg::Lock::Timeout=N``: apt >= 1.9.11 waits for ``/var/lib/dpkg/lock-frontend`` and
  ``/var/lib/dpkg/lock`` itself (``apt-pkg/deb/debsystem.cc``);
- ``apt-get update`` takes ``/var/lib/apt/lists/lock``, for which apt has no wait (the option
  is not read there: ``pkgAcquire::GetLock``), and the install's download takes
  ``/var/cache/apt/archives/lock`` the same way: the deploy's own apt commands (here and the
  toolkit source's update) are run again (every ``LOCK_RETRY_S`` seconds) while apt says a
  lock is held, until the same timeout. The toolkit's install through pyinfra's
  ``apt.packages`` (no update before it) has apt's own wait only.

Nothing is written to the host's apt configuration: the host's own apt runs as before.

**Update warnings.** ``apt-get update`` exits 0 when a mirror cannot be reached (``W: Failed to
fetch ... Could not resolve 'mirror.lab'``, ``W: Some index files failed to download``); the
install that follows then fails with ``E: Unable to locate package docker.io``, which hides why.
pyinfra's ``apt.packages(update=True)`` shows only the failing install. Here the update's output
is kept and, when the install fails, its ``Err:``/``W:``/``E:`` lines are shown first.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyinfra import logger
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import python
from tgi_infra.host import remote

APT_ENV = "DEBIAN_FRONTEND=noninteractive"
# as pyinfra's apt operations install (pyinfra/operations/apt.py: noninteractive_apt)
INSTALL = "apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install"
UPDATE = "apt-get update"
# seconds between two tries of a command apt refused because a lock was held
LOCK_RETRY_S = 3.0
_PROBLEM = re.compile(r"^(Err:\d+ |W: |E: )")
# apt 1.9+: "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)"
# older apt: "E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily ...)"
_LOCK_HELD = re.compile(r"^E: Could not get lock (?P<path>/\S+?)(?:\.|\s|$)(?P<rest>.*)$")
_HOLDER = re.compile(r"held by process (?P<pid>\d+)(?: \((?P<name>[^)]*)\))?")


def lock_wait_option(timeout: int) -> str:
    """apt's own wait for the dpkg locks (``lock-frontend``, ``lock``), in seconds."""
    return f"-o DPkg::Lock::Timeout={int(timeout)}"


@dataclass(frozen=True)
class HeldLock:
    """A lock apt could not take: its path and who holds it (as apt names the holder)."""

    path: str
    holder: str | None

    def describe(self) -> str:
        return f"{self.path} (held by {self.holder})" if self.holder else self.path


def held_lock(lines: list[str]) -> HeldLock | None:
    """The lock apt said it could not get (``E: Could not get lock ...``), None otherwise."""
    for line in lines:
        match = _LOCK_HELD.match(line.strip())
        if match:
            holder = _HOLDER.search(match.group("rest"))
            who = None
            if holder:
                who = f"process {holder.group('pid')}"
                if holder.group("name"):
                    who += f" ({holder.group('name')})"
            return HeldLock(match.group("path"), who)
    return None


def lock_timeout_message(host_name: str, lock: HeldLock, timeout: int, command: str) -> str:
    return (
        f"host {host_name}: `{command}`: apt's lock {lock.describe()} was still held after "
        f"{timeout} s (tgi_apt_lock_timeout). Another apt or dpkg run holds it: on a freshly "
        "booted cloud VM, unattended-upgrades (`systemctl status apt-daily.service "
        "apt-daily-upgrade.service unattended-upgrades.service`). Let it finish, or raise "
        "tgi_apt_lock_timeout, then re-run the deploy"
    )


def run_waiting_for_locks(
    run: Callable[[str], tuple[bool, list[str]]],
    command: str,
    timeout: int,
    on_wait: Callable[[HeldLock], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, list[str], HeldLock | None]:
    """``run(command)`` again while apt says a lock is held, for up to ``timeout`` seconds.

    Returns ``(ok, output lines, lock)``: ``lock`` is the lock still held when it gave up
    (``ok`` is then False), None otherwise. ``on_wait`` is called once, on the first wait."""
    deadline = clock() + timeout
    waited = False
    while True:
        ok, lines = run(command)
        lock = None if ok else held_lock(lines)
        if lock is None:
            return ok, lines, None
        left = deadline - clock()
        if left <= 0:
            return False, lines, lock
        if not waited and on_wait is not None:
            on_wait(lock)
        waited = True
        sleep(min(LOCK_RETRY_S, left))


def host_runner(state, host) -> Callable[[str], tuple[bool, list[str]]]:
    """``hostcmd.run`` (the operation's sudo/su settings) as ``command -> (ok, lines)``."""

    def run(command: str) -> tuple[bool, list[str]]:
        ok, output = remote.run(state, host, command, print_output=False, print_input=False)
        return ok, output.stdout_lines + output.stderr_lines

    return run


def run_apt(state, host, command: str, timeout: int) -> tuple[bool, list[str]]:
    """An apt command on ``host``, apt's locks waited for (``run_waiting_for_locks``); raises
    ``OperationError`` naming the lock and its holder when one is still held at the end."""

    def note(lock: HeldLock) -> None:
        logger.info(
            f"{host.print_prefix}waiting up to {timeout} s (tgi_apt_lock_timeout) for apt's "
            f"lock {lock.describe()}"
        )

    ok, lines, lock = run_waiting_for_locks(host_runner(state, host), command, timeout, note)
    if lock is not None:
        shown = command.removeprefix(f"{APT_ENV} ").removesuffix(" 2>&1")
        raise OperationError(lock_timeout_message(host.name, lock, timeout, shown))
    return ok, lines


def update_problems(lines: list[str]) -> list[str]:
    """apt-get update's ``Err:`` lines (with the indented reason after each), ``W:``, ``E:``."""
    out: list[str] = []
    keep_indented = False
    for line in lines:
        if _PROBLEM.match(line):
            out.append(line)
            keep_indented = line.startswith("Err:")
        elif keep_indented and line.startswith("  "):
            out.append(line)
        else:
            keep_indented = False
    return out


def failure_message(
    host_name: str, packages: list[str], update_lines: list[str], install_lines: list[str]
) -> str:
    said = [line for line in install_lines if line.startswith("E: ")] or install_lines[-5:]
    text = f"host {host_name}: apt-get install {' '.join(packages)} failed: " + " / ".join(said)
    problems = update_problems(update_lines)
    if problems:
        text += (
            "\n  apt-get update reported (likely the cause: a mirror or repository that cannot "
            "be reached):\n" + "\n".join(f"    {line}" for line in problems)
        )
    return text


def update_command() -> str:
    return f"{APT_ENV} {UPDATE} 2>&1"


def install_command(packages: list[str], extra: list[str], lock_timeout: int) -> str:
    words = [APT_ENV, INSTALL, lock_wait_option(lock_timeout), *extra]
    return " ".join([*words, *map(shlex.quote, packages)]) + " 2>&1"


def _update_and_install(
    state, host, packages: list[str], extra: list[str], lock_timeout: int
) -> bool:
    # run_apt -> hostcmd.run: as the operation's own commands run (sudo/su from host settings)
    ok, update_lines = run_apt(state, host, update_command(), lock_timeout)
    if not ok:
        raise OperationError(
            f"host {host.name}: apt-get update failed:\n" + "\n".join(update_lines[-20:])
        )
    cmd = install_command(packages, extra, lock_timeout)
    ok, install_lines = run_apt(state, host, cmd, lock_timeout)
    if not ok:
        raise OperationError(failure_message(host.name, packages, update_lines, install_lines))
    return True


def packages(title: str, packages: list[str], lock_timeout: int, allow_downgrades: bool = False):
    """One operation: apt-get update, then install ``packages`` (``pkg`` or ``pkg=version``),
    each waiting up to ``lock_timeout`` seconds for apt's locks."""
    extra = ["--allow-downgrades"] if allow_downgrades else []
    return python.call(
        name=title,
        function=remote.reported(_update_and_install),
        packages=packages,
        extra=extra,
        lock_timeout=lock_timeout,
    )
