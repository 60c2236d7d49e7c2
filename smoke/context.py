"""Per-target state shared by the checks, and the check outcome types."""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from tgi_infra.smoke.targets import Target

if TYPE_CHECKING:
    import openai
    from tgi_infra.smoke.models import Info

MAX_SHOWN = 400  # characters of a body shown in a failure message


def shorten(value: Any, limit: int = MAX_SHOWN) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One verifying SSL context for every client: building one (loading the CA bundle) costs
    ~25 ms of CPU, which httpx would otherwise pay per client, i.e. per target."""
    return httpx.create_ssl_context()


def http_client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(verify=ssl_context(), **kwargs)


class CheckFailed(Exception):
    """A check failed: what was sent, what was expected, what came back."""

    def __init__(self, sent: str, expected: str, got: str):
        self.sent, self.expected, self.got = sent, expected, got
        super().__init__(f"sent: {sent} | expected: {expected} | got: {got}")


class CheckSkipped(Exception):
    pass


@dataclass
class Measurements:
    latency_s: float
    ttft_s: float | None = None
    tokens: int | None = None

    @property
    def tokens_per_s(self) -> float | None:
        if not self.tokens or self.latency_s <= 0:
            return None
        return self.tokens / self.latency_s

    def as_dict(self) -> dict[str, float | int | None]:
        tps = self.tokens_per_s
        return {
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 4),
            "latency_s": round(self.latency_s, 4),
            "tokens": self.tokens,
            "tokens_per_s": None if tps is None else round(tps, 2),
        }


@dataclass
class CheckOutcome:
    message: str = ""
    measurements: Measurements | None = None


@dataclass(frozen=True)
class Settings:
    ready_timeout: float = 600.0
    timeout: float = 60.0
    # progress lines while waiting for /health (the CLI prints them on stderr)
    progress: Callable[[str], None] | None = field(default=None, compare=False)
    # command-line floors (beat the inventory's smoke_min_tokens_per_s / smoke_max_ttft_s)
    min_tokens_per_s: float | None = None
    max_ttft_s: float | None = None
    # --load: smoke/load.py LoadSettings (None: no load phase)
    load: Any = None


@dataclass
class TargetContext:
    """What a check needs: the target, its reachable base URL, clients, shared findings."""

    target: Target
    base_url: str
    settings: Settings
    info: Info | None = None
    request_count_baseline: float | None = None  # None: counter not listed yet (no request)
    baseline_taken: bool = False
    baseline_error: str | None = None
    # generate_stream's (ttft_s, total_s, tokens), for the throughput floor
    stream_sample: tuple[float, float, int] | None = None
    # the server said it is the lab's TGI stand-in (header x-tgi-standin), not a model
    standin: bool = False
    # the first check refused with HTTP 401 (the rest are not run)
    auth_refused: str | None = None
    # the engine the checks are chosen for: the target's, or what ``ready`` detected for auto
    engine: str = ""
    # the first id /v1/models lists (the model name sent when no model id is expected)
    served_model: str | None = None
    _http: httpx.Client | None = field(default=None, repr=False)
    _openai: openai.OpenAI | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.engine:
            self.engine = self.target.engine

    @property
    def auth_headers(self) -> dict[str, str]:
        key = self.target.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = http_client(
                base_url=self.base_url,
                headers=self.auth_headers,
                timeout=httpx.Timeout(self.settings.timeout),
            )
        return self._http

    @property
    def openai(self) -> openai.OpenAI:
        if self._openai is None:
            from tgi_infra.smoke.preload import IMPORT_LOCK

            with IMPORT_LOCK:
                import openai

            self._openai = openai.OpenAI(
                base_url=f"{self.base_url}/v1",
                # The client insists on a key; without one configured it sends a placeholder
                # that a TGI without --api-key ignores.
                api_key=self.target.api_key or "no-key-configured",
                max_retries=0,
                timeout=self.settings.timeout,
                http_client=http_client(timeout=httpx.Timeout(self.settings.timeout)),
            )
        return self._openai

    @property
    def model_name(self) -> str:
        if self.target.expected_model_id:
            return self.target.expected_model_id
        if self.info is not None:
            return self.info.model_id
        if self.served_model:
            return self.served_model
        return "tgi"

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._openai is not None:
            self._openai.close()
