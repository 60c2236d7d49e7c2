"""The smoke checks. Each takes a TargetContext and returns a CheckOutcome, or raises
CheckFailed (sent / expected / got) or CheckSkipped. Used by the CLI runner and by the
pytest suite (smoke/test_endpoints.py) alike.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource, SSEError
from pydantic import BaseModel, ValidationError
from tgi_infra.readiness import WaitTimedOut, poll
from tgi_infra.smoke import facts, models
from tgi_infra.smoke.clients import check_langchain, check_tgi_client
from tgi_infra.smoke.context import (
    CheckFailed,
    CheckOutcome,
    CheckSkipped,
    Measurements,
    TargetContext,
    http_client,
    shorten,
)
from tgi_infra.smoke.engines import ENGINE_CHECKS, REQUEST_COUNTERS, detect
from tgi_infra.smoke.floors import check_throughput
from tgi_infra.smoke.preload import IMPORT_LOCK
from tgi_infra.smoke.seed import (
    CHAT_MAX_TOKENS,
    CHAT_MESSAGES,
    CHAT_PARAMETERS,
    GENERATE_PARAMETERS,
    PROMPT,
    SEMANTIC_CASES,
)

REQUEST_COUNTER = REQUEST_COUNTERS["tgi"]
# a few tokens: enough to see an answer, cheap on a real model
SHORT_MAX_TOKENS = 16


# ---------------------------------------------------------------- helpers


def _body_of(resp: httpx.Response) -> str:
    try:
        resp.read()
        return shorten(resp.text) if resp.text else "(empty body)"
    except httpx.HTTPError as exc:
        return f"(body unreadable: {exc})"


def _got_response(resp: httpx.Response) -> str:
    return f"HTTP {resp.status_code} {_body_of(resp)}"


def _transport_error(exc: Exception, ctx: TargetContext) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"timed out: no answer within the --timeout deadline of {ctx.settings.timeout:g}s "
            f"({type(exc).__name__})"
        )
    return f"{type(exc).__name__}: {exc}"


def _request(
    ctx: TargetContext,
    method: str,
    path: str,
    body: dict | None,
    *,
    expected: str,
    headers: dict[str, str] | None = None,
    client: httpx.Client | None = None,
) -> httpx.Response:
    sent = f"{method} {path}" + (f" {shorten(body)}" if body is not None else "")
    try:
        return (client or ctx.http).request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise CheckFailed(sent, expected, _transport_error(exc, ctx)) from exc


def _parse(model: type[BaseModel], text: str, sent: str, expected: str) -> Any:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise CheckFailed(
            sent,
            expected,
            f"not a valid TGI {model.__name__} (malformed JSON or wrong shape: {errors}): "
            f"{shorten(text)}",
        ) from exc


def _expect_json(
    resp: httpx.Response, model: type[BaseModel], sent: str, expected: str, status: int = 200
) -> Any:
    if resp.status_code != status:
        raise CheckFailed(sent, expected, _got_response(resp))
    return _parse(model, resp.text, sent, expected)


T = TypeVar("T")


def _timed(
    items: Iterable[T], start: float, deadline: float, sent: str, expected: str
) -> Iterator[tuple[float, T]]:
    """Each item of a stream with the seconds since ``start`` (when the request was sent); the
    --timeout ``deadline`` holds over the whole stream, not just between items."""
    for item in items:
        elapsed = time.monotonic() - start
        if elapsed > deadline:
            raise CheckFailed(
                sent,
                expected,
                f"timed out: stream still running after the --timeout deadline of {deadline:g}s",
            )
        yield elapsed, item


def _iter_sse(
    ctx: TargetContext, path: str, body: dict, sent: str, expected: str
) -> Iterator[tuple[float, str]]:
    """POST ``body`` and yield (seconds since sent, data) per SSE event, raw (``[DONE]`` too).

    Enforces the --timeout deadline over the whole stream, not just between bytes.
    """
    start = time.monotonic()
    events = 0
    try:
        with ctx.http.stream("POST", path, json=body) as resp:
            if resp.status_code != 200:
                raise CheckFailed(sent, expected, _got_response(resp))
            sse = EventSource(resp).iter_sse()
            for elapsed, event in _timed(sse, start, ctx.settings.timeout, sent, expected):
                events += 1
                yield elapsed, event.data
    except httpx.RemoteProtocolError as exc:
        raise CheckFailed(
            sent, expected, f"stream truncated: connection closed after {events} events ({exc})"
        ) from exc
    except (httpx.HTTPError, SSEError) as exc:
        raise CheckFailed(
            sent, expected, f"stream broke after {events} events: {_transport_error(exc, ctx)}"
        ) from exc


def _iter_openai_sse(
    ctx: TargetContext, path: str, body: dict, sent: str, expected: str
) -> Iterator[tuple[float, str]]:
    """An OpenAI-style SSE stream's data events but its closing ``data: [DONE]``, as
    :func:`_iter_sse`; fails on an error event, an event after ``[DONE]`` and a stream that
    ends without it, each failure counting the events read so far."""
    events: list[str] = []
    for elapsed, data in _iter_sse(ctx, path, body, sent, expected):
        if events and events[-1] == "[DONE]":
            raise CheckFailed(sent, expected, f"event after [DONE]: {shorten(data)}")
        events.append(data)
        if data == "[DONE]":
            continue
        if _stream_error(data) is not None:
            raise CheckFailed(
                sent, expected, f"error event after {len(events) - 1} events: {shorten(data)}"
            )
        yield elapsed, data
    if not events or events[-1] != "[DONE]":
        last = shorten(events[-1]) if events else "(no events)"
        raise CheckFailed(
            sent,
            expected,
            f"stream ended without data:[DONE] after {len(events)} events; last: {last}",
        )


def _stream_error(data: str) -> models.ErrorResponse | None:
    """TGI reports errors inside a 200 SSE stream as an ErrorResponse event."""
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    if isinstance(obj, dict) and obj.get("object") == "error":  # SGLang's ErrorResponse
        return models.ErrorResponse(error=str(obj.get("message")), error_type=str(obj.get("type")))
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):  # vLLM's ErrorResponse
        info = obj["error"]
        return models.ErrorResponse(
            error=str(info.get("message")), error_type=str(info.get("type"))
        )
    if isinstance(obj, dict) and "error" in obj and "token" not in obj and "choices" not in obj:
        try:
            return models.ErrorResponse.model_validate(obj)
        except ValidationError:
            return None
    return None


def _fail_if_aborted(finish_reason: str | None, sent: str, expected: str) -> None:
    if finish_reason == models.ABORT_FINISH_REASON:
        raise CheckFailed(
            sent, expected, 'aborted: finish_reason "abort" (the engine cut the request short)'
        )


def _sglang_abort(meta: models.SglangMetaInfo) -> str | None:
    """SGLang's native finish_reason of an aborted request (srt/managers/schedule_batch.py
    FINISH_ABORT): ``{"type": "abort", "message", "status_code", "err_type"}``; what to report,
    or None when the request was not aborted."""
    reason = meta.finish_reason
    if not reason or reason.get("type") != "abort":
        return None
    return f"aborted: finish_reason {shorten(reason)}"


def _joined_tokens(tokens: list[models.Token]) -> tuple[str, str]:
    """Token texts joined, without and with special tokens."""
    return (
        "".join(t.text for t in tokens if not t.special),
        "".join(t.text for t in tokens),
    )


# ---------------------------------------------------------------- checks


def check_ready(ctx: TargetContext) -> CheckOutcome:
    """Wait with backoff until /health answers 200 (TGI refuses connections while warming up)."""
    timeout = ctx.settings.ready_timeout

    def step(elapsed: float) -> tuple[bool | None, str]:
        per_try = max(0.5, min(ctx.settings.timeout, 10.0, timeout - elapsed))
        try:
            resp = ctx.http.get("/health", timeout=per_try)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return (True, "200") if resp.status_code == 200 else (None, _got_response(resp))

    def progress(last: str, waited: float) -> None:
        ctx.settings.progress(
            f"waiting for {ctx.target.name} ({ctx.base_url}/health): {last} "
            f"({waited:.0f}s of the --ready-timeout of {timeout:g}s)"
        )

    try:
        done = poll(
            step,
            timeout,
            first_delay=0.1,
            factor=1.6,
            report=progress if ctx.settings.progress else None,
            report_after=2.0,
            report_every=10.0,
        )
    except WaitTimedOut as late:
        raise CheckFailed(
            f"GET /health, {late.attempts} attempt(s) with backoff",
            f"HTTP 200 within the --ready-timeout of {timeout:g}s",
            f"last answer: {late.status}",
        ) from None
    return CheckOutcome(
        f"healthy after {done.seconds:.2f}s ({done.attempts} attempt(s)){_detect_engine(ctx)}",
        Measurements(latency_s=done.seconds),
    )


def _detect_engine(ctx: TargetContext) -> str:
    """For ``auto`` targets: ask which engine answers (smoke/engines.py); '' otherwise."""
    if ctx.engine != "auto":
        return ""
    engine, seen = detect(ctx.http)
    if engine is None:
        raise CheckFailed(
            "GET /info, /server_info, /get_server_info, /version (engine detection)",
            "TGI's /info (model_id, router), SGLang's /server_info (model_path, version) or "
            "vLLM's /version",
            "; ".join(seen) + ": not a TGI, vLLM or SGLang server (give --engine)",
        )
    ctx.engine = engine
    return f"; engine {engine} (detected: {seen[-1]})"


def check_info(ctx: TargetContext) -> CheckOutcome:
    if ctx.engine == "vllm":
        return _info_vllm(ctx)
    if ctx.engine == "sglang":
        return _info_sglang(ctx)
    sent = "GET /info"
    expected_id = ctx.target.expected_model_id
    expected = (
        f"HTTP 200, Info with model_id {expected_id!r}, max_input_tokens and max_total_tokens"
        if expected_id
        else "HTTP 200, Info with max_input_tokens and max_total_tokens"
    )
    resp = _request(ctx, "GET", "/info", None, expected=expected)
    info: models.Info = _expect_json(resp, models.Info, sent, expected)
    ctx.info = info
    if expected_id and info.model_id != expected_id:
        raise CheckFailed(sent, expected, f"wrong model_id {info.model_id!r}")
    if info.max_input_tokens <= 0 or info.max_total_tokens <= info.max_input_tokens:
        raise CheckFailed(
            sent,
            "0 < max_input_tokens < max_total_tokens",
            f"max_input_tokens={info.max_input_tokens} max_total_tokens={info.max_total_tokens}",
        )
    return CheckOutcome(
        f"model_id={info.model_id} max_input_tokens={info.max_input_tokens} "
        f"max_total_tokens={info.max_total_tokens} version={info.version}"
    )


def _get_json(ctx: TargetContext, path: str, expected: str) -> dict:
    resp = _request(ctx, "GET", path, None, expected=expected)
    if resp.status_code != 200:
        raise CheckFailed(f"GET {path}", expected, _got_response(resp))
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CheckFailed(f"GET {path}", expected, f"not a JSON object: {_body_of(resp)}")
    return body


def _info_vllm(ctx: TargetContext) -> CheckOutcome:
    expected = 'HTTP 200 {"version": str} (vLLM\'s /version)'
    body = _get_json(ctx, "/version", expected)
    if not isinstance(body.get("version"), str):
        raise CheckFailed("GET /version", expected, f"no version: {shorten(body)}")
    return CheckOutcome(f"vLLM version={body['version']}")


def _info_sglang(ctx: TargetContext) -> CheckOutcome:
    expected_id = ctx.target.expected_model_id
    expected = (
        "HTTP 200 server args with model_path"
        + (f" {expected_id!r}" if expected_id else "")
        + " and version (SGLang's /server_info)"
    )
    body = _get_json(ctx, "/server_info", expected)
    if not isinstance(body.get("version"), str) or not isinstance(body.get("model_path"), str):
        raise CheckFailed("GET /server_info", expected, f"no version/model_path: {shorten(body)}")
    if expected_id and body["model_path"] != expected_id:
        raise CheckFailed("GET /server_info", expected, f"wrong model_path {body['model_path']!r}")
    return CheckOutcome(
        f"model_path={body['model_path']} context_length={body.get('context_length')} "
        f"version={body['version']}"
    )


def raw_generate_request() -> tuple[str, str, dict[str, Any]]:
    """The raw ``generate`` check's request: (method, path, JSON body). One place to build it."""
    return "POST", "/generate", {"inputs": PROMPT, "parameters": GENERATE_PARAMETERS}


