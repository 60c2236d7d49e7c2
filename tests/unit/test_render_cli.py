"""`python -m tgi_infra validate|render|variables` as a user runs it (real subprocess, real
pyinfra inventory loader, nothing connects)."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from tgi_infra.config import inventory_variables_markdown, load_host_config
from tgi_infra.render import render_for_deploy

REPO = Path(__file__).resolve().parents[2]

GOOD_INVENTORY = """
gpu_servers = [
    ("gpu-a.example.com", {
        "ssh_user": "ubuntu",
        "tgi_services": [
            {"name": "tgi-one", "model_id": "org/model-one", "gpus": [0]},
            {"name": "tgi-two", "model_id": "org/model-two", "gpus": [1], "port": 8081},
        ],
    }),
]
cpu_boxes = [("cpu-b.example.com", {"tgi_gpus": "none", "tgi_services": [{"model_id": "gpt2"}]})]
"""

BAD_INVENTORY = """
gpu_servers = [
    ("gpu-bad-1", {"tgi_services": [{"name": "tgi-x", "model_id": "org/m", "quantize": "int4"}]}),
    ("gpu-bad-2", {"tgi_docker_source": "snap"}),
    ("gpu-fine", {"tgi_services": [{"model_id": "org/m"}]}),
]
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgi_infra", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_render_writes_every_host_and_service(tmp_path):
    inv = write(tmp_path, "inv.py", GOOD_INVENTORY)
    out = tmp_path / "out"
    proc = run("render", str(inv), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert "gpu-a.example.com/tgi-one/tgi-service-creation.sh" in files
    assert "gpu-a.example.com/tgi-two/tgi-tgi-two.service" in files
    assert "cpu-b.example.com/tgi-service/tgi-service.sh" in files
    assert len(files) == 3 * 6
    assert not any(f.endswith("/service.env") for f in files)
    script = out / "gpu-a.example.com/tgi-one/tgi-service-creation.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    # same bytes as the library renders
    host = load_host_config(
        "gpu-a.example.com",
        {
            "tgi_services": [
                {"name": "tgi-one", "model_id": "org/model-one", "gpus": [0]},
                {"name": "tgi-two", "model_id": "org/model-two", "gpus": [1], "port": 8081},
            ]
        },
    )
    # what the deploy renders (same function), for this environment (no secrets set)
    expected = render_for_deploy(
        "gpu-a.example.com", host, host.tgi_services[0], "systemd", None, {}
    )
    assert script.read_text() == expected.files["tgi-service-creation.sh"][0]
    assert (
        f"gpu-a.example.com/tgi-one: supervisor systemd, config-hash {expected.config_hash}"
        in proc.stdout
    )


def test_render_docker_supervisor_and_limit(tmp_path):
    inv = write(tmp_path, "inv.py", GOOD_INVENTORY)
    out = tmp_path / "out"
    proc = run(
        "render",
        str(inv),
        "--out",
        str(out),
        "--supervisor",
        "docker",
        "--limit",
        "cpu-b.example.com",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in out.iterdir()] == ["cpu-b.example.com"]
    creation = out / "cpu-b.example.com/tgi-service/tgi-service-creation.sh"
    assert "--restart unless-stopped" in creation.read_text()
    assert not list(out.rglob("*.service"))


def test_invalid_inventory_exits_2_naming_every_bad_host_and_writes_nothing(tmp_path):
    inv = write(tmp_path, "inv.py", BAD_INVENTORY)
    out = tmp_path / "out"
    proc = run("render", str(inv), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    assert "host gpu-bad-1: service tgi-x: field quantize: value 'int4'" in proc.stderr
    assert "host gpu-bad-2: field tgi_docker_source: value 'snap'" in proc.stderr
    assert "gpu-fine" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    proc = run("validate", str(inv), cwd=tmp_path)
    assert proc.returncode == 2 and "2 error(s)" in proc.stderr


def test_group_data_is_applied_through_pyinfras_loader(tmp_path):
    inv = write(tmp_path, "inv.py", 'hosts = [("h1", {"tgi_services": [{"model_id": "org/m"}]})]\n')
    (tmp_path / "group_data").mkdir()
    group_data = 'tgi_root = "/srv/from-group-data"\ntgi_ready_timeout = -1\n'
    write(tmp_path, "group_data/all.py", group_data)
    proc = run("validate", str(inv), cwd=tmp_path)
    assert proc.returncode == 2
    assert "host h1: field tgi_ready_timeout: value -1" in proc.stderr
    write(tmp_path, "group_data/all.py", 'tgi_root = "/srv/from-group-data"\n')
    out = tmp_path / "out"
    assert run("render", str(inv), "--out", str(out), cwd=tmp_path).returncode == 0
    creation = (out / "h1/tgi-service/tgi-service-creation.sh").read_text()
    assert "--env-file /srv/from-group-data/tgi-service/service.env" in creation


def test_shipped_gpu_inventory_validates_and_renders(tmp_path):
    proc = run("validate", "inventories/gpu.py", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "ok: 1 host(s)" in proc.stdout
    proc = run("render", "inventories/gpu.py", "--out", str(tmp_path), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gpu-1.example.com/tgi-llama/tgi-service-creation.sh").is_file()


def test_missing_inventory_and_variables(tmp_path):
    proc = run("validate", str(tmp_path / "nope.py"), cwd=tmp_path)
    assert proc.returncode == 2 and "inventory file not found" in proc.stderr
    proc = run("variables", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == inventory_variables_markdown()


def test_inventory_that_raises_is_reported_without_traceback(tmp_path):
    inv = write(
        tmp_path, "inv.py", 'import json\n_state = json.loads(open("/nonexistent").read())\n'
    )
    proc = run("validate", str(inv), cwd=tmp_path)
    assert proc.returncode == 2
    assert "cannot load inventory" in proc.stderr and "FileNotFoundError" in proc.stderr
    assert "Traceback" not in proc.stderr
