"""The smoke suite's options, defined once for both front ends.

``OPTIONS`` lists every option with its flag, type, default, help text and argparse group. The
command line (``tgi-smoke``, smoke/cli.py) adds them all to its argparse parser
(``add_to_argparse``); the pytest plugin (smoke/plugin.py) adds those of them that a pytest run
takes to its option group (``add_to_pytest``), under the same flag except ``--timeout``, which
belongs to pytest-timeout and is ``--request-timeout`` there. Both parse with the same types, so
a bad value is refused the same way (argparse: exit 2; pytest: usage error, exit 4).

No heavy import here: the plugin adds its options on every pytest run of the environment. The
limits the option types check (stream count, load duration, threshold names, floor defaults,
engine names) are defined here and imported by the modules that use them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENGINES = ("tgi", "vllm", "sglang")
ENGINE_CHOICES = (*ENGINES, "auto")

# the `throughput` check's limits (smoke/floors.py). Any GPU service clears these widely:
# single-stream decode of even a 70B+ model sharded over GPUs runs at 15-40 tokens/s and
# answers a short prompt's first token well under a second; CPU decode of a 7B model runs at
# 0.5-3 tokens/s.
DEFAULT_MIN_TOKENS_PER_S = 5.0
DEFAULT_MAX_TTFT_S = 10.0

# --load (smoke/load.py)
PERCENTILES = (50, 95, 99)
SERIES = ("ttft", "itl", "e2e")
MAX_NAMES = tuple(f"{s}_p{p}" for s in SERIES for p in PERCENTILES) + ("error_rate",)
MIN_NAMES = ("tokens_per_s",)
MAX_STREAMS = 256
MAX_DURATION_S = 3600.0

# the CLI's argparse groups, in the order `tgi-smoke --help` lists them
TARGETS = "targets (at least one of --url / --inventory)"
HOSTS = "host checks (testinfra, with --inventory): docker -> nvidia-runtime -> container -> host"
FLOORS = "throughput floor (the `throughput` check; not on CPU-mode services)"
LOAD = (
    "load (after the checks, per target): N concurrent streams of the seed's prompt on "
    "/generate_stream (TGI) or /v1/completions (vLLM, SGLang); p50/p95/p99 TTFT, "
    "inter-token and end-to-end latency, output tokens/s, error rate"
)

PYTEST_GROUP = ("tgi-smoke", "TGI smoke targets")


def positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
        return value

    return parse


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError
    return value


non_negative.__name__ = "number >= 0"


def streams(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_STREAMS:
        raise ValueError
    return value


streams.__name__ = f"stream count 1..{MAX_STREAMS}"


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    group: str | None = None  # the CLI's argparse group (None: the parser's own options)
    kwargs: dict[str, Any] = field(default_factory=dict)  # action, type, default, metavar...
    env: str | None = None  # environment variable holding the default
    cli_only: bool = False  # the command line's alone (pytest has its own way, or no use)
    pytest_flag: str | None = None  # its name in pytest when pytest has the CLI's name

    def arguments(self) -> dict[str, Any]:
        kwargs = dict(self.kwargs)
        if kwargs.get("action") == "store_true":
            # argparse's implied default, said out loud: pytest's own option records keep only
            # what was given, and the two front ends must agree on every default
            kwargs.setdefault("default", False)
        if self.env is not None and os.environ.get(self.env):
            # a string default goes through the option's type: a bad value is a usage error
            kwargs["default"] = os.environ[self.env]
        return {**kwargs, "help": self.help}


OPTIONS: tuple[Option, ...] = (
    Option(
        "--url",
        "TGI base URL, e.g. http://gpu1:8080 (repeat)",
        TARGETS,
        {"action": "append", "default": []},
    ),
    Option(
        "--model-id",
        "model id /info must report (--url targets; once for all, or once per --url)",
        TARGETS,
        {"action": "append"},
    ),
    Option(
        "--api-key-env",
        "env var holding the API key (--url targets; once for all, or once per --url)",
        TARGETS,
        {"action": "append", "metavar": "NAME"},
    ),
    Option(
        "--engine",
        "inference engine of the --url targets, which picks the checks (once for all, or "
        "once per --url; default tgi; auto: ask the server after /health). Inventory targets "
        "take their service's engine",
        TARGETS,
        {"action": "append", "choices": ENGINE_CHOICES},
    ),
    Option(
        "--no-semantic",
        "skip the context-QA semantic checks for --url targets",
        TARGETS,
        {"action": "store_true"},
    ),
    Option(
        "--inventory",
        "pyinfra inventory (e.g. inventories/gpu.py): every present TGI service of every host",
        TARGETS,
        {"metavar": "FILE"},
    ),
    Option(
        "--host-checks",
        "check each host over pyinfra's SSH settings before the HTTP checks",
        HOSTS,
        {"action": "store_true"},
    ),
    Option(
        "--host",
        "only this inventory host (repeat); host and HTTP checks",
        HOSTS,
        {"action": "append", "default": [], "metavar": "NAME"},
    ),
    Option(
        "--local",
        "run on the host itself (testinfra local://, e.g. inside WSL): needs one --host",
        HOSTS,
        {"action": "store_true"},
    ),
    Option(
        "--no-http",
        "host checks only, no HTTP smoke checks",
        HOSTS,
        {"action": "store_true"},
        cli_only=True,  # pytest: run smoke/test_hosts.py alone
    ),
    Option(
        "--min-free-gb",
        "free disk required on the model volume ($TGI_SMOKE_MIN_FREE_GB, 20)",
        HOSTS,
        {"type": positive(float), "default": 20.0, "metavar": "GB"},
        env="TGI_SMOKE_MIN_FREE_GB",
    ),
    Option(
        "--restart-window",
        "seconds between the two restart-count samples (3)",
        HOSTS,
        {"type": positive(float), "default": 3.0, "metavar": "S"},
    ),
    Option(
        "--min-tokens-per-s",
        "decode tokens/s one stream must reach, for every target (beats the inventory's "
        f"smoke_min_tokens_per_s; default {DEFAULT_MIN_TOKENS_PER_S:g}; 0: off)",
        FLOORS,
        {"type": non_negative, "metavar": "X"},
    ),
    Option(
        "--max-ttft",
        "seconds to the first token, at most, for every target (beats the inventory's "
        f"smoke_max_ttft_s; default {DEFAULT_MAX_TTFT_S:g}; 0: off)",
        FLOORS,
        {"type": non_negative, "metavar": "S"},
    ),
    Option("--load", "run the load with N streams", LOAD, {"type": streams, "metavar": "N"}),
    Option(
        "--load-duration",
        f"stop starting requests after S seconds (30; at most {MAX_DURATION_S:g})",
        LOAD,
        {"type": float, "default": 30.0, "metavar": "S"},
    ),
    Option(
        "--load-requests",
        "stop after N requests in all (no limit)",
        LOAD,
        {"type": int, "metavar": "N"},
    ),
    Option(
        "--load-max",
        "fail when above: " + ", ".join(MAX_NAMES) + " (seconds / fraction; repeat)",
        LOAD,
        {"action": "append", "default": [], "metavar": "NAME=VALUE"},
    ),
    Option(
        "--load-min",
        "fail when below: tokens_per_s (output tokens/s, all streams together)",
        LOAD,
        {"action": "append", "default": [], "metavar": "NAME=VALUE"},
    ),
    Option(
        "--json",
        "write the report as JSON (smoke/report-schema.json)",
        kwargs={"metavar": "PATH"},
        cli_only=True,  # pytest: --junitxml, and the report of the command line's own
    ),
    Option("--junit", "write the report as JUnit XML", kwargs={"metavar": "PATH"}, cli_only=True),
    Option(
        "--concurrency",
        "targets checked at once (8)",
        kwargs={"type": positive(int), "default": 8},
        cli_only=True,  # pytest runs its tests one after the other
    ),
    Option(
        "--ready-timeout",
        "seconds to wait for /health to answer 200 (600)",
        kwargs={"type": positive(float), "default": 600.0, "metavar": "S"},
    ),
    Option(
        "--timeout",
        "per-request deadline in seconds, whole stream included (60)",
        kwargs={"type": positive(float), "default": 60.0, "metavar": "S"},
        pytest_flag="--request-timeout",  # pytest-timeout owns --timeout
    ),
)


def add_to_argparse(parser: argparse.ArgumentParser) -> None:
    """Every option, in its group (groups in the order of OPTIONS)."""
    groups: dict[str, Any] = {}
    for opt in OPTIONS:
        target: Any = parser
        if opt.group is not None:
            if opt.group not in groups:
                groups[opt.group] = parser.add_argument_group(opt.group)
            target = groups[opt.group]
        target.add_argument(opt.flag, **opt.arguments())


def pytest_options() -> list[tuple[str, Option]]:
    """(pytest flag, option) of every option a pytest run takes."""
    return [(opt.pytest_flag or opt.flag, opt) for opt in OPTIONS if not opt.cli_only]


def add_to_pytest(parser: Any) -> None:
    """The pytest plugin's options (``pytest.Parser``: argparse underneath, same arguments)."""
    group = parser.getgroup(*PYTEST_GROUP)
    for flag, opt in pytest_options():
        group.addoption(flag, **opt.arguments())
