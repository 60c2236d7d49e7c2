"""The machine the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib.metadata import version


def _cmd(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError as exc:
        return f"unavailable ({exc})"


def _mem_gib() -> str:
    with open("/proc/meminfo") as f:
        kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return f"{kb / 1024 / 1024:.1f} GiB"


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def describe() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory": _mem_gib(),
        "kernel": platform.release(),
        "docker": _cmd(["docker", "version", "--format", "{{.Server.Version}}"]),
        "python": platform.python_version(),
        "pyinfra": version("pyinfra"),
        "ansible-core": version("ansible-core"),
    }


def cpu_times(stat: str = "/proc/stat") -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (``/proc/stat``'s ``cpu`` line)."""
    with open(stat) as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return total - idle, total


def wait_until_idle(
    busy_below: float = 0.10,
    window_s: float = 1.0,
    max_s: float = 60.0,
    stat: str = "/proc/stat",
    sleep=time.sleep,
) -> float:
    """Wait until the machine's CPUs were busy less than ``busy_below`` over ``window_s`` (the
    previous run's services done starting, caches written back), at most ``max_s``; the
    seconds waited. A deploy timed right after another would measure its tail as well."""
    waited = 0.0
    busy, total = cpu_times(stat)
    while waited < max_s:
        sleep(window_s)
        waited += window_s
        busy2, total2 = cpu_times(stat)
        if total2 > total and (busy2 - busy) / (total2 - total) < busy_below:
            break
        busy, total = busy2, total2
    return round(waited, 1)
