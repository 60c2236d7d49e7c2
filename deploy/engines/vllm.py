"""vLLM: `vllm serve` (the entrypoint of `vllm/vllm-openai`), flags from the 0.33.0 parser.

Docker usage (vLLM's docs, reference/vllm/README.md): `docker run --gpus all -v
~/.cache/huggingface:/root/.cache/huggingface --env HF_TOKEN -p 8000:8000 --ipc=host
vllm/vllm-openai:v0.33.0 MODEL ...`. The model is the first positional argument of `vllm serve`
(`--model` is its flag form); the API key is read from `VLLM_API_KEY` (the flag wins, and is
never used here: it would put the key in argv). No listener until the engine is up; `/health`
then answers 200.

CUDA: vLLM's docker/Dockerfile builds on `ARG CUDA_VERSION=13.0.x` with the final stage `FROM
nvidia/cuda:${CUDA_VERSION}-base` (NVIDIA_REQUIRE_CUDA `cuda>=13.0`) and PyTorch from the cu130
index; CUDA 13 is the default of the wheels and images since v0.20 (vllm-project/vllm#42738), and
each release is also published as a CUDA 12.9 build, `vllm/vllm-openai:<version>-cu129`
(CUDA_VERSION=12.9.1), for older drivers.

Stop (vllm 0.33.0 wheel: entrypoints/cli/serve.py, v1/engine/core.py `_handle_shutdown`; PR
vllm-project/vllm#36666): on SIGTERM `vllm serve` rejects new requests; with `--shutdown-timeout
0` (the default) it aborts the requests in flight, with `--shutdown-timeout N` it waits up to N s
for them. No env var sets it. Then the engine and worker processes exit, each given
VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS (default 5).
"""

from __future__ import annotations

import json

from tgi_infra.engines.spec import (
    REFERENCE,
    EngineSpec,
    Setting,
    Shutdown,
    cuda_12_9_build,
    cuda_13_0_build,
    flags_from_argparse_dump,
)

IMAGE = "vllm/vllm-openai:v0.33.0"
CUDA_BUILDS = (
    cuda_13_0_build(
        IMAGE, "docker/Dockerfile: ARG CUDA_VERSION=13.0.x, FROM nvidia/cuda:${CUDA_VERSION}-base"
    ),
    cuda_12_9_build(IMAGE),
)
SHUTDOWN = Shutdown(
    drain_flag="--shutdown-timeout",
    drain_env=None,
    drain_default_s=0,
    teardown_env="VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS",
    teardown_default_s=5,
    note="New requests are refused; with `--shutdown-timeout 0` the requests in flight are "
    "aborted, with N they get up to N s.",
)
CONTAINER_PORT = 8000
CACHE_MOUNT = "/root/.cache/huggingface"

OWNED = {
    "--model": "model_id (rendered as the positional MODEL of `vllm serve`)",
    "--revision": "revision",
    "--tensor-parallel-size": "num_shard",
    "-tp": "num_shard",
    "--quantization": "quantize",
    "-q": "quantize",
    "--dtype": "dtype",
    "--max-model-len": "max_total_tokens",
    "--max-num-batched-tokens": "max_batch_prefill_tokens",
    "--max-num-seqs": "max_concurrent_requests",
    "--enforce-eager": "cuda_graphs ([0] renders --enforce-eager)",
    "--no-enforce-eager": "cuda_graphs",
    "--cudagraph-capture-sizes": "cuda_graphs",
    "--port": "port (the container listens on 8000; set the host port with `port`)",
    "--host": "bind (the container listens on all addresses; set the host address with `bind`)",
    "--api-key": "api_key_env (the key reaches the container as VLLM_API_KEY in service.env, "
    "never argv)",
    "--download-dir": "volume (mounted at /root/.cache/huggingface, the HF cache)",
    "--served-model-name": "model_id (readiness and the smoke suite ask for the model by it)",
}
FORBIDDEN = {
    "--help": "it prints help and exits instead of serving",
    "-h": "it prints help and exits instead of serving",
    "--config": "it reads a YAML file that the deploy does not ship",
    "--headless": "a headless (multi-node data parallel) engine serves no HTTP",
    "--ssl-keyfile": "TLS is not configured by this deploy (keys would be outside service.env)",
    "--ssl-certfile": "TLS is not configured by this deploy",
}


def spec() -> EngineSpec:
    quant = tuple(json.loads((REFERENCE / "vllm" / "quantization-methods.json").read_text()))
    flags = flags_from_argparse_dump("vllm/serve-args.json")
    return EngineSpec(
        name="vllm",
        title="vLLM",
        image=IMAGE,
        command=(),  # the image's entrypoint is `vllm serve`
        program="vllm serve",
        container_port=CONTAINER_PORT,
        cache_mount=CACHE_MOUNT,
        health_path="/health",
        ready_request=(
            "/v1/completions",
            '{"model": {model}, "prompt": "Hello", "max_tokens": 1}',
        ),
        settings={
            "model_id": Setting("MODEL", "first positional argument of `vllm serve`"),
            "revision": Setting("--revision"),
            "num_shard": Setting("--tensor-parallel-size", "default: the GPUs assigned"),
            "sharded": Setting(None, "vLLM shards by tensor parallelism alone: set num_shard"),
            "quantize": Setting("--quantization"),
            "dtype": Setting("--dtype"),
            "max_input_tokens": Setting(
                None, "vLLM has one context limit: set max_total_tokens (--max-model-len)"
            ),
            "max_total_tokens": Setting("--max-model-len"),
            "max_batch_prefill_tokens": Setting(
                "--max-num-batched-tokens", "tokens scheduled per step (chunked prefill budget)"
            ),
            "max_batch_total_tokens": Setting(
                None,
                "vLLM sizes its KV cache from --gpu-memory-utilization: set that in extra_args",
            ),
            "max_concurrent_requests": Setting(
                "--max-num-seqs", "sequences running at once; more requests queue (TGI: 429)"
            ),
            "cuda_graphs": Setting("--cudagraph-capture-sizes", "`[0]` renders `--enforce-eager`"),
            "api_key_env": Setting("VLLM_API_KEY", "env `VLLM_API_KEY` in service.env"),
            "port": Setting("8000", "container port 8000 (vLLM's default)"),
            "bind": Setting("-p BIND:PORT:8000"),
            "shm_size": Setting(
                "--ipc=host", "unset: docker `--ipc=host` (vLLM's docs); set: `--shm-size`"
            ),
        },
        flags=flags,
        owned=OWNED,
        forbidden=FORBIDDEN,
        quantize_values=quant,
        dtype_values=flags["--dtype"].choices or (),
        # service.env also keeps API_KEY: the readiness wait, `tgi-infra local` and the smoke
        # suite read the key from there under that one name
        api_key_env_names=("API_KEY", "VLLM_API_KEY"),
        readiness_note="no listener until the engine is up; /health 200, then a one-token "
        "/v1/completions",
        cuda_builds=CUDA_BUILDS,
        shutdown=SHUTDOWN,
    )
