"""SGLang: `python3 -m sglang.launch_server` in `lmsysorg/sglang`, flags from the 0.5.23 parser.

Docker usage (SGLang's docs, reference/sglang/README.md): `docker run --gpus all --shm-size 32g
-p 30000:30000 -v ~/.cache/huggingface:/root/.cache/huggingface --env HF_TOKEN --ipc=host
lmsysorg/sglang:v0.5.23 python3 -m sglang.launch_server --model-path MODEL --host 0.0.0.0 --port
30000`. `--host` defaults to 127.0.0.1, so `--host 0.0.0.0` is always rendered. SGLang takes its
API key only from `--api-key`: with an API key the container runs a small Python wrapper
(``KEY_WRAPPER``) that reads API_KEY from the environment (service.env) and runs
launch_server in the same process with the key added to its in-memory argv, so the key never
appears in a command line (`ps`, /proc/PID/cmdline, `docker inspect`). `/metrics` needs
`--enable-metrics`, always rendered. `/health` answers 503 while starting.

CUDA graphs: `--disable-cuda-graph` is deprecated in 0.5.23 (server_args.py:
"Use --cuda-graph-backend-{decode,prefill}=disabled instead"); `cuda_graphs: [0]` renders
`--cuda-graph-backend-decode disabled --cuda-graph-backend-prefill disabled`
(``DISABLE_CUDA_GRAPHS``).

CUDA: SGLang's docker/Dockerfile builds on `ARG CUDA_VERSION=13.0.x` over
`nvidia/cuda:${CUDA_VERSION}-cudnn-devel-ubuntu24.04` since sgl-project/sglang#21441 (12.9.1 ->
13.0.2; the v0.5.19 image's config has CUDA_VERSION=13.0.3, NVIDIA_REQUIRE_CUDA `cuda>=13.0`);
SGLang's install docs: CUDA 13 by default, `-cu129` images for CUDA 12 hosts
(`lmsysorg/sglang:v0.5.23-cu129`, CUDA_VERSION=12.9.1).

Stop (sglang 0.5.23 wheel: srt/managers/tokenizer_manager.py `sigterm_watchdog`): on SIGTERM
`/health` answers 503 and the server waits, polling every 5 s, until no request is in flight,
without a bound of its own; then it asks the schedulers to exit (up to 15 s) and kills its
process tree. `SGL_FORCE_SHUTDOWN=true` (env) exits at once. The drain has no setting in 0.5.23,
so the deploy allows it ``UNBOUNDED_DRAIN_S`` (TGI's default) before docker's SIGKILL.
"""

from __future__ import annotations

from tgi_infra.engines.spec import (
    EngineSpec,
    Setting,
    Shutdown,
    cuda_12_9_build,
    cuda_13_0_build,
    flags_from_argparse_dump,
)

IMAGE = "lmsysorg/sglang:v0.5.23"
DISABLE_CUDA_GRAPHS = (
    "--cuda-graph-backend-decode",
    "disabled",
    "--cuda-graph-backend-prefill",
    "disabled",
)
# flags that would override DISABLE_CUDA_GRAPHS (the JSON config wins over the per-phase flags)
CUDA_GRAPH_BACKEND_FLAGS = (
    "--cuda-graph-backend-decode",
    "--cuda-graph-backend-prefill",
    "--cuda-graph-config",
)
UNBOUNDED_DRAIN_S = 90
CUDA_BUILDS = (
    cuda_13_0_build(
        IMAGE,
        "docker/Dockerfile: ARG CUDA_VERSION=13.0.x, "
        "FROM nvidia/cuda:${CUDA_VERSION}-cudnn-devel-ubuntu24.04",
    ),
    cuda_12_9_build(IMAGE),
)
SHUTDOWN = Shutdown(
    drain_flag=None,
    drain_env=None,
    drain_default_s=UNBOUNDED_DRAIN_S,
    unbounded=True,
    force_env="SGL_FORCE_SHUTDOWN",
    note="/health answers 503 and the requests in flight finish.",
)
CONTAINER_PORT = 30000
CACHE_MOUNT = "/root/.cache/huggingface"
MODULE = "sglang.launch_server"

