"""``tgi-smoke --load N``: does a service hold the traffic it was sized for?

N concurrent streams (threads, one HTTP connection each) send the seed's prompt and
generation config to the target's ``/generate_stream`` (TGI's own SSE route: one event per
token, so token timings are exact; vLLM and SGLang: ``/v1/completions`` with ``stream``, one
chunk per token, then ``data: [DONE]``) back to back, until ``--load-duration`` seconds have
passed or ``--load-requests`` requests were started, whichever comes first; requests still
running at the deadline finish within ``--timeout``. Only the target's own URL is loaded.

Reported (table, JSON ``load``, JUnit ``load`` case): p50/p95/p99 of time to first token
(TTFT), inter-token latency (ITL, gaps between token events), end-to-end latency (E2E);
output tokens/s over the run's wall time; error rate. Optional thresholds fail the run:
``--load-max ttft_p95=0.5`` (repeat; any percentile or ``error_rate``) and
``--load-min tokens_per_s=200``.

Why not a library: the maintained benchmarks for OpenAI-compatible/TGI endpoints are tools,
not libraries to embed, or too heavy for a smoke install: ``guidellm`` pulls torch,
transformers and datasets (97 packages with CUDA wheels); ``genai-perf`` drives Triton's
``perf_analyzer`` binary; ``inference-benchmarker`` is a Rust binary, not on PyPI;
``llmperf`` on PyPI is a 0.0.1 placeholder (the project is Ray-based, installed from git);
``locust`` (gevent, Flask) has no token-level timings. The loop below is ~100 lines of
httpx + httpx-sse, which the suite already uses.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field

import httpx
from httpx_sse import EventSource
from tgi_infra.smoke.context import TargetContext, http_client, shorten
from tgi_infra.smoke.models import ABORT_FINISH_REASON
from tgi_infra.smoke.options import (  # noqa: F401 (the load's limits, defined with its options)
    MAX_DURATION_S,
    MAX_NAMES,
    MAX_STREAMS,
    MIN_NAMES,
    PERCENTILES,
    SERIES,
)
from tgi_infra.smoke.seed import GENERATE_PARAMETERS, PROMPT


@dataclass(frozen=True)
class LoadSettings:
    streams: int
    duration_s: float = 30.0
    max_requests: int | None = None
    max: dict[str, float] = field(default_factory=dict)  # upper limits, MAX_NAMES
    min: dict[str, float] = field(default_factory=dict)  # lower limits, MIN_NAMES


@dataclass
class _Sample:
    ttft: float | None = None
    e2e: float = 0.0
    tokens: int = 0
    gaps: list[float] = field(default_factory=list)
    error: str | None = None


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    data = sorted(values)
    k = (len(data) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def _one_request(
    client: httpx.Client, body: dict, timeout: float, path: str = "/generate_stream"
) -> _Sample:
    """One stream. ``/generate_stream`` (TGI): one event per token, the last with
    generated_text. ``/v1/completions`` (vLLM, SGLang): one chunk per token, then [DONE]."""
    openai_stream = path == "/v1/completions"
    sample = _Sample()
    start = time.monotonic()
    last = None
    try:
        with client.stream("POST", path, json=body) as resp:
            if resp.status_code != 200:
                resp.read()
                sample.error = f"HTTP {resp.status_code} {shorten(resp.text or '(empty body)')}"
                return sample
            final = False
            for event in EventSource(resp).iter_sse():
                now = time.monotonic()
                if now - start > timeout:
                    sample.error = f"stream still running after --timeout {timeout:g}s"
                    return sample
                if openai_stream and event.data == "[DONE]":
                    final = True
                    continue
                data = json.loads(event.data)
                if ("error" in data and "token" not in data) or data.get("object") == "error":
                    sample.error = f"error event: {shorten(event.data)}"
                    return sample
                choices = (data.get("choices") or []) if openai_stream else []
                if any(c.get("finish_reason") == ABORT_FINISH_REASON for c in choices):
                    sample.error = f"aborted after {sample.tokens} tokens: {shorten(event.data)}"
                    return sample
                if openai_stream and not any(c.get("text") for c in choices):
                    continue  # a usage or empty chunk: no token
                if last is None:
                    sample.ttft = now - start
                else:
                    sample.gaps.append(now - last)
                last = now
                sample.tokens += 1
                if not openai_stream:
                    final = data.get("generated_text") is not None
            if not final:
                sample.error = f"stream ended after {sample.tokens} tokens without a final event"
    except (httpx.HTTPError, ValueError) as exc:
        sample.error = f"{type(exc).__name__}: {shorten(str(exc), 200)}"
    finally:
        sample.e2e = time.monotonic() - start
    return sample


def run_load(ctx: TargetContext, load: LoadSettings) -> dict:
    """Run the load against ctx's target; the summary (smoke/report-schema.json ``load``)."""
    if ctx.engine == "tgi":
        path, body = "/generate_stream", {"inputs": PROMPT, "parameters": GENERATE_PARAMETERS}
    else:  # vLLM and SGLang: the OpenAI completions stream
        path = "/v1/completions"
        body = {
            "model": ctx.model_name,
            "prompt": PROMPT,
            "max_tokens": GENERATE_PARAMETERS["max_new_tokens"],
            "temperature": 0,
            "stream": True,
        }
    samples: list[_Sample] = []
    lock = threading.Lock()
    started = 0
    t0 = time.monotonic()
    deadline = t0 + load.duration_s

    def claim() -> bool:
        nonlocal started
        with lock:
            if time.monotonic() >= deadline:
                return False
            if load.max_requests is not None and started >= load.max_requests:
                return False
            started += 1
            return True

    def worker() -> None:
        with http_client(
            base_url=ctx.base_url,
            headers=ctx.auth_headers,
            timeout=httpx.Timeout(ctx.settings.timeout),
        ) as client:
            while claim():
                sample = _one_request(client, body, ctx.settings.timeout, path)
                with lock:
                    samples.append(sample)

    threads = [
        threading.Thread(target=worker, name=f"load-{i}", daemon=True) for i in range(load.streams)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return summarize(samples, wall, load)


def summarize(samples: list[_Sample], wall: float, load: LoadSettings) -> dict:
    ok = [s for s in samples if s.error is None]
    errors = [s for s in samples if s.error is not None]
    series = {
        "ttft": [s.ttft for s in ok if s.ttft is not None],
        "itl": [g for s in ok for g in s.gaps],
        "e2e": [s.e2e for s in ok],
    }
    out_tokens = sum(s.tokens for s in ok)
    summary: dict = {
        "streams": load.streams,
        "duration_limit_s": load.duration_s,
        "request_limit": load.max_requests,
        "wall_s": round(wall, 4),
        "requests": len(samples),
        "errors": len(errors),
        "error_rate": round(len(errors) / len(samples), 4) if samples else None,
        "output_tokens": out_tokens,
        "tokens_per_s": round(out_tokens / wall, 2) if wall > 0 else None,
        "first_error": errors[0].error if errors else None,
    }
    for name, values in series.items():
        summary[name] = {
            f"p{p}": None if (v := percentile(values, p)) is None else round(v, 5)
            for p in PERCENTILES
        }
    summary["thresholds"] = {"max": dict(load.max), "min": dict(load.min)}
    summary["violations"] = violations(summary, load)
    return summary


def value_of(summary: dict, name: str) -> float | None:
    if name in ("error_rate", "tokens_per_s"):
        return summary[name]
    series, p = name.split("_")
    return summary[series][p]


def violations(summary: dict, load: LoadSettings) -> list[str]:
    out = []
    if summary["requests"] == 0:
        out.append("no request was sent")
    elif summary["errors"] == summary["requests"]:
        out.append(f"every request failed (first: {summary['first_error']})")
    for name, limit in load.max.items():
        value = value_of(summary, name)
        if value is not None and value > limit:
            out.append(f"{name} {value:g} > {limit:g}")
    for name, limit in load.min.items():
        value = value_of(summary, name)
        if value is None or value < limit:
            out.append(f"{name} {value if value is not None else 'n/a'} < {limit:g}")
    return out


def describe(summary: dict) -> str:
    """One line: what ran and the headline figures."""

    def ms(series: str, p: str) -> str:
        v = summary[series][p]
        return "n/a" if v is None else f"{v * 1000:.0f}"

    return (
        f"{summary['requests']} requests over {summary['streams']} streams in "
        f"{summary['wall_s']:.1f}s, errors {summary['errors']} "
        f"({(summary['error_rate'] or 0) * 100:.1f}%), {summary['tokens_per_s']} output "
        f"tokens/s; ttft p50/p95/p99 {ms('ttft', 'p50')}/{ms('ttft', 'p95')}/"
        f"{ms('ttft', 'p99')} ms, itl {ms('itl', 'p50')}/{ms('itl', 'p95')}/{ms('itl', 'p99')} "
        f"ms, e2e {ms('e2e', 'p50')}/{ms('e2e', 'p95')}/{ms('e2e', 'p99')} ms"
    )


def parse_threshold(text: str, allowed: tuple[str, ...]) -> tuple[str, float]:
    """``NAME=VALUE`` -> (name, value); ValueError naming what is allowed."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or name not in allowed:
        raise ValueError(f"{text!r}: expected NAME=VALUE with NAME one of {', '.join(allowed)}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{text!r}: {raw!r} is not a number") from None
    if value < 0 or math.isnan(value):
        raise ValueError(f"{text!r}: must be >= 0")
    return name, value


def settings_from_args(args) -> LoadSettings | None:
    """LoadSettings from the parsed options; ValueError with a usage message."""
    extra = args.load_requests is not None or args.load_max or args.load_min
    if args.load is None:
        if extra:
            raise ValueError("--load-requests/--load-max/--load-min need --load N")
        return None
    if not 0 < args.load_duration <= MAX_DURATION_S:
        raise ValueError(f"--load-duration must be in (0, {MAX_DURATION_S:g}] seconds")
    if args.load_requests is not None and args.load_requests < 1:
        raise ValueError("--load-requests must be >= 1")
    return LoadSettings(
        streams=args.load,
        duration_s=args.load_duration,
        max_requests=args.load_requests,
        max=dict(parse_threshold(t, MAX_NAMES) for t in args.load_max),
        min=dict(parse_threshold(t, MIN_NAMES) for t in args.load_min),
    )
