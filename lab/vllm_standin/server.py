"""vLLM's HTTP surface (vllm/entrypoints/openai/api_server.py): routes, auth rule, error shape,
metric names. The OpenAI routes themselves are lab/standin_common/server.py."""

from __future__ import annotations

from ..standin_common.server import ERROR_TYPES, Handler

# api_server.py AuthenticationMiddleware: only these prefixes need the key
GUARDED_PREFIXES = ("/v1", "/v2", "/inference", "/cohere")


class VllmHandler(Handler):
    STANDIN = "lab/vllm_standin"
    OWNED_BY = "vllm"
    ROUTES = {
        **Handler.ROUTES,
        ("GET", "/health"): "health",
        ("GET", "/ping"): "health",
        ("POST", "/ping"): "health",
        ("GET", "/version"): "version",
        ("GET", "/metrics"): "metrics",
    }

    def error_body(self, status: int, message: str, param: str | None = None) -> dict:
        # ErrorResponse / ErrorInfo (tests/data/reference/vllm/openapi.json)
        return {
            "error": {
                "message": message,
                "type": ERROR_TYPES.get(status, "BadRequestError"),
                "param": param,
                "code": status,
            }
        }

    def guarded(self, path: str) -> bool:
        return path.startswith(GUARDED_PREFIXES)

    def route_health(self) -> None:
        if "health_503" in self.state.faults:  # EngineDeadError -> 503, empty body
            self.send_body(503, b"", None)
        else:
            self.send_body(200, b"", None)

    def route_version(self) -> None:
        self.send_json(200, {"version": self.state.version})

    def route_metrics(self) -> None:
        registry = self.state.metrics
        if "metrics_stale" in self.state.faults:
            registry = self.server.fresh_metrics()
        self.send_body(200, registry.render().encode(), "text/plain; version=0.0.4; charset=utf-8")

    def record(self, prompt_tokens: int, gen_tokens: int, seconds: float, finish: str) -> None:
        m = self.state.metrics
        m.inc("vllm:request_success_total", finished_reason=finish)
        m.inc("vllm:prompt_tokens_total", prompt_tokens)
        m.inc("vllm:generation_tokens_total", gen_tokens)
        m.observe("vllm:e2e_request_latency_seconds", seconds)
        m.observe("vllm:time_to_first_token_seconds", seconds / max(gen_tokens, 1))
        m.observe("vllm:inter_token_latency_seconds", seconds / max(gen_tokens, 1))


def new_metrics(model_name: str):
    """vLLM's Prometheus names (vllm/v1/metrics/loggers.py PrometheusStatLogger), labels
    ``model_name`` and ``engine``; registered at start, so listed before any request."""
    from ..standin_common.metrics import Registry

    r = Registry({"model_name": model_name, "engine": "0"})
    r.gauge("vllm:num_requests_running", "Number of requests in model execution batches.")
    r.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.")
    r.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
    r.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.")
    r.counter("vllm:generation_tokens_total", "Number of generation tokens processed.")
    r.counter(
        "vllm:request_success_total",
        "Count of successfully processed requests.",
        [{"finished_reason": reason} for reason in ("stop", "length", "abort")],
    )
    r.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.")
    r.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.")
    r.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.")
    return r
