"""Strict inventory and pyinfra's host selection, as a user runs `tgi-infra` (real subprocess,
pyinfra's own inventory loader with group_data/, nothing connects)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tgi_infra.config import load_host_config
from tgi_infra.services.render import render_for_deploy

REPO = Path(__file__).resolve().parents[2]

FLEET = """
linux = [
    ("lin-1", {"tgi_services": [{"name": "svc-a", "model_id": "org/a", "gpus": [0]}]}),
    ("lin-2", {"tgi_services": [{"name": "svc-b", "model_id": "org/b", "gpus": [0]}]}),
]
wsl = [("wsl-1", {"tgi_gpus": "none", "tgi_services": [{"model_id": "gpt2"}]})]
"""


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgi_infra", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", **(env or {})},  # Hub not asked
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_unknown_key_names_host_key_group_data_file_and_closest(tmp_path):
    inv = write(tmp_path / "inventories/fleet.py", FLEET)
    write(tmp_path / "inventories/group_data/wsl.py", 'tgi_docker_sorce = "docker-ce"\n')
    write(tmp_path / "inventories/group_data/linux.py", "tgi_ready_timout = 60\n")
    proc = run("validate", str(inv), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert (
        "host wsl-1: variable tgi_docker_sorce (set in inventories/group_data/wsl.py): value "
        "'docker-ce' is not allowed: unknown variable (did you mean tgi_docker_source?)"
    ) in proc.stderr
    for name in ("lin-1", "lin-2"):
        assert (
            f"host {name}: variable tgi_ready_timout (set in inventories/group_data/linux.py)"
        ) in proc.stderr
    assert "did you mean tgi_ready_timeout?" in proc.stderr


def test_unknown_key_in_the_inventory_file_names_that_file(tmp_path):
    inv = write(
        tmp_path / "inv.py",
        'hosts = [("h1", {"tgi_servics": [], "docker_source": "distro"})]\n',
    )
    proc = run("validate", str(inv), cwd=tmp_path)
    assert proc.returncode == 2
    assert "host h1: variable tgi_servics (set in inv.py)" in proc.stderr
    assert "did you mean tgi_services?" in proc.stderr
    # the warning (an unprefixed key is not read) is printed together with the error
    assert "warning(s):" in proc.stderr
    assert "host h1: variable docker_source (set in inv.py) is not read" in proc.stderr


def test_limit_by_group_and_glob_demotes_other_hosts_errors(tmp_path):
    inv = write(tmp_path / "fleet.py", FLEET)
    write(tmp_path / "group_data/wsl.py", "tgi_ready_timeout = -1\n")
    assert run("validate", str(inv), cwd=tmp_path).returncode == 2
    for limit in ("linux", "lin-*", "lin-1,lin-2"):
        proc = run("validate", str(inv), "--limit", limit, cwd=tmp_path)
        assert proc.returncode == 0, (limit, proc.stderr)
        assert "ok: 2 host(s), 2 service(s)" in proc.stdout
        assert "warning: host wsl-1: field tgi_ready_timeout" in proc.stderr
        assert "(host not selected, not deployed)" in proc.stderr
    proc = run("validate", str(inv), "--limit", "wsl", cwd=tmp_path)
    assert proc.returncode == 2 and "host wsl-1: field tgi_ready_timeout" in proc.stderr
    proc = run("validate", str(inv), "--limit", "nosuch*", cwd=tmp_path)
    assert proc.returncode == 2 and "no host or group matches 'nosuch*'" in proc.stderr


def test_render_selects_like_pyinfra_and_picks_supervisor_per_host(tmp_path):
    inv = write(tmp_path / "fleet.py", FLEET)
    out = tmp_path / "out"
    proc = run(
        "render", str(inv), "--out", str(out), "--limit", "lin-*,wsl",
        "--systemd", "linux", "--no-systemd", "wsl-1",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["lin-1", "lin-2", "wsl-1"]
    assert (out / "lin-1/svc-a/tgi-svc-a.service").is_file()
    assert not list((out / "wsl-1").rglob("*.service"))
    wsl_create = (out / "wsl-1/tgi-service/tgi-service-creation.sh").read_text()
    assert "--restart unless-stopped" in wsl_create
    assert "lin-1/svc-a: supervisor systemd" in proc.stdout
    assert "wsl-1/tgi-service: supervisor docker" in proc.stdout

    out2 = tmp_path / "out2"
    proc = run("render", str(inv), "--out", str(out2), "--limit", "linux", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out2.iterdir()) == ["lin-1", "lin-2"]


def test_render_prints_the_hash_the_deploy_writes(tmp_path):
    """The deploy labels the container with render_for_deploy(...).config_hash (facts: the
    supervisor, the GPU count; the secrets digest of the control machine's environment)."""
    inv = write(
        tmp_path / "inv.py",
        'hosts = [("h1", {"tgi_services": [{"model_id": "org/m", "api_key_env": "MY_KEY"}]})]\n',
    )
    env = {"HF_TOKEN": "hf_secret_value_123", "MY_KEY": "k-123"}
    proc = run(
        "render", str(inv), "--out", str(tmp_path / "o"), "--no-systemd", "h1",
        "--gpu-count", "h1=4", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = load_host_config("h1", {"tgi_services": [{"model_id": "org/m", "api_key_env": "MY_KEY"}]})
    deployed = render_for_deploy("h1", cfg, cfg.tgi_services[0], "docker", 4, env)
    assert f"h1/tgi-service: supervisor docker, config-hash {deployed.config_hash}" in proc.stdout
    # secrets are out of the config hash (a token change is applied from the env
    # file with one restart, not by a config change); the secret is never shown
    other = render_for_deploy("h1", cfg, cfg.tgi_services[0], "docker", 4, {**env, "MY_KEY": "x"})
    assert other.config_hash == deployed.config_hash
    assert "k-123" not in proc.stdout + proc.stderr
    assert "hf_secret_value_123" not in "".join(
        p.read_text() for p in (tmp_path / "o").rglob("*") if p.is_file()
    )


def test_runs_from_any_folder_without_importing_the_users_deploy_or_smoke(tmp_path):
    boom = 'raise SystemExit("the user\'s own {} was imported")\n'
    for name in ("deploy.py", "smoke.py", "cli.py", "config.py", "render.py"):
        (tmp_path / name).write_text(boom.format(name))
    inv = write(tmp_path / "fleet.py", FLEET)
    for args in (("validate", str(inv)), ("variables",), ("smoke", "--help")):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "was imported" not in proc.stdout + proc.stderr
    console = Path(sys.executable).parent / "tgi-infra"
    proc = subprocess.run(
        [str(console), "render", str(inv), "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rendered 18 file(s) for 3 host(s)" in proc.stdout


def test_loading_an_inventory_leaves_the_caller_unpatched(tmp_path):
    """pyinfra's loader runs in a child process: the caller never imports pyinfra_cli (whose
    import runs gevent's monkey.patch_all) and still gets pyinfra's hosts, groups, merged data
    and each key's file; what the inventory prints goes to stderr, not stdout."""
    inv = write(tmp_path / "inventories/fleet.py", FLEET + 'print("inventory says hi")\n')
    write(tmp_path / "inventories/group_data/linux.py", "tgi_ready_timeout = 60\n")
    code = textwrap.dedent(
        """
        import json, sys
        import gevent.monkey
        from tgi_infra.config.inventory import load
        loaded = load(sys.argv[1])
        print(json.dumps({
            "cli": "pyinfra_cli" in sys.modules,
            "patched": gevent.monkey.is_module_patched("socket"),
            "names": loaded.names,
            "linux": loaded.select(["linux"]),
            "glob": loaded.select(["*-1"]),
            "data": dict(loaded.items())["lin-2"]["tgi_ready_timeout"],
            "source": loaded.sources()["lin-2"]["tgi_ready_timeout"],
            "wsl": loaded.sources()["wsl-1"]["tgi_gpus"],
        }))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(inv)], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "cli": False,
        "patched": False,
        "names": ["lin-1", "lin-2", "wsl-1"],
        "linux": ["lin-1", "lin-2"],
        "glob": ["lin-1", "wsl-1"],
        "data": 60,
        "source": "inventories/group_data/linux.py",
        "wsl": "inventories/fleet.py",
    }
    assert "inventory says hi" in proc.stderr


def test_inventory_errors_are_named_as_before(tmp_path):
    """The child's failures come back as the same InventoryLoadError messages."""
    broken = write(tmp_path / "broken.py", 'hosts = [("h1", {})]\n1 / 0\n')
    proc = run("validate", str(broken), cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        f"cannot load inventory {broken}: ZeroDivisionError in {broken}: division by zero"
    ) in proc.stderr
    empty = write(tmp_path / "empty.py", "hosts = []\n")
    proc = run("validate", str(empty), cwd=tmp_path)
    assert proc.returncode == 2 and f"inventory {empty} has no hosts" in proc.stderr
    proc = run("validate", str(tmp_path / "absent.py"), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"inventory file not found: {tmp_path / 'absent.py'}" in proc.stderr
