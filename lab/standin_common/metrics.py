"""A tiny Prometheus text registry (counters, gauges, histograms), as prometheus_client renders
them: both vLLM (vllm/v1/metrics/loggers.py) and SGLang (python/sglang/srt/metrics/collector.py)
use prometheus_client, which lists every registered metric from the start (zero-valued), counters
with a ``_total`` suffix and ``_created`` samples."""

from __future__ import annotations

import threading
import time

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


class Registry:
    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.lock = threading.Lock()
        self.created = time.time()
        self.order: list[tuple[str, str, str]] = []  # (name, kind, help)
        self.values: dict[tuple[str, tuple], float] = {}
        self.hist: dict[str, tuple[list[int], list[float]]] = {}  # name -> (counts, [sum, n])
        self.extra_labels: dict[str, list[dict[str, str]]] = {}

    def counter(self, name: str, help_text: str, label_sets: list[dict[str, str]] | None = None):
        self.order.append((name, "counter", help_text))
        self.extra_labels[name] = label_sets or [{}]
        for extra in self.extra_labels[name]:
            self.values[(name, tuple(extra.items()))] = 0.0

    def gauge(self, name: str, help_text: str) -> None:
        self.order.append((name, "gauge", help_text))
        self.values[(name, ())] = 0.0

    def histogram(self, name: str, help_text: str) -> None:
        self.order.append((name, "histogram", help_text))
        self.hist[name] = ([0] * len(LATENCY_BUCKETS), [0.0, 0.0])

    def inc(self, name: str, amount: float = 1.0, **extra: str) -> None:
        with self.lock:
            key = (name, tuple(extra.items()))
            self.values[key] = self.values.get(key, 0.0) + amount

    def set(self, name: str, value: float) -> None:
        with self.lock:
            self.values[(name, ())] = value

    def observe(self, name: str, value: float) -> None:
        with self.lock:
            counts, total = self.hist[name]
            for i, bound in enumerate(LATENCY_BUCKETS):
                if value <= bound:
                    counts[i] += 1
            total[0] += value
            total[1] += 1

    def render(self) -> str:
        out: list[str] = []
        with self.lock:
            for name, kind, help_text in self.order:
                out.append(f"# HELP {name} {help_text}")
                out.append(f"# TYPE {name} {kind}")
                if kind == "counter":
                    base = name[: -len("_total")] if name.endswith("_total") else name
                    keys = [k for k in self.values if k[0] == name]
                    for _, extra in keys:
                        labels = _labels({**self.labels, **dict(extra)})
                        out.append(f"{base}_total{labels} {self.values[(name, extra)]}")
                    for _, extra in keys:
                        labels = _labels({**self.labels, **dict(extra)})
                        out.append(f"{base}_created{labels} {self.created}")
                elif kind == "gauge":
                    out.append(f"{name}{_labels(self.labels)} {self.values[(name, ())]}")
                else:
                    counts, (total, n) = self.hist[name]
                    for bound, count in zip(LATENCY_BUCKETS, counts, strict=True):
                        labels = _labels({**self.labels, "le": str(bound)})
                        out.append(f"{name}_bucket{labels} {float(count)}")
                    labels = _labels({**self.labels, "le": "+Inf"})
                    out.append(f"{name}_bucket{labels} {float(n)}")
                    out.append(f"{name}_count{_labels(self.labels)} {float(n)}")
                    out.append(f"{name}_sum{_labels(self.labels)} {total}")
                    out.append(f"{name}_created{_labels(self.labels)} {self.created}")
        return "\n".join(out) + "\n"
