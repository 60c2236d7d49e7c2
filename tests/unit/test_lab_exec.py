"""The lab's command runner keeps a command's output however fast the command is.

A Docker Engine answers ``POST /exec/{id}/start`` with ``101 UPGRADED`` and then the
multiplexed output on the same connection. A fast command's output can arrive in the same
read as the response headers (a loaded machine reads late): docker-py's ``exec_run`` then
returns an empty output with exit code 0 (docker/docker-py#2042), which failed lab tests with
JSON that did not parse and a package "not installed". Here a stand-in Engine API on a Unix
socket sends the headers and the output in one write, every time.
"""

from __future__ import annotations

import json
import socketserver
import struct
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from lab import lab

OUTPUT = b"toolkit 1.17.7-1\n"
UPGRADED = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)


class _Engine(BaseHTTPRequestHandler):
    """The Engine API calls of ``docker exec`` (moby's api/swagger.yaml: ContainerInspect,
    ContainerExec, ExecStart, ExecInspect), for one running container and one exec."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return

    def address_string(self) -> str:
        return "unix"

    def _json(self, status: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith("/_ping"):
            self.do_HEAD()
        elif self.path.endswith("/version"):
            self._json(200, {"ApiVersion": "1.41", "Version": "20.10.24"})
        elif "/exec/" in self.path:
            self._json(200, {"ID": "e1", "Running": False, "ExitCode": 0, "Pid": 0})
        elif self.path.endswith("/containers/lab-host/json"):
            self._json(200, {"Id": "lab-host", "Name": "/lab-host", "State": {"Running": True}})
        else:
            self._json(404, {"message": f"no such object: {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/containers/lab-host/exec"):
            self._json(201, {"Id": "e1"})
        elif self.path.endswith("/exec/e1/start"):
            # the headers and the first stdout frame in one write
            self.wfile.write(UPGRADED + struct.pack(">BxxxL", 1, len(OUTPUT)) + OUTPUT)
            self.wfile.flush()
            self.close_connection = True
        else:
            self._json(404, {"message": f"no such object: {self.path}"})


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path, monkeypatch):
    path = tmp_path / "docker.sock"
    server = _Server(str(path), _Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    yield
    server.shutdown()
    server.server_close()


def test_output_that_arrives_with_the_upgrade_response_is_kept(engine):
    assert lab.exec_in("lab-host", "dpkg-query -W nvidia-container-toolkit") == (
        0,
        OUTPUT.decode(),
    )
