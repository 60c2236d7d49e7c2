"""Run the deploy (or any step of it) as a child process; an interrupt is a failure.

pyinfra 3's CLI installs its own SIGINT handler (``pyinfra_cli/main.py``:
``click.echo("Exiting upon user request!"); sys.exit(0)``): a deploy stopped with Ctrl-C
exits **0**, so a script or CI job cannot tell it from a finished one. Every entry point this
project ships (``python -m tgi_infra deploy``, ``python -m tgi_infra rollout``, ``python -m lab
demo``, ``scripts/demo.sh``) runs pyinfra through :func:`run_step`, which returns
:data:`EXIT_INTERRUPTED` (130, the shell's 128 + SIGINT) when the run was interrupted, whatever
the child's own exit status.

Ctrl-C in a terminal reaches the whole foreground process group (this process and pyinfra);
``kill -INT`` of this process alone reaches only this one: it is then passed on to the child.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, what a shell reports for a SIGINT
# after an interrupt: how long the child gets to stop on its own (it usually got the same
# Ctrl-C) before SIGINT is passed on to it (twice at most), and before it is terminated
FORWARD_AFTER_S = 2.0
TERMINATE_AFTER_S = 30.0


def deploy_file() -> Path:
    """``main.py`` of the installed package (not the current directory's deploy/)."""
    return Path(str(resources.files("tgi_infra").joinpath("main.py")))


def pyinfra_command(inventory: str, *extra: str) -> list[str]:
    """The real pyinfra CLI (tgi_infra.cli.pyinfra_entry: without paramiko's tracebacks) with this
    package's deploy file."""
    return [
        sys.executable,
        "-m",
        "tgi_infra.cli.pyinfra_entry",
        *extra,
        inventory,
        str(deploy_file()),
    ]


def run_step(what: str, cmd: Sequence[str], **popen_kwargs) -> int:
    """Run ``cmd``; its exit status, or :data:`EXIT_INTERRUPTED` if a SIGINT came meanwhile.

    On SIGINT the child gets :data:`FORWARD_AFTER_S` to stop on its own, is then sent SIGINT
    (twice at most), and is terminated if it still runs :data:`TERMINATE_AFTER_S` after the
    interrupt.
    """
    interrupted_at: float | None = None
    proc = subprocess.Popen(list(cmd), **popen_kwargs)

    def on_sigint(signum, frame):
        nonlocal interrupted_at
        if interrupted_at is None:
            interrupted_at = time.monotonic()

    previous = signal.signal(signal.SIGINT, on_sigint)
    forwarded, terminated = 0, False
    try:
        while True:
            try:
                rc = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if interrupted_at is None:
                    continue
                waited = time.monotonic() - interrupted_at
                # pyinfra may wait in "Disconnecting from hosts" for a second SIGINT
                if forwarded < 2 and waited > FORWARD_AFTER_S * (forwarded + 1):
                    proc.send_signal(signal.SIGINT)
                    forwarded += 1
                elif not terminated and waited > TERMINATE_AFTER_S:
                    proc.terminate()
                    terminated = True
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted_at is not None:
        print(
            f"interrupted: {what} stopped before it finished (its own exit status was {rc}); "
            "hosts may be partly changed: run the deploy again",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED
    return 128 - rc if rc < 0 else rc  # killed by a signal: the shell's 128 + N
