"""SGLang's HTTP surface (python/sglang/srt/entrypoints/http_server.py): health while starting,
native /generate, model/server info, auth rule, error shapes, metric names. The OpenAI routes
are lab/standin_common/server.py."""

from __future__ import annotations

import time
import uuid

from ..standin_common import model
from ..standin_common.metrics import Registry
from ..standin_common.model import RequestError
from ..standin_common.server import ERROR_TYPES, Handler
from ..tgi_standin import tokenizer

OPEN_PREFIXES = ("/health", "/metrics")  # python/sglang/srt/utils (add_api_key_middleware)


class SglangHandler(Handler):
    STANDIN = "lab/sglang_standin"
    OWNED_BY = "sglang"
    ROUTES = {
        **Handler.ROUTES,
        ("GET", "/health"): "health",
        ("GET", "/health_generate"): "health",
        ("GET", "/model_info"): "model_info",
        ("GET", "/get_model_info"): "model_info",
        ("GET", "/server_info"): "server_info",
        ("GET", "/get_server_info"): "server_info",
        ("POST", "/generate"): "generate",
        ("PUT", "/generate"): "generate",
        ("GET", "/metrics"): "metrics",
    }

    def error_body(self, status: int, message: str, param: str | None = None) -> dict:
        # ErrorResponse, python/sglang/srt/entrypoints/openai/protocol.py
        return {
            "object": "error",
            "message": message,
            "type": ERROR_TYPES.get(status, "BadRequestError"),
            "param": param,
            "code": status,
        }

    def guarded(self, path: str) -> bool:
        return not path.startswith(OPEN_PREFIXES)

    def check_model(self, body: dict) -> None:
        return  # SGLang serves its one model whatever `model` says

    def model_card(self) -> dict:
        card = super().model_card()
        card["root"] = self.state.served_model
        card.pop("parent")
        return card

    def route_health(self) -> None:
        if not self.state.ready.is_set() or "health_503" in self.state.faults:
            self.send_body(503, b"", None)
        else:
            self.send_body(200, b"", None)

    def route_model_info(self) -> None:
        self.send_json(
            200,
            {
                "model_path": self.state.model_path,
                "tokenizer_path": self.state.model_path,
                "is_generation": True,
                "preferred_sampling_params": None,
                "weight_version": "default",
                "has_image_understanding": False,
                "has_audio_understanding": False,
                "model_type": "qwen3",
                "architectures": ["Qwen3ForCausalLM"],
            },
        )

    def route_server_info(self) -> None:
        self.send_json(
            200,
            {
                **self.state.server_args,
                "version": self.state.version,
                "internal_states": [{"last_gen_throughput": 0.0}],
            },
        )

    def route_metrics(self) -> None:
        if not self.state.server_args.get("enable_metrics"):
            self.send_json(404, {"detail": "Not Found"})
            return
        registry = self.state.metrics
        if "metrics_stale" in self.state.faults:
            registry = new_metrics(self.state.served_name)
        self.send_body(200, registry.render().encode(), "text/plain; version=0.0.4; charset=utf-8")

    def record(self, prompt_tokens: int, gen_tokens: int, seconds: float, finish: str) -> None:
        m = self.state.metrics
        m.inc("sglang:num_requests_total")
        m.inc("sglang:prompt_tokens_total", prompt_tokens)
        m.inc("sglang:generation_tokens_total", gen_tokens)
        m.observe("sglang:e2e_request_latency_seconds", seconds)
        m.observe("sglang:time_to_first_token_seconds", seconds / max(gen_tokens, 1))
        m.observe("sglang:inter_token_latency_seconds", seconds / max(gen_tokens, 1))

    # --- native /generate (http_server.py generate_request; io_struct.py GenerateReqInput) ----
    def route_generate(self) -> None:
        started = time.monotonic()
        try:
            body = self.read_json()
            text = body.get("text")
            if not isinstance(text, str):
                raise RequestError("Either text, input_ids or input_embeds should be provided.")
            params = body.get("sampling_params") or {}
            if not isinstance(params, dict):
                raise RequestError("sampling_params should be a dict")
            if params.get("max_new_tokens") is None:
                params = {**params, "max_new_tokens": 128}
            try:
                sampling = self._sampling(params, "max_new_tokens")
            except RequestError as exc:
                raise RequestError(exc.message.replace("max_tokens", "max_new_tokens")) from None
            if "generate_500" in self.state.faults:
                raise RequestError("Internal server error: scheduler died", None, 500)
            gen, n_prompt, out_text = self._aborted(
                *model.run(self.state.model_path, text, sampling, self.state.max_model_len)
            )
        except RequestError as exc:  # native errors: {"error": {"message": ...}}, 400
            self.send_json(exc.status, {"error": {"message": exc.message}})
            return
        rid = uuid.uuid4().hex
        ids = model.token_ids(gen)

        def meta(done: int, final: bool) -> dict:
            out = {
                "id": rid,
                "finish_reason": None,
                "prompt_tokens": n_prompt,
                "weight_version": "default",
                "completion_tokens": done,
                "cached_tokens": 0,
                "e2e_latency": round(time.monotonic() - started, 6),
            }
            if final:
                if gen.finish_reason == model.ABORT:  # schedule_batch.py FINISH_ABORT().to_json()
                    out["finish_reason"] = {
                        "type": "abort",
                        "message": "Aborted",
                        "status_code": None,
                        "err_type": None,
                    }
                elif gen.finish_reason == "length":
                    out["finish_reason"] = {"type": "length", "length": done}
                elif gen.finish_reason == "stop_sequence":
                    matched = next((s for s in sampling.stop if s and gen.text.endswith(s)), "")
                    out["finish_reason"] = {"type": "stop", "matched": matched}
                else:
                    out["finish_reason"] = {"type": "stop", "matched": tokenizer.EOS_ID}
            return out

        if not body.get("stream"):
            self.record(
                n_prompt, gen.generated_tokens, time.monotonic() - started, model.finish_reason(gen)
            )
            self.send_json(
                200, {"text": out_text, "output_ids": ids, "meta_info": meta(len(ids), True)}
            )
            return
        # stream (tokenizer_manager.py _handle_batch_output): each event carries the text and
        # output_ids so far (cumulative), or with --incremental-streaming-output only the new
        # ones; meta_info.completion_tokens counts all so far either way; then data: [DONE]
        incremental = bool(self.state.server_args.get("incremental_streaming_output"))
        self.start_sse()
        pieces = model.visible_pieces(gen)
        cut = self._cut(len(pieces))
        so_far = ""
        for i, piece in enumerate(pieces):
            if i == cut:
                self.abort_stream()
                return
            self._pace()
            last = i == len(pieces) - 1
            if last:  # the stop string is not sent
                piece = out_text[len(so_far) :]
            so_far = out_text if last else so_far + piece
            if incremental:
                event = {"text": piece, "output_ids": ids[i : i + 1]}
            else:
                event = {"text": so_far, "output_ids": ids[: i + 1]}
            self.sse({**event, "meta_info": meta(i + 1, last)})
        self.record(
            n_prompt, gen.generated_tokens, time.monotonic() - started, model.finish_reason(gen)
        )
        self.end_sse()


def new_metrics(model_name: str) -> Registry:
    """SGLang's names (python/sglang/srt/metrics/collector.py TokenizerMetricsCollector and
    SchedulerMetricsCollector), label ``model_name``; only with --enable-metrics."""
    r = Registry({"model_name": model_name})
    r.gauge("sglang:num_running_reqs", "The number of running requests.")
    r.gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.")
    r.gauge("sglang:token_usage", "The token usage.")
    r.counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.")
    r.counter("sglang:generation_tokens_total", "Number of generation tokens processed.")
    r.counter("sglang:num_requests_total", "Number of requests processed.")
    r.histogram(
        "sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds."
    )
    r.histogram(
        "sglang:inter_token_latency_seconds", "Histogram of inter-token latency in seconds."
    )
    r.histogram(
        "sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds"
    )
    return r