def check_generate(ctx: TargetContext) -> CheckOutcome:
    """The raw call exactly as the seed notebook makes it: ``requests.post(f"{url}/generate",
    json=..., headers=...)`` (the other client styles keep their own libraries)."""
    import requests

    method, path, body = raw_generate_request()
    sent = f"{method} {path} {shorten(body)}"
    expected = "HTTP 200, GenerateResponse with non-empty generated_text and details"
    headers = {"Content-Type": "application/json", **ctx.auth_headers}
    start = time.monotonic()
    try:
        resp = requests.post(  # method is POST: raw_generate_request() builds the request
            f"{ctx.base_url}{path}", json=body, headers=headers, timeout=ctx.settings.timeout
        )
    except requests.Timeout as exc:
        got = (
            f"timed out: no answer within the --timeout deadline of {ctx.settings.timeout:g}s "
            f"({type(exc).__name__})"
        )
        raise CheckFailed(sent, expected, got) from exc
    except requests.RequestException as exc:
        raise CheckFailed(sent, expected, f"{type(exc).__name__}: {exc}") from exc
    latency = time.monotonic() - start
    if resp.status_code != 200:
        raise CheckFailed(
            sent, expected, f"HTTP {resp.status_code} {shorten(resp.text) or '(empty body)'}"
        )
    out: models.GenerateResponse = _parse(models.GenerateResponse, resp.text, sent, expected)
    if not out.generated_text:
        raise CheckFailed(sent, expected, f"empty generated_text: {shorten(resp.text)}")
    if out.details is None:
        raise CheckFailed(sent, expected, f"no details: {shorten(resp.text)}")
    n = out.details.generated_tokens
    return CheckOutcome(
        f"{n} tokens, finish_reason={out.details.finish_reason}",
        Measurements(latency_s=latency, tokens=n),
    )


