"""Issue 12: the TGI stand-in follows TGI 3.3.7's source, not this project's config rules.

* dtype with bitsandbytes*: server/text_generation_server/cli.py (serve);
* max_batch_prefill_tokens < max_input_tokens: backends/v3/src/main.rs refuses it only
  ``&& !support_chunking`` (models/model.py: ``support_chunking and PREFILL_CHUNKING``, and
  off with speculation);
* GPU count: launcher/src/main.rs ``num_cuda_devices`` (NVIDIA_VISIBLE_DEVICES ``all``/``void``
  counted with ``nvidia-smi --query-gpu=uuid``);
* ``/invocations`` is in ``base_routes``, behind the API key (router/src/server.rs).
"""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from lab.tgi_standin import launcher_args
from tests.unit.test_tgi_standin import JEAN, Standin, post, run_launcher


@pytest.mark.parametrize("quantize", ["bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4"])
def test_dtype_with_bitsandbytes_starts(quantize):
    args = launcher_args.parse(["--dtype", "float16", "--quantize", quantize], {})
    launcher_args.resolve(args, {})  # no ArgumentValidation


def test_dtype_with_awq_is_refused_like_the_shard():
    proc = run_launcher("--dtype", "float16", "--quantize", "awq")
    assert proc.returncode == 1 and "Only 1 can be set between `dtype`" in proc.stderr


def test_prefill_below_input_is_legal_with_chunking():
    argv = ["--max-input-tokens", "3000", "--max-batch-prefill-tokens", "2000"]
    resolved = launcher_args.resolve(launcher_args.parse(argv, {}), {})
    assert resolved.max_batch_prefill_tokens == 2000


@pytest.mark.parametrize(
    ("extra", "env"), [([], {"PREFILL_CHUNKING": "0"}), (["--speculate", "2"], {})]
)
def test_prefill_below_input_is_refused_without_chunking(extra, env):
    proc = run_launcher(
        "--max-input-tokens", "3000", "--max-batch-prefill-tokens", "2000", *extra, env=env
    )
    assert proc.returncode == 1
    assert "`max_batch_prefill_tokens` must be >= `max_input_tokens`" in proc.stderr


def _fake_nvidia_smi(tmp_path, uuids: list[str]) -> str:
    tool = tmp_path / "nvidia-smi"
    body = "".join(f"echo {u}\n" for u in uuids)
    tool.write_text(
        '#!/bin/sh\n[ "$1" = "--query-gpu=uuid" ] && [ "$2" = "--format=csv,noheader" ] || exit 9\n'
        + body
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return f"{tmp_path}:{os.environ.get('PATH', '')}"


@pytest.mark.parametrize("visible", ["all", "void"])
def test_gpu_count_from_nvidia_smi_when_all_or_void(tmp_path, visible):
    path = _fake_nvidia_smi(tmp_path, ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"])
    env = {"NVIDIA_VISIBLE_DEVICES": visible, "PATH": path}
    assert launcher_args.num_cuda_devices(env) == 3
    resolved = launcher_args.resolve(launcher_args.parse([], env), env)
    assert resolved.num_shard == 3


def test_gpu_count_from_the_device_lists():
    assert launcher_args.num_cuda_devices({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert launcher_args.num_cuda_devices({"NVIDIA_VISIBLE_DEVICES": "0,1,2"}) == 3
    # CUDA_VISIBLE_DEVICES wins even when empty (env::var is Ok(""); "".split(',') has 1 part)
    both = {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "0,1"}
    assert launcher_args.num_cuda_devices(both) == 1
    assert launcher_args.num_cuda_devices({"ZE_AFFINITY_MASK": "0,1"}) == 2
    assert launcher_args.num_cuda_devices({"PATH": "/nonexistent"}) is None


def test_invocations_is_behind_the_api_key():
    server = Standin("--api-key", "s3cret")
    try:
        body = {"messages": JEAN}
        assert post(server.url, "/invocations", body).status_code == 401
        ok = post(server.url, "/invocations", body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()
