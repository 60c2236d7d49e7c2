"""TGI (default engine): `text-generation-launcher`, the image's entrypoint.

Docker usage (TGI's README): `docker run --gpus all --shm-size 1g -p 8080:80 -v $volume:/data
ghcr.io/huggingface/text-generation-inference:3.3.7 --model-id $model`.
"""

from __future__ import annotations

from tgi_infra import launcher
from tgi_infra.engines.spec import EngineSpec, Flag, Setting


def spec() -> EngineSpec:
    # here, not at the top: tgi_infra.config's models read the engine specs
    from tgi_infra.config.grammar import DEFAULT_IMAGE

    flags: dict[str, Flag] = {}
    for f in launcher.LAUNCHER_FLAGS:
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
        container_port=launcher.CONTAINER_PORT,
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
        owned=dict(launcher.CONFIG_OWNED_FLAGS),
        forbidden=dict(launcher.FORBIDDEN_FLAGS),
        quantize_values=launcher.QUANTIZE_VALUES,
        dtype_values=launcher.DTYPE_VALUES,
        api_key_env_names=("API_KEY",),
        readiness_note="binds its port only after download and warm-up; /health 200, then a "
        "one-token /generate",
    )
