"""What `text-generation-launcher` (TGI 3.3.x) accepts, as Python data.

Source: huggingface/text-generation-inference docs/source/reference/launcher.md and
launcher/src/main.rs at commit db931fc (v3.3.7 era).  tests/unit/test_config_launcher.py
compares this table with the reference copy of launcher-args.json so drift fails a test;
the project never reads that file at runtime.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LauncherFlag:
    flag: str
    short: str | None
    value: str | None  # metavar; None for switches that take no value
    env: str | None
    default: str | None
    possible_values: tuple[str, ...] | None

    @property
    def takes_value(self) -> bool:
        return self.value is not None


LAUNCHER_FLAGS: tuple[LauncherFlag, ...] = (
    LauncherFlag("--model-id", None, "MODEL_ID", "MODEL_ID", "bigscience/bloom-560m", None),
    LauncherFlag("--revision", None, "REVISION", "REVISION", None, None),
    LauncherFlag(
        "--validation-workers", None, "VALIDATION_WORKERS", "VALIDATION_WORKERS", "2", None
    ),
    LauncherFlag("--sharded", None, "SHARDED", "SHARDED", None, ("true", "false")),
    LauncherFlag("--num-shard", None, "NUM_SHARD", "NUM_SHARD", None, None),
    LauncherFlag(
        "--quantize",
        None,
        "QUANTIZE",
        "QUANTIZE",
        None,
        (
            "awq",
            "compressed-tensors",
            "eetq",
            "exl2",
            "gptq",
            "marlin",
            "bitsandbytes",
            "bitsandbytes-nf4",
            "bitsandbytes-fp4",
            "fp8",
        ),
    ),
    LauncherFlag("--speculate", None, "SPECULATE", "SPECULATE", None, None),
    LauncherFlag("--dtype", None, "DTYPE", "DTYPE", None, ("float16", "bfloat16")),
    LauncherFlag(
        "--kv-cache-dtype",
        None,
        "KV_CACHE_DTYPE",
        "KV_CACHE_DTYPE",
        None,
        ("fp8_e4m3fn", "fp8_e5m2"),
    ),
    LauncherFlag("--trust-remote-code", None, None, "TRUST_REMOTE_CODE", None, None),
    LauncherFlag(
        "--max-concurrent-requests",
        None,
        "MAX_CONCURRENT_REQUESTS",
        "MAX_CONCURRENT_REQUESTS",
        "128",
        None,
    ),
    LauncherFlag("--max-best-of", None, "MAX_BEST_OF", "MAX_BEST_OF", "2", None),
    LauncherFlag(
        "--max-stop-sequences", None, "MAX_STOP_SEQUENCES", "MAX_STOP_SEQUENCES", "4", None
    ),
    LauncherFlag("--max-top-n-tokens", None, "MAX_TOP_N_TOKENS", "MAX_TOP_N_TOKENS", "5", None),
    LauncherFlag("--max-input-tokens", None, "MAX_INPUT_TOKENS", "MAX_INPUT_TOKENS", None, None),
    LauncherFlag("--max-input-length", None, "MAX_INPUT_LENGTH", "MAX_INPUT_LENGTH", None, None),
    LauncherFlag("--max-total-tokens", None, "MAX_TOTAL_TOKENS", "MAX_TOTAL_TOKENS", None, None),
    LauncherFlag(
        "--waiting-served-ratio", None, "WAITING_SERVED_RATIO", "WAITING_SERVED_RATIO", "0.3", None
    ),
    LauncherFlag(
        "--max-batch-prefill-tokens",
        None,
        "MAX_BATCH_PREFILL_TOKENS",
        "MAX_BATCH_PREFILL_TOKENS",
        None,
        None,
    ),
    LauncherFlag(
        "--max-batch-total-tokens",
        None,
        "MAX_BATCH_TOTAL_TOKENS",
        "MAX_BATCH_TOTAL_TOKENS",
        None,
        None,
    ),
    LauncherFlag(
        "--max-waiting-tokens", None, "MAX_WAITING_TOKENS", "MAX_WAITING_TOKENS", "20", None
    ),
    LauncherFlag("--max-batch-size", None, "MAX_BATCH_SIZE", "MAX_BATCH_SIZE", None, None),
    LauncherFlag("--cuda-graphs", None, "CUDA_GRAPHS", "CUDA_GRAPHS", None, None),
    LauncherFlag("--hostname", None, "HOSTNAME", "HOSTNAME", "0.0.0.0", None),
    LauncherFlag("--port", "-p", "PORT", "PORT", "3000", None),
    LauncherFlag("--prometheus-port", "-p", "PROMETHEUS_PORT", "PROMETHEUS_PORT", "9000", None),
    LauncherFlag(
        "--shard-uds-path",
        None,
        "SHARD_UDS_PATH",
        "SHARD_UDS_PATH",
        "/tmp/text-generation-server",
        None,
    ),
    LauncherFlag("--master-addr", None, "MASTER_ADDR", "MASTER_ADDR", "localhost", None),
    LauncherFlag("--master-port", None, "MASTER_PORT", "MASTER_PORT", "29500", None),
    LauncherFlag(
        "--huggingface-hub-cache",
        None,
        "HUGGINGFACE_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        None,
        None,
    ),
    LauncherFlag(
        "--weights-cache-override",
        None,
        "WEIGHTS_CACHE_OVERRIDE",
        "WEIGHTS_CACHE_OVERRIDE",
        None,
        None,
    ),
    LauncherFlag("--disable-custom-kernels", None, None, "DISABLE_CUSTOM_KERNELS", None, None),
    LauncherFlag(
        "--cuda-memory-fraction", None, "CUDA_MEMORY_FRACTION", "CUDA_MEMORY_FRACTION", "1.0", None
    ),
    LauncherFlag(
        "--rope-scaling", None, "ROPE_SCALING", "ROPE_SCALING", None, ("linear", "dynamic")
    ),
    LauncherFlag("--rope-factor", None, "ROPE_FACTOR", "ROPE_FACTOR", None, None),
    LauncherFlag("--json-output", None, None, "JSON_OUTPUT", None, None),
    LauncherFlag("--otlp-endpoint", None, "OTLP_ENDPOINT", "OTLP_ENDPOINT", None, None),
    LauncherFlag(
        "--otlp-service-name",
        None,
        "OTLP_SERVICE_NAME",
        "OTLP_SERVICE_NAME",
        "text-generation-inference.router",
        None,
    ),
    LauncherFlag("--cors-allow-origin", None, "CORS_ALLOW_ORIGIN", "CORS_ALLOW_ORIGIN", None, None),
    LauncherFlag("--api-key", None, "API_KEY", "API_KEY", None, None),
    LauncherFlag("--watermark-gamma", None, "WATERMARK_GAMMA", "WATERMARK_GAMMA", None, None),
    LauncherFlag("--watermark-delta", None, "WATERMARK_DELTA", "WATERMARK_DELTA", None, None),
    LauncherFlag("--ngrok", None, None, "NGROK", None, None),
    LauncherFlag("--ngrok-authtoken", None, "NGROK_AUTHTOKEN", "NGROK_AUTHTOKEN", None, None),
    LauncherFlag("--ngrok-edge", None, "NGROK_EDGE", "NGROK_EDGE", None, None),
    LauncherFlag(
        "--tokenizer-config-path",
        None,
        "TOKENIZER_CONFIG_PATH",
        "TOKENIZER_CONFIG_PATH",
        None,
        None,
    ),
    LauncherFlag("--disable-grammar-support", None, None, "DISABLE_GRAMMAR_SUPPORT", None, None),
    LauncherFlag("--env", "-e", None, None, None, None),
    LauncherFlag(
        "--max-client-batch-size", None, "MAX_CLIENT_BATCH_SIZE", "MAX_CLIENT_BATCH_SIZE", "4", None
    ),
    LauncherFlag("--lora-adapters", None, "LORA_ADAPTERS", "LORA_ADAPTERS", None, None),
    LauncherFlag("--usage-stats", None, "USAGE_STATS", "USAGE_STATS", "on", None),
    LauncherFlag("--payload-limit", None, "PAYLOAD_LIMIT", "PAYLOAD_LIMIT", "2000000", None),
    LauncherFlag("--enable-prefill-logprobs", None, None, "ENABLE_PREFILL_LOGPROBS", None, None),
    LauncherFlag(
        "--graceful-termination-timeout",
        "-g",
        "GRACEFUL_TERMINATION_TIMEOUT",
        "GRACEFUL_TERMINATION_TIMEOUT",
        "90",
        None,
    ),
    LauncherFlag("--help", "-h", None, None, None, None),
    LauncherFlag("--version", "-V", None, None, None, None),
)

FLAGS_BY_NAME: dict[str, LauncherFlag] = {f.flag: f for f in LAUNCHER_FLAGS}
SHORT_FLAGS: frozenset[str] = frozenset(f.short for f in LAUNCHER_FLAGS if f.short)

QUANTIZE_VALUES: tuple[str, ...] = FLAGS_BY_NAME["--quantize"].possible_values or ()
DTYPE_VALUES: tuple[str, ...] = FLAGS_BY_NAME["--dtype"].possible_values or ()

# Flags the config model sets itself (field name -> flag).  `extra_args` may not repeat them.
CONFIG_OWNED_FLAGS: dict[str, str] = {
    "--model-id": "model_id",
    "--revision": "revision",
    "--num-shard": "num_shard",
    "--sharded": "sharded",
    "--quantize": "quantize",
    "--dtype": "dtype",
    "--max-input-tokens": "max_input_tokens",
    "--max-input-length": "max_input_tokens",  # legacy alias, TGI refuses both together
    "--max-total-tokens": "max_total_tokens",
    "--max-batch-prefill-tokens": "max_batch_prefill_tokens",
    "--max-batch-total-tokens": "max_batch_total_tokens",
    "--max-concurrent-requests": "max_concurrent_requests",
    "--cuda-graphs": "cuda_graphs",
    "--port": "port (the container always listens on 80; set the host port with `port`)",
    "--hostname": "bind (the container listens on 0.0.0.0; set the host address with `bind`)",
    "--huggingface-hub-cache": "volume (HF_HOME=/data in the image)",
    "--api-key": "api_key_env (the key reaches the container as API_KEY in service.env)",
}

# Flags that carry secrets (must come through the env file, never argv) or that make the
# launcher print something and exit instead of serving.
FORBIDDEN_FLAGS: dict[str, str] = {
    "--ngrok-authtoken": "it carries a secret; secrets go through service.env, never argv",
    "--ngrok": "ngrok tunnels expose the server publicly; not supported by this deploy",
    "--ngrok-edge": "ngrok tunnels expose the server publicly; not supported by this deploy",
    "--env": "it prints the environment and exits instead of serving",
    "--help": "it prints help and exits instead of serving",
    "--version": "it prints the version and exits instead of serving",
}

# Container-side port: the official image sets PORT=80.
CONTAINER_PORT = 80


def allowed_extra_flags() -> list[str]:
    """Launcher flags that may appear in `extra_args` (sorted)."""
    return sorted(
        f for f in FLAGS_BY_NAME if f not in CONFIG_OWNED_FLAGS and f not in FORBIDDEN_FLAGS
    )
