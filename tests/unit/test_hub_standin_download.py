"""lab/standin_common/hub.py: the ``huggingface_hub.snapshot_download`` of the vLLM and SGLang
stand-in images, run the way the deploy's prefetch runs it (deploy/services/swap.py PREFETCH_SCRIPT,
``python3 -c`` with the image's module path), against huggingface_hub's cache contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tgi_infra.services.swap import PREFETCH_INCLUDE, PREFETCH_SCRIPT

from lab.images import engine_image_files


@pytest.fixture(params=["vllm", "sglang"])
def image_root(request, tmp_path) -> Path:
    """The image's /opt/standins, laid out from its build context."""
    files, body = engine_image_files(request.param)
    assert "COPY standins /opt/standins" in body
    for name, data in files.items():
        if name.startswith("standins/"):
            path = tmp_path / "img" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return tmp_path / "img" / "standins"


def prefetch(root: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    return subprocess.run(
        [sys.executable, "-c", PREFETCH_SCRIPT, *args],
        cwd=home,
        env={**clean, "PYTHONPATH": str(root), "HF_HOME": str(home / "hf"),
             "HUB_STANDIN_DOWNLOAD_S": "0", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_prefetch_fills_the_hf_cache_and_prints_the_snapshot(image_root, tmp_path):
    done = prefetch(image_root, tmp_path, "org/model", "", *PREFETCH_INCLUDE)
    assert done.returncode == 0, done.stderr
    repo = tmp_path / "hf" / "hub" / "models--org--model"
    sha = (repo / "refs" / "main").read_text()
    snap = repo / "snapshots" / sha
    assert done.stdout.strip() == f"weights of org/model in {snap}"
    assert (snap / "model.safetensors").is_file() and (snap / "config.json").is_file()
    assert not list(snap.glob(".*incomplete"))
    # a second call finds the snapshot cached, offline too (no download needed)
    again = prefetch(image_root, tmp_path, "org/model", "", *PREFETCH_INCLUDE, HF_HUB_OFFLINE="1")
    assert again.returncode == 0 and again.stdout == done.stdout


def test_revision_and_allow_patterns_and_offline(image_root, tmp_path):
    done = prefetch(image_root, tmp_path, "org/model", "v2", "*.json")
    assert done.returncode == 0, done.stderr
    repo = tmp_path / "hf" / "hub" / "models--org--model"
    snap = repo / "snapshots" / (repo / "refs" / "v2").read_text()
    assert sorted(p.name for p in snap.iterdir()) == ["config.json"]
    off = prefetch(image_root, tmp_path, "org/other", "", "*.json", HF_HUB_OFFLINE="1")
    assert off.returncode == 1 and "LocalEntryNotFoundError" in off.stderr
    assert not (tmp_path / "hf" / "hub" / "models--org--other").exists()
