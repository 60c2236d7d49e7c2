"""Fault injection by environment variable (``VLLM_STANDIN_FAULT`` / ``SGLANG_STANDIN_FAULT``,
comma-separated), like the TGI stand-in's ``TGI_STANDIN_FAULT`` (lab/tgi_standin/faults.py):
an unchanged container is made to fail by its environment. Unknown names: exit 64."""

from __future__ import annotations

FAULTS = {
    "crash_at_start": "exit 1 during start-up: CUDA out of memory while profiling/warming up",
    "crash_gated": "exit 1 while loading: 401 'Cannot access gated repo' from the Hub",
    "crash_nccl": "exit 1 while starting workers: NCCL error (e.g. /dev/shm too small)",
    "health_503": "GET /health answers 503 (vLLM: engine dead; SGLang: health check failed)",
    "generate_500": "generation routes answer 500 (stream: an error event)",
    "truncated_stream": "SSE streams close mid-way: no final chunk, no [DONE]",
    "no_done": "SSE streams (OpenAI routes, SGLang /generate) end without data: [DONE]",
    "wrong_model_id": "the server reports another model (/v1/models, responses' 'model')",
    "accept_bad_top_p": "top_p outside (0, 1] is accepted instead of refused with 400",
    "metrics_stale": "/metrics never shows a request (as if scraped from an unused process)",
    "echo_system": "chat answers are the first system message, verbatim (a model restating it)",
    "ignore_system": "chat templates drop system messages: answers lack the context's facts",
    "no_auth": "the API key is not enforced (a proxy that strips the check)",
    "abort": "SGLang only: every generation is aborted half-way (finish_reason type abort)",
}
# faults only one engine's stand-in shows (the other engine's stand-in refuses them)
ENGINE_ONLY = {"abort": "sglang"}


class UnknownFault(ValueError):
    pass


def parse(raw: str | None, variable: str, engine: str) -> frozenset[str]:
    names = {part.strip() for part in (raw or "").split(",") if part.strip()}
    known = {name for name in FAULTS if ENGINE_ONLY.get(name, engine) == engine}
    unknown = sorted(names - known)
    if unknown:
        raise UnknownFault(
            f"unknown {variable} value(s) {', '.join(unknown)}; known: " + ", ".join(sorted(known))
        )
    return frozenset(names)
