"""`python -m tgi_infra validate|render|variables` as a user runs it (real subprocess, real
pyinfra inventory loader, nothing connects to a host; validate asks the Hub stand-in)."""

from __future__ import annotations

import socket
import stat
import textwrap
from pathlib import Path

import pytest
from tgi_infra.config import inventory_variables_markdown, load_host_config
from tgi_infra.services.render import render_for_deploy

from lab.hub_standin.server import Catalog, serve
from tests.helpers.tgi_infra_cli import REPO, run

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


API_KEY_INVENTORY = """
hosts = [
    ("h1", {"tgi_services": [
        {"name": "tgi-a", "model_id": "org/m", "api_key_env": "MY_API_KEY"},
        {"name": "tgi-off", "model_id": "org/m", "api_key_env": "OTHER_KEY", "present": False,
         "port": 8081},
    ]}),
    ("h2", {"tgi_ready_timeout": 0}),
]
"""


def test_validate_refuses_an_api_key_variable_unset_here_with_the_other_errors(tmp_path):
    # the deploy refuses it (deploy_services); validate says so first, with every other error
    inv = write(tmp_path, "inv.py", API_KEY_INVENTORY)
    proc = run("validate", str(inv), cwd=tmp_path)
    assert proc.returncode == 2
    assert "2 error(s)" in proc.stderr
    assert (
        "host h1: service tgi-a: field api_key_env: value 'MY_API_KEY': the environment "
        "variable MY_API_KEY is not set on this machine (the deploy reads the API key from it); "
        "needed: export MY_API_KEY=<the API key> before validate and deploy, or remove "
        "api_key_env to serve without a key; set in inv.py"
    ) in proc.stderr
    assert "host h2: field tgi_ready_timeout: value 0" in proc.stderr
    assert "OTHER_KEY" not in proc.stderr  # present: false, nothing to serve
    write(tmp_path, "inv.py", API_KEY_INVENTORY.replace('"tgi_ready_timeout": 0', ""))
    proc = run("validate", str(inv), cwd=tmp_path, env={"HF_HUB_OFFLINE": "1", "MY_API_KEY": "k1"})
    assert proc.returncode == 0, proc.stderr
    proc = run("validate", str(inv), cwd=tmp_path, env={"HF_HUB_OFFLINE": "1", "MY_API_KEY": ""})
    assert proc.returncode == 2 and "variable MY_API_KEY is not set" in proc.stderr


GOOD_TOKEN = "hf_StandInToken0123456789abcd"
HUB_CATALOG = {
    "models": {
        "org/public": {"files": {"model.safetensors": 5}},
        "org/gated": {"gated": True, "files": {"model.safetensors": 5}},
        "org/private": {"private": True, "files": {"model.safetensors": 5}},
    },
    "tokens": {GOOD_TOKEN: ["org/gated", "org/private"]},
}
HUB_INVENTORY = """
hosts = [
    ("h1", {"tgi_gpus": "none", "tgi_services": [
        {"name": "pub", "model_id": "org/public"},
        {"name": "gat", "model_id": "org/gated", "port": 8081},
        {"name": "pri", "model_id": "org/private", "port": 8082},
        {"name": "local", "model_id": "/data/my-model", "port": 8083},
    ]}),
    ("h2", {"tgi_gpus": "none", "tgi_hub_check": False,
            "tgi_services": [{"name": "air", "model_id": "org/gated"}]}),
]
"""


@pytest.fixture(scope="module")
def hub():
    httpd = serve(Catalog(HUB_CATALOG))
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_validate_warns_for_a_model_the_hub_refuses_without_a_token(tmp_path, hub):
    inv = write(tmp_path, "inv.py", HUB_INVENTORY)
    proc = run("validate", str(inv), cwd=tmp_path, env={"HF_ENDPOINT": hub})
    assert proc.returncode == 0, proc.stderr  # warnings: the host may keep its own token
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: host h1: service gat: field model_id: value 'org/gated': model org/gated is "
        f"gated and no token (HF_TOKEN is not set) may not read it: accept its licence at "
        f"{hub}/org/gated with the token's account, or set HF_TOKEN; the deploy stops here "
        "unless the host already keeps a token in its service.env (validate contacts no host)",
        "warning: host h1: service pri: field model_id: value 'org/private': model org/private "
        f"does not exist on {hub}, or it is private and no token (HF_TOKEN is not set) cannot "
        "read it: check model_id (and the token); the deploy stops here unless the host "
        "already keeps a token in its service.env (validate contacts no host)",
    ]
    # the air-gapped host was not asked, and says so
    assert "note: host h2: Hub not checked for air (tgi_hub_check: false)" in proc.stderr
    assert "ok: 2 host(s), 5 service(s)" in proc.stdout
    env = {"HF_ENDPOINT": hub, "HF_TOKEN": GOOD_TOKEN}
    proc = run("validate", str(inv), cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    assert GOOD_TOKEN not in proc.stdout + proc.stderr


def test_validate_says_when_the_hub_was_not_asked(tmp_path):
    inv = write(tmp_path, "inv.py", HUB_INVENTORY)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    proc = run("validate", str(inv), cwd=tmp_path, env={"HF_ENDPOINT": closed})
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    assert (
        f"note: host h1: service pub: Hub not checked for org/public: cannot reach the Hub at "
        f"{closed} (ConnectionError)"
    ) in proc.stderr
    assert "note: host h1: service gat: Hub not checked for org/gated: cannot reach" in proc.stderr
    proc = run("validate", str(inv), cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert "Hub not checked for org/public: cannot reach the Hub" in proc.stderr
    assert "(OfflineModeIsEnabled)" in proc.stderr
