"""Table of bad configurations: each is refused, and the message names the host, the
service, the field, the bad value and what is allowed."""

from __future__ import annotations

import pytest
from tgi_infra.config import ConfigError, host_key, load_host_config, validate_inventory

HOST = "bad-host"


def svc(**kw):
    return {"name": "svc-a", "model_id": "org/model", **kw}


def one(**kw):
    return {"tgi_services": [svc(**kw)]}


# id, host data, service named in the message (None: host-level), field, bad value text,
# fragment of the allowed/reason text
CASES = [
    (
        "quantize-unknown",
        one(quantize="int4"),
        "svc-a",
        "quantize",
        "'int4'",
        "awq, compressed-tensors",
    ),
    ("dtype-unknown", one(dtype="float32"), "svc-a", "dtype", "'float32'", "float16, bfloat16"),
    (
        "dtype-with-quantize",
        one(quantize="gptq", dtype="float16"),
        "svc-a",
        "dtype",
        "'float16'",
        "together with --quantize gptq",
    ),
    (
        "input-not-below-total",
        one(max_input_tokens=4096, max_total_tokens=4096),
        "svc-a",
        "max_input_tokens",
        "4096",
        "must be < max_total_tokens (4096)",
    ),
    (
        "total-above-batch-total",
        one(max_total_tokens=8192, max_batch_total_tokens=4096),
        "svc-a",
        "max_total_tokens",
        "8192",
        "<= max_batch_total_tokens (4096)",
    ),
    # prefill below max_input_tokens is legal in TGI 3.3.7 (chunking): test_config_follows_tgi.py
    (
        "prefill-above-batch-total",
        one(max_batch_prefill_tokens=9000, max_batch_total_tokens=8000),
        "svc-a",
        "max_batch_prefill_tokens",
        "9000",
        "<= max_batch_total_tokens",
    ),
    ("tokens-zero", one(max_total_tokens=0), "svc-a", "max_total_tokens", "0", "an integer >= 1"),
    (
        "num-shard-above-gpus",
        one(gpus=[0, 1], num_shard=3, shm_size="8g"),
        "svc-a",
        "num_shard",
        "3",
        "only 2 GPU(s) assigned",
    ),
    ("num-shard-zero", one(num_shard=0), "svc-a", "num_shard", "0", "an integer from 1"),
    (
        "unsharded-with-shards",
        one(gpus=2, sharded=False, num_shard=2),
        "svc-a",
        "sharded",
        "False",
        "sharded=false with num_shard=2",
    ),
    ("sharded-single-gpu", one(gpus=[0], sharded=True), "svc-a", "sharded", "True", "single shard"),
    (
        "cpu-service-sharded",
        one(gpus="none", sharded=True),
        "svc-a",
        "sharded",
        "True",
        "CPU service cannot be sharded",
    ),
    (
        "duplicate-name",
        {"tgi_services": [svc(gpus=[0]), svc(gpus=[1], port=8081)]},
        "svc-a",
        "name",
        "'svc-a'",
        "unique on the host",
    ),
    (
        "duplicate-port",
        {"tgi_services": [svc(gpus=[0]), svc(name="b", gpus=[1])]},
        "b",
        "port",
        "8080",
        "service svc-a already publishes it",
    ),
    (
        "gpu-overlap",
        {"tgi_services": [svc(gpus=[0, 1]), svc(name="b", gpus=[1, 2], port=8081)]},
        "b",
        "gpus",
        "[1, 2]",
        "GPU(s) 1 already assigned to service svc-a",
    ),
    (
        "gpu-all-overlaps",
        {"tgi_services": [svc(gpus="all"), svc(name="b", gpus=[3], port=8081)]},
        "b",
        "gpus",
        "[3]",
        "'all' overlaps every GPU",
    ),
    (
        "gpu-count-overlaps-ids",
        {"tgi_services": [svc(gpus=2), svc(name="b", gpus=[1], port=8081)]},
        "b",
        "gpus",
        "[1]",
        "GPU(s) 1 already assigned",
    ),
    (
        "gpus-string-list",
        one(gpus="0,1"),
        "svc-a",
        "gpus",
        "'0,1'",
        "a list of unique integers >= 0",
    ),
    ("gpus-repeat", one(gpus=[0, 0]), "svc-a", "gpus", "[0, 0]", "device ids repeat"),
    ("gpus-negative", one(gpus=-1), "svc-a", "gpus", "-1", "an integer >= 1"),
    (
        "gpus-on-cpu-host",
        {"tgi_gpus": "none", "tgi_services": [svc(gpus=[0])]},
        "svc-a",
        "gpus",
        "[0]",
        "CPU mode",
    ),
    (
        "cuda-graphs-on-cpu",
        one(gpus="none", cuda_graphs=[1, 2]),
        "svc-a",
        "cuda_graphs",
        "[1, 2]",
        "need GPUs",
    ),
    (
        "cuda-graphs-zero-mixed",
        one(cuda_graphs=[0, 1]),
        "svc-a",
        "cuda_graphs",
        "[0, 1]",
        "must be alone",
    ),
    ("port-zero", one(port=0), "svc-a", "port", "0", "an integer 1..65535"),
    ("port-too-big", one(port=70000), "svc-a", "port", "70000", "an integer 1..65535"),
    ("port-string", one(port="8080"), "svc-a", "port", "'8080'", "an integer 1..65535"),
    (
        "bind-hostname",
        one(bind="localhost"),
        "svc-a",
        "bind",
        "'localhost'",
        "an IPv4 or IPv6 address",
    ),
    (
        "model-three-parts",
        one(model_id="org/name/extra"),
        "svc-a",
        "model_id",
        "'org/name/extra'",
        "`org/name` or `name`",
    ),
    (
        "model-bad-chars",
        one(model_id="org/bad name!"),
        "svc-a",
        "model_id",
        "'org/bad name!'",
        "`org/name` or `name`",
    ),
    (
        "model-too-long",
        one(model_id="org/" + "x" * 97),
        "svc-a",
        "model_id",
        "'org/xxxx",
        "at most 96",
    ),
    ("model-double-dash", one(model_id="org/a--b"), "svc-a", "model_id", "'org/a--b'", "no `--`"),
    (
        "model-local-outside-data",
        one(model_id="/etc/passwd"),
        "svc-a",
        "model_id",
        "'/etc/passwd'",
        "under /data",
    ),
    (
        "model-missing",
        {"tgi_services": [{"name": "svc-a"}]},
        "svc-a",
        "model_id",
        "is required",
        "`org/name`",
    ),
    (
        "revision-traversal",
        one(revision="../main"),
        "svc-a",
        "revision",
        "'../main'",
        "a git ref or sha",
    ),
    (
        "image-uppercase-path",
        one(image="ghcr.io/HuggingFace/tgi:1"),
        "svc-a",
        "image",
        "'ghcr.io/HuggingFace/tgi:1'",
        "Docker image reference",
    ),
    (
        "image-space",
        one(image="ghcr.io/x/y:bad tag"),
        "svc-a",
        "image",
        "'ghcr.io/x/y:bad tag'",
        "Docker image reference",
    ),
    ("shm-words", one(shm_size="lots"), "svc-a", "shm_size", "'lots'", "512m, 1g, 16gb"),
    ("shm-no-unit", one(shm_size="1024"), "svc-a", "shm_size", "'1024'", "512m, 1g, 16gb"),
    (
        "volume-relative",
        one(volume="data/models"),
        "svc-a",
        "volume",
        "'data/models'",
        "a Docker volume name, or a normalised absolute path",
    ),
    (
        "extra-unknown-flag",
        one(extra_args=["--max-bestof", "1"]),
        "svc-a",
        "extra_args",
        "'--max-bestof'",
        "did you mean --max-best-of",
    ),
    (
        "extra-owned-port",
        one(extra_args=["--port", "3000"]),
        "svc-a",
        "extra_args",
        "'--port'",
        "use field port",
    ),
    (
        "extra-owned-model",
        one(extra_args=["--model-id=x/y"]),
        "svc-a",
        "extra_args",
        "'--model-id=x/y'",
        "use field model_id",
    ),
    (
        "extra-api-key",
        one(extra_args=["--api-key", "abc"]),
        "svc-a",
        "extra_args",
        "'--api-key'",
        "api_key_env",
    ),
    (
        "extra-secret-flag",
        one(extra_args=["--ngrok-authtoken", "abc"]),
        "svc-a",
        "extra_args",
        "'--ngrok-authtoken'",
        "carries a secret",
    ),
    (
        "extra-short-flag",
        one(extra_args=["-p", "3000"]),
        "svc-a",
        "extra_args",
        "'-p'",
        "use the long form",
    ),
    (
        "extra-bad-choice",
        one(extra_args=["--rope-scaling", "cubic"]),
        "svc-a",
        "extra_args",
        "'cubic'",
        "linear, dynamic",
    ),
    (
        "extra-missing-value",
        one(extra_args=["--max-best-of"]),
        "svc-a",
        "extra_args",
        "'--max-best-of'",
        "needs a value",
    ),
    (
        "extra-switch-with-value",
        one(extra_args=["--trust-remote-code=yes"]),
        "svc-a",
        "extra_args",
        "'--trust-remote-code=yes'",
        "without value",
    ),
    (
        "extra-token-value",
        one(extra_args=["--lora-adapters", "hf_abcdefghijklmnopqrstuvwx"]),
        "svc-a",
        "extra_args",
        "--lora-adapters",
        "looks like a token",
    ),
    ("env-hf-token", one(env={"HF_TOKEN": "x"}), "svc-a", "env", "'HF_TOKEN'", "hf_token_env"),
    (
        "env-hub-token",
        one(env={"HUGGING_FACE_HUB_TOKEN": "x"}),
        "svc-a",
        "env",
        "'HUGGING_FACE_HUB_TOKEN'",
        "hf_token_env",
    ),
    ("env-api-key", one(env={"API_KEY": "x"}), "svc-a", "env", "'API_KEY'", "api_key_env"),
    (
        "env-owned-launcher-var",
        one(env={"MODEL_ID": "x"}),
        "svc-a",
        "env",
        "'MODEL_ID'",
        "set field model_id",
    ),
    (
        "env-newline-value",
        one(env={"A": "x\ny"}),
        "svc-a",
        "env",
        "'x\\ny'",
        "control character '\\n'",
    ),
    (
        "hf-token-env-is-a-token",
        one(hf_token_env="hf_abcdefghijklmnopqrstuv"),
        "svc-a",
        "hf_token_env",
        "'hf_…(masked, 25 chars)'",
        "looks like a token VALUE",
    ),
    (
        "api-key-env-lowercase",
        one(api_key_env="my-key"),
        "svc-a",
        "api_key_env",
        "'my-…(masked, 6 chars)'",
        "[A-Z_][A-Z0-9_]*",
    ),
    (
        "unknown-service-field",
        one(quantise="awq"),
        "svc-a",
        "quantise",
        "'awq'",
        "did you mean quantize",
    ),
    ("present-not-bool", one(present="yes"), "svc-a", "present", "'yes'", "true or false"),
    (
        "service-not-mapping",
        {"tgi_services": ["tgi-llama"]},
        "#0",
        None,
        "'tgi-llama'",
        "a mapping of service fields",
    ),
    (
        "services-not-list",
        {"tgi_services": "tgi-llama"},
        None,
        "tgi_services",
        "'tgi-llama'",
        "a list of service mappings",
    ),
    ("host-gpus", {"tgi_gpus": 2}, None, "gpus", "2", '"all" or "none"'),
    (
        "docker-source",
        {"tgi_docker_source": "snap"},
        None,
        "docker_source",
        "'snap'",
        "distro or docker-ce",
    ),
    (
        "docker-repo-ftp",
        {"tgi_docker_ce_repo_url": "ftp://mirror/docker"},
        None,
        "docker_ce_repo_url",
        "'ftp://mirror/docker'",
        "http(s) URL",
    ),
    (
        "toolkit-url",
        {"tgi_nvidia_toolkit_repo_url": "nvidia.github.io"},
        None,
        "nvidia_toolkit_repo_url",
        "'nvidia.github.io'",
        "http(s) URL",
    ),
    (
        "toolkit-key-url",
        {"tgi_nvidia_toolkit_gpgkey_url": "https://"},
        None,
        "nvidia_toolkit_gpgkey_url",
        "'https://'",
        "http(s) URL",
    ),
    (
        "toolkit-version",
        {"tgi_nvidia_toolkit_version": "latest!"},
        None,
        "nvidia_toolkit_version",
        "'latest!'",
        "1.17.8-1",
    ),
    (
        "docker-users",
        {"tgi_docker_users": ["Bad User"]},
        None,
        "docker_users",
        "['Bad User']",
        "unix user names",
    ),
    (
        "insecure-registry",
        {"tgi_docker_insecure_registries": ["http://m:5000"]},
        None,
        "docker_insecure_registries",
        "['http://m:5000']",
        "`host[:port]` or CIDR",
    ),
    ("tgi-root-relative", {"tgi_root": "opt/tgi"}, None, "tgi_root", "'opt/tgi'", "absolute path"),
    (
        "tgi-root-dotdot",
        {"tgi_root": "/opt/../etc"},
        None,
        "tgi_root",
        "'/opt/../etc'",
        "normalised absolute path",
    ),
    ("tgi-root-slash", {"tgi_root": "/"}, None, "tgi_root", "'/'", "other than /"),
    (
        "image-mirror-url",
        {"tgi_image_mirror": "http://mirror:5000"},
        None,
        "image_mirror",
        "'http://mirror:5000'",
        "host[:port]",
    ),
    (
        "cuda-image",
        {"tgi_cuda_image": "nvidia/cuda:"},
        None,
        "cuda_image",
        "'nvidia/cuda:'",
        "Docker image reference",
    ),
    ("ready-timeout-zero", {"tgi_ready_timeout": 0}, None, "ready_timeout", "0", "an integer > 0"),
    (
        "ready-timeout-float",
        {"tgi_ready_timeout": 1.5},
        None,
        "ready_timeout",
        "1.5",
        "an integer > 0",
    ),
    (
        "apt-lock-timeout-negative",
        {"tgi_apt_lock_timeout": -1},
        None,
        "apt_lock_timeout",
        "-1",
        "an integer >= 0",
    ),
    (
        "apt-lock-timeout-str",
        {"tgi_apt_lock_timeout": "10m"},
        None,
        "apt_lock_timeout",
        "'10m'",
        "an integer >= 0",
    ),
    (
        "runtime-default-str",
        {"tgi_nvidia_runtime_default": "yes"},
        None,
        "nvidia_runtime_default",
        "'yes'",
        "true or false",
    ),
]


