"""Crash diagnosis per engine (deploy/ready.py): each engine's common start-up failures (OOM at
start, gated model / 401 from the Hub, NCCL / shared memory, unknown quantization) are named
from its log lines, with the fix in that engine's settings. Logs: fixtures/engine-logs/."""

from __future__ import annotations

from pathlib import Path

import pytest
from tgi_infra.ready import health_status, likely_cause

LOGS = Path(__file__).parent / "fixtures" / "engine-logs"

# (engine, failure) -> words the cause must hold (the engine's own knobs)
EXPECTED = {
    ("vllm", "oom"): ["vLLM ran out of GPU memory", "--max-model-len", "--gpu-memory-utilization"],
    ("vllm", "gated"): ["gated or private", "hf_token_env"],
    ("vllm", "nccl"): ["--ipc=host", "shm_size"],
    ("vllm", "quantization"): ["vLLM does not know this quantization", "quantize"],
    ("sglang", "oom"): ["SGLang ran out of GPU memory", "--mem-fraction-static"],
    ("sglang", "gated"): ["gated or private", "hf_token_env"],
    ("sglang", "nccl"): ["--ipc=host", "SGLang's docs"],
    ("sglang", "quantization"): ["SGLang does not know this quantization"],
    ("tgi", "oom"): ["max_batch_prefill_tokens"],
    ("tgi", "gated"): ["gated or private", "hf_token_env"],
    ("tgi", "nccl"): ["NCCL failed between shards", "shm_size"],
    ("tgi", "quantization"): ["TGI does not know this quantization"],
}


@pytest.mark.parametrize(("engine", "failure"), sorted(EXPECTED))
def test_cause_from_the_engines_log(engine, failure):
    log = (LOGS / f"{engine}-{failure}.log").read_text()
    cause = likely_cause(log, engine)
    for words in EXPECTED[(engine, failure)]:
        assert words in cause, (engine, failure, cause)


def test_the_hint_names_the_engine_the_log_came_from():
    # the same OOM line read as each engine's: each names its own settings
    line = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    assert "--max-model-len" in likely_cause(line, "vllm")
    assert "--mem-fraction-static" in likely_cause(line, "sglang")
    assert "max_batch_prefill_tokens" in likely_cause(line, "tgi")
    assert likely_cause("loading weights\n", "vllm").startswith("unknown")


def test_health_answers_while_starting_per_engine():
    assert "SGLang loading" in health_status("sglang", "503")
    assert "engine is dead" in health_status("vllm", "503")
    assert "vLLM listens once the engine is up" in health_status("vllm", "000")
    assert health_status("tgi", "") == "port not open yet (downloading / warming up)"
