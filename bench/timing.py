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
    tree_pss_kb: int | None = None  # peak over time of the summed PSS of the whole process tree
    tree_rss_kb: int | None = None  # the same with RSS (pages shared between forks counted twice)
    tree_procs: int | None = None  # the most processes seen in the tree at one sample


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from ``/proc/<pid>/task/<tid>/children``."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:  # exited meanwhile
            continue
    return out


def memory_kb(pid: int) -> tuple[int, int]:
    """(Pss, Rss) of one process in KiB from ``/proc/<pid>/smaps_rollup``; (0, 0) once gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


class TreeSampler:
    """Samples the summed PSS/RSS of a process tree; keeps the peaks.

    GNU time's ``%M`` is the peak of the single largest process in the tree (``wait4`` reports
    the maximum, not the sum); a tool that forks workers (Ansible: one per host up to ``forks``)
    spends its memory across processes, so the sum is what the machine pays. PSS shares a page
    between the processes mapping it, so copy-on-write pages of forks are not counted twice.
    The caller samples between polls of the process (``watch``): no thread, so a process whose
    threading gevent has patched (pyinfra's CLI does) samples the same way.
    """

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval = pid, interval
        self.peak_pss = self.peak_rss = self.peak_procs = 0

    def sample(self) -> None:
        pids = descendants(self.pid)
        pss = rss = 0
        for p in pids:
            a, b = memory_kb(p)
            pss, rss = pss + a, rss + b
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_procs = max(self.peak_procs, len(pids))

    def watch(self, proc: subprocess.Popen) -> None:
        """Sample every ``interval`` s until ``proc`` exits (its exit ends the wait at once)."""
        while True:
            self.sample()
            try:
                proc.wait(timeout=self.interval)
                return
            except subprocess.TimeoutExpired:
                continue


def run_timed(
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    tree_memory: bool = False,
) -> Timed:
    """Wall time from start to exit, and the command's peak RSS from GNU time (``%M``).

    Not from ``wait4`` in this process: Linux carries the parent's high-water RSS into a child
    across fork + exec, so a big parent (this bench) would show up as the child's peak.
    ``/usr/bin/time`` is small, so the command it starts reports its own peak. Without GNU time
    the RSS is None. With ``tree_memory`` the whole process tree is sampled too (``TreeSampler``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = os.path.join(tmp, "rss")
        full = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv] if GNU_TIME else argv
        start = time.monotonic()
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(full, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
            sampler = TreeSampler(proc.pid) if tree_memory else None
            if sampler:
                sampler.watch(proc)
            proc.wait()
            wall = time.monotonic() - start
            out.seek(0)
            output = out.read().decode(errors="replace")
        rss = None
        if GNU_TIME and os.path.exists(rss_file):
            lines = [x for x in open(rss_file).read().split() if x.isdigit()]
            rss = int(lines[-1]) if lines else None
    if sampler is None:
        return Timed(wall, rss, proc.returncode, output)
    return Timed(
        wall,
        rss,
        proc.returncode,
        output,
        sampler.peak_pss or None,
        sampler.peak_rss or None,
        sampler.peak_procs or None,
    )
