"""The `engine` field and what each engine accepts (deploy/engines, config rules).

Every error names host, service, field, value, the engine and what that engine allows; the
flag lists come from the reference dumps (deploy/reference/vllm, deploy/reference/sglang)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tgi_infra
from tgi_infra.config import ConfigError, load_host_config
from tgi_infra.engines import engine_spec
from tgi_infra.services.swap import PREFETCH_SCRIPT, Swap, prefetch_command

REFERENCE = Path(tgi_infra.__file__).resolve().parent / "reference"


def errors_of(**svc) -> list[str]:
    data = {"tgi_services": [{"name": "svc-a", "model_id": "org/model", **svc}]}
    with pytest.raises(ConfigError) as exc:
        load_host_config("gpu-1", data)
    return exc.value.errors


def one_error(**svc) -> str:
    errs = errors_of(**svc)
    assert len(errs) == 1, errs
    assert errs[0].startswith("host gpu-1: service svc-a: field "), errs[0]
    return errs[0]


def test_engine_defaults_to_tgi_and_sets_the_image():
    cfg = load_host_config("h", {"tgi_services": [{"model_id": "org/m"}]})
    assert cfg.tgi_services[0].engine == "tgi"
    assert cfg.tgi_services[0].image.startswith("ghcr.io/huggingface/text-generation-inference:")
    for engine, image in (
        ("vllm", "vllm/vllm-openai:v0.33.0"),
        ("sglang", "lmsysorg/sglang:v0.5.23"),
    ):
        cfg = load_host_config("h", {"tgi_services": [{"model_id": "org/m", "engine": engine}]})
        assert cfg.tgi_services[0].image == image
        custom = {"model_id": "org/m", "engine": engine, "image": "reg.lab/x:1"}
        assert (
            load_host_config("h", {"tgi_services": [custom]}).tgi_services[0].image == "reg.lab/x:1"
        )


def test_unknown_engine():
    msg = one_error(engine="llama.cpp")
    assert "field engine: value 'llama.cpp' is not allowed" in msg
    assert "tgi, vllm or sglang" in msg


@pytest.mark.parametrize(
    ("engine", "field", "value", "words"),
    [
        ("vllm", "sharded", True, "vLLM shards by tensor parallelism alone"),
        ("vllm", "max_input_tokens", 4000, "--max-model-len"),
        ("vllm", "max_batch_total_tokens", 65536, "--gpu-memory-utilization"),
        ("sglang", "sharded", False, "SGLang shards by tensor parallelism alone"),
        ("sglang", "max_input_tokens", 4000, "--context-length"),
    ],
)
def test_a_setting_the_engine_lacks_is_refused_naming_the_engine(engine, field, value, words):
    msg = one_error(engine=engine, **{field: value})
    assert f"field {field}: value {value!r} is not allowed" in msg
    assert f"engine {engine}" in msg and words in msg
    assert "allowed: null for engine" in msg and "num_shard" in msg  # what it does take


@pytest.mark.parametrize(
    ("engine", "field", "value", "flag", "allowed_sample"),
    [
        ("vllm", "quantize", "eetq", "--quantization", "awq_marlin"),
        ("sglang", "quantize", "exl2", "--quantization", "w8a8_fp8"),
        ("tgi", "quantize", "awq_marlin", "--quantize", "bitsandbytes-nf4"),
        ("vllm", "dtype", "fp8", "--dtype", "half"),
        ("tgi", "dtype", "half", "--dtype", "bfloat16"),
    ],
)
def test_values_are_checked_against_the_engines_own_list(
    engine, field, value, flag, allowed_sample
):
    msg = one_error(engine=engine, **{field: value})
    assert f"field {field}: value {value!r} is not allowed" in msg
    assert f"{engine_spec(engine).title}'s {flag} takes" in msg and allowed_sample in msg


def test_each_engines_quantization_list_is_the_reference():
    vllm_q = json.loads((REFERENCE / "vllm" / "quantization-methods.json").read_text())
    assert list(engine_spec("vllm").quantize_values) == vllm_q
    dump = json.loads((REFERENCE / "sglang" / "launch-server-args.json").read_text())
    sg = next(a for a in dump["arguments"] if "--quantization" in (a.get("flags") or ()))
    assert list(engine_spec("sglang").quantize_values) == sg["choices"]


@pytest.mark.parametrize(
    ("engine", "args", "words"),
    [
        ("vllm", ["--no-such-flag"], "vLLM's vllm serve has no --no-such-flag"),
        ("vllm", ["--gpu-memory-utilisation", "0.8"], "did you mean --gpu-memory-utilization"),
        ("vllm", ["--tensor-parallel-size", "2"], "use field num_shard"),
        ("vllm", ["-tp", "2"], "use field num_shard"),
        ("vllm", ["--api-key", "k"], "use field api_key_env"),
        ("vllm", ["--config", "x.yaml"], "YAML file"),
        ("vllm", ["--uvicorn-log-level", "loud"], "vLLM's --uvicorn-log-level takes"),
        ("vllm", ["Qwen/Qwen2.5"], "a value without a flag"),
        ("vllm", ["--max-num-seqs", "8"], "use field max_concurrent_requests"),
        ("sglang", ["--model-path", "x/y"], "use field model_id"),
        ("sglang", ["--host", "127.0.0.1"], "use field bind"),
        ("sglang", ["--enable-metrics"], "always rendered"),
        ("sglang", ["--attention-backend", "nope"], "SGLang's --attention-backend takes"),
        ("sglang", ["--enable-mixed-chunk=1"], "a switch without value"),
        ("sglang", ["--mem-fraction-static"], "needs a value"),
        ("tgi", ["--tensor-parallel-size", "2"], "TGI's launcher has no --tensor-parallel-size"),
    ],
)
def test_extra_args_are_checked_against_the_engines_flag_list(engine, args, words):
    # an unknown flag's value is reported on its own too ("a value without a flag")
    msg = errors_of(engine=engine, extra_args=args)[0]
    assert msg.startswith("host gpu-1: service svc-a: field extra_args: "), msg
    assert "field extra_args: value" in msg and words in msg, msg
    if engine != "tgi":
        assert f"deploy/reference/{engine}" in msg  # what that engine allows


def test_valid_engine_specific_extra_args_pass():
    ok = [
        ("vllm", ["--gpu-memory-utilization", "0.85", "--enable-prefix-caching"]),
        ("vllm", ["--kv-cache-dtype=fp8", "--cudagraph-metrics", "--uvicorn-log-level=debug"]),
        ("sglang", ["--mem-fraction-static", "0.8", "--cuda-graph-bs-decode", "1", "2", "4"]),
        ("sglang", ["--attention-backend", "flashinfer", "--enable-mixed-chunk"]),
    ]
    for engine, args in ok:
        svc = {"model_id": "org/m", "engine": engine, "extra_args": args}
        load_host_config("h", {"tgi_services": [svc]})


@pytest.mark.parametrize(
    ("engine", "flag"),
    [("vllm", "--hf-token"), ("sglang", "--admin-api-key"), ("sglang", "--ssl-keyfile-password")],
)
def test_a_secret_in_extra_args_is_refused_and_not_repeated(engine, flag):
    secret = "hf_abcdefghijklmnopqrstuvwxyz0123" if "token" in flag else "plain-secret-value"
    msg = one_error(engine=engine, extra_args=[flag, secret])
    assert secret not in msg and "secret" in msg and flag in msg


def test_cpu_mode_is_tgi_only():
    data = {
        "tgi_gpus": "none",
        "tgi_services": [{"name": "s", "model_id": "o/m", "engine": "vllm"}],
    }
    with pytest.raises(ConfigError) as exc:
        load_host_config("cpu-1", data)
    (msg,) = exc.value.errors
    assert msg.startswith("host cpu-1: service s: field gpus:") and "CPU mode is TGI-only" in msg
    assert "vllm-cpu-release-repo" in msg, "the way out (a CPU build in `image`) must be named"


@pytest.mark.parametrize(
    "engine,image",
    [
        ("vllm", "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.33.0"),
        ("sglang", "lmsysorg/sglang:v0.5.23-xeon"),
    ],
)
def test_cpu_mode_with_a_cpu_build_of_the_engine(engine, image):
    """gpus none is refused for the CUDA image only: a CPU build named in `image` is CPU mode
    (vLLM's docker/Dockerfile.cpu image, SGLang's Xeon image); SGLang gets `--device cpu`."""
    from tgi_infra.services.render import launcher_args

    data = {
        "tgi_gpus": "none",
        "tgi_services": [{"name": "s", "model_id": "o/m", "engine": engine, "image": image}],
    }
    cfg = load_host_config("cpu-1", data)
    svc = cfg.tgi_services[0]
    argv = launcher_args(svc, cfg)
    assert "--gpus" not in argv
    if engine == "sglang":
        assert argv[argv.index("--device") + 1] == "cpu"
    else:
        assert "--device" not in argv  # vLLM's CPU build detects its platform itself
    gpu = load_host_config(
        "gpu-1", {"tgi_services": [{"name": "s", "model_id": "o/m", "engine": engine}]}
    )
    assert "--device" not in launcher_args(gpu.tgi_services[0], gpu)


def test_sglang_cuda_graphs_only_zero():
    msg = one_error(engine="sglang", cuda_graphs=[1, 2])
    assert "--cuda-graph-bs-decode" in msg and "[0] or null for engine sglang" in msg
    load_host_config(
        "h", {"tgi_services": [{"model_id": "o/m", "engine": "sglang", "cuda_graphs": [0]}]}
    )


def test_sglang_cuda_graphs_zero_refuses_a_backend_flag_that_would_override_it():
    for args in (
        ["--cuda-graph-backend-decode", "full"],
        ["--cuda-graph-backend-prefill=breakable"],
        ["--cuda-graph-config", '{"decode": {"backend": "full"}}'],
    ):
        msg = one_error(engine="sglang", cuda_graphs=[0], extra_args=args)
        assert msg.startswith("host gpu-1: service svc-a: field extra_args: value ")
        assert "would override cuda_graphs [0]" in msg and args[0].split("=")[0] in msg
    # without cuda_graphs, choosing the backends is the user's
    load_host_config(
        "h",
        {"tgi_services": [{"model_id": "o/m", "engine": "sglang",
                           "extra_args": ["--cuda-graph-backend-decode", "breakable"]}]},
    )  # fmt: skip
    assert "--disable-cuda-graph" in engine_spec("sglang").owned  # deprecated: still refused


def test_each_engine_image_has_its_cuda_build_with_a_source():
    from tgi_infra.engines.spec import cuda_build

    for engine in ("tgi", "vllm", "sglang"):
        spec = engine_spec(engine)
        default, *fallbacks = spec.cuda_builds
        assert default.image == spec.image, engine
        for b in spec.cuda_builds:
            assert cuda_build(b.image) is b and b.source and b.cuda, b
            assert b.runs_on(b.min_driver) and b.runs_on(b.min_driver_windows, windows=True)
        for b in fallbacks:  # the -cu129 builds of vLLM and SGLang
            assert b.image == f"{spec.image}-cu129" and b.cuda == "12.9", b
    assert engine_spec("tgi").cuda_builds[0].cuda == "12.4"
    assert {engine_spec(e).cuda_builds[0].cuda for e in ("vllm", "sglang")} == {"13.0"}
    assert cuda_build("docker.io/lmsysorg/sglang:v0.5.23") is engine_spec("sglang").cuda_builds[0]
    assert cuda_build("lmsysorg/sglang:v0.5.23@sha256:" + "0" * 64) is None  # a digest: unknown
    assert cuda_build("registry.example/sglang:v0.5.23") is None


@pytest.mark.parametrize(
    "engine, driver, windows, consumer, runs",
    [
        ("sglang", "580.65.06", False, False, True),  # CUDA 13.0 GA's driver
        ("sglang", "580.65.05", False, False, False),
        ("sglang", "575.57.08", False, False, False),  # CUDA 12.9: no CUDA 13
        ("sglang", "590.44.01", False, True, True),
        ("sglang", "580.88", True, True, True),  # the Windows R580 driver, through WSL2
        ("sglang", "576.88", True, False, False),
        ("tgi", "535.54.03", False, True, True),  # R535 admitted for every brand
        ("tgi", "545.29.06", False, False, False),  # R545: not listed, below cuda>=12.4
        ("tgi", "550.54.14", False, False, True),
        ("tgi", "550.40.07", False, False, False),
        ("tgi", "470.256.02", False, False, False),  # listed, but forward compatibility only
        ("tgi", "not-a-version", False, False, False),
    ],
)
def test_cuda_build_runs_on(engine, driver, windows, consumer, runs):
    build = engine_spec(engine).cuda_builds[0]
    assert build.runs_on(driver, windows=windows, consumer=consumer) is runs


@pytest.mark.parametrize(
    "driver, consumer, runs",
    [
        ("575.51.03", True, True),  # CUDA 12.9 GA's driver: every brand
        ("570.172.08", False, True),  # R570 listed in NVIDIA_REQUIRE_CUDA (data center)
        ("570.172.08", True, False),  # ... not for GeForce/TITAN
        ("535.183.01", False, True),
        ("525.147.05", False, False),  # R525 not listed by the 12.9 image
    ],
)
def test_the_cu129_builds_admit_older_branches_on_data_center_gpus_only(driver, consumer, runs):
    for engine in ("vllm", "sglang"):
        build = engine_spec(engine).cuda_builds[1]
        assert build.runs_on(driver, consumer=consumer) is runs, (engine, driver)


def test_owned_and_forbidden_flags_are_flags_of_the_engine():
    for engine in ("vllm", "sglang"):
        spec = engine_spec(engine)
        for flag in [*spec.owned, *spec.forbidden]:
            assert spec.flag(flag) is not None, (engine, flag)
        for name, setting in spec.settings.items():
            if name in ("port", "bind", "shm_size"):
                continue  # docker options and container ports, not engine flags
            if setting.flag and setting.flag.startswith("--") and " " not in setting.flag:
                assert spec.flag(setting.flag) is not None, (engine, name, setting.flag)


def test_prefetch_per_engine():
    base = dict(
        name="svc",
        unit=None,
        creation_script="/opt/tgi/svc/tgi-service-creation.sh",
        image="vllm/vllm-openai:v0.33.0",
        env_file="/opt/tgi/svc/service.env",
        volume="/var/lib/tgi/data",
        model_id="org/m",
        revision="main",
        why="config changed",
    )
    cmd = prefetch_command(Swap(**base, engine="vllm"))
    argv = shlex.split(cmd.removesuffix(" 2>&1"))
    at = argv.index("vllm/vllm-openai:v0.33.0")
    assert argv[at - 2 : at] == ["--entrypoint", "python3"]
    assert argv[at + 1 : at + 3] == ["-c", PREFETCH_SCRIPT]
    assert argv[at + 3 : at + 5] == ["org/m", "main"] and "*.safetensors" in argv[at + 5 :]
    assert "/var/lib/tgi/data:/root/.cache/huggingface" in argv
    assert argv[argv.index("--env-file") + 1] == "/opt/tgi/svc/service.env"
    tgi = prefetch_command(Swap(**base))
    assert "--entrypoint text-generation-server" in tgi and ":/data " in tgi


def test_engines_doc_table_matches_the_specs():
    import re

    from tgi_infra.engines.spec import engines_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs/engines.md").read_text()
    m = re.search(r"<!-- engines-table:start -->\n(.*)<!-- engines-table:end -->", doc, re.S)
    assert m, "docs/engines.md lacks the engine table"
    assert m.group(1) == engines_markdown(), (
        "docs/engines.md's engine table is stale: regenerate it with "
        "tgi_infra.engines.spec.engines_markdown()"
    )


def test_prefetch_script_calls_snapshot_download_with_the_patterns(tmp_path):
    """The script, run by a real Python against a recording huggingface_hub in its path,
    passes model, revision (empty -> None) and the patterns; the token is not an argument."""
    pkg = tmp_path / "huggingface_hub"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import json, os\n"
        "def snapshot_download(repo_id, revision=None, allow_patterns=None):\n"
        "    json.dump([repo_id, revision, allow_patterns], open(os.environ['OUT'], 'w'))\n"
        "    return '/root/.cache/huggingface/hub/x'\n"
    )
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OUT": str(out)}
    for revision, expected in (("", None), ("v1", "v1")):
        proc = subprocess.run(
            [sys.executable, "-c", PREFETCH_SCRIPT, "org/m", revision, "*.json", "*.safetensors"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert json.loads(out.read_text()) == ["org/m", expected, ["*.json", "*.safetensors"]]
        assert "weights of org/m in /root/.cache/huggingface/hub/x" in proc.stdout


def test_local_tools_find_the_engines_published_port():
    from tgi_infra.local import _published

    def attrs(port_key):
        binding = [{"HostIp": "10.0.0.5", "HostPort": "8081"}]
        return {"HostConfig": {"PortBindings": {port_key: binding}}}

    assert _published(attrs("8000/tcp"), "vllm") == ("10.0.0.5", 8081)
    assert _published(attrs("30000/tcp"), "sglang") == ("10.0.0.5", 8081)
    assert _published(attrs("80/tcp")) == ("10.0.0.5", 8081)
    assert _published(attrs("80/tcp"), "vllm") == (None, None)


def test_ready_request_per_engine():
    from tgi_infra.services.ready import WaitTarget

    def probe(engine, model="org/m"):
        return WaitTarget("s", "http://127.0.0.1:1", "/x/service.env", 10, False, (), engine, model)

    assert probe("tgi").ready_request()[0] == "/generate"
    path, body = probe("vllm", '/root/.cache/huggingface/my "model"').ready_request()
    assert path == "/v1/completions"
    assert json.loads(body) == {
        "model": '/root/.cache/huggingface/my "model"',
        "prompt": "Hello",
        "max_tokens": 1,
    }
    path, body = probe("sglang").ready_request()
    assert path == "/generate" and json.loads(body)["sampling_params"] == {"max_new_tokens": 1}