def check_generate_stream(ctx: TargetContext) -> CheckOutcome:
    body = {"inputs": PROMPT, "parameters": GENERATE_PARAMETERS}
    sent = f"POST /generate_stream {shorten(body)}"
    expected = (
        "HTTP 200 SSE: one StreamResponse per token, the last with generated_text equal to "
        "the joined token texts, and no [DONE]"
    )
    tokens: list[models.Token] = []
    final: models.StreamResponse | None = None
    ttft = None
    elapsed = 0.0
    for elapsed, data in _iter_sse(ctx, "/generate_stream", body, sent, expected):
        if data == "[DONE]":
            raise CheckFailed(sent, expected, "data:[DONE] on /generate_stream")
        if final is not None:
            raise CheckFailed(sent, expected, f"event after the final one: {shorten(data)}")
        error = _stream_error(data)
        if error is not None:
            raise CheckFailed(
                sent, expected, f"error event after {len(tokens)} tokens: {shorten(data)}"
            )
        event: models.StreamResponse = _parse(models.StreamResponse, data, sent, expected)
        if ttft is None:
            ttft = elapsed
        if event.index != len(tokens) + 1:
            raise CheckFailed(
                sent, expected, f"token index {event.index} after {len(tokens)} tokens"
            )
        tokens.append(event.token)
        if event.generated_text is not None:
            final = event
    if final is None:
        raise CheckFailed(
            sent,
            expected,
            f"stream ended (truncated) after {len(tokens)} token events without the final "
            "event carrying generated_text",
        )
    if len(tokens) < 2:
        raise CheckFailed(sent, expected, f"only {len(tokens)} token event(s): not incremental")
    plain, with_special = _joined_tokens(tokens)
    if final.generated_text not in (plain, with_special):
        raise CheckFailed(
            sent,
            expected,
            f"final generated_text {shorten(final.generated_text)} != joined tokens "
            f"{shorten(plain)}",
        )
    if not final.generated_text:
        raise CheckFailed(sent, expected, "empty generated_text")
    ctx.stream_sample = (ttft or 0.0, elapsed, len(tokens))
    return CheckOutcome(
        f"{len(tokens)} token events",
        Measurements(latency_s=elapsed, ttft_s=ttft, tokens=len(tokens)),
    )


