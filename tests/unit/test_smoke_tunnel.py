"""SSH tunnel to a loopback-bound service, for real: a lab host container (the lab's base
image: Debian + sshd) runs the TGI stand-in on 127.0.0.1:8080 inside it, and the smoke suite
reaches it only through ``ssh -N -L`` with the inventory's pyinfra SSH settings.

Skipped when Docker or the lab base image (built by ``tgi-lab``) is not available.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tgi_infra.smoke import cli

REPO = Path(__file__).resolve().parents[2]
IMAGE = "tgi-lab/base:bookworm"
MODEL = "org/tunnelled-model"


needs_lab_image = pytest.mark.usefixtures("lab_base_image")

START = (
    "mkdir -p /root/.ssh /run/sshd && cp /key.pub /root/.ssh/authorized_keys "
    "&& chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys && ssh-keygen -A >/dev/null "
    "&& cd /src && (TGI_STANDIN_WARMUP_S=0.1 python3 -m lab.tgi_standin "
    f"--model-id {MODEL} --hostname 127.0.0.1 --port 8080 >/tmp/standin.log 2>&1 &) "
    "&& exec /usr/sbin/sshd -D -e"
)


@pytest.fixture
def lab_host(tmp_path: Path):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cid = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", "127.0.0.1::22"]
        + ["-v", f"{key}.pub:/key.pub:ro", "-v", f"{REPO}:/src:ro"]
        + ["--entrypoint", "sh", IMAGE, "-c", START],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        port = int(
            subprocess.run(["docker", "port", cid, "22"], capture_output=True, text=True)
            .stdout.split(":")[-1]
            .strip()
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for the SSH banner
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            time.sleep(0.1)
        yield {
            "cid": cid,
            "port": port,
            "key": str(key),
            "known_hosts": str(tmp_path / "known_hosts"),
        }
    finally:
        logs = subprocess.run(["docker", "logs", cid], capture_output=True, text=True)
        print(f"--- lab host logs ---\n{logs.stdout}{logs.stderr}")
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


@needs_lab_image
def test_loopback_service_is_checked_through_an_ssh_tunnel(lab_host, tmp_path, capsys) -> None:
    inventory = tmp_path / "inv.py"
    host_data = {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": lab_host["port"],
        "ssh_user": "root",
        "ssh_key": lab_host["key"],
        "ssh_known_hosts_file": lab_host["known_hosts"],
        "tgi_gpus": "none",
        "tgi_services": [{"name": "tgi", "model_id": MODEL, "port": 8080, "bind": "127.0.0.1"}],
    }
    inventory.write_text(f"hosts = [('lab-host', {host_data!r})]\n")
    report_path = tmp_path / "r.json"
    code = cli.main(["--inventory", str(inventory), "--json", str(report_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    (target,) = json.loads(report_path.read_text())["targets"]
    assert target["via"] == "ssh-tunnel"
    assert target["url"].startswith("http://127.0.0.1:") and not target["url"].endswith(":8080")
    assert all(c["status"] in ("passed", "skipped") for c in target["checks"])
    # the service is not reachable without the tunnel: only sshd is published
    assert (
        "8080/tcp"
        not in subprocess.run(
            ["docker", "ps", "--format", "{{.Ports}}"], capture_output=True, text=True
        ).stdout
    )


@pytest.mark.skipif(not shutil.which("ssh"), reason="no ssh client")
def test_tunnel_failure_fails_ready(tmp_path, capsys) -> None:
    inventory = tmp_path / "inv.py"
    host_data = {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": 1,  # nothing listens: ssh exits at once
        "ssh_user": "root",
        "ssh_key": str(tmp_path / "no-such-key"),
        "tgi_gpus": "none",
        "tgi_services": [{"name": "tgi", "model_id": MODEL, "port": 8080}],
    }
    inventory.write_text(f"hosts = [('lab-host', {host_data!r})]\n")
    report_path = tmp_path / "r.json"
    assert cli.main(["--inventory", str(inventory), "--json", str(report_path)]) == 1
    (target,) = json.loads(report_path.read_text())["targets"]
    ready = target["checks"][0]
    assert ready["name"] == "ready" and ready["status"] == "failed"
    assert "ssh tunnel to 127.0.0.1" in ready["message"]
    assert "sent: ssh -N -L" in ready["message"] and "expected: " in ready["message"]
