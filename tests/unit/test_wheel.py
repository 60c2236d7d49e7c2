"""A wheel built from the repository, installed into a NEW
virtualenv (its dependencies resolved by pip, nothing borrowed from the project's venv),
validates and renders a multi-host inventory from an empty folder.

The slowest unit test (about a minute: pip installs pyinfra, pydantic, openai, ... into the
new venv, from pip's configured index and cache). It is the only test that sees the package
as a user does, without the checkout on sys.path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from lab.locks import machine_lock

# a release check (about a minute): scripts/test.sh runs it; -m "not release" leaves it out
pytestmark = pytest.mark.release

REPO = Path(__file__).resolve().parents[2]

FLEET = """
linux = [
    ("lin-1", {"tgi_services": [{"name": "svc-a", "model_id": "org/a", "gpus": [0]}]}),
    ("lin-2", {"tgi_services": [{"name": "svc-b", "model_id": "org/b", "gpus": [0]}]}),
]
wsl = [("wsl-1", {"tgi_gpus": "none", "tgi_services": [{"model_id": "gpt2"}]})]
"""


def sh(*argv: str | Path, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "HF_HUB_OFFLINE": "1"},
    )


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv with the wheel installed (dependencies resolved by pip): made once
    per run, in the folder xdist's workers share, by whichever worker asks first."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "installed-wheel"
    with machine_lock(f"wheel-{shared.name}-{shared.stat().st_ino}"):
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            _build_and_install(root)
            (root / "done").write_text("")
    return root / "venv" / "bin"


def _build_and_install(root: Path) -> None:
    built = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root, REPO, cwd=root)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = root.glob("tgi_infra-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"tgi_infra"}, tops  # no deploy/, smoke/, lab/, tests/, bench/ packages
    assert "tgi_infra/templates/tgi-service-creation.sh.j2" in names
    assert "tgi_infra/reference/tgi/launcher-args.json" in names
    # test-only upstream data (OpenAPI documents, recorded responses) stays out of the wheel
    assert not [n for n in names if n.endswith("openapi.json") or "/snapshots/" in n]
    venv = root / "venv"
    made = sh("python3", "-m", "venv", venv, cwd=root)
    assert made.returncode == 0, made.stderr
    pip = sh(venv / "bin/python", "-m", "pip", "install", "-q", wheel, cwd=root, timeout=600)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]


def test_installed_wheel_validates_and_renders_a_fleet_from_an_empty_folder(installed, tmp_path):
    (tmp_path / "inventory.py").write_text(textwrap.dedent(FLEET))
    proc = sh(installed / "tgi-infra", "validate", "inventory.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ok: 3 host(s), 3 service(s)" in proc.stdout
    proc = sh(
        installed / "tgi-infra", "render", "inventory.py", "--out", "rendered",
        "--limit", "lin-*,wsl", "--no-systemd", "wsl", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "rendered 17 file(s) for 3 host(s)" in proc.stdout
    creation = tmp_path / "rendered/lin-1/svc-a/tgi-service-creation.sh"
    assert "Managed by tgi-infra" in creation.read_text()
    assert (tmp_path / "rendered/lin-1/svc-a/tgi-svc-a.service").is_file()
    # python -m works the same, and an unknown key is refused naming host, key and file
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/linux.py").write_text("tgi_docker_sorce = 'docker-ce'\n")
    proc = sh(installed / "python", "-m", "tgi_infra", "validate", "inventory.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert "host lin-1: variable tgi_docker_sorce (set in group_data/linux.py)" in proc.stderr


def test_installed_wheel_pytest_plugin_and_library(installed, tmp_path):
    proc = sh(installed / "python", "-m", "pytest", "--pyargs", "tgi_infra.smoke", cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # usage error: no target
    assert "the TGI smoke suite needs a target" in proc.stderr
    code = (
        "import sys, tgi_infra; assert 'pyinfra' not in sys.modules; "
        "from tgi_infra import deploy_gpu_host, deploy_services; "
        "print(deploy_gpu_host.__module__, deploy_services.__module__)"
    )
    proc = sh(installed / "python", "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tgi_infra.deploys", "tgi_infra.deploys"]


def test_installed_wheel_exports_the_shipped_inventory_to_kubernetes(installed, tmp_path):
    """`tgi-infra export kubernetes inventories/gpu.py --out k8s/` from the installed wheel."""
    import yaml

    (tmp_path / "gpu.py").write_text((REPO / "inventories/gpu.py").read_text())
    proc = sh(
        installed / "tgi-infra", "export", "kubernetes", "gpu.py", "--out", "k8s/", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "gpu-1.example.com/tgi-llama: 2 GPU(s)" in proc.stdout
    assert "kubectl create secret generic tgi-infra-secrets" in proc.stdout
    base = tmp_path / "k8s"
    assert yaml.safe_load((base / "kustomization.yaml").read_text())["resources"] == [
        "gpu-1.example.com"
    ]
    deployment = yaml.safe_load((base / "gpu-1.example.com/tgi-llama-deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 2}
    assert container["args"][:2] == ["--model-id", "meta-llama/Llama-3.1-8B-Instruct"]
