"""The stand-in nvidia-ctk (lab/nvidia_mirror) rendered into a test's folder and run."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from lab.nvidia_mirror.packages import render_template

VERSION = "1.17.8-1"
LOG_LINE = re.compile(r'^time="[^"]+" level=(info|warning|error) msg=(.*)$')


def install_standin(tmp_path: Path, template: str, name: str, version: str = VERSION) -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(render_template(template, version))
    path.chmod(0o755)
    return path


def run(cmd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cmd), *args], capture_output=True, text=True, timeout=30, check=False, **kwargs
    )


def log_messages(stderr: str) -> list[tuple[str, str]]:
    """Parse logrus' non-terminal lines: [(level, msg), ...]."""
    messages = []
    for line in stderr.splitlines():
        match = LOG_LINE.match(line)
        assert match, f"not a logrus line: {line!r}"
        messages.append((match.group(1), json.loads(match.group(2))))
    return messages


def configure(ctk: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    return run(ctk, "runtime", "configure", "--runtime=docker", f"--config={config}", *extra)