# python3 -c KEY_WRAPPER ARGS...: sys.argv is ['-c', ARGS...]; the key joins the parsed argv
# only in memory (runpy runs the module in this process: no exec, no new command line)
KEY_WRAPPER = (
    "import os, runpy, sys; "
    'key = os.environ.get("API_KEY", ""); '
    f'sys.argv = ["{MODULE}", *sys.argv[1:], *(["--api-key", key] if key else [])]; '
    f'runpy.run_module("{MODULE}", run_name="__main__", alter_sys=True)'
)

OWNED = {
    "--model-path": "model_id",
    "--model": "model_id",
    "--revision": "revision",
    "--tp-size": "num_shard",
    "--tensor-parallel-size": "num_shard",
    "--quantization": "quantize",
    "--dtype": "dtype",
    "--context-length": "max_total_tokens",
    "--max-prefill-tokens": "max_batch_prefill_tokens",
    "--max-total-tokens": "max_batch_total_tokens",
    "--max-running-requests": "max_concurrent_requests",
    "--disable-cuda-graph": "cuda_graphs (deprecated in SGLang 0.5.23; [0] renders "
    "--cuda-graph-backend-decode/prefill disabled)",
    "--host": "bind (the container listens on 0.0.0.0; set the host address with `bind`)",
    "--port": "port (the container listens on 30000; set the host port with `port`)",
    "--api-key": "api_key_env (the key reaches the server from API_KEY in service.env, never argv)",
    "--download-dir": "volume (mounted at /root/.cache/huggingface, the HF cache)",
    "--served-model-name": "model_id (readiness and the smoke suite ask for the model by it)",
}
FORBIDDEN = {
    "--enable-metrics": "always rendered (the smoke suite reads /metrics)",
    "--help": "it prints help and exits instead of serving",
    "-h": "it prints help and exits instead of serving",
    "--config": "it reads a file that the deploy does not ship",
}


def spec() -> EngineSpec:
    flags = flags_from_argparse_dump("sglang/launch-server-args.json")
    return EngineSpec(
        name="sglang",
        title="SGLang",
        image=IMAGE,
        command=("python3", "-m", MODULE),
        program="sglang.launch_server",
        container_port=CONTAINER_PORT,
        cache_mount=CACHE_MOUNT,
        health_path="/health",
        ready_request=(
            "/generate",
            '{"text": "Hello", "sampling_params": {"max_new_tokens": 1}}',
        ),
        settings={
            "model_id": Setting("--model-path"),
            "revision": Setting("--revision"),
            "num_shard": Setting("--tp-size", "default: the GPUs assigned"),
            "sharded": Setting(None, "SGLang shards by tensor parallelism alone: set num_shard"),
            "quantize": Setting("--quantization"),
            "dtype": Setting("--dtype"),
            "max_input_tokens": Setting(
                None, "SGLang has one context limit: set max_total_tokens (--context-length)"
            ),
            "max_total_tokens": Setting("--context-length"),
            "max_batch_prefill_tokens": Setting("--max-prefill-tokens"),
            "max_batch_total_tokens": Setting("--max-total-tokens", "KV cache pool size"),
            "max_concurrent_requests": Setting(
                "--max-running-requests", "requests running at once; more queue (TGI: 429)"
            ),
            "cuda_graphs": Setting(
                " ".join(DISABLE_CUDA_GRAPHS),
                "only `[0]`; batch sizes: extra_args `--cuda-graph-bs-decode`",
            ),
            "api_key_env": Setting(
                "API_KEY", "env `API_KEY` in service.env, passed to --api-key in-process"
            ),
            "port": Setting("--port 30000", "container port 30000, `--host 0.0.0.0`"),
            "bind": Setting("-p BIND:PORT:30000"),
            "shm_size": Setting(
                "--ipc=host", "unset: docker `--ipc=host` (SGLang's docs); set: `--shm-size`"
            ),
        },
        flags=flags,
        owned=OWNED,
        forbidden=FORBIDDEN,
        quantize_values=flags["--quantization"].choices or (),
        dtype_values=flags["--dtype"].choices or (),
        api_key_env_names=("API_KEY",),
        readiness_note="/health 503 while starting, 200 once a test generation passed; then a "
        "one-token native /generate",
        cuda_builds=CUDA_BUILDS,
        shutdown=SHUTDOWN,
    )
