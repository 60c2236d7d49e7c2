"""The TGI stand-in (lab/tgi_standin) as the smoke suite's target (a real subprocess on a free
127.0.0.1 port, logging to a file), and tgi-smoke run in-process with its JSON report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tgi_infra.smoke import cli

from tests.helpers.ports import free_port

REPO = Path(__file__).resolve().parents[2]


MODEL = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"


API_KEY_ENV = "TGI_SMOKE_TEST_KEY"


class StandIn:
    """One stand-in server process."""

    def __init__(self, log_dir: Path, faults: str = "", api_key: str | None = None, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"standin-{self.port}.log"
        argv = [
            sys.executable,
            "-m",
            "lab.tgi_standin",
            "--model-id",
            MODEL,
            "--hostname",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if api_key:
            argv += ["--api-key", api_key]
        full_env = {
            **os.environ,
            "TGI_STANDIN_WARMUP_S": "0.1",
            "TGI_STANDIN_FAULT": faults,
            **env,
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"stand-in exited early:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"stand-in not healthy after {timeout}s:\n{self.log()}")

    def wait_listening(self, timeout: float = 20.0) -> None:
        """Until the port accepts connections (for a fault that keeps /health from being 200)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"stand-in exited early:\n{self.log()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"stand-in not listening after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        if self.proc.returncode is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def run_cli(args: list[str], tmp_path: Path, capsys) -> tuple[int, dict, str]:
    """Run tgi-smoke in-process with --json; return (exit code, report, terminal output)."""
    report_path = tmp_path / f"report-{time.monotonic_ns()}.json"
    code = cli.main([*args, "--json", str(report_path)])
    out = capsys.readouterr()
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return code, report, out.out + out.err


def checks_of(report: dict, target: int = 0) -> dict[str, dict]:
    return {c["name"]: c for c in report["targets"][target]["checks"]}
