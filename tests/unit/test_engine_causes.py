"""Crash diagnosis per engine (deploy/services/ready.py): the common start-up failures (OOM at
warm-up or
start, gated model or rejected token, model not found, NCCL / shared memory, unknown
quantization, refused arguments, driver too old for the image's CUDA, port already in use) are
named from each engine's own error lines, whole words only, with the fix in that engine's
settings. Logs: fixtures/engine-logs/ (its README names the upstream source of every line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tgi_infra.services.ready import UNKNOWN, diagnose, health_status, likely_cause

LOGS = Path(__file__).parent / "fixtures" / "engine-logs"
ENGINES = ("tgi", "vllm", "sglang")

# fixture -> (cause kind, words the printed cause must hold: the engine's own knobs)
EXPECTED: dict[str, tuple[str, list[str]]] = {
    "tgi-oom-warmup": ("oom", ["the GPU ran out of memory", "max_batch_prefill_tokens"]),
    "tgi-oom-kv-cache": ("oom", ["the GPU ran out of memory", "max_total_tokens"]),
    "tgi-gated": ("gated", ["gated or private", "hf_token_env"]),
    "tgi-gated-invalid-token": ("gated", ["the HF token is invalid", "hf_token_env"]),
    "tgi-model-not-found": ("model-not-found", ["does not exist on the Hub", "model_id"]),
    "tgi-nccl-shm": ("nccl-shm", ["NCCL failed between shards", "shm_size"]),
    "tgi-quantization": ("quantization", ["TGI does not know this quantization"]),
    "tgi-arguments": ("arguments", ["refused its arguments", "max_input_tokens"]),
    "tgi-arguments-router": ("arguments", ["refused its arguments", "max_batch_total_tokens"]),
    "tgi-arguments-clap": ("arguments", ["text-generation-launcher --help"]),
    "tgi-driver": ("driver", ["NVIDIA driver is too old", "image"]),
    "tgi-port": ("port", ["port is taken", "`ss -ltnp`"]),
    "vllm-oom": ("oom", ["vLLM ran out of GPU memory", "--max-model-len"]),
    "vllm-oom-gpu-in-use": ("oom", ["vLLM ran out of GPU memory", "another process"]),
    "vllm-gated": ("gated", ["gated or private", "hf_token_env"]),
    "vllm-model-not-found": ("model-not-found", ["does not exist on the Hub"]),
    "vllm-nccl-shm": ("nccl-shm", ["--ipc=host", "shm_size", "vLLM's docs"]),
    "vllm-quantization": ("quantization", ["vLLM does not know this quantization"]),
    "vllm-quantization-mismatch": ("quantization", ["quantization_config"]),
    "vllm-arguments": ("arguments", ["vllm serve refused its arguments"]),
    "vllm-arguments-config": ("arguments", ["vllm serve refused its arguments"]),
    "vllm-driver": ("driver", ["NVIDIA driver is too old"]),
    "vllm-port": ("port", ["port is taken"]),
    "sglang-oom": ("oom", ["SGLang ran out of GPU memory", "--mem-fraction-static"]),
    "sglang-oom-gpu-in-use": ("oom", ["SGLang ran out of GPU memory", "another process"]),
    "sglang-gated": ("gated", ["gated or private", "hf_token_env"]),
    "sglang-model-not-found": ("model-not-found", ["does not exist on the Hub"]),
    "sglang-nccl-shm": ("nccl-shm", ["--ipc=host", "SGLang's docs"]),
    "sglang-quantization": ("quantization", ["SGLang does not know this quantization"]),
    "sglang-quantization-gpu": ("quantization", ["this GPU does not support it"]),
    "sglang-arguments": ("arguments", ["sglang.launch_server --help"]),
    "sglang-driver": ("driver", ["NVIDIA driver is too old"]),
    "sglang-port": ("port", ["port is taken"]),
}
# failures without a known signature whose healthy lines hold words a substring match misreads
UNKNOWN_LOGS = ("tgi-unknown-bloom", "vllm-unknown-tensor-parallel")
KINDS = sorted({kind for kind, _ in EXPECTED.values()})


def _log(name: str) -> str:
    return (LOGS / f"{name}.log").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cause_from_the_engines_own_lines(name):
    engine = name.split("-", 1)[0]
    kind, words = EXPECTED[name]
    log = _log(name)
    found = diagnose(log)
    assert found is not None and found.kind == kind, (name, found)
    cause = likely_cause(log, engine)
    for word in words:
        assert word in cause, (name, cause)


@pytest.mark.parametrize("kind", KINDS)
def test_every_cause_has_a_log_of_every_engine(kind):
    engines = {name.split("-", 1)[0] for name, (k, _) in EXPECTED.items() if k == kind}
    assert engines == set(ENGINES), (kind, engines)


def test_every_fixture_is_read_by_a_test():
    names = {p.stem for p in LOGS.glob("*.log")}
    assert names == set(EXPECTED) | set(UNKNOWN_LOGS)
    readme = (LOGS / "README.md").read_text()
    missing = [n for n in names if f"`{n}.log`" not in readme]
    assert not missing, f"not in fixtures/engine-logs/README.md: {missing}"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        # clap 4 (TGI's launcher): the other refusals it prints
        (
            "error: invalid value 'x' for '--max-total-tokens <MAX_TOTAL_TOKENS>': invalid "
            "digit found in string",
            "arguments",
        ),
        ("error: the argument '--port <PORT>' cannot be used multiple times", "arguments"),
        (
            "error: a value is required for '--model-id <MODEL_ID>' but none was supplied",
            "arguments",
        ),
        # argparse (vLLM, SGLang)
        ("vllm serve: error: argument --max-model-len: expected one argument", "arguments"),
        ("launch_server.py: error: argument --tp-size: invalid int value: 'two'", "arguments"),
        ("vllm serve: error: argument --quantization/-q: invalid choice: 'int4'", "quantization"),
        # torch's TCPStore when the rendezvous port is taken
        (
            "The server socket has failed to listen on any local network address. port: 29500, "
            "useIpv6: false, code: -98, name: EADDRINUSE, message: address already in use",
            "port",
        ),
        # NVML after a driver upgrade without a reboot
        ("Failed to initialize NVML: Driver/library version mismatch", "driver"),
        ("CUDA error: system has unsupported display driver / cuda driver combination", "driver"),
        # a token without the permission (huggingface_hub's 403 that is not a gated repo)
        ("Make sure your token has the correct permissions.", "gated"),
    ],
)
def test_other_forms_from_the_sources(line, kind):
    found = diagnose(line)
    assert found is not None and found.kind == kind, (line, found)


@pytest.mark.parametrize("name", UNKNOWN_LOGS)
def test_a_crash_without_a_known_signature_stays_unknown(name):
    engine = name.split("-", 1)[0]
    assert diagnose(_log(name)) is None
    assert likely_cause(_log(name), engine) == UNKNOWN


@pytest.mark.parametrize(
    "line",
    [
        # a model named bloom, a word holding "oom"
        'INFO text_generation_launcher: Args { model_id: "bigscience/bloom-560m" }',
        "Loading BloomForCausalLM from bigscience/bloomz-7b1",
        "Leaving 5% of the GPU as wiggle room for the allocator",
        "zoom level set; the broom closet is empty",
        "model: room-planner-7b",
        # NCCL named by healthy lines: vLLM's banner and workers, SGLang's all-reduce path
        "(Worker_TP0 pid=310) INFO [pynccl.py:148] vLLM is using nccl==2.27.3",
        "world_size=2 rank=0 local_rank=0 distributed_init_method=tcp://127.0.0.1:1 backend=nccl",
        "[2026-11-20 10:31:20 TP0] sglang is using nccl==2.27.3",
        # shm in a flag or a file name
        "docker create --shm-size 1g --ipc=private",
        "INFO [shm_broadcast.py:289] message queue ready",
        # an access log line, a word holding "oom"
        '127.0.0.1 - "GET /v1/models HTTP/1.1" 401 Unauthorized',
        "gloom",
        # vLLM's own retry when its distributed init port is taken: not the service's port
        "WARNING [parallel.py:750] Address already in use. Retrying with a new port.",
        # words near the argument forms
        "Error: the argument parser is ready",
    ],
)
def test_healthy_lines_are_read_as_no_cause(line):
    assert diagnose(line) is None, line


def test_a_repo_not_found_that_mentions_gated_repos_reads_as_not_found():
    # huggingface_hub's RepoNotFound text says "If you are trying to access a private or gated
    # repo": the word alone is not a gated repo
    log = _log("tgi-model-not-found")
    assert "gated repo" in log
    found = diagnose(log)
    assert found is not None and found.kind == "model-not-found"


def test_the_hint_names_the_engine_the_log_came_from():
    # the same OOM line read as each engine's: each names its own settings
    line = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    assert "--max-model-len" in likely_cause(line, "vllm")
    assert "--mem-fraction-static" in likely_cause(line, "sglang")
    assert "max_batch_prefill_tokens" in likely_cause(line, "tgi")
    assert likely_cause("loading weights\n", "vllm") == UNKNOWN


def test_health_answers_while_starting_per_engine():
    assert "SGLang loading" in health_status("sglang", "503")
    assert "engine is dead" in health_status("vllm", "503")
    assert "vLLM listens once the engine is up" in health_status("vllm", "000")
    assert health_status("tgi", "") == "port not open yet (downloading / warming up)"
