"""The vLLM and SGLang stand-in images (lab/images.py ``ensure_engine_image``): built from the
stand-ins' base (the lab's base image without docs, man pages and translations), with the real
images' entry points (``vllm serve`` as ENTRYPOINT; ``python3 -m sglang.launch_server``).
Building is a COPY on that base (seconds); the base image itself is built by the
``lab_base_image`` fixture when missing (minutes)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from lab import images
from tests.helpers.engine_standins import MODEL, free_port

pytestmark = pytest.mark.usefixtures("lab_base_image")


def docker(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=120
    )


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    # xdist workers build them once: the builders take a machine-wide lock (lab/images.py)
    return {engine: images.ensure_engine_image(engine) for engine in images.ENGINE_IMAGES}


def test_standin_base_is_the_base_without_docs_in_one_layer(built):
    """Every lab host pulls the stand-ins' base and every lab's registry receives it: what it
    drops is gone (a deletion in a layer of its own would leave it in the image), python3 and
    the rest of the base stay."""
    base = docker("image", "inspect", images.ensure_base(), check=True)
    slim = docker("image", "inspect", images.STANDIN_BASE, check=True)
    (base_info,), (slim_info,) = json.loads(base.stdout), json.loads(slim.stdout)
    assert len(slim_info["RootFS"]["Layers"]) == 1
    sizes = (slim_info["Size"], base_info["Size"])
    assert sizes[0] < sizes[1] - 50_000_000, sizes
    for image in (images.STANDIN_BASE, built["vllm"]):
        left = docker(
            "run", "--rm", "--entrypoint", "sh", image, "-c",
            f"ls -d {' '.join(images.STANDIN_BASE_DROPS)} 2>/dev/null; python3 -c 'print(1)'",
        )  # fmt: skip
        assert (left.returncode, left.stdout) == (0, "1\n"), left.stdout + left.stderr


def test_upstream_names_and_tags():
    assert images.ENGINE_IMAGES["vllm"][:2] == ("vllm/vllm-openai", "v0.33.0")
    assert images.ENGINE_IMAGES["sglang"][:2] == ("lmsysorg/sglang", "v0.5.23")


def test_entry_points_refuse_unknown_flags_like_the_real_images(built):
    done = docker("run", "--rm", built["vllm"], MODEL, "--num-shard", "2")
    assert done.returncode == 2 and "unrecognized arguments: --num-shard 2" in done.stderr
    done = docker(
        "run",
        "--rm",
        built["sglang"],
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        MODEL,
        "--num-shard",
        "2",
    )
    assert done.returncode == 2 and "unrecognized arguments: --num-shard 2" in done.stderr
    done = docker("run", "--rm", "--entrypoint", "sh", built["vllm"], "-c", "command -v vllm")
    assert done.stdout.strip() == "/usr/local/bin/vllm"


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_container_serves_on_its_default_port(engine, built):
    name = f"engine-standin-{engine}-{uuid.uuid4().hex[:6]}"
    port = free_port()
    inner = 8000 if engine == "vllm" else 30000
    if engine == "vllm":
        argv = [built["vllm"], MODEL]
    else:  # SGLang binds 127.0.0.1 unless told: a container needs --host 0.0.0.0
        argv = [
            built["sglang"],
            "python3",
            "-m",
            "sglang.launch_server",
            "--model-path",
            MODEL,
            "--host",
            "0.0.0.0",
        ]
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{inner}", *argv, check=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, docker("logs", name).stdout
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        assert [m["id"] for m in models["data"]] == [MODEL]
    finally:
        docker("rm", "-f", name)
