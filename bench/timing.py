"""Run a command and measure it: wall time, its peak RSS, exit code and output."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass
class Timed:
    wall_s: float
    max_rss_kb: int | None
    returncode: int
    output: str


def run_timed(argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> Timed:
    """Wall time from start to exit, and the command's peak RSS from GNU time (``%M``).

    Not from ``wait4`` in this process: Linux carries the parent's high-water RSS into a child
    across fork + exec, so a big parent (this bench) would show up as the child's peak.
    ``/usr/bin/time`` is small, so the command it starts reports its own peak. Without GNU time
    the RSS is None.
    """
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = os.path.join(tmp, "rss")
        full = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv] if GNU_TIME else argv
        start = time.monotonic()
        proc = subprocess.run(
            full, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
        )
        wall = time.monotonic() - start
        rss = None
        if GNU_TIME and os.path.exists(rss_file):
            lines = [x for x in open(rss_file).read().split() if x.isdigit()]
            rss = int(lines[-1]) if lines else None
    return Timed(wall, rss, proc.returncode, proc.stdout.decode(errors="replace"))