@pytest.mark.parametrize(
    ("data", "service", "field", "value", "fragment"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_config_is_rejected_with_a_precise_message(data, service, field, value, fragment):
    with pytest.raises(ConfigError) as info:
        load_host_config(HOST, data)
    errors = info.value.errors
    prefix = f"host {HOST}: " + (f"service {service}: " if service else "")
    if field:
        prefix += f"field {field if service else host_key(field)}: "
    matching = [m for m in errors if m.startswith(prefix)]
    assert matching, f"no message starts with {prefix!r}: {errors}"
    msg = matching[0]
    assert value in msg, msg
    assert "; allowed: " in msg, msg
    assert fragment in msg, msg
    # no pydantic default dumps
    assert "For further information" not in msg and "validation error" not in msg


def test_table_is_big_enough():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_every_bad_host_is_reported_in_one_go():
    bad_hosts = [(f"host-{c[0]}", c[1]) for c in CASES]
    with pytest.raises(ConfigError) as info:
        validate_inventory([("fine", {}), *bad_hosts])
    text = str(info.value)
    for name, _ in bad_hosts:
        assert f"host {name}: " in text
    assert "host fine:" not in text


def test_several_errors_of_one_service_are_all_reported():
    with pytest.raises(ConfigError) as info:
        load_host_config(
            HOST,
            one(
                quantize="int4",
                port=0,
                bind="nowhere",
                extra_args=["--port", "1"],
                env={"HF_TOKEN": "x"},
            ),
        )
    fields = sorted(m.split("field ")[1].split(":")[0] for m in info.value.errors)
    assert fields == ["bind", "env", "extra_args", "port", "quantize"]
