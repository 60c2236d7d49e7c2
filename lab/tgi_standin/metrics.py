"""Prometheus text exposition with TGI's metric names and bucket layouts (router/src/server.rs).

Counters are rendered without a ``_total`` suffix, as metrics-exporter-prometheus does:
``tgi_request_count``, ``tgi_request_success``, ``tgi_request_failure{err="..."}``.

Like metrics-exporter-prometheus, a metric is listed only once it was first touched: TGI calls
``metrics::counter!(..).increment(1)`` / ``histogram!(..).record(..)`` at the use site
(router/src/server.rs), which registers the metric then, so a TGI that has served no request
yet exposes no ``tgi_request_*`` metric at all.
"""

from __future__ import annotations

import threading


def _duration_buckets() -> list[float]:
    value, out = 0.0001, []
    for _ in range(35):
        value *= 1.5
        out.append(value)
    return out


class Histogram:
    def __init__(self, buckets: list[float]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum += value


class Metrics:
    COUNTERS = {
        "tgi_request_count": "Total number of requests",
        "tgi_request_success": "Number of successful requests",
    }

    def __init__(self, max_input_tokens: int, max_total_tokens: int) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, int] = {}  # registered on first increment
        self.failures: dict[str, int] = {}
        self.queue_size: int | None = None  # set on the first request
        duration = _duration_buckets()
        inputs = [(max_input_tokens / 100.0) * (x + 1) for x in range(100)]
        totals = [(max_total_tokens / 100.0) * (x + 1) for x in range(100)]
        self.histograms = {
            "tgi_request_duration": Histogram(duration),
            "tgi_request_validation_duration": Histogram(duration),
            "tgi_request_queue_duration": Histogram(duration),
            "tgi_request_inference_duration": Histogram(duration),
            "tgi_request_mean_time_per_token_duration": Histogram(duration),
            "tgi_request_generated_tokens": Histogram(totals),
            "tgi_request_input_length": Histogram(inputs),
            "tgi_request_max_new_tokens": Histogram(totals),
        }

    def inc(self, name: str) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            if self.queue_size is None:
                self.queue_size = 0

    def failure(self, err: str) -> None:
        with self.lock:
            self.failures[err] = self.failures.get(err, 0) + 1

    def observe(self, name: str, value: float) -> None:
        with self.lock:
            self.histograms[name].observe(value)

    def success(self, duration: float, input_length: int, generated: int, max_new: int) -> None:
        with self.lock:
            self.counters["tgi_request_success"] = self.counters.get("tgi_request_success", 0) + 1
            h = self.histograms
            h["tgi_request_duration"].observe(duration)
            h["tgi_request_validation_duration"].observe(min(duration, 0.0001))
            h["tgi_request_queue_duration"].observe(0.0)
            h["tgi_request_inference_duration"].observe(duration)
            h["tgi_request_mean_time_per_token_duration"].observe(duration / max(generated, 1))
            h["tgi_request_generated_tokens"].observe(float(generated))
            h["tgi_request_input_length"].observe(float(input_length))
            h["tgi_request_max_new_tokens"].observe(float(max_new))

    def render(self) -> str:
        lines: list[str] = []
        with self.lock:
            for name, help_text in self.COUNTERS.items():
                if name not in self.counters:
                    continue
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                lines.append(f"{name} {self.counters[name]}")
            if self.failures:
                lines.append("# TYPE tgi_request_failure counter")
            for err, value in sorted(self.failures.items()):
                lines.append(f'tgi_request_failure{{err="{err}"}} {value}')
            if self.queue_size is not None:
                lines += ["# TYPE tgi_queue_size gauge", f"tgi_queue_size {self.queue_size}"]
            for name, hist in self.histograms.items():
                if not hist.total:
                    continue
                lines.append(f"# TYPE {name} histogram")
                for bound, count in zip(hist.buckets, hist.counts, strict=True):
                    lines.append(f'{name}_bucket{{le="{bound!r}"}} {count}')
                lines.append(f'{name}_bucket{{le="+Inf"}} {hist.total}')
                lines.append(f"{name}_sum {hist.sum!r}")
                lines.append(f"{name}_count {hist.total}")
        return "\n".join(lines) + "\n"