def _openai_call(ctx: TargetContext, sent: str, expected: str, fn: Callable[[], Any]) -> Any:
    with IMPORT_LOCK:
        import openai

    try:
        return fn()
    except openai.APIStatusError as exc:
        raise CheckFailed(
            sent, expected, f"HTTP {exc.status_code} {_body_of(exc.response)}"
        ) from exc
    except openai.APITimeoutError as exc:
        raise CheckFailed(sent, expected, _transport_error(httpx.ReadTimeout(""), ctx)) from exc
    except openai.APIError as exc:  # e.g. an error event inside a 200 stream
        body = f" {shorten(exc.body)}" if exc.body is not None else ""
        raise CheckFailed(sent, expected, f"{type(exc).__name__}: {exc}{body}") from exc
    except (ValueError, httpx.HTTPError) as exc:  # JSON decoding, broken connection
        raise CheckFailed(sent, expected, f"{type(exc).__name__}: {shorten(str(exc))}") from exc


def _chat_once(
    ctx: TargetContext, messages: list[dict[str, str]], expected: str
) -> tuple[models.ChatCompletion, float, str]:
    request = {"model": ctx.model_name, "messages": messages, **CHAT_PARAMETERS}
    sent = f"POST /v1/chat/completions (openai client) {shorten(request)}"
    start = time.monotonic()
    raw = _openai_call(
        ctx,
        sent,
        expected,
        lambda: ctx.openai.chat.completions.with_raw_response.create(**request),
    )
    latency = time.monotonic() - start
    text = raw.http_response.text
    if raw.http_response.headers.get("x-tgi-standin"):
        ctx.standin = True
    shape = models.ChatCompletion if ctx.engine == "tgi" else models.OpenAIChatCompletion
    ours: models.ChatCompletion = _parse(shape, text, sent, expected)
    theirs = _openai_call(ctx, sent, expected, raw.parse)  # the openai client's own parsing
    if not theirs.choices or not ours.choices:
        raise CheckFailed(sent, expected, f"no choices: {shorten(text)}")
    for choice in ours.choices:
        _fail_if_aborted(choice.finish_reason, sent, expected)
    return ours, latency, sent


def check_chat(ctx: TargetContext) -> CheckOutcome:
    expected = (
        "HTTP 200 ChatCompletion: non-empty message content, usage with "
        f"total_tokens = prompt_tokens + completion_tokens, 0 < completion_tokens <= "
        f"{CHAT_MAX_TOKENS}"
    )
    out, latency, sent = _chat_once(ctx, CHAT_MESSAGES, expected)
    content = out.choices[0].message.content or ""
    if not content.strip():
        raise CheckFailed(sent, expected, "empty message content")
    u = out.usage
    _check_usage(u, CHAT_MAX_TOKENS, sent, expected)
    return CheckOutcome(
        f"{u.completion_tokens} completion tokens, finish_reason={out.choices[0].finish_reason}",
        Measurements(latency_s=latency, tokens=u.completion_tokens),
    )


def _check_usage(u, max_tokens: int, sent, expected: str) -> None:
    """OpenAI ``usage`` (chat or completions): present, total = prompt + completion, and
    0 < completion_tokens <= max_tokens."""
    if u is None or (
        u.total_tokens != u.prompt_tokens + u.completion_tokens
        or u.prompt_tokens <= 0
        or not 0 < u.completion_tokens <= max_tokens
    ):
        raise CheckFailed(sent, expected, f"inconsistent usage {u and u.model_dump()}")


def check_chat_stream(ctx: TargetContext) -> CheckOutcome:
    request = {
        "model": ctx.model_name,
        "messages": CHAT_MESSAGES,
        **CHAT_PARAMETERS,
        "stream": True,
    }
    # 1) through the openai client
    sent = f"POST /v1/chat/completions (openai client, stream) {shorten(request)}"
    expected = "HTTP 200 SSE of chat.completion.chunk with content"

    def consume() -> tuple[list[str], float | None, float]:
        start = time.monotonic()
        pieces: list[str] = []
        first = None
        with ctx.openai.chat.completions.create(**request) as stream:
            for now, chunk in _timed(stream, start, ctx.settings.timeout, sent, expected):
                for choice in chunk.choices:
                    _fail_if_aborted(choice.finish_reason, sent, expected)
                    if choice.delta and choice.delta.content:
                        pieces.append(choice.delta.content)
                        if first is None:
                            first = now
        return pieces, first, time.monotonic() - start

    pieces, ttft, latency = _openai_call(ctx, sent, expected, consume)
    if not pieces or not "".join(pieces).strip():
        raise CheckFailed(sent, expected, "no content chunks")

    # 2) raw SSE: the openai client hides data:[DONE], so check the wire as well
    raw_sent = f"POST /v1/chat/completions (raw SSE) {shorten(request)}"
    raw_expected = "HTTP 200 SSE of ChatCompletionChunk events ending with data:[DONE]"
    chunks = 0
    stream = _iter_openai_sse(ctx, "/v1/chat/completions", request, raw_sent, raw_expected)
    for _, data in stream:
        chunks += 1
        chunk = models.ChatCompletionChunk if ctx.engine == "tgi" else models.OpenAIChatChunk
        for choice in _parse(chunk, data, raw_sent, raw_expected).choices:
            _fail_if_aborted(choice.finish_reason, raw_sent, raw_expected)
    if not chunks:
        raise CheckFailed(raw_sent, raw_expected, "only data:[DONE], no chunk")
    return CheckOutcome(
        f"{len(pieces)} content chunks (openai), {chunks} chunks + [DONE] (raw)",
        Measurements(latency_s=latency, ttft_s=ttft, tokens=len(pieces)),
    )


