"""The smoke suite's raw ``/generate`` check sends the seed notebook's request with ``requests``
(``requests.post(f"{url}/generate", json=..., headers=...)``), seen from a real HTTP server that
records what arrives and answers with a response recorded from a real TGI server
(tests/data/reference/tgi/snapshots, TGI's integration tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from tgi_infra.smoke.checks import GENERATE_PARAMETERS, PROMPT
from tgi_infra.smoke.context import Settings, TargetContext
from tgi_infra.smoke.runner import PASSED, run_check
from tgi_infra.smoke.targets import Target

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = (
    REPO / "tests/data/reference/tgi/snapshots/test_flash_llama__test_flash_llama_simple.json"
)


@pytest.fixture
def recorder():
    seen: list[dict] = []
    answer = SNAPSHOT.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("api_key", [None, "k3y"])
def test_generate_check_sends_the_notebooks_request_with_requests(recorder, api_key) -> None:
    url, seen = recorder
    target = Target(name="t", url=url, api_key=api_key, api_key_env="K" if api_key else None)
    ctx = TargetContext(target=target, base_url=url, settings=Settings(timeout=10))
    try:
        result = run_check("generate", ctx)
    finally:
        ctx.close()
    assert result.status == PASSED, result.message
    assert result.message == "10 tokens, finish_reason=length"
    [request] = seen
    assert request["path"] == "/generate"
    assert request["body"] == {"inputs": PROMPT, "parameters": GENERATE_PARAMETERS}
    assert request["headers"]["user-agent"] == f"python-requests/{requests.__version__}"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"].get("authorization") == (f"Bearer {api_key}" if api_key else None)
