"""Checks through the seed's other client styles: the ``text_generation`` client and LangChain.

The raw HTTP (``generate``), huggingface_hub ``InferenceClient`` (``hf_client_stream``) and
OpenAI client (``chat``) styles live in smoke/checks.py. Every generation sends the seed's
generation config (seed.SEED_CONFIG, mapped to the chat API's fields for chat models).
"""

from __future__ import annotations

import time
from typing import Any

from tgi_infra.smoke.context import (
    CheckFailed,
    CheckOutcome,
    CheckSkipped,
    Measurements,
    TargetContext,
    shorten,
)
from tgi_infra.smoke.preload import IMPORT_LOCK
from tgi_infra.smoke.seed import (
    CHAT_PARAMETERS,
    FRENCH_NAME_QUESTION,
    PROMPT,
    SEED_CONFIG,
)

LANGCHAIN_INTEGRATIONS = ("langchain_huggingface", "langchain_openai")
LANGCHAIN_MISSING = (
    "LangChain integrations not installed (langchain-huggingface, langchain-openai): "
    "pip install 'tgi-infra[langchain]' to run this check"
)


def _got(exc: Exception, ctx: TargetContext) -> str:
    """A client library's exception as a failure's ``got``: the HTTP status when known."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "status_code", None)
    got = f"{type(exc).__name__}: {shorten(str(exc))}"
    if status is not None:
        got = f"HTTP {status} ({got})"
    if "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower():
        got = f"timed out within the --timeout deadline of {ctx.settings.timeout:g}s: {got}"
    return got


def check_tgi_client(ctx: TargetContext) -> CheckOutcome:
    """The ``text_generation`` client's ``Client.generate`` (POST / with stream false)."""
    with IMPORT_LOCK:
        from text_generation import Client

    sent = (
        "POST / (text_generation Client.generate) "
        f"{shorten({'inputs': PROMPT, 'parameters': SEED_CONFIG})}"
    )
    expected = "a Response with non-empty generated_text and details.generated_tokens > 0"
    client = Client(ctx.base_url, headers=ctx.auth_headers, timeout=int(ctx.settings.timeout))
    start = time.monotonic()
    try:
        out = client.generate(PROMPT, **SEED_CONFIG)
    except Exception as exc:  # text_generation raises its own errors, requests' and JSON's
        raise CheckFailed(sent, expected, _got(exc, ctx)) from exc
    latency = time.monotonic() - start
    if not out.generated_text:
        raise CheckFailed(sent, expected, "empty generated_text")
    n = out.details.generated_tokens if out.details else 0
    if n <= 0:
        raise CheckFailed(sent, expected, f"details {out.details!r}")
    return CheckOutcome(
        f"{n} tokens, finish_reason={out.details.finish_reason.value}",
        Measurements(latency_s=latency, tokens=n),
    )


def _langchain_hf(ctx: TargetContext) -> str | None:
    """None when langchain-huggingface is not installed."""
    try:
        with IMPORT_LOCK:
            from langchain_huggingface import HuggingFaceEndpoint
    except ImportError:
        return None

    params = {k: v for k, v in SEED_CONFIG.items()}
    sent = (
        "POST / (langchain_huggingface HuggingFaceEndpoint.invoke) "
        f"{shorten({'inputs': PROMPT, 'parameters': params})}"
    )
    expected = "non-empty generated text"
    # The integration passes no token to a non-Hub endpoint_url: the key goes in the headers.
    # Without a configured key, keep huggingface_hub from sending a locally saved HF token.
    headers: dict[str, Any] = dict(ctx.auth_headers) or {"authorization": None}
    try:
        llm = HuggingFaceEndpoint(
            endpoint_url=ctx.base_url,
            task="text-generation",
            timeout=ctx.settings.timeout,
            server_kwargs={"headers": headers},
            **params,
        )
        text = llm.invoke(PROMPT)
    except Exception as exc:  # LangChain wraps the client's errors in many types
        raise CheckFailed(sent, expected, _got(exc, ctx)) from exc
    if not isinstance(text, str) or not text.strip():
        raise CheckFailed(sent, expected, f"got {shorten(repr(text))}")
    return f"HuggingFaceEndpoint {len(text)} chars"


def _langchain_openai(ctx: TargetContext) -> str | None:
    """None when langchain-openai is not installed."""
    try:
        with IMPORT_LOCK:
            from langchain_openai import ChatOpenAI
    except ImportError:
        return None

    messages = [("system", "You are a helpful assistant."), ("human", FRENCH_NAME_QUESTION)]
    sent = (
        "POST /v1/chat/completions (langchain_openai ChatOpenAI.invoke) "
        f"{shorten({'messages': messages, **CHAT_PARAMETERS})}"
    )
    expected = "an AIMessage with non-empty content"
    try:
        chat = ChatOpenAI(
            base_url=f"{ctx.base_url}/v1",
            api_key=ctx.target.api_key or "no-key-configured",
            model=ctx.model_name,
            max_retries=0,
            timeout=ctx.settings.timeout,
            **CHAT_PARAMETERS,
        )
        reply = chat.invoke(messages)
    except Exception as exc:
        raise CheckFailed(sent, expected, _got(exc, ctx)) from exc
    content = reply.content if isinstance(reply.content, str) else str(reply.content)
    if not content.strip():
        raise CheckFailed(sent, expected, "empty content")
    return f"ChatOpenAI {len(content)} chars"


def check_langchain(ctx: TargetContext) -> CheckOutcome:
    """LangChain through its maintained integrations (the optional extra ``[langchain]``):
    ``HuggingFaceEndpoint`` on TGI's own API and ``ChatOpenAI`` on /v1/chat/completions."""
    start = time.monotonic()
    results = {
        "langchain_huggingface": _langchain_hf(ctx),
        "langchain_openai": _langchain_openai(ctx),
    }
    found = [r for r in results.values() if r is not None]
    if not found:
        raise CheckSkipped(LANGCHAIN_MISSING)
    missing = [n.replace("_", "-") for n, r in results.items() if r is None]
    note = f" ({', '.join(missing)} not installed)" if missing else ""
    return CheckOutcome("; ".join(found) + note, Measurements(latency_s=time.monotonic() - start))
