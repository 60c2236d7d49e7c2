"""apt install with apt update's warnings kept: a failed install names the real cause.

``apt-get update`` exits 0 when a mirror cannot be reached (``W: Failed to fetch ... Could not
resolve 'mirror.lab'``, ``W: Some index files failed to download``); the install that follows
then fails with ``E: Unable to locate package docker.io``, which hides why. pyinfra's
``apt.packages(update=True)`` shows only the failing install. Here the update's output is kept
and, when the install fails, its ``Err:``/``W:``/``E:`` lines are shown first.
"""

from __future__ import annotations

import re
import shlex

from pyinfra import logger
from pyinfra.operations import python
from tgi_infra import hostcmd

APT_ENV = "DEBIAN_FRONTEND=noninteractive"
# as pyinfra's apt operations install (pyinfra/operations/apt.py: noninteractive_apt)
INSTALL = "apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install"
_PROBLEM = re.compile(r"^(Err:\d+ |W: |E: )")


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


def _update_and_install(state, host, packages: list[str], extra: list[str]) -> bool:
    # hostcmd.run: as the operation's own commands run (sudo/su from the host's settings)
    ok, update = hostcmd.run(
        state, host, f"{APT_ENV} apt-get update 2>&1", print_output=False, print_input=False
    )
    update_lines = update.stdout_lines + update.stderr_lines
    if not ok:
        logger.error(f"{host.print_prefix}apt-get update failed:\n" + "\n".join(update_lines[-20:]))
        return False
    cmd = " ".join([APT_ENV, INSTALL, *extra, *map(shlex.quote, packages)]) + " 2>&1"
    ok, install = hostcmd.run(state, host, cmd, print_output=False, print_input=False)
    if ok:
        return True
    install_lines = install.stdout_lines + install.stderr_lines
    logger.error(
        f"{host.print_prefix}{failure_message(host.name, packages, update_lines, install_lines)}"
    )
    return False


def packages(title: str, packages: list[str], allow_downgrades: bool = False):
    """One operation: apt-get update, then install ``packages`` (``pkg`` or ``pkg=version``)."""
    extra = ["--allow-downgrades"] if allow_downgrades else []
    return python.call(name=title, function=_update_and_install, packages=packages, extra=extra)
