"""Injected failures, chosen with env ``TGI_STANDIN_FAULT`` (comma-separated).

Env only (no flag), so an unchanged container can be made to fail by its environment.
"""

from __future__ import annotations

FAULTS = {
    "crash_at_start": "exit 1 after the warm-up delay: CUDA out of memory while warming up",
    "crash_gated": "exit 1 during download: 401 'Cannot access gated repo' from the Hub",
    "crash_nccl": "exit 1 while starting shards: NCCL error (e.g. /dev/shm too small)",
    "health_503": "GET /health (and GET /, /ping) answer 503 unhealthy",
    "generate_424": "generation routes answer 424 error_type generation (stream: error event)",
    "generate_500": "generation routes answer 500 incomplete_generation (stream: error event)",
    "truncated_stream": "SSE streams close mid-way: no final event, no [DONE]",
    "chat_no_done": "chat/completions streams end without data:[DONE]",
    "wrong_model_id": "the server reports another model_id (/info, /v1/models, chat 'model')",
    "slow_tokens": "each token delayed by TGI_STANDIN_TOKEN_DELAY_S (default 2.0 with it)",
    "malformed_json": "/generate and /v1/chat/completions answer 200 with a broken JSON body",
    "chat_bad_usage": "/v1/chat/completions: usage.total_tokens != prompt + completion tokens",
    "echo_system": "chat answers are the first system message, verbatim (a model restating it)",
    "ignore_system": "chat templates drop system messages: answers lack the context's facts",
    "compat_404": "POST / answers 404 (a proxy that forwards only the documented routes)",
    "accept_top_p_1": "top_p = 1.0 is accepted instead of rejected with 422 (no validation)",
    "metrics_stale": "/metrics never shows a request (as if scraped from a process never used)",
}
CRASHES = ("crash_gated", "crash_nccl", "crash_at_start")


class UnknownFault(ValueError):
    pass


def parse(raw: str | None) -> frozenset[str]:
    names = {part.strip() for part in (raw or "").split(",") if part.strip()}
    unknown = sorted(names - FAULTS.keys())
    if unknown:
        raise UnknownFault(
            f"unknown TGI_STANDIN_FAULT value(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(FAULTS))
        )
    return frozenset(names)


def token_delay(faults: frozenset[str], environ: dict[str, str]) -> float:
    default = "2.0" if "slow_tokens" in faults else "0"
    return float(environ.get("TGI_STANDIN_TOKEN_DELAY_S", default) or default)


def crash_lines(kind: str, model_id: str) -> list[tuple[str, str]]:
    """(level, message) lines the real launcher prints for this start-up failure."""
    if kind == "crash_gated":
        url = f"https://huggingface.co/{model_id}/resolve/main/config.json"
        return [
            (
                "ERROR",
                "Download encountered an error: \n"
                "Traceback (most recent call last):\n"
                '  File "/usr/src/.venv/lib/python3.11/site-packages/huggingface_hub/utils/'
                '_http.py", line 409, in hf_raise_for_status\n'
                "    response.raise_for_status()\n"
                "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: "
                f"{url}\n\n"
                "huggingface_hub.errors.GatedRepoError: 401 Client Error. "
                "(Request ID: Root=1-00000000-standin)\n\n"
                f"Cannot access gated repo for url {url}.\n"
                f"Access to model {model_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
            ),
            ("RAW", "Error: DownloadError"),
        ]
    if kind == "crash_nccl":
        return [
            (
                "ERROR",
                "Error when initializing model\n"
                "Traceback (most recent call last):\n"
                '  File "/usr/src/server/text_generation_server/utils/dist.py", line 71, '
                "in initialize_torch_distributed\n"
                "torch.distributed.DistBackendError: NCCL error in: "
                "../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, unhandled system "
                "error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n"
                "ncclSystemError: System call (e.g. socket, malloc) or external library call "
                "failed or device error.\n"
                "Last error:\n"
                "Error while creating shared memory segment /dev/shm/nccl-standin "
                "(size 9637888)",
            ),
            ("ERROR", "Shard 0 failed to start"),
            ("INFO", "Shutting down shards"),
            ("RAW", "Error: ShardCannotStart"),
        ]
    return [
        (
            "ERROR",
            "Method Warmup encountered an error.\n"
            "Traceback (most recent call last):\n"
            '  File "/usr/src/server/text_generation_server/models/flash_causal_lm.py", '
            "line 1500, in warmup\n"
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. GPU 0 has a "
            "total capacity of 23.57 GiB of which 1.12 GiB is free. Of the allocated memory "
            "21.90 GiB is allocated by PyTorch",
        ),
        ("ERROR", "Server error: CUDA out of memory. Tried to allocate 1.96 GiB."),
        ("ERROR", "Shard 0 failed to start"),
        ("INFO", "Shutting down shards"),
        (
            "RAW",
            'Error: Backend(Warmup(Generation("CUDA out of memory. Tried to allocate 1.96 GiB.")))',
        ),
    ]
