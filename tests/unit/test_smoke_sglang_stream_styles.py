"""``sglang_generate_stream`` without a /server_info to say which stream style the server uses
(a gateway that forwards only /generate): the check tells the style from the stream itself.

A real HTTP server replays the /generate stream the SGLang stand-in sent, in each style, and
answers 404 on /server_info."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from tgi_infra.smoke.context import Settings, TargetContext
from tgi_infra.smoke.runner import PASSED, run_check
from tgi_infra.smoke.targets import Target

from tests.helpers.engine_standins import Server


def recorded_stream(*flags: str) -> bytes:
    server = Server("sglang", *flags)
    try:
        body = {"text": "What is deep learning?", "sampling_params": {"max_new_tokens": 16}}
        return httpx.post(server.url + "/generate", json={**body, "stream": True}).content
    finally:
        server.stop()


@pytest.fixture
def gateway() -> Iterator[tuple[str, dict]]:
    replay: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Content-Length", str(len(replay["stream"])))
            self.end_headers()
            self.wfile.write(replay["stream"])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", replay
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("flags", "style"),
    [((), "cumulative text"), (("--incremental-streaming-output",), "incremental text")],
)
def test_stream_style_is_read_from_the_stream_without_server_info(gateway, flags, style):
    url, replay = gateway
    replay["stream"] = recorded_stream(*flags)
    assert httpx.get(url + "/server_info").status_code == 404
    target = Target(name="t", url=url, engine="sglang")
    ctx = TargetContext(target=target, base_url=url, settings=Settings(timeout=10))
    try:
        result = run_check("sglang_generate_stream", ctx)
    finally:
        ctx.close()
    assert result.status == PASSED, result.message
    assert result.message.endswith(f", {style}"), result.message
