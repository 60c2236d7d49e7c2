"""The machine the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
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