def check_hf_client_stream(ctx: TargetContext) -> CheckOutcome:
    with IMPORT_LOCK:
        from huggingface_hub import InferenceClient

    # The client posts to TGI's compat route ``/`` (stream: true), where an unset
    # return_full_text defaults to true for text-generation models: ask for the new text only.
    params = {k: v for k, v in GENERATE_PARAMETERS.items() if k != "details"}
    params["return_full_text"] = False
    sent = (
        "POST / (huggingface_hub InferenceClient.text_generation, stream, details) "
        f"{shorten({'inputs': PROMPT, 'parameters': {**params, 'details': True}})}"
    )
    expected = "streamed tokens, final output with generated_text = joined token texts"
    # Without a configured key, stop huggingface_hub from sending a locally saved HF token.
    client = InferenceClient(
        base_url=ctx.base_url,
        api_key=ctx.target.api_key,
        timeout=ctx.settings.timeout,
        headers=None if ctx.target.api_key else {"authorization": None},  # type: ignore[dict-item]
    )
    tokens: list[models.Token] = []
    final_text = None
    ttft = None
    start = time.monotonic()
    try:
        stream = client.text_generation(PROMPT, stream=True, details=True, **params)
        for now, out in _timed(stream, start, ctx.settings.timeout, sent, expected):
            if ttft is None:
                ttft = now
            tok = out.token
            tokens.append(
                models.Token(id=tok.id, text=tok.text, logprob=tok.logprob, special=tok.special)
            )
            if out.generated_text is not None:
                final_text = out.generated_text
    except CheckFailed:
        raise
    except Exception as exc:  # huggingface_hub / requests raise many types
        status = getattr(getattr(exc, "response", None), "status_code", None)
        got = f"{type(exc).__name__}: {shorten(str(exc))}"
        if status is not None:
            got = f"HTTP {status} ({got})"
        if "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower():
            got = f"timed out within the --timeout deadline of {ctx.settings.timeout:g}s: {got}"
        raise CheckFailed(sent, expected, got) from exc
    latency = time.monotonic() - start
    if final_text is None:
        raise CheckFailed(
            sent, expected, f"stream ended (truncated) after {len(tokens)} tokens, no final text"
        )
    plain, with_special = _joined_tokens(tokens)
    if not final_text or final_text not in (plain, with_special):
        raise CheckFailed(
            sent, expected, f"generated_text {shorten(final_text)} != joined {shorten(plain)}"
        )
    return CheckOutcome(
        f"{len(tokens)} tokens",
        Measurements(latency_s=latency, ttft_s=ttft, tokens=len(tokens)),
    )


def _semantic(ctx: TargetContext, name: str) -> CheckOutcome:
    if not ctx.target.semantic:
        raise CheckSkipped("semantic checks off for this target (smoke_semantic/--no-semantic)")
    context, question, fact = SEMANTIC_CASES[name]
    messages = [{"role": "system", "content": context}, {"role": "user", "content": question}]
    expected = (
        f"an answer stating {fact!r} as whole words, in any wording (case, accents and "
        "hyphen or space between its parts do not matter)"
    )
    out, latency, sent = _chat_once(ctx, messages, expected)
    content = out.choices[0].message.content or ""
    if not facts.states(content, fact):
        raise CheckFailed(sent, expected, f"the answer lacks it: {shorten(content)}")
    source = (
        f" (answer from the lab's {ctx.engine if ctx.engine != 'tgi' else 'TGI'} stand-in, which "
        "restates the context by rule: not a model)"
        if ctx.standin
        else ""
    )
    return CheckOutcome(
        f"answer states {fact!r}: {shorten(content.strip(), 80)}{source}",
        Measurements(latency_s=latency),
    )


def check_semantic_name(ctx: TargetContext) -> CheckOutcome:
    return _semantic(ctx, "semantic_name")


def check_semantic_year(ctx: TargetContext) -> CheckOutcome:
    return _semantic(ctx, "semantic_year")


def check_validation(ctx: TargetContext) -> CheckOutcome:
    if ctx.engine in ("vllm", "sglang"):
        return _validation_openai(ctx)
    body = {"inputs": PROMPT, "parameters": {"top_p": 1.0, "max_new_tokens": 8}}
    sent = f"POST /generate {shorten(body)}"
    expected = 'HTTP 422 {"error": str, "error_type": "validation"}'
    resp = _request(ctx, "POST", "/generate", body, expected=expected)
    err: models.ErrorResponse = _expect_json(resp, models.ErrorResponse, sent, expected, 422)
    if err.error_type != "validation":
        raise CheckFailed(sent, expected, f"error_type {err.error_type!r}: {shorten(resp.text)}")
    return CheckOutcome(f"422: {shorten(err.error, 120)}")


