"""The TGI stand-in (lab/tgi_standin) as a real subprocess on a free 127.0.0.1 port, and small
HTTP helpers for its checks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.ports import connectable, free_port

REPO = Path(__file__).resolve().parents[2]


JEAN = [
    {"role": "system", "content": "Your name is Jean-baptiste. You are a helpful assistant."},
    {"role": "user", "content": "What is your name?"},
]


class Standin:
    def __init__(self, *args: str, env: dict[str, str] | None = None, wait: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TGI_STANDIN_")}
        full_env.update({"TGI_STANDIN_WARMUP_S": "0", "PYTHONDONTWRITEBYTECODE": "1"})
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab.tgi_standin", "--hostname", "127.0.0.1"]
            + ["--port", str(self.port), *args],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:
            self.wait_ready()

    def connectable(self) -> bool:
        return connectable(self.port)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"stand-in exited {self.proc.returncode}: {out}\n{err}")
            if self.connectable():
                return
            time.sleep(0.02)
        raise AssertionError("stand-in never bound its port")

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)
        return out, err


def run_launcher(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TGI_STANDIN_")}
    full_env.update({"TGI_STANDIN_WARMUP_S": "0"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lab.tgi_standin", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=20,
    )


def post(url: str, path: str, body, **kw) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=30, **kw)


def metric_values(url: str) -> dict[str, float]:
    """Samples by name (counters by family name: TGI exposes them without `_total`)."""
    text = httpx.get(url + "/metrics").text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = family.name if family.type == "counter" else sample.name
            key = name + "".join(f"|{k}={v}" for k, v in sorted(sample.labels.items()))
            out[key] = sample.value
    return out
