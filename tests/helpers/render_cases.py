"""The host data the render tests render (TGI cases, a mixed-engine fleet), where their golden
files are, and how a creation script's docker command is read back."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from tgi_infra.config import load_host_config
from tgi_infra.services.render import render_host

# TGI_GOLDEN_DIR: another copy of the golden files (test_golden_update_mode_fails uses it)
GOLDEN = Path(
    os.environ.get("TGI_GOLDEN_DIR") or Path(__file__).resolve().parents[1] / "unit" / "golden"
)


# case -> (host data, supervisor)
CASES: dict[str, tuple[dict, str]] = {
    "one-gpu": (
        {
            "tgi_services": [
                {
                    "name": "tgi-service",
                    "model_id": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
                    "gpus": 1,
                }
            ]
        },
        "systemd",
    ),
    "four-gpus-sharded": (
        {
            "tgi_services": [
                {
                    "name": "tgi-llama-70b",
                    "model_id": "meta-llama/Llama-3.1-70B-Instruct",
                    "revision": "main",
                    "gpus": 4,
                    "sharded": True,
                    "shm_size": "64g",
                    "dtype": "bfloat16",
                    "max_input_tokens": 8000,
                    "max_total_tokens": 8192,
                    "max_batch_prefill_tokens": 8192,
                    "max_batch_total_tokens": 65536,
                    "max_concurrent_requests": 64,
                    "bind": "0.0.0.0",
                }
            ]
        },
        "systemd",
    ),
    "two-services": (
        {
            "tgi_root": "/srv/tgi",
            "tgi_services": [
                {
                    "name": "tgi-a",
                    "model_id": "Qwen/Qwen2.5-7B-Instruct",
                    "gpus": [0, 1],
                    "shm_size": "8g",
                },
                {
                    "name": "tgi-b",
                    "model_id": "mistralai/Mistral-7B-Instruct-v0.3",
                    "gpus": [2, 3],
                    "port": 8081,
                    "shm_size": "8g",
                    "volume": "tgi-cache",
                },
            ],
        },
        "systemd",
    ),
    "quantized": (
        {
            "tgi_services": [
                {
                    "name": "tgi-awq",
                    "model_id": "TheBloke/Llama-2-13B-chat-AWQ",
                    "gpus": [0],
                    "quantize": "awq",
                    "cuda_graphs": [1, 2, 4],
                    "max_input_tokens": 3000,
                    "max_total_tokens": 4096,
                    "bind": "::1",
                }
            ]
        },
        "systemd",
    ),
    "cpu-mode": (
        {
            "tgi_gpus": "none",
            "tgi_image_mirror": "registry.lab:5000",
            "tgi_services": [
                {
                    "name": "tgi-cpu",
                    "model_id": "/data/models/tiny-gpt2",
                    "hf_token_env": None,
                    "smoke_semantic": False,
                }
            ],
        },
        "docker",
    ),
    "api-key": (
        {
            "tgi_services": [
                {
                    "name": "tgi-secure",
                    "model_id": "google/gemma-2-9b-it",
                    "hf_token_env": "MY_HF_TOKEN",
                    "api_key_env": "TGI_API_KEY",
                    "extra_args": ["--max-best-of", "1", "--trust-remote-code", "--json-output"],
                    "env": {"LOG_LEVEL": "info,text_generation_router=debug"},
                    "bind": "0.0.0.0",
                }
            ]
        },
        "docker",
    ),
    # the other engines behind the same fields
    "vllm-two-gpus": (
        {
            "tgi_services": [
                {
                    "name": "vllm-qwen",
                    "engine": "vllm",
                    "model_id": "Qwen/Qwen2.5-7B-Instruct",
                    "revision": "main",
                    "gpus": [0, 1],
                    "dtype": "bfloat16",
                    "max_total_tokens": 8192,
                    "max_concurrent_requests": 64,
                    "api_key_env": "TGI_API_KEY",
                    "extra_args": ["--gpu-memory-utilization", "0.85", "--enable-prefix-caching"],
                    "port": 8000,
                }
            ]
        },
        "systemd",
    ),
    "sglang-api-key": (
        {
            "tgi_services": [
                {
                    "name": "sglang-llama",
                    "engine": "sglang",
                    "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                    "hf_token_env": "MY_HF_TOKEN",
                    "api_key_env": "TGI_API_KEY",
                    "gpus": 1,
                    "quantize": "fp8",
                    "max_total_tokens": 16384,
                    "cuda_graphs": [0],
                    "shm_size": "16g",
                    "extra_args": ["--attention-backend", "flashinfer"],
                    "port": 30000,
                    "bind": "0.0.0.0",
                }
            ]
        },
        "docker",
    ),
}


def rendered_case(name: str):
    data, supervisor = CASES[name]
    host = load_host_config(name, data)
    return host, render_host(name, host, supervisor)


def docker_command(script: str) -> list[str]:
    """The `docker create|run` command of a creation script, as argv (continuations joined)."""
    lines = script.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith(("docker create", "docker run"))
    )
    joined = []
    for line in lines[start:]:
        joined.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(joined))


MIXED: dict[str, dict] = {
    "gpu-a": {
        "tgi_services": [
            {"name": "tgi-smol", "model_id": "HuggingFaceTB/SmolLM2-1.7B-Instruct", "gpus": [0]},
            {
                "name": "vllm-qwen",
                "engine": "vllm",
                "model_id": "Qwen/Qwen2.5-7B-Instruct",
                "gpus": [1, 2],
                "port": 8081,
                "quantize": "fp8",
                "cuda_graphs": [0],
            },
        ]
    },
    "gpu-b": {
        "tgi_root": "/srv/engines",
        "tgi_services": [
            {
                "name": "sglang-mistral",
                "engine": "sglang",
                "model_id": "mistralai/Mistral-7B-Instruct-v0.3",
                "gpus": [0, 1],
                "max_total_tokens": 8192,
                "max_batch_total_tokens": 65536,
                "max_concurrent_requests": 32,
            },
            {
                "name": "vllm-local",
                "engine": "vllm",
                "model_id": "/data/models/my-finetune",
                "gpus": [2],
                "port": 8082,
                "max_batch_prefill_tokens": 4096,
                "cuda_graphs": [1, 2, 4, 8],
                "volume": "engine-cache",
            },
        ],
    },
}