def _validation_openai(ctx: TargetContext) -> CheckOutcome:
    """top_p 1.5 is outside (0, 1]: vLLM (vllm/sampling_params.py) and SGLang
    (srt/sampling/sampling_params.py) refuse it with 400 in their own error shape."""
    body = {"model": ctx.model_name, "prompt": PROMPT, "max_tokens": 8, "top_p": 1.5}
    sent = f"POST /v1/completions {shorten(body)}"
    if ctx.engine == "vllm":
        shape = models.VllmError
        expected = 'HTTP 400 {"error": {"message": str, "type": str, "param", "code": 400}}'
    else:
        shape = models.SglangError
        expected = 'HTTP 400 {"object": "error", "message": str, "type": str, "param", "code": 400}'
    resp = _request(ctx, "POST", "/v1/completions", body, expected=expected)
    err = _expect_json(resp, shape, sent, expected, 400)
    info = err.error if ctx.engine == "vllm" else err
    if info.code != 400 or (ctx.engine == "sglang" and err.object != "error"):
        raise CheckFailed(sent, expected, f"wrong error body: {shorten(resp.text)}")
    return CheckOutcome(f"400 {info.type}: {shorten(info.message, 120)}")


def check_auth(ctx: TargetContext) -> CheckOutcome:
    if not ctx.target.api_key:
        raise CheckSkipped("no API key configured for this target")
    if ctx.engine in ("vllm", "sglang"):
        return _auth(
            ctx, "/v1/completions", {"model": ctx.model_name, "prompt": PROMPT, "max_tokens": 4}
        )
    return _auth(ctx, "/generate", {"inputs": PROMPT, "parameters": {"max_new_tokens": 4}})


def _auth(ctx: TargetContext, path: str, body: dict) -> CheckOutcome:
    # The rejected probes go on their own, unpooled connections (Connection: close): a server
    # that hangs up after a 401 must not break the next request of the shared client.
    probes = [
        ("without Authorization", {"Connection": "close"}),
        (
            "with a wrong bearer token",
            {"Connection": "close", "Authorization": f"Bearer {ctx.target.api_key}-wrong"},
        ),
    ]
    with http_client(base_url=ctx.base_url, timeout=ctx.settings.timeout) as bare:
        for how, headers in probes:
            sent = f"POST {path} {how} {shorten(body)}"
            resp = _request(
                ctx, "POST", path, body, expected="HTTP 401", client=bare, headers=headers
            )
            if resp.status_code != 401:
                raise CheckFailed(sent, "HTTP 401", _got_response(resp))
    sent = f"POST {path} with Authorization: Bearer ${ctx.target.api_key_env} {shorten(body)}"
    resp = _request(ctx, "POST", path, body, expected="HTTP 200")
    if resp.status_code != 200:
        raise CheckFailed(sent, "HTTP 200", _got_response(resp))
    return CheckOutcome("401 without key and with a wrong key, 200 with the key")


def _counter_names(counter: str) -> tuple[str, str]:
    """(family name, sample name): prometheus_client lists a counter ``x`` as samples
    ``x_total`` (+ ``x_created``) of family ``x``; TGI's exporter as plain ``x``."""
    base = counter.removesuffix("_total")
    return base, counter


def scrape_request_count(ctx: TargetContext, full: bool = True) -> float | None:
    """Sum of the engine's request counter in /metrics (smoke/engines.py REQUEST_COUNTERS:
    ``tgi_request_count``, ``vllm:request_success_total``, ``sglang:num_requests_total``),
    None when it is not listed yet (raises CheckFailed when /metrics does not answer
    Prometheus text).

    TGI (metrics-exporter-prometheus) lists a counter only after its first increment: a TGI
    that has served no request yet has no ``tgi_request_count`` at all. vLLM and SGLang
    (prometheus_client) list theirs from the start, at 0.

    ``full``: parse the whole exposition (the check); otherwise only the counter's own lines
    (the baseline scrape: the full parse costs ~30 ms of CPU per scrape on TGI's histograms).
    """
    from prometheus_client.parser import text_string_to_metric_families

    counter = REQUEST_COUNTERS.get(ctx.engine, REQUEST_COUNTER)
    family_name, sample_name = _counter_names(counter)
    sent = "GET /metrics"
    expected = "HTTP 200 Prometheus text"
    resp = _request(ctx, "GET", "/metrics", None, expected=expected)
    if resp.status_code != 200:
        hint = (
            " (SGLang serves /metrics only with --enable-metrics)"
            if ctx.engine == "sglang" and resp.status_code == 404
            else ""
        )
        raise CheckFailed(sent, expected, _got_response(resp) + hint)
    text = resp.text
    names = {family_name, sample_name, family_name + "_total"}
    if not full:
        text = "".join(
            line
            for line in text.splitlines(keepends=True)
            if (line.startswith(("# HELP ", "# TYPE ")) and line.split()[2] in names)
            or re.split(r"[{\s]", line, maxsplit=1)[0] in names
        )
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError and friends
        raise CheckFailed(
            sent, expected, f"unparseable Prometheus text ({exc}): {shorten(resp.text)}"
        ) from exc
    for family in families:
        if family.name in names:
            return sum(s.value for s in family.samples if s.name in names)
    return None


