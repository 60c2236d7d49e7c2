"""Scenario 3: what the smoke harness costs beyond the HTTP work it does.

Endpoints are TGI stand-ins (``python -m lab.tgi_standin``, the lab's stand-in of TGI) run
as local subprocesses with ``TGI_STANDIN_TOKEN_DELAY_S=0`` (zero-delay generation), so the
requests themselves cost as little as they can.

Definitions (per run over K endpoints, all checked concurrently):

- ``smoke``: wall time of the real CLI, ``python -m tgi_infra.smoke --url ... --model-id ...``, from
  process start to exit (interpreter start, imports, checks, report);
- ``raw``: wall time of a minimal loop that sends the very same HTTP requests (method, path,
  body, captured once from a smoke run by hooking httpx's and requests' ``send``), one plain
  ``httpx.Client`` per endpoint, each in its own thread, reading every body in full;
- overhead = smoke - raw; per endpoint = overhead / K.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.timing import run_timed

REPO = Path(__file__).resolve().parent.parent
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
BASE_PORT = 18180


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def standins(k: int):
    """K stand-ins on 127.0.0.1:BASE_PORT.. ; yields their base URLs; stopped on exit."""
    ports = [p for p in range(BASE_PORT, BASE_PORT + 200) if _free(p)][:k]
    env = dict(os.environ, TGI_STANDIN_TOKEN_DELAY_S="0", TGI_STANDIN_WARMUP_S="0")
    env.pop("TGI_STANDIN_FAULT", None)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lab.tgi_standin",
                "--model-id",
                MODEL,
                "--hostname",
                "127.0.0.1",
                "--port",
                str(p),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stand-in {url} not ready")
                time.sleep(0.1)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)


def capture_requests(url: str) -> list[dict]:
    """The HTTP requests one smoke run sends to ``url`` (run in-process with send hooked)."""
    import requests
    from tgi_infra.smoke.cli import main as smoke_main

    seen: list[dict] = []
    orig_httpx, orig_requests = httpx.Client.send, requests.Session.send

    def keep(method: str, full_url: str, body: bytes | None, headers) -> None:
        path = str(full_url)[len(url) :] or "/"
        wanted = {k: v for k, v in headers.items() if k.lower() in ("content-type", "accept")}
        seen.append(
            {"method": method, "path": path, "body": (body or b"").decode(), "headers": wanted}
        )

    def httpx_send(self, request, *args, **kwargs):
        keep(request.method, request.url, request.read(), request.headers)
        return orig_httpx(self, request, *args, **kwargs)

    def requests_send(self, request, **kwargs):
        body = request.body.encode() if isinstance(request.body, str) else request.body
        keep(request.method, request.url, body, request.headers)
        return orig_requests(self, request, **kwargs)

    httpx.Client.send, requests.Session.send = httpx_send, requests_send
    try:  # openai >= 3 (and langchain-openai through it) send with httpx2
        import httpx2
    except ImportError:
        httpx2 = None
    if httpx2 is not None:
        orig_httpx2 = httpx2.Client.send

        def httpx2_send(self, request, *args, **kwargs):
            keep(request.method, request.url, request.read(), request.headers)
            return orig_httpx2(self, request, *args, **kwargs)

        httpx2.Client.send = httpx2_send
    try:
        code = smoke_main(["--url", url, "--model-id", MODEL])
    finally:
        httpx.Client.send, requests.Session.send = orig_httpx, orig_requests
        if httpx2 is not None:
            httpx2.Client.send = orig_httpx2
    if code != 0:
        raise RuntimeError(f"smoke against the stand-in failed (exit {code})")
    return seen


def raw_replay(urls: list[str], reqs: list[dict]) -> float:
    """Wall time of the same requests, a plain httpx loop per endpoint, all at once."""
    errors: list[str] = []

    def one(url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for r in reqs:
                resp = client.request(
                    r["method"], r["path"], content=r["body"] or None, headers=r["headers"]
                )
                resp.read()
                if resp.status_code >= 500:
                    errors.append(f"{r['method']} {r['path']}: {resp.status_code}")

    start = time.monotonic()
    threads = [threading.Thread(target=one, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    if errors:
        raise RuntimeError(f"raw replay: {errors[:3]}")
    return wall


def smoke_cli(urls: list[str]) -> tuple[float, float | None]:
    """(wall of the smoke CLI process, the run's own duration_s from its JSON report)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "smoke.json"
        argv = [sys.executable, "-m", "smoke", "--concurrency", str(max(8, len(urls)))]
        for u in urls:
            argv += ["--url", u]
        argv += ["--model-id", MODEL, "--json", str(report)]
        timed = run_timed(argv, cwd=str(REPO))
        if timed.returncode != 0:
            raise RuntimeError(f"smoke CLI failed ({timed.returncode}):\n{timed.output[-3000:]}")
        inner = json.loads(report.read_text()).get("duration_s")
    return timed.wall_s, inner


def measure(sizes: list[int], reps: int, log) -> dict:
    from bench import import_floor

    floor = import_floor.measure(reps, log)  # before the stand-ins start: a quiet machine
    samples: list[dict] = []
    reqs: list[dict] = []
    for k in sizes:
        with standins(k) as urls:
            if not reqs:
                reqs = capture_requests(urls[0])
            smoke_cli(urls)  # warm-up (page cache, .pyc), not kept
            for rep in range(1, reps + 1):
                wall, inner = smoke_cli(urls)
                raw = raw_replay(urls, reqs)
                samples.append(
                    {
                        "endpoints": k,
                        "rep": rep,
                        "smoke_s": round(wall, 3),
                        "smoke_inner_s": None if inner is None else round(inner, 3),
                        "raw_s": round(raw, 3),
                    }
                )
                log(samples[-1])
    return {
        "requests_per_endpoint": len(reqs),
        "requests": [f"{r['method']} {r['path']}" for r in reqs],
        "samples": samples,
        "import_floor": floor,
    }
