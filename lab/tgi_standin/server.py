"""The router's HTTP API on ``http.server.ThreadingHTTPServer`` (stdlib only).

Routes, auth split, status codes, error bodies and SSE framing follow router/src/server.rs;
see CONTRACT.md for the list and the known differences.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import generation, openai_compat, tokenizer
from .logs import Logger
from .metrics import Metrics
from .validation import BodyError, Limits, ValidationError, check_types, require_object, validate

VERSION = "3.3.7"
STANDIN_HEADER = "x-tgi-standin"
DOCKER_LABEL = "sha-db931fc"
GIT_SHA = "db931fc"


class InferError(Exception):
    def __init__(self, status: int, message: str, error_type: str, metric: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.metric = metric

    def body(self) -> dict:
        return {"error": self.message, "error_type": self.error_type}


def validation_error(message: str) -> InferError:
    return InferError(422, f"Input validation error: {message}", "validation", "validation")


OVERLOADED = InferError(429, "Model is overloaded", "overloaded", "overloaded")


@dataclass
class State:
    model_id: str
    revision: str | None
    limits: Limits
    max_concurrent_requests: int
    validation_workers: int
    api_key: str | None
    payload_limit: int
    faults: frozenset[str]
    token_delay: float
    logger: Logger
    metrics: Metrics
    wrong_model_id: str = "bigscience/bloom-560m"
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def served_model_id(self) -> str:
        if "wrong_model_id" in self.faults:
            return self.wrong_model_id if self.wrong_model_id != self.model_id else "gpt2"
        return self.model_id

    @property
    def fingerprint(self) -> str:
        return f"{VERSION}-{DOCKER_LABEL}"

    def info(self) -> dict:
        model_id = self.served_model_id
        sha = hashlib.sha1(f"{model_id}@{self.revision or 'main'}".encode()).hexdigest()
        return {
            "model_id": model_id,
            "model_sha": sha,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": self.max_concurrent_requests,
            "max_best_of": self.limits.max_best_of,
            "max_stop_sequences": self.limits.max_stop_sequences,
            "max_input_tokens": self.limits.max_input_tokens,
            "max_total_tokens": self.limits.max_total_tokens,
            "validation_workers": self.validation_workers,
            "max_client_batch_size": self.limits.max_client_batch_size,
            "router": "text-generation-router",
            "version": VERSION,
            "sha": GIT_SHA,
            "docker_label": DOCKER_LABEL,
        }

    def acquire(self) -> None:
        with self.lock:
            if self.in_flight >= self.max_concurrent_requests:
                raise OVERLOADED
            self.in_flight += 1

    def release(self) -> None:
        with self.lock:
            self.in_flight -= 1


@dataclass
class Job:
    """One validated generation, ready to run."""

    valid: object
    gen: generation.Generation
    best_of_sequences: list | None
    started: float


def run_job(
    state: State,
    inputs: str,
    params: dict,
    *,
    qa_source: str | None = None,
    leading_space: bool = True,
    echo: str | None = None,
) -> Job:
    """Validate + generate; raises InferError (failure metric already counted).

    ``echo``: the "model" answers this text verbatim (fault ``echo_system``)."""
    started = time.monotonic()
    if "accept_top_p_1" in state.faults and params.get("top_p") == 1.0:
        params = {k: v for k, v in params.items() if k != "top_p"}
    try:
        valid = validate(inputs, params, state.limits)
    except ValidationError as exc:
        err = validation_error(str(exc))
        state.metrics.failure(err.metric)
        raise err from None
    if "generate_424" in state.faults:
        state.metrics.failure("generation")
        raise InferError(
            424,
            "Request failed during generation: Server error: CUDA error: an illegal memory "
            "access was encountered",
            "generation",
            "generation",
        )
    if "generate_500" in state.faults:
        state.metrics.failure("incomplete")
        raise InferError(500, "Incomplete generation", "incomplete_generation", "incomplete")
    valid.params.leading_space = leading_space
    gen = generation.generate(state.model_id, inputs, valid.params, qa_source, answer=echo)
    best_of = None
    if valid.best_of > 1:
        best_of = []
        for i in range(1, valid.best_of):
            other = generation.GenParams(**{**valid.params.__dict__, "seed": (gen.seed or 0) + i})
            best_of.append(generation.generate(state.model_id, inputs, other, qa_source))
    return Job(valid, gen, best_of, started)


def details_dict(job: Job) -> dict:
    gen = job.gen
    out = {
        "finish_reason": gen.finish_reason,
        "generated_tokens": gen.generated_tokens,
        "seed": gen.seed,
        "prefill": generation.prefill(job.valid.inputs) if job.valid.decoder_input_details else [],
        "tokens": gen.tokens,
    }
    if gen.top_tokens:
        out["top_tokens"] = gen.top_tokens
    if job.best_of_sequences is not None:
        prefix = job.valid.inputs if job.valid.return_full_text else ""
        out["best_of_sequences"] = [
            {
                "generated_text": prefix + other.text,
                "finish_reason": other.finish_reason,
                "generated_tokens": other.generated_tokens,
                "seed": other.seed,
                "prefill": out["prefill"],
                "tokens": other.tokens,
                **({"top_tokens": other.top_tokens} if other.top_tokens else {}),
            }
            for other in job.best_of_sequences
        ]
    return out


# Routes: (method, path) -> (handler name, guarded by --api-key). server.rs (3.3.7, `base_routes`)
# puts `/`, /generate, /generate_stream, /v1/chat/completions, /v1/completions, /vertex,
# /invocations and /tokenize behind the key; `info_routes` (health, info, metrics, models,
# /chat_tokenize) are merged outside that layer.
ROUTES = {
    ("GET", "/"): ("health", False),
    ("GET", "/health"): ("health", False),
    ("GET", "/ping"): ("health", False),
    ("GET", "/info"): ("info", False),
    ("GET", "/metrics"): ("metrics", False),
    ("GET", "/v1/models"): ("models", False),
    ("POST", "/"): ("compat_generate", True),
    ("POST", "/generate"): ("generate", True),
    ("POST", "/generate_stream"): ("generate_stream", True),
    ("POST", "/v1/chat/completions"): ("chat_completions", True),
    ("POST", "/v1/completions"): ("completions", True),
    ("POST", "/tokenize"): ("tokenize", True),
    ("POST", "/chat_tokenize"): ("chat_tokenize", False),
    ("POST", "/invocations"): ("invocations", True),
}
_PATHS = {path for _, path in ROUTES}


class StreamAborted(Exception):
    """The client went away (or a fault cut the stream): stop writing."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandinServer

    # --- plumbing -------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    @property
    def state(self) -> State:
        return self.server.state

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return

    def send_response(self, code: int, message: str | None = None) -> None:
        # axum sends no Server header; keep only status line + date.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        # not TGI's: says "a stand-in answered" (the smoke suite prints it next to a pass)
        self.send_header(STANDIN_HEADER, "lab/tgi_standin")

    def _send(self, status: int, body: bytes, content_type: str | None, headers=None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj, headers=None) -> None:
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json", headers)

    def send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def send_error_json(self, err: InferError) -> None:
        self.send_json(err.status, err.body())

    def start_sse(self, headers=None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-compute-type", "gpu+optimized")
        self.send_header("X-Accel-Buffering", "no")
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            raise StreamAborted from exc

    def sse(self, payload) -> None:
        data = (
            payload
            if isinstance(payload, str)
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        )
        self._chunk(b"data:" + data.encode() + b"\n\n")

    def end_sse(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def abort_stream(self) -> None:
        """Drop the connection mid-stream (no terminating chunk)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def pace(self, n_tokens: int = 1) -> None:
        if self.state.token_delay > 0:
            time.sleep(self.state.token_delay * n_tokens)

    def read_body(self) -> object:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > self.state.payload_limit:
                self.close_connection = True
                raise BodyError(413, "Failed to buffer the request body: length limit exceeded")
            raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        mime = ctype.split(";")[0].strip().lower()
        if not (
            mime == "application/json"
            or (mime.startswith("application/") and mime.endswith("+json"))
        ):
            raise BodyError(415, "Expected request with `Content-Type: application/json`")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BodyError(400, f"Failed to parse the request body as JSON: {exc}") from None

    def _read_chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()
            if len(out) > self.state.payload_limit:
                self.close_connection = True
                raise BodyError(413, "Failed to buffer the request body: length limit exceeded")

    def authorized(self) -> bool:
        key = self.state.api_key
        if key is None:
            return True
        token = self.headers.get("Authorization")
        # server.rs compares "Bearer <key>" case-insensitively (to_lowercase on both sides).
        return token is not None and token.lower() == f"Bearer {key}".lower()

    # --- dispatch -------------------------------------------------------------------------
    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        route = ROUTES.get((self.command, path))
        if route is None:
            # a POST body is left unread: close, and say so, as the real server's stack does
            close = {"Connection": "close"} if self.command == "POST" else None
            if self.command in ("POST", "GET") and path in _PATHS:
                self._send(405, b"", None, close)
            else:
                self._send(404, b"", None, close)
            if close:
                self.close_connection = True
            return
        name, guarded = route
        if name == "compat_generate" and "compat_404" in self.state.faults:
            self.close_connection = True
            self._send(404, b"", None, {"Connection": "close"})
            return
        if guarded and not self.authorized():
            self.close_connection = True
            self._send(401, b"", None, {"Connection": "close"})
            return
        try:
            getattr(self, "route_" + name)()
        except BodyError as exc:
            self.send_text(exc.status, exc.text)
        except InferError as exc:
            self.send_error_json(exc)
        except StreamAborted:
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    # --- simple routes --------------------------------------------------------------------
    def route_health(self) -> None:
        if "health_503" in self.state.faults:
            self.send_json(503, {"error": "unhealthy", "error_type": "healthcheck"})
        else:
            self._send(200, b"", None)

    def route_info(self) -> None:
        self.send_json(200, self.state.info())

    def route_metrics(self) -> None:
        metrics = self.state.metrics
        if "metrics_stale" in self.state.faults:  # as if scraped from a process never used
            metrics = Metrics(
                self.state.limits.max_input_tokens, self.state.limits.max_total_tokens
            )
        self._send(200, metrics.render().encode(), "text/plain; charset=utf-8")

    def route_models(self) -> None:
        model = self.state.served_model_id
        self.send_json(
            200,
            {
                "object": "list",
                "data": [{"id": model, "object": "model", "created": 0, "owned_by": model}],
            },
        )

    def route_tokenize(self) -> None:
        body = require_object(self.read_body(), "inputs")
        inputs = str(body["inputs"])
        tokens = [{"id": tokenizer.BOS_ID, "text": "", "start": 0, "stop": 0}]
        tokens += [
            {"id": tokenizer.token_id(p), "text": p, "start": a, "stop": b}
            for p, a, b in tokenizer.spans(inputs)
        ]
        self.send_json(200, tokens)

    def route_chat_tokenize(self) -> None:
        body = require_object(self.read_body(), "messages")
        self.state.metrics.inc("tgi_request_count")
        prompt, _ = openai_compat.apply_chat_template(self._chat_messages(body))
        tokens = [
            {"id": tokenizer.token_id(p), "text": p, "start": a, "stop": b}
            for p, a, b in tokenizer.spans(prompt)
        ]
        self.send_json(200, {"tokenize_response": tokens, "templated_text": prompt})

    # --- generation -----------------------------------------------------------------------
    def _generate_params(self, body: dict) -> tuple[str, dict]:
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise BodyError(
                422,
                "Failed to deserialize the JSON body into the target type: parameters: "
                "invalid type: expected struct GenerateParameters",
            )
        check_types(params)
        if not isinstance(body["inputs"], str):
            raise BodyError(
                422,
                "Failed to deserialize the JSON body into the target type: inputs: "
                "invalid type, expected a string",
            )
        return body["inputs"], params

    def _headers_for(self, job: Job) -> dict:
        total = time.monotonic() - job.started
        n = max(job.gen.generated_tokens, 1)
        return {
            "x-compute-type": "gpu+optimized",
            "x-compute-time": f"{total:.6f}",
            "x-compute-characters": len(job.valid.inputs),
            "x-total-time": int(total * 1000),
            "x-validation-time": 0,
            "x-queue-time": 0,
            "x-inference-time": int(total * 1000),
            "x-time-per-token": int(total * 1000 / n),
            "x-prompt-tokens": job.valid.input_length,
            "x-generated-tokens": job.gen.generated_tokens,
        }

    def _success(self, job: Job, route: str) -> None:
        duration = time.monotonic() - job.started
        self.state.metrics.success(
            duration,
            job.valid.input_length,
            job.gen.generated_tokens,
            job.valid.params.max_new_tokens,
        )
        self.state.logger.info(
            "Success",
            target=f'{route}{{total_time="{duration * 1000:.3f}ms" seed="{job.gen.seed}"}}: '
            "text_generation_router::server",
        )

    def _run_blocking(self, inputs: str, params: dict, **kw) -> Job:
        self.state.metrics.inc("tgi_request_count")
        try:
            self.state.acquire()
        except InferError:
            self.state.metrics.failure("overloaded")
            raise
        try:
            job = run_job(self.state, inputs, params, **kw)
            self.pace(job.gen.generated_tokens)
            return job
        finally:
            self.state.release()

    def _generate_payload(self, job: Job) -> dict:
        text = job.gen.text
        if job.valid.return_full_text:
            text = job.valid.inputs + text
        out: dict = {"generated_text": text}
        if job.valid.details or job.valid.decoder_input_details:
            out["details"] = details_dict(job)
        return out

    def _broken(self, payload) -> None:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        self._send(200, text[: max(len(text) // 2, 1)].encode(), "application/json")

    def route_generate(self, compat: bool = False, body: dict | None = None) -> None:
        body = require_object(self.read_body() if body is None else body, "inputs")
        inputs, params = self._generate_params(body)
        if compat and params.get("return_full_text") is None:
            params = {**params, "return_full_text": True}  # pipeline_tag text-generation
        if compat and body.get("stream"):
            self._generate_stream(inputs, params)
            return
        job = self._run_blocking(inputs, params)
        self._success(job, "generate")
        payload = self._generate_payload(job)
        if "malformed_json" in self.state.faults and not compat:
            self._broken(payload)
            return
        self.send_json(200, [payload] if compat else payload, self._headers_for(job))

    def route_compat_generate(self) -> None:
        self.route_generate(compat=True)

    def route_generate_stream(self) -> None:
        body = require_object(self.read_body(), "inputs")
        inputs, params = self._generate_params(body)
        self._generate_stream(inputs, params)

    def _stream_job(self, inputs: str, params: dict, **kw) -> Job | InferError:
        """Validation + permit for a stream; errors are returned to be sent as an SSE event."""
        self.state.metrics.inc("tgi_request_count")
        if (params.get("best_of") or 1) != 1:
            self.state.metrics.failure("validation")
            return validation_error("`best_of` != 1 is not supported when streaming tokens")
        if params.get("decoder_input_details"):
            self.state.metrics.failure("validation")
            return validation_error(
                "`decoder_input_details` == true is not supported when streaming tokens"
            )
        try:
            self.state.acquire()
        except InferError as exc:
            self.state.metrics.failure("overloaded")
            return exc
        try:
            return run_job(self.state, inputs, params, **kw)
        except InferError as exc:
            self.state.release()
            return exc

    def _generate_stream(self, inputs: str, params: dict) -> None:
        job = self._stream_job(inputs, params)
        self.start_sse({"x-compute-characters": len(inputs)})
        if isinstance(job, InferError):
            self.sse(job.body())
            self.end_sse()
            return
        try:
            self._emit_generate_events(job)
        finally:
            self.state.release()

    def _emit_generate_events(self, job: Job) -> None:
        gen = job.gen
        cut = self._cut_at(gen)
        for i, token in enumerate(gen.tokens):
            if i == cut:
                self.abort_stream()
                return
            self.pace()
            event: dict = {"index": i + 1, "token": token}
            if gen.top_tokens:
                event["top_tokens"] = gen.top_tokens[i]
            last = i == len(gen.tokens) - 1
            if last:
                self._success(job, "generate_stream")
                text = gen.text
                if job.valid.return_full_text:
                    text = job.valid.inputs + text
                event["generated_text"] = text
                event["details"] = (
                    {
                        "finish_reason": gen.finish_reason,
                        "generated_tokens": gen.generated_tokens,
                        "seed": gen.seed,
                        "input_length": job.valid.input_length,
                    }
                    if job.valid.details
                    else None
                )
            else:
                event["generated_text"] = None
                event["details"] = None
            self.sse(event)
        self.end_sse()

    def _cut_at(self, gen: generation.Generation) -> int | None:
        if "truncated_stream" not in self.state.faults:
            return None
        return max(len(gen.tokens) // 2, 1) if len(gen.tokens) > 1 else 0

    # --- OpenAI-compatible ----------------------------------------------------------------
    def _chat_params(self, body: dict) -> dict:
        check_types(body, prefix="")
        temperature = body.get("temperature")
        if temperature is not None and not isinstance(temperature, bool) and temperature == 0:
            do_sample, temperature = False, None
        else:
            do_sample = True
        logprobs = bool(body.get("logprobs"))
        top_n = body.get("top_logprobs") if logprobs else None
        stop = body.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        return {
            "temperature": temperature,
            "top_p": body.get("top_p"),
            "frequency_penalty": body.get("frequency_penalty"),
            "do_sample": do_sample,
            "max_new_tokens": body.get("max_tokens"),
            "stop": stop or [],
            "seed": body.get("seed"),
            "top_n_tokens": top_n,
            "details": True,
        }

    def route_chat_completions(self, body: dict | None = None) -> None:
        body = require_object(self.read_body() if body is None else body, "messages")
        params = self._chat_params(body)
        prompt, plain = openai_compat.apply_chat_template(self._chat_messages(body))
        model, fp = self.state.served_model_id, self.state.fingerprint
        logprobs = bool(body.get("logprobs"))
        if body.get("stream"):
            self._chat_stream(body, prompt, plain, params, model, fp, logprobs)
            return
        job = self._run_blocking(
            prompt, params, qa_source=plain, leading_space=False, echo=self._echo(body)
        )
        self._success(job, "chat_completions")
        payload = openai_compat.chat_completion(
            model, fp, job.gen, job.valid.input_length, logprobs
        )
        if "chat_bad_usage" in self.state.faults:
            payload["usage"]["total_tokens"] += 1
        if "malformed_json" in self.state.faults:
            self._broken(payload)
            return
        self.send_json(200, payload, self._headers_for(job))

    def _chat_stream(self, body, prompt, plain, params, model, fp, logprobs) -> None:
        job = self._stream_job(
            prompt, params, qa_source=plain, leading_space=False, echo=self._echo(body)
        )
        self.start_sse({"x-compute-characters": len(prompt)})
        if isinstance(job, InferError):
            self.sse(job.body())
            self._done()
            return
        try:
            gen = job.gen
            cut = self._cut_at(gen)
            for i, token in enumerate(gen.tokens):
                if i == cut:
                    self.abort_stream()
                    return
                self.pace()
                last = i == len(gen.tokens) - 1
                content = "" if token["special"] else token["text"]
                finish = openai_compat.finish_openai(gen.finish_reason) if last else None
                lp = openai_compat.chat_logprobs(gen, i) if logprobs else None
                if last:
                    self._success(job, "chat_completions")
                self.sse(openai_compat.chat_chunk(model, fp, content, finish, lp))
            options = body.get("stream_options") or {}
            if isinstance(options, dict) and options.get("include_usage"):
                self.sse(
                    openai_compat.usage_chunk(
                        model, fp, job.valid.input_length, gen.generated_tokens
                    )
                )
            self._done()
        finally:
            self.state.release()

    def _chat_messages(self, body: dict) -> list:
        """Fault ``ignore_system``: the chat template drops system messages."""
        messages = body["messages"]
        if "ignore_system" not in self.state.faults or not isinstance(messages, list):
            return messages
        return [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]

    def _echo(self, body: dict) -> str | None:
        """Fault ``echo_system``: the answer is the first system message, verbatim."""
        if "echo_system" not in self.state.faults:
            return None
        for message in body.get("messages") or []:
            if isinstance(message, dict) and message.get("role") == "system":
                content = message.get("content")
                return content if isinstance(content, str) else None
        return None

    def _done(self) -> None:
        if "chat_no_done" not in self.state.faults:
            self.sse("[DONE]")
        self.end_sse()

    def route_completions(self, body: dict | None = None) -> None:
        body = require_object(self.read_body() if body is None else body, "prompt")
        prompts = body["prompt"]
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise BodyError(
                422,
                "Failed to deserialize the JSON body into the target type: prompt: "
                "invalid type, expected a string or a sequence of strings",
            )
        if body.get("suffix") is not None:
            self.state.metrics.inc("tgi_request_count")
            self.state.metrics.failure("validation")
            raise InferError(
                422,
                "Suffix is not supported and can be achieved by preprocessing the prompt.",
                "suffix not supported",
                "validation",
            )
        if len(prompts) > self.state.limits.max_client_batch_size:
            self.state.metrics.inc("tgi_request_count")
            self.state.metrics.failure("validation")
            raise InferError(
                422,
                "Number of prompts exceeds the maximum allowed batch size of "
                f"{self.state.limits.max_client_batch_size}",
                "batch size exceeded",
                "validation",
            )
        params = self._chat_params(body)
        params["max_new_tokens"] = body.get("max_tokens") or 100
        params["top_n_tokens"] = None
        model, fp = self.state.served_model_id, self.state.fingerprint
        if body.get("stream"):
            self._completions_stream(prompts, params, model, fp)
            return
        choices, prompt_tokens, completion_tokens, jobs = [], 0, 0, []
        for index, prompt in enumerate(prompts):
            job = self._run_blocking(prompt, params)
            self._success(job, "completions")
            jobs.append(job)
            prompt_tokens += job.valid.input_length
            completion_tokens += job.gen.generated_tokens
            choices.append(
                {
                    "index": index,
                    "text": job.gen.text,
                    "logprobs": None,
                    "finish_reason": openai_compat.finish_openai(job.gen.finish_reason),
                }
            )
        payload = openai_compat.completion_final(
            model, fp, choices, prompt_tokens, completion_tokens
        )
        self.send_json(200, payload, self._headers_for(jobs[0]) if jobs else None)

    def _completions_stream(self, prompts, params, model, fp) -> None:
        self.start_sse({"x-compute-characters": sum(len(p) for p in prompts)})
        for index, prompt in enumerate(prompts):
            job = self._stream_job(prompt, params)
            if isinstance(job, InferError):
                self.sse(job.body())
                continue
            try:
                gen = job.gen
                cut = self._cut_at(gen)
                for i, token in enumerate(gen.tokens):
                    if i == cut:
                        self.abort_stream()
                        return
                    self.pace()
                    text = "" if token["special"] else token["text"]
                    if i < len(gen.tokens) - 1:
                        self.sse(openai_compat.completion_chunk(model, fp, index, text))
                        continue
                    self._success(job, "completions")
                    choice = {
                        "index": index,
                        "text": text,
                        "logprobs": None,
                        "finish_reason": gen.finish_reason,
                    }
                    self.sse(
                        openai_compat.completion_final(
                            model, fp, [choice], job.valid.input_length, gen.generated_tokens
                        )
                    )
            finally:
                self.state.release()
        self._done()

    def route_invocations(self) -> None:
        body = self.read_body()
        if isinstance(body, dict) and "messages" in body:
            self.route_chat_completions(body)
        elif isinstance(body, dict) and "prompt" in body and "inputs" not in body:
            self.route_completions(body)
        else:
            self.route_generate(compat=True, body=body)


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, state: State, family: int = socket.AF_INET) -> None:
        self.address_family = family
        self.state = state
        super().__init__(address, Handler)
