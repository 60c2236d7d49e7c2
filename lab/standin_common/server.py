"""HTTP plumbing and the OpenAI-compatible routes shared by the vLLM and SGLang stand-ins.

Both engines serve /v1/models, /v1/completions and /v1/chat/completions from FastAPI with the
same OpenAI shapes (vLLM: vllm/entrypoints/openai/serving_{completion,chat,models}.py and
api_server.py; SGLang: python/sglang/srt/entrypoints/openai/serving_{completions,chat}.py and
http_server.py). Differences go through hooks an engine's Handler overrides: ``error_body``
(the error shape), ``guarded`` (which paths need the key), ``record`` (its metric names).
SSE framing for both: ``data: <json>\\n\\n`` (a space after the colon), ``data: [DONE]`` last.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import model
from .metrics import Registry
from .model import RequestError

STANDIN_HEADER = "x-tgi-standin"  # the header the smoke suite reads (lab/tgi_standin: same)
ERROR_TYPES = {
    400: "BadRequestError",
    401: "Unauthorized",
    404: "NotFoundError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


@dataclass
class State:
    engine: str  # "vllm" | "sglang"
    version: str
    model_path: str
    served_name: str
    max_model_len: int
    api_keys: list[str]
    faults: frozenset[str]
    metrics: Registry
    log: Callable[[str], None]
    server_args: dict = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    wrong_model: str = "gpt2"
    running: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def served_model(self) -> str:
        if "wrong_model_id" in self.faults:
            return self.wrong_model if self.wrong_model != self.served_name else "facebook/opt-125m"
        return self.served_name


class StreamAborted(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandinServer
    STANDIN = "lab/standin_common"
    ROUTES: dict[tuple[str, str], str] = {
        ("GET", "/v1/models"): "models",
        ("POST", "/v1/completions"): "completions",
        ("POST", "/v1/chat/completions"): "chat_completions",
    }
    OWNED_BY = "standin"

    # --- hooks ------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, param: str | None = None) -> dict:
        raise NotImplementedError

    def guarded(self, path: str) -> bool:
        raise NotImplementedError

    def record(self, prompt_tokens: int, gen_tokens: int, seconds: float, finish: str) -> None:
        """Count one finished request in the engine's metrics."""

    def model_card(self) -> dict:
        state = self.state
        return {
            "id": state.served_model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": self.OWNED_BY,
            "root": state.model_path,
            "parent": None,
            "max_model_len": state.max_model_len,
        }

    def check_model(self, body: dict) -> None:
        """vLLM answers 404 for a model it does not serve (serving_engine ``_check_model``);
        SGLang does not check (overridden there)."""
        name = body.get("model")
        if name is not None and name != self.state.served_model:
            raise RequestError(f"The model `{name}` does not exist.", "model", 404)

    # --- plumbing ---------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.server.state

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("date", self.date_time_string())
        self.send_header("server", "uvicorn")
        self.send_header(STANDIN_HEADER, self.STANDIN)

    def send_body(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj: object) -> None:
        self.send_body(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

    def send_error_body(self, status: int, message: str, param: str | None = None) -> None:
        self.send_json(status, self.error_body(status, message, param))

    def read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(f"JSON decode error: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError("Input should be a valid dictionary or object")
        return body

    def start_sse(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:
            raise StreamAborted from exc

    def sse(self, payload: object) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        self._chunk(b"data: " + data.encode() + b"\n\n")

    def end_sse(self, done: bool = True) -> None:
        if done and "no_done" not in self.state.faults:
            self.sse("[DONE]")
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def abort_stream(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def authorized(self) -> bool:
        keys = self.state.api_keys
        if not keys or "no_auth" in self.state.faults:
            return True
        return self.headers.get("Authorization", "") in {f"Bearer {k}" for k in keys}

    def unauthorized(self) -> None:
        self.close_connection = True
        self.send_json(401, {"error": "Unauthorized"})

    # --- dispatch ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        name = self.ROUTES.get((self.command, path))
        if self.guarded(path) and not self.authorized():
            self.unauthorized()
            return
        if name is None:
            known = any(p == path for _, p in self.ROUTES)
            self.send_json(
                405 if known else 404, {"detail": "Method Not Allowed" if known else "Not Found"}
            )
            return
        try:
            getattr(self, "route_" + name)()
        except RequestError as exc:
            self.send_error_body(exc.status, exc.message, exc.param)
        except StreamAborted:
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    # --- OpenAI-compatible routes -----------------------------------------------------------
    def route_models(self) -> None:
        self.send_json(200, {"object": "list", "data": [self.model_card()]})

    def _sampling(self, body: dict, max_key: str = "max_tokens") -> model.Sampling:
        if "accept_bad_top_p" in self.state.faults:
            top_p = body.get("top_p")
            if isinstance(top_p, (int, float)) and not 0 < top_p <= 1:
                body = {k: v for k, v in body.items() if k != "top_p"}
        return model.sampling_from(body, max_key)

    def _fail_500(self) -> None:
        if "generate_500" in self.state.faults:
            raise RequestError(
                "EngineCore encountered an issue. See stack trace for the root cause.", None, 500
            )

    def _pace(self) -> None:
        delay = self.server.token_delay
        if delay:
            time.sleep(delay)

    def _cut(self, n: int) -> int | None:
        if "truncated_stream" not in self.state.faults:
            return None
        return max(n // 2, 1)

    def _usage(self, prompt: int, completion: int) -> dict:
        return {
            "prompt_tokens": prompt,
            "total_tokens": prompt + completion,
            "completion_tokens": completion,
            "prompt_tokens_details": None,
        }

    def route_completions(self) -> None:
        started = time.monotonic()
        body = self.read_json()
        self.check_model(body)
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if (
            not isinstance(prompts, list)
            or not prompts
            or not all(isinstance(p, str) for p in prompts)
        ):
            raise RequestError(
                "prompt: Input should be a valid string or list of strings", "prompt"
            )
        if body.get("max_tokens") is None:
            body = {**body, "max_tokens": 16}  # CompletionRequest.max_tokens defaults to 16
        sampling = self._sampling(body)
        self._fail_500() if not body.get("stream") else None
        runs = [
            self._aborted(*model.run(self.state.model_path, p, sampling, self.state.max_model_len))
            for p in prompts
        ]
        rid, created, name = f"cmpl-{uuid.uuid4().hex}", int(time.time()), self.state.served_model
        if body.get("stream"):
            self._completions_stream(body, runs, rid, created, name, started)
            return
        choices = []
        for index, (gen, _, text) in enumerate(runs):
            choices.append(
                {
                    "index": index,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": model.finish_reason(gen),
                    "stop_reason": None,
                    "prompt_logprobs": None,
                }
            )
        n_prompt = sum(r[1] for r in runs)
        n_gen = sum(r[0].generated_tokens for r in runs)
        for gen, n_p, _ in runs:
            self.record(
                n_p, gen.generated_tokens, time.monotonic() - started, model.finish_reason(gen)
            )
        self.send_json(
            200,
            {
                "id": rid,
                "object": "text_completion",
                "created": created,
                "model": name,
                "choices": choices,
                "usage": self._usage(n_prompt, n_gen),
                "system_fingerprint": None,
                "kv_transfer_params": None,
            },
        )

    def _completions_stream(self, body, runs, rid, created, name, started) -> None:
        self.start_sse()
        if "generate_500" in self.state.faults:
            self.sse(self.error_body(500, "EngineCore encountered an issue."))
            self.end_sse()
            return
        for index, (gen, n_prompt, text) in enumerate(runs):
            pieces = model.visible_pieces(gen)
            cut = self._cut(len(pieces))
            sent = ""
            for i, piece in enumerate(pieces):
                if i == cut:
                    self.abort_stream()
                    return
                self._pace()
                last = i == len(pieces) - 1
                if last:  # the stop string is not sent
                    piece = text[len(sent) :]
                sent += piece
                self.sse(
                    {
                        "id": rid,
                        "object": "text_completion",
                        "created": created,
                        "model": name,
                        "choices": [
                            {
                                "index": index,
                                "text": piece,
                                "logprobs": None,
                                "finish_reason": model.finish_reason(gen) if last else None,
                                "stop_reason": None,
                            }
                        ],
                    }
                )
            self.record(
                n_prompt, gen.generated_tokens, time.monotonic() - started, model.finish_reason(gen)
            )
        options = body.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            self.sse(
                {
                    "id": rid,
                    "object": "text_completion",
                    "created": created,
                    "model": name,
                    "choices": [],
                    "usage": self._usage(
                        sum(r[1] for r in runs), sum(r[0].generated_tokens for r in runs)
                    ),
                }
            )
        self.end_sse()

    def _aborted(self, gen: model.Generation, n_prompt: int, text: str) -> tuple:
        """Fault ``abort`` (SGLang only): the generation cut half-way with finish reason
        ``abort``, sent as a normal answer (serving_completions.py / serving_chat.py: an abort
        without an HTTP status falls through to the normal chunk path)."""
        if "abort" not in self.state.faults:
            return gen, n_prompt, text
        gen, text = model.aborted(gen)
        return gen, n_prompt, text

    def _chat_messages(self, body: dict) -> object:
        """Fault ``ignore_system``: the chat template drops system messages."""
        messages = body.get("messages")
        if "ignore_system" not in self.state.faults or not isinstance(messages, list):
            return messages
        return [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]

    def _echo(self, messages: list) -> str | None:
        if "echo_system" not in self.state.faults:
            return None
        for m in messages:
            if isinstance(m, dict) and m.get("role") == "system":
                return m.get("content") if isinstance(m.get("content"), str) else None
        return None

    def route_chat_completions(self) -> None:
        started = time.monotonic()
        body = self.read_json()
        self.check_model(body)
        prompt, plain = model.chat_prompt(self._chat_messages(body))
        sampling = self._sampling(body)
        if not body.get("stream"):
            self._fail_500()
        gen, n_prompt, text = self._aborted(
            *model.run(
                self.state.model_path,
                prompt,
                sampling,
                self.state.max_model_len,
                qa_source=plain,
                leading_space=False,
                answer=self._echo(body["messages"]),
            )
        )
        rid, created, name = (
            f"chatcmpl-{uuid.uuid4().hex}",
            int(time.time()),
            self.state.served_model,
        )
        finish = model.finish_reason(gen)
        if body.get("stream"):
            self._chat_stream(body, gen, n_prompt, text, rid, created, name, started)
            return
        self.record(n_prompt, gen.generated_tokens, time.monotonic() - started, finish)
        message = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "tool_calls": [],
            "reasoning_content": None,
        }
        self.send_json(
            200,
            {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish,
                        "stop_reason": None,
                    }
                ],
                "service_tier": None,
                "system_fingerprint": None,
                "usage": self._usage(n_prompt, gen.generated_tokens),
                "prompt_logprobs": None,
                "kv_transfer_params": None,
            },
        )

    def _chat_stream(self, body, gen, n_prompt, text, rid, created, name, started) -> None:
        def chunk(delta: dict, finish: str | None) -> dict:
            return {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": name,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }

        self.start_sse()
        if "generate_500" in self.state.faults:
            self.sse(self.error_body(500, "EngineCore encountered an issue."))
            self.end_sse()
            return
        self.sse(chunk({"role": "assistant", "content": ""}, None))
        pieces = model.visible_pieces(gen)
        cut = self._cut(len(pieces))
        sent = ""
        for i, piece in enumerate(pieces):
            if i == cut:
                self.abort_stream()
                return
            self._pace()
            last = i == len(pieces) - 1
            if last:
                piece = text[len(sent) :]
            sent += piece
            self.sse(chunk({"content": piece}, model.finish_reason(gen) if last else None))
        self.record(
            n_prompt, gen.generated_tokens, time.monotonic() - started, model.finish_reason(gen)
        )
        options = body.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            usage = chunk({}, None)
            usage["choices"] = []
            usage["usage"] = self._usage(n_prompt, gen.generated_tokens)
            self.sse(usage)
        self.end_sse()


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self, address, handler, state: State, family: int = socket.AF_INET, token_delay: float = 0.0
    ) -> None:
        self.address_family = family
        self.state = state
        self.token_delay = token_delay
        super().__init__(address, handler)


def serve(httpd: StandinServer, stop: threading.Event) -> None:
    """Serve until ``stop`` is set (by a signal handler), then close the socket."""
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()
    while not stop.wait(0.3):
        pass
    httpd.shutdown()
    httpd.server_close()
