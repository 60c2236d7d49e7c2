"""The ``throughput`` check: a decode-rate floor and a first-token ceiling per service.

A TGI that answers correctly at 0.5 tokens/s passes every functional check: that is what a
service that silently fell back to CPU, or a GPU shared with another job, looks like. The
figures come from the ``generate_stream`` check (one stream of the seed's prompt and config):
decode rate = (tokens - 1) / (end - first token), first token = request sent -> first event.

Limits, first found wins: the command line (``--min-tokens-per-s`` / ``--max-ttft``), the
service's inventory fields (``smoke_min_tokens_per_s`` / ``smoke_max_ttft_s``), the defaults
below. A limit of 0 turns that half off. CPU-mode services are not checked.
"""

from __future__ import annotations

from tgi_infra.smoke.context import CheckFailed, CheckOutcome, CheckSkipped, TargetContext
from tgi_infra.smoke.options import DEFAULT_MAX_TTFT_S, DEFAULT_MIN_TOKENS_PER_S

LIKELY_CAUSES = (
    "likely causes: the service fell back to CPU (no GPU visible in the container: "
    "`docker exec <container> nvidia-smi`, `tgi-smoke --host-checks`); the GPU is shared with "
    "another job (`nvidia-smi` lists other processes, or MIG/time-slicing); the model does not "
    "fit its GPUs and offloads; other traffic queues ahead of the check (`tgi_queue_size` in "
    "/metrics)"
)


def limits(ctx: TargetContext) -> tuple[float, float]:
    """(min decode tokens/s, max first-token seconds) for this target."""

    def pick(cli: float | None, inventory: float | None, default: float) -> float:
        for value in (cli, inventory):
            if value is not None:
                return value
        return default

    t, s = ctx.target, ctx.settings
    return (
        pick(s.min_tokens_per_s, t.min_tokens_per_s, DEFAULT_MIN_TOKENS_PER_S),
        pick(s.max_ttft_s, t.max_ttft_s, DEFAULT_MAX_TTFT_S),
    )


def check_throughput(ctx: TargetContext) -> CheckOutcome:
    if ctx.target.cpu_mode:
        raise CheckSkipped("CPU-mode service (gpus: none): no GPU throughput floor")
    min_tps, max_ttft = limits(ctx)
    if not min_tps and not max_ttft:
        raise CheckSkipped("throughput floor off (0 for both limits)")
    if ctx.stream_sample is None:
        raise CheckSkipped("no measurement: the generate_stream check did not pass")
    ttft, total, tokens = ctx.stream_sample
    decode_s = total - ttft
    tps = (tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else float("inf")
    measured = (
        f"{tokens} tokens in {total:.2f}s: first token after {ttft:.2f}s, then {tps:.1f} tokens/s"
    )
    problems = []
    if min_tps and tps < min_tps:
        problems.append(f"decode {tps:.2f} tokens/s < floor {min_tps:g}")
    if max_ttft and ttft > max_ttft:
        problems.append(f"first token {ttft:.2f}s > limit {max_ttft:g}s")
    if problems:
        raise CheckFailed(
            "generate_stream of the seed's prompt (measured by that check)",
            f">= {min_tps:g} tokens/s after the first token, first token <= {max_ttft:g}s "
            "(--min-tokens-per-s / --max-ttft, inventory smoke_min_tokens_per_s / "
            "smoke_max_ttft_s)",
            f"{'; '.join(problems)} ({measured}); {LIKELY_CAUSES}",
        )
    return CheckOutcome(f"{measured} (floor {min_tps:g} tokens/s, first token <= {max_ttft:g}s)")
