"""The ready wait reads API_KEY from service.env the way Docker's env-file
does (docker/cli pkg/kvfile: leading whitespace trimmed, ``#`` lines skipped, ``KEY=VALUE``
taken literally - no quotes, no expansion), so a key with ``$``, ``&``, ``(`` or quotes works.

The real command the deploy runs on the host is run here with ``sh`` against a real HTTP server
that records the Authorization header it receives.
"""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tgi_infra.services.ready import WaitTarget, _http_cmd

KEYS = [
    "plain-key-123",
    "a$b&c(d)e",
    "$(id)`id`;x",
    "'single' \"double\" \\back",
    "ends with space ",
    "has=equals=signs",
]


@pytest.fixture
def server():
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("key", KEYS)
def test_api_key_is_read_literally_like_docker_env_file(tmp_path, server, key):
    url, seen = server
    env = tmp_path / "service.env"
    env.write_text(
        "# tgi-infra\n"
        "# Mode 0600, root only. Read by docker --env-file.\n"
        "HF_TOKEN=hf_x$y\n"
        f"  API_KEY={key}\n"
        "OTHER=1\n"
    )
    env.chmod(0o600)
    cmd = _http_cmd(WaitTarget("svc", url, str(env), 10, api_key=True), "/health")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "200", out.stderr
    assert seen == [f"Bearer {key}"]
    assert key not in cmd  # never in argv


def test_without_api_key_no_header_is_sent(tmp_path, server):
    url, seen = server
    cmd = _http_cmd(
        WaitTarget("svc", url, str(tmp_path / "none.env"), 10, api_key=False), "/health"
    )
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "200" and seen == [None]


def test_same_values_as_docker_itself(tmp_path, lab_base_image):
    """The oracle is Docker: ``docker run --env-file`` with the same file."""
    from tgi_infra.services.envfile import parse_env_file, value_command

    env = tmp_path / "service.env"
    env.write_text(
        "\ufeff# comment\n\n   API_KEY=first\nAPI_KEY=k$y&(z) 'q' \"w\" \\n  \nX=1\n#API_KEY=no\n"
    )
    docker = subprocess.run(
        ["docker", "run", "--rm", "--env-file", str(env), lab_base_image, "printenv", "API_KEY"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.removesuffix("\n")
    sed = subprocess.run(
        ["sh", "-c", value_command(str(env), "API_KEY")], capture_output=True, text=True
    ).stdout.removesuffix("\n")
    assert docker == sed == parse_env_file(env.read_text())["API_KEY"] == "k$y&(z) 'q' \"w\" \\n  "
