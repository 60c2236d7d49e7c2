"""TGI (default engine): `text-generation-launcher`, the image's entrypoint.

Docker usage (TGI's README): `docker run --gpus all --shm-size 1g -p 8080:80 -v $volume:/data
ghcr.io/huggingface/text-generation-inference:3.3.7 --model-id $model`.

CUDA (huggingface/text-generation-inference Dockerfile at v3.3.7): the image's runtime stage is
`FROM nvidia/cuda:12.4.0-base-ubuntu22.04` (its NVIDIA_REQUIRE_CUDA: `cuda>=12.4`, or the R470,
R525 or R535 branch for every brand), the kernels are built on `nvidia/cuda:12.4.1-devel`, and
PyTorch comes from the cu128 index (server/pyproject.toml): CUDA 12.x, which R525+ drivers run by
minor version compatibility (TGI's README: "we recommend using NVIDIA drivers with CUDA version
12.2 or higher"). R470 would need forward compatibility (spec.py). TGI publishes one CUDA build
per release: an older driver has no fallback image.

Stop (launcher/src/main.rs at v3.3.7): on SIGTERM the launcher terminates the router first,
which stops accepting and lets the requests in flight finish (axum's graceful shutdown), waiting
up to `--graceful-termination-timeout` (env GRACEFUL_TERMINATION_TIMEOUT, default 90 s) before
SIGKILL; then it terminates the shards, which are idle by then.
"""

from __future__ import annotations

from tgi_infra.engines import tgi_launcher
from tgi_infra.engines.spec import CudaBuild, EngineSpec, Flag, Setting, Shutdown

SHUTDOWN = Shutdown(
    drain_flag="--graceful-termination-timeout",
    drain_env="GRACEFUL_TERMINATION_TIMEOUT",
    drain_default_s=90,
    note="The router stops accepting and finishes the requests in flight, then the shards stop.",
)


def cuda_builds(default_image: str) -> tuple[CudaBuild, ...]:
    return (
        CudaBuild(
            image=default_image,
            cuda="12.4",
            min_driver="550.54.14",  # CUDA 12.4 GA, Linux
            min_driver_windows="551.61",  # CUDA 12.4 GA, Windows (WSL2 reports it)
            compat_branches=(525, 535),
            compat_consumer=True,  # nvidia/cuda 12.4 lists R525/R535 for every brand
            source="Dockerfile at v3.3.7: FROM nvidia/cuda:12.4.0-base-ubuntu22.04",
        ),
    )


def spec() -> EngineSpec:
    # here, not at the top: tgi_infra.config's models read the engine specs
    from tgi_infra.config.grammar import DEFAULT_IMAGE

    flags: dict[str, Flag] = {}
    for f in tgi_launcher.LAUNCHER_FLAGS:
        flag = Flag(
            names=(f.flag,) + ((f.short,) if f.short else ()),
            takes_value=f.takes_value,
            choices=f.possible_values,
            env=f.env,
        )
        flags[f.flag] = flag
    return EngineSpec(
        name="tgi",
        title="TGI",
        image=DEFAULT_IMAGE,
        command=(),
        program="text-generation-launcher",
        container_port=tgi_launcher.CONTAINER_PORT,
        cache_mount="/data",
        health_path="/health",
        ready_request=("/generate", '{"inputs": "Hello", "parameters": {"max_new_tokens": 1}}'),
        settings={
            "model_id": Setting("--model-id"),
            "revision": Setting("--revision"),
            "num_shard": Setting("--num-shard"),
            "sharded": Setting("--sharded"),
            "quantize": Setting("--quantize"),
            "dtype": Setting("--dtype"),
            "max_input_tokens": Setting("--max-input-tokens"),
            "max_total_tokens": Setting("--max-total-tokens"),
            "max_batch_prefill_tokens": Setting("--max-batch-prefill-tokens"),
            "max_batch_total_tokens": Setting("--max-batch-total-tokens"),
            "max_concurrent_requests": Setting("--max-concurrent-requests"),
            "cuda_graphs": Setting("--cuda-graphs", "comma-separated batch sizes; `[0]` disables"),
            "api_key_env": Setting("API_KEY", "env `API_KEY` in service.env"),
            "port": Setting("--port 80", "container port 80"),
            "bind": Setting("-p BIND:PORT:80"),
            "shm_size": Setting("--shm-size", "docker `--shm-size` (default 1g)"),
        },
        flags=flags,
        owned=dict(tgi_launcher.CONFIG_OWNED_FLAGS),
        forbidden=dict(tgi_launcher.FORBIDDEN_FLAGS),
        quantize_values=tgi_launcher.QUANTIZE_VALUES,
        dtype_values=tgi_launcher.DTYPE_VALUES,
        api_key_env_names=("API_KEY",),
        readiness_note="binds its port only after download and warm-up; /health 200, then a "
        "one-token /generate",
        cuda_builds=cuda_builds(DEFAULT_IMAGE),
        shutdown=SHUTDOWN,
    )
