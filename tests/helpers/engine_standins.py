"""The vLLM and SGLang stand-ins (lab/vllm_standin, lab/sglang_standin) as real subprocesses on a
free 127.0.0.1 port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.ports import connectable, free_port

REPO = Path(__file__).resolve().parents[2]


MODEL = "Qwen/Qwen3-0.6B"


KEY = "s3cret-standin-key"


def command(engine: str, port: int, *extra: str) -> list[str]:
    if engine == "vllm":
        return [
            sys.executable,
            "-m",
            "lab.vllm_standin",
            "serve",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra,
        ]
    return [
        sys.executable,
        "-m",
        "lab.sglang_standin",
        "--model-path",
        MODEL,
        "--port",
        str(port),
        *extra,
    ]


def clean_env(**env: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if "STANDIN" not in k and k != "VLLM_API_KEY"}
    out.update({"VLLM_STANDIN_WARMUP_S": "0", "SGLANG_STANDIN_WARMUP_S": "0"})
    out.update(env)
    return out


class Server:
    def __init__(
        self, engine: str, *extra: str, env: dict[str, str] | None = None, wait: bool = True
    ) -> None:
        self.engine = engine
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command(engine, self.port, *extra),
            cwd=REPO,
            env=clean_env(**(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:
            self.wait_healthy()

    def connectable(self) -> bool:
        return connectable(self.port)

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"stand-in exited {self.proc.returncode}: {out}\n{err}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.03)
        raise AssertionError("stand-in never became healthy")

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=10)