def take_metrics_baseline(ctx: TargetContext) -> None:
    try:
        ctx.request_count_baseline = scrape_request_count(ctx, full=False)
        ctx.baseline_taken = True
    except CheckFailed as exc:
        ctx.baseline_error = str(exc)


def check_metrics(ctx: TargetContext) -> CheckOutcome:
    """/metrics answers, and tgi_request_count rose across the suite's own requests.

    Before the checks the counter may be missing (a TGI that has served no request yet):
    that counts as 0."""
    if not ctx.baseline_taken:
        raise CheckFailed(
            "GET /metrics before the checks",
            "HTTP 200 Prometheus text",
            ctx.baseline_error or "no baseline scrape was taken",
        )
    counter = REQUEST_COUNTERS.get(ctx.engine, REQUEST_COUNTER)
    after = scrape_request_count(ctx)
    before = ctx.request_count_baseline
    shown = "absent (no request served yet)" if before is None else f"{before:g}"
    if after is None or after <= (before or 0):
        now = "still absent" if after is None else f"{after:g}"
        raise CheckFailed(
            "GET /metrics before and after the checks",
            f"{counter} to rise across the run's own generation requests",
            f"{counter} {shown} before, {now} after",
        )
    return CheckOutcome(f"{counter} {shown} -> {after:g}")


# ---------------------------------------------------------------- OpenAI routes, all engines


def check_models(ctx: TargetContext) -> CheckOutcome:
    """GET /v1/models lists the served model (vLLM: --served-model-name or the model; SGLang
    likewise; TGI: the model id)."""
    expected_id = ctx.target.expected_model_id
    sent = "GET /v1/models"
    expected = 'HTTP 200 {"object": "list", "data": [{"id": ...}]}' + (
        f" listing {expected_id!r}" if expected_id else ""
    )
    resp = _request(ctx, "GET", "/v1/models", None, expected=expected)
    out: models.ModelList = _expect_json(resp, models.ModelList, sent, expected)
    ids = [m.id for m in out.data]
    if not ids:
        raise CheckFailed(sent, expected, f"no model listed: {shorten(resp.text)}")
    if expected_id and expected_id not in ids:
        raise CheckFailed(sent, expected, f"wrong model id: /v1/models lists {ids}")
    ctx.served_model = ids[0]
    return CheckOutcome(f"models {ids}")


def check_completions(ctx: TargetContext) -> CheckOutcome:
    request = {
        "model": ctx.model_name,
        "prompt": PROMPT,
        "max_tokens": SHORT_MAX_TOKENS,
        "temperature": 0,
    }
    sent = f"POST /v1/completions (openai client) {shorten(request)}"
    expected = (
        "HTTP 200 Completion: non-empty text, usage with total_tokens = prompt_tokens + "
        f"completion_tokens, 0 < completion_tokens <= {SHORT_MAX_TOKENS}"
    )
    start = time.monotonic()
    raw = _openai_call(
        ctx, sent, expected, lambda: ctx.openai.completions.with_raw_response.create(**request)
    )
    latency = time.monotonic() - start
    if raw.http_response.headers.get("x-tgi-standin"):
        ctx.standin = True
    ours: models.Completion = _parse(models.Completion, raw.http_response.text, sent, expected)
    _openai_call(ctx, sent, expected, raw.parse)
    for choice in ours.choices:
        _fail_if_aborted(choice.finish_reason, sent, expected)
    if not ours.choices or not ours.choices[0].text.strip():
        raise CheckFailed(sent, expected, f"no text: {shorten(raw.http_response.text)}")
    u = ours.usage
    _check_usage(u, SHORT_MAX_TOKENS, sent, expected)
    return CheckOutcome(
        f"{u.completion_tokens} tokens, finish_reason={ours.choices[0].finish_reason}",
        Measurements(latency_s=latency, tokens=u.completion_tokens),
    )


def check_completions_stream(ctx: TargetContext) -> CheckOutcome:
    """Raw SSE of /v1/completions: text chunks, then data: [DONE] (the openai client hides it).
    Also the throughput sample of engines without TGI's /generate_stream."""
    request = {
        "model": ctx.model_name,
        "prompt": PROMPT,
        "max_tokens": CHAT_MAX_TOKENS,
        "temperature": 0,
        "stream": True,
    }
    sent = f"POST /v1/completions (raw SSE) {shorten(request)}"
    expected = "HTTP 200 SSE of Completion chunks with text, ending with data: [DONE]"
    pieces: list[str] = []
    ttft = None
    elapsed = 0.0
    for elapsed, data in _iter_openai_sse(ctx, "/v1/completions", request, sent, expected):
        chunk: models.Completion = _parse(models.Completion, data, sent, expected)
        for choice in chunk.choices:
            _fail_if_aborted(choice.finish_reason, sent, expected)
            if choice.text:
                pieces.append(choice.text)
                if ttft is None:
                    ttft = elapsed
    if len(pieces) < 2 or not "".join(pieces).strip():
        raise CheckFailed(sent, expected, f"{len(pieces)} text chunk(s): not incremental")
    if ctx.stream_sample is None:
        ctx.stream_sample = (ttft or 0.0, elapsed, len(pieces))
    return CheckOutcome(
        f"{len(pieces)} text chunks + [DONE]",
        Measurements(latency_s=elapsed, ttft_s=ttft, tokens=len(pieces)),
    )


# ---------------------------------------------------------------- SGLang's native /generate


