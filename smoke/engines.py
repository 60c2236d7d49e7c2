"""Which checks run against which inference engine, and how to tell the engines apart.

``--engine auto`` (and inventory services whose engine is ``auto``) asks the server after
``ready``: TGI answers ``GET /info`` with ``model_id`` and ``router``
(tests/data/reference/tgi/openapi.json ``Info``); SGLang ``GET /server_info`` (or the older
``/get_server_info``) with its server args (``model_path``, ``tp_size``) and ``version``
(tests/data/reference/sglang/openapi.json); vLLM ``GET /version`` with ``{"version"}``
(tests/data/reference/vllm/openapi.json). Neither of the others serves TGI's /info, and TGI serves
neither /server_info nor /version.
"""

from __future__ import annotations

import httpx
from tgi_infra.smoke.options import ENGINE_CHOICES, ENGINES  # noqa: F401 (engine names)

# The OpenAI-compatible checks every engine gets.
_OPENAI = ("models", "completions", "completions_stream")
_CHAT = ("chat", "chat_stream", "semantic_name", "semantic_year")
_TAIL = ("validation", "auth", "metrics")
ENGINE_CHECKS: dict[str, tuple[str, ...]] = {
    # TGI's own /generate family and clients first, as before; then the OpenAI routes.
    "tgi": (
        "ready",
        "info",
        "generate",
        "generate_stream",
        "throughput",
        "tgi_client",
        *_OPENAI,
        "chat",
        "chat_stream",
        "hf_client_stream",
        "langchain",
        "semantic_name",
        "semantic_year",
        *_TAIL,
    ),
    "vllm": ("ready", "info", *_OPENAI, "throughput", *_CHAT, *_TAIL),
    "sglang": (
        "ready",
        "info",
        "sglang_generate",
        "sglang_generate_stream",
        *_OPENAI,
        "throughput",
        *_CHAT,
        *_TAIL,
    ),
}
# Every check name once, in a stable order (the pytest plugin's cases for ``auto`` targets).
ALL_CHECKS: tuple[str, ...] = tuple(
    dict.fromkeys(name for names in ENGINE_CHECKS.values() for name in names)
)

# The counter that must rise across the suite's own requests (check ``metrics``), by engine:
# TGI router/src/server.rs; vLLM vllm/v1/metrics/loggers.py; SGLang srt/metrics/collector.py.
REQUEST_COUNTERS = {
    "tgi": "tgi_request_count",
    "vllm": "vllm:request_success_total",
    "sglang": "sglang:num_requests_total",
}


def checks_for(engine: str) -> tuple[str, ...]:
    return ENGINE_CHECKS.get(engine, ALL_CHECKS)


def _json(resp: httpx.Response) -> dict | None:
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def detect(http: httpx.Client) -> tuple[str | None, list[str]]:
    """(engine or None, what each probe answered)."""
    seen: list[str] = []

    def probe(path: str) -> dict | None:
        try:
            resp = http.get(path)
        except httpx.HTTPError as exc:
            seen.append(f"GET {path}: {type(exc).__name__}")
            return None
        seen.append(f"GET {path}: HTTP {resp.status_code}")
        return _json(resp)

    info = probe("/info")
    if info and "model_id" in info and "router" in info:
        return "tgi", seen
    for path in ("/server_info", "/get_server_info"):
        server = probe(path)
        if server and "version" in server and ("model_path" in server or "tp_size" in server):
            return "sglang", seen
    version = probe("/version")
    if version and isinstance(version.get("version"), str):
        return "vllm", seen
    return None, seen
