"""A dead host is one line naming the host and the cause, no paramiko traceback.

Real sockets on this machine: a port with nothing listening, and a port whose listener accepts
and closes at once (an sshd that dies during the handshake: paramiko's transport logs
"Exception (client): Error reading SSH protocol banner" and its traceback)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest


@pytest.fixture
def dead_ports():
    closing = socket.socket()
    closing.bind(("127.0.0.1", 0))
    closing.listen()
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
    stop = threading.Event()

    def accept_and_close():
        closing.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = closing.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    yield closing.getsockname()[1], unused.getsockname()[1]
    stop.set()
    thread.join()
    closing.close()
    unused.close()


def _inventory(tmp_path: Path, closing: int, refused: int) -> Path:
    inv = tmp_path / "dead.py"
    common = '"ssh_user": "root", "ssh_connect_retries": 0'
    inv.write_text(
        "hosts = [\n"
        f'  ("sshd-dies", {{"ssh_hostname": "127.0.0.1", "ssh_port": {closing}, {common}}}),\n'
        f'  ("nothing-there", {{"ssh_hostname": "127.0.0.1", "ssh_port": {refused}, {common}}}),\n'
        "]\n"
    )
    return inv


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_plain_pyinfra_prints_paramikos_traceback(dead_ports, tmp_path):
    """What the wrapper is for (README: "Dead hosts")."""
    inv = _inventory(tmp_path, *dead_ports)
    proc = _run([sys.executable, "-m", "pyinfra", "-y", str(inv), "exec", "true"], tmp_path)
    assert "Traceback" in proc.stdout + proc.stderr


def test_deploy_wrapper_names_each_dead_host_in_one_line(dead_ports, tmp_path):
    inv = _inventory(tmp_path, *dead_ports)
    proc = _run([sys.executable, "-m", "tgi_infra", "deploy", str(inv), "-y"], tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out and "paramiko" not in out, out
    dies = [line for line in out.splitlines() if "sshd-dies" in line]
    there = [line for line in out.splitlines() if "nothing-there" in line]
    assert len(dies) == 1 and "SSH error (Error reading SSH protocol banner" in dies[0], out
    assert len(there) == 1 and "Could not connect" in there[0], out


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def not_ssh_port():
    """A port that answers with a non-SSH banner (an HTTP server where sshd was expected)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def answer_http():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer_http, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def _edited_gpu_inventory(tmp_path: Path, port: int) -> Path:
    """inventories/gpu.py as a user edits it: its own preamble, the example hosts replaced."""
    inv = tmp_path / "gpu.py"
    text = (REPO / "inventories/gpu.py").read_text()
    inv.write_text(
        text.replace("gpu_servers = [", "_example_servers = [", 1) + "\ngpu_servers = [\n"
        f'  ("not-ssh", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}, '
        '"ssh_user": "root", "ssh_connect_retries": 0, "tgi_gpus": "none", '
        '"tgi_services": [{"name": "tgi-a", "model_id": "org/m"}]}),\n'
        "]\n"
    )
    return inv


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_plain_pyinfra_with_the_shipped_inventory_names_a_dead_host_in_one_line(
    not_ssh_port, tmp_path, debug
):
    """The README's documented entry, `pyinfra inventories/gpu.py deploy/main.py`: the
    inventory quiets paramiko's transport logger (pyinfra connects before it loads main.py);
    --debug keeps paramiko's logging."""
    inv = _edited_gpu_inventory(tmp_path, not_ssh_port)
    cmd = [sys.executable, "-m", "pyinfra", "-y", *(["--debug"] if debug else [])]
    proc = _run([*cmd, str(inv), str(REPO / "deploy/main.py")], tmp_path)
    out = proc.stdout + proc.stderr
    lines = [line for line in out.splitlines() if "[not-ssh]" in line]
    assert len(lines) == 1 and "SSH error (Error reading SSH protocol banner" in lines[0], out
    if debug:
        assert "Traceback" in out, out
    else:
        assert "Traceback" not in out and "paramiko" not in out, out