def _sglang_body(stream: bool) -> dict:
    return {
        "text": PROMPT,
        "sampling_params": {"max_new_tokens": SHORT_MAX_TOKENS, "temperature": 0},
        "stream": stream,
    }


def check_sglang_generate(ctx: TargetContext) -> CheckOutcome:
    body = _sglang_body(False)
    sent = f"POST /generate {shorten(body)}"
    expected = (
        'HTTP 200 {"text": non-empty, "meta_info": {"prompt_tokens", "completion_tokens" > 0, '
        '"finish_reason" not abort}} (SGLang native)'
    )
    start = time.monotonic()
    resp = _request(ctx, "POST", "/generate", body, expected=expected)
    latency = time.monotonic() - start
    out: models.SglangGenerate = _expect_json(resp, models.SglangGenerate, sent, expected)
    meta = out.meta_info
    aborted = _sglang_abort(meta)
    if aborted:
        raise CheckFailed(sent, expected, f"{aborted}: {shorten(resp.text)}")
    if not out.text.strip() or meta.completion_tokens <= 0 or meta.finish_reason is None:
        raise CheckFailed(sent, expected, f"empty answer or no finish_reason: {shorten(resp.text)}")
    return CheckOutcome(
        f"{meta.completion_tokens} tokens, finish_reason={meta.finish_reason.get('type')}",
        Measurements(latency_s=latency, tokens=meta.completion_tokens),
    )


def _sglang_incremental(ctx: TargetContext) -> bool | None:
    """How the server streams /generate, as its /server_info says: with
    ``--incremental-streaming-output`` each event carries only the new text, otherwise the text
    so far (srt/managers/tokenizer_manager.py ``_handle_batch_output``); a server_info without
    the field predates the flag (cumulative). None when /server_info does not answer."""
    try:
        resp = ctx.http.get("/server_info")
        info = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    return info.get("incremental_streaming_output") is True


def check_sglang_generate_stream(ctx: TargetContext) -> CheckOutcome:
    body = _sglang_body(True)
    sent = f"POST /generate {shorten(body)}"
    expected = (
        "HTTP 200 SSE: each event's text the text so far (cumulative), or only the new text "
        "under --incremental-streaming-output; the last event with meta_info.finish_reason, "
        "not abort; then data: [DONE]"
    )
    incremental = _sglang_incremental(ctx)
    events: list[str] = []
    texts: list[str] = []
    final, ttft, elapsed = None, None, 0.0
    for elapsed, data in _iter_sse(ctx, "/generate", body, sent, expected):
        if events and events[-1] == "[DONE]":
            raise CheckFailed(sent, expected, f"event after [DONE]: {shorten(data)}")
        events.append(data)
        if data == "[DONE]":
            continue
        if _stream_error(data) is not None:  # http_server.py: {"error": {...}} in the stream
            raise CheckFailed(
                sent, expected, f"error event after {len(texts)} events: {shorten(data)}"
            )
        event: models.SglangGenerate = _parse(models.SglangGenerate, data, sent, expected)
        aborted = _sglang_abort(event.meta_info)
        if aborted:
            raise CheckFailed(sent, expected, f"{aborted} after {len(texts)} events")
        texts.append(event.text)
        if ttft is None and event.text:
            ttft = elapsed
        if event.meta_info.finish_reason is not None:
            final = event
    if not events or events[-1] != "[DONE]":
        raise CheckFailed(
            sent, expected, f"stream ended without data: [DONE] after {len(events)} events"
        )
    if final is None:
        raise CheckFailed(sent, expected, "no event with meta_info.finish_reason")
    broken = next(
        ((a, b) for a, b in zip(texts, texts[1:], strict=False) if not b.startswith(a)), None
    )
    if incremental is None:  # /server_info did not say: the stream does
        incremental = broken is not None
    elif not incremental and broken is not None:
        raise CheckFailed(
            sent,
            expected,
            f"text {shorten(broken[1])} does not extend the previous {shorten(broken[0])} "
            "(/server_info: incremental_streaming_output off, so each event carries the text "
            "so far)",
        )
    style = "incremental text" if incremental else "cumulative text"
    n = final.meta_info.completion_tokens
    return CheckOutcome(
        f"{len(events) - 1} events + [DONE], {n} tokens, {style}",
        Measurements(latency_s=elapsed, ttft_s=ttft, tokens=n),
    )


# The seed's five client styles: raw HTTP (generate), text_generation (tgi_client),
# huggingface_hub InferenceClient (hf_client_stream), LangChain (langchain), openai (chat).
CHECKS: dict[str, Callable[[TargetContext], CheckOutcome]] = {
    "ready": check_ready,
    "info": check_info,
    "generate": check_generate,
    "generate_stream": check_generate_stream,
    "throughput": check_throughput,
    "tgi_client": check_tgi_client,
    "models": check_models,
    "completions": check_completions,
    "completions_stream": check_completions_stream,
    "sglang_generate": check_sglang_generate,
    "sglang_generate_stream": check_sglang_generate_stream,
    "chat": check_chat,
    "chat_stream": check_chat_stream,
    "hf_client_stream": check_hf_client_stream,
    "langchain": check_langchain,
    "semantic_name": check_semantic_name,
    "semantic_year": check_semantic_year,
    "validation": check_validation,
    "auth": check_auth,
    "metrics": check_metrics,
}
# TGI's checks (the default engine); every engine's list: smoke/engines.py ENGINE_CHECKS
CHECK_NAMES = ENGINE_CHECKS["tgi"]
