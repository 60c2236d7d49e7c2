"""deploy/config.py: defaults, derived values and TGI's rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tgi_infra.config import (
    DEFAULT_IMAGE,
    HOST_FIELD_NAMES,
    ConfigError,
    HostConfig,
    TGIService,
    host_key,
    inventory_variables_markdown,
    load_host_config,
    mirror_image,
    validate_inventory,
)


def svc(**kw):
    return {"name": "svc-a", "model_id": "org/model", **kw}


def test_defaults_match_the_contract():
    host = load_host_config("h", {"tgi_services": [{"model_id": "org/model"}]})
    s = host.tgi_services[0]
    assert host.gpus == "all" and host.docker_source == "distro"
    assert host.docker_ce_repo_url == "https://download.docker.com/linux"
    assert host.nvidia_toolkit_repo_url == "https://nvidia.github.io/libnvidia-container"
    assert host.nvidia_toolkit_gpgkey_url == "https://nvidia.github.io/libnvidia-container/gpgkey"
    assert host.nvidia_toolkit_version is None
    assert host.nvidia_runtime_default is False and host.nvidia_cdi is False
    assert host.cuda_image == "nvidia/cuda:12.4.1-base-ubuntu22.04"
    assert host.tgi_root == "/opt/tgi" and host.image_mirror is None
    assert host.ready_timeout == 1800 and host.docker_users == []
    assert host.docker_insecure_registries == []
    assert s.name == "tgi-service" and s.image == DEFAULT_IMAGE
    assert s.image == "ghcr.io/huggingface/text-generation-inference:3.3.7"
    assert s.gpus == "all" and s.port == 8080 and s.bind == "127.0.0.1"
    assert s.shm_size == "1g" and s.volume == "/var/lib/tgi/data"
    assert s.hf_token_env == "HF_TOKEN" and s.api_key_env is None
    assert s.extra_args == [] and s.env == {} and s.present and s.smoke_semantic
    assert host.host_name == "h" and host.warnings == []


def test_pyinfra_and_unrelated_keys_are_ignored():
    data = {
        "ssh_user": "ubuntu",
        "ssh_port": 2222,
        "_sudo": True,
        "_use_sudo_password": True,
        "docker_identifier": "abc",
        "anything_else": object(),
        "tgi_services": [],
    }
    host = load_host_config("h", data)
    assert host.tgi_services == [] and host.warnings == []


def test_unknown_tgi_variable_is_an_error_with_the_closest_key():
    with pytest.raises(ConfigError) as info:
        load_host_config("h", {"tgi_service": [], "tgi_ready_timout": 5})
    assert info.value.errors == [
        "host h: variable tgi_service: value [] is not allowed: unknown variable (did you mean "
        "tgi_services?); allowed: the tgi_* variables of the README's table",
        "host h: variable tgi_ready_timout: value 5 is not allowed: unknown variable (did you "
        "mean tgi_ready_timeout?); allowed: the tgi_* variables of the README's table",
    ]


def test_other_deploys_keys_are_left_alone_but_our_old_names_are_pointed_out():
    host = load_host_config("h", {"ssh_user": "ubuntu", "_sudo": True, "docker_users": ["a"]})
    assert host.docker_users == []  # not read: another deploy's key (pyinfra-docker)
    assert host.warnings == [
        "host h: variable docker_users is not read (this package's variables are prefixed): "
        "did you mean tgi_docker_users?"
    ]


def test_every_variable_written_without_its_prefix_is_pointed_out():
    # services and root included: their fields already carry the prefix (tgi_services,
    # tgi_root), so a bare `services:` list was silently ignored
    for field in HostConfig.model_fields:
        bare = field.removeprefix("tgi_")
        host = load_host_config("h", {bare: []})
        assert host.warnings == [
            f"host h: variable {bare} is not read (this package's variables are prefixed): "
            f"did you mean {host_key(field)}?"
        ], field
    host = load_host_config("h", {"services": [{"model_id": "org/m"}]})
    assert host.tgi_services == [] and "did you mean tgi_services?" in host.warnings[0]


def test_cpu_host_defaults_services_to_cpu():
    host = load_host_config("h", {"tgi_gpus": "none", "tgi_services": [svc()]})
    s = host.tgi_services[0]
    assert host.cpu_mode and s.gpus == "none"
    assert s.gpu_ids(host) == [] and s.gpu_count == 0
    assert s.resolved_num_shard(host) == 1


@pytest.mark.parametrize(
    ("gpus", "ids", "count", "num_shard"),
    [
        ("all", None, None, None),
        (2, [0, 1], 2, 2),
        ([2, 3], [2, 3], 2, 2),
        ([5], [5], 1, 1),
        ("none", [], 0, 1),
    ],
)
def test_gpu_resolution(gpus, ids, count, num_shard):
    host = load_host_config("h", {"tgi_services": [svc(gpus=gpus, shm_size="8g")]})
    s = host.tgi_services[0]
    assert s.gpu_ids(host) == ids and s.gpu_count == count
    assert s.resolved_num_shard(host) == num_shard


def test_num_shard_for_all_gpus_comes_from_host_count_when_known():
    s = load_host_config("h", {"tgi_services": [svc()]}).tgi_services[0]
    assert s.resolved_num_shard(host_gpu_count=4) == 4
    s = load_host_config("h", {"tgi_services": [svc(sharded=False)]}).tgi_services[0]
    assert s.resolved_num_shard(host_gpu_count=4) == 1
    s = load_host_config("h", {"tgi_services": [svc(num_shard=2)]}).tgi_services[0]
    assert s.resolved_num_shard(host_gpu_count=4) == 2


@pytest.mark.parametrize(
    ("image", "mirror", "expected"),
    [
        (DEFAULT_IMAGE, None, DEFAULT_IMAGE),
        (
            DEFAULT_IMAGE,
            "mirror.local:5000",
            "mirror.local:5000/huggingface/text-generation-inference:3.3.7",
        ),
        (
            "nvidia/cuda:12.4.1-base-ubuntu22.04",
            "m:5000",
            "m:5000/nvidia/cuda:12.4.1-base-ubuntu22.04",
        ),
        ("ubuntu:22.04", "m.local", "m.local/library/ubuntu:22.04"),
        ("localhost:5000/a/b:1", "m.local", "m.local/a/b:1"),
        ("docker.io/library/busybox", "m.local", "m.local/library/busybox"),
    ],
)
def test_mirror_image(image, mirror, expected):
    assert mirror_image(image, mirror) == expected


def test_image_for_and_cuda_image_use_the_mirror():
    host = load_host_config("h", {"tgi_image_mirror": "registry.lab:5000", "tgi_services": [svc()]})
    assert host.image_for(host.tgi_services[0]) == (
        "registry.lab:5000/huggingface/text-generation-inference:3.3.7"
    )
    assert host.cuda_image_resolved == "registry.lab:5000/nvidia/cuda:12.4.1-base-ubuntu22.04"


def test_good_full_config_round_trips():
    data = {
        "tgi_gpus": "all",
        "tgi_docker_source": "docker-ce",
        "tgi_docker_users": ["ubuntu", "_svc"],
        "tgi_docker_insecure_registries": ["mirror.local:5000", "10.0.0.0/8"],
        "tgi_nvidia_toolkit_version": "1.17.8-1",
        "tgi_root": "/srv/tgi",
        "tgi_ready_timeout": 60,
        "tgi_services": [
            svc(
                name="a",
                gpus=[0, 1],
                sharded=True,
                shm_size="16gb",
                max_input_tokens=1024,
                max_total_tokens=2048,
                max_batch_prefill_tokens=1024,
                max_batch_total_tokens=4096,
                cuda_graphs=[1, 2, 4],
                extra_args=["--max-best-of", "1", "--rope-scaling=linear", "--trust-remote-code"],
                env={"LOG_LEVEL": "info", "N": 3, "FLAG": True},
                api_key_env="TGI_API_KEY",
                bind="::1",
                revision="main",
            ),
            svc(name="b", model_id="/data/models/local-llm", gpus=[2], port=8081, quantize="awq"),
            svc(name="c", model_id="gpt2", gpus="none", port=8082),
            svc(name="d", gpus=[2], port=8081, present=False),  # absent: shares nothing
        ],
    }
    host = load_host_config("gpu-1", data)
    a = host.tgi_services[0]
    assert a.env == {"LOG_LEVEL": "info", "N": "3", "FLAG": "true"}
    assert host.warnings == []
    assert [s.name for s in host.present_services()] == ["a", "b", "c"]


def test_sharded_with_small_shm_warns():
    host = load_host_config("h", {"tgi_services": [svc(gpus=4)]})
    assert len(host.warnings) == 1
    assert "host h: service svc-a: field shm_size" in host.warnings[0]
    host = load_host_config("h", {"tgi_services": [svc(gpus=4, shm_size="2g")]})
    assert host.warnings == []


def test_direct_model_validation_also_applies_cross_service_rules():
    with pytest.raises(ValidationError, match="already assigned"):
        HostConfig.model_validate(
            {
                "tgi_services": [
                    {"name": "a", "model_id": "x", "gpus": [0]},
                    {"name": "b", "model_id": "x", "gpus": [0], "port": 9000},
                ]
            }
        )
    with pytest.raises(ValidationError):
        TGIService.model_validate({"model_id": "x", "quantize": "int4"})


def test_config_error_lists_every_host():
    hosts = [
        ("good-1", {"tgi_services": [svc()]}),
        ("bad-1", {"tgi_ready_timeout": 0}),
        (
            "bad-2",
            {
                "tgi_services": [
                    svc(port=0, gpus=[0]),
                    svc(name="b", dtype="float32", port=1, gpus=[1]),
                ]
            },
        ),
    ]
    with pytest.raises(ConfigError) as info:
        validate_inventory(hosts)
    errors = info.value.errors
    assert len(errors) == 3
    assert errors[0].startswith("host bad-1: field tgi_ready_timeout:")
    assert errors[1].startswith("host bad-2: service svc-a: field port:")
    assert errors[2].startswith("host bad-2: service b: field dtype:")
    assert str(info.value) == "\n".join(errors)
    assert "good-1" not in str(info.value)


def test_valid_inventory_returns_every_host():
    configs = validate_inventory([("a", {}), ("b", {"tgi_gpus": "none"})])
    assert list(configs) == ["a", "b"] and configs["b"].cpu_mode


def test_errors_in_fields_and_extra_args_are_reported_together():
    with pytest.raises(ConfigError) as info:
        load_host_config("h", {"tgi_services": [svc(port="80", extra_args=["--port", "1"])]})
    fields = [m.split("field ")[1].split(":")[0] for m in info.value.errors]
    assert fields == ["port", "extra_args"]


def errors_of(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_host_config("h", data)
    return info.value.errors


def test_a_field_error_does_not_hide_the_rules_spanning_services():
    # a service whose own field is wrong still takes part in the host-wide rules
    errors = errors_of({"tgi_services": [svc(gpus=[0]), svc(port="8081", gpus=[1])]})
    assert errors == [
        "host h: service svc-a: field port: value '8081' is not allowed (Input should be a "
        "valid integer); allowed: an integer 1..65535, unique on the host",
        "host h: service svc-a: field name: value 'svc-a' is not allowed (services #0 and #1 "
        "share it); allowed: a name unique on the host",
    ]
    # ... and in its own rules spanning fields; a value refused for a control character too
    errors = errors_of(
        {
            "tgi_services": [
                svc(gpus=[0]),
                svc(name="b", model_id="org/m\n", max_input_tokens=9, max_total_tokens=8),
            ]
        }
    )
    assert [e.split(" is not allowed")[0] for e in errors] == [
        "host h: service b: field model_id: value 'org/m\\n'",
        "host h: service b: field max_input_tokens: value 9",
        "host h: service b: field port: value 8080",
        "host h: service b: field gpus: value 'all'",
    ]
    # a host field's error does not hide them either
    errors = errors_of(
        {"tgi_ready_timeout": "x", "tgi_services": [svc(gpus=[0]), svc(port="1", gpus=[1])]}
    )
    assert [e.split(": value")[0] for e in errors] == [
        "host h: field tgi_ready_timeout",
        "host h: service svc-a: field port",
        "host h: service svc-a: field name",
    ]


def test_no_rule_guesses_from_the_default_of_a_field_that_failed():
    # gpus failed: no GPU overlap from its default "all", no num_shard-vs-GPUs guess; shm_size
    # failed: no "small for a sharded service" from its default 1g; engine failed: no TGI rule
    errors = errors_of(
        {
            "tgi_services": [
                svc(gpus=[0]),
                svc(name="b", gpus="zz", num_shard=2, shm_size=5, port=8081),
                svc(name="c", engine="vlm", quantize="fp8", dtype="float16", port=8082, gpus=[2]),
            ]
        }
    )
    assert [e.split(" is not allowed")[0] for e in errors] == [
        "host h: service b: field gpus: value 'zz'",
        "host h: service b: field shm_size: value 5",
        "host h: service c: field engine: value 'vlm'",
    ]


def test_variables_markdown_documents_every_field():
    md = inventory_variables_markdown()
    for name in HOST_FIELD_NAMES:
        assert f"| `{host_key(name)}` |" in md
    for name in TGIService.model_fields:
        assert f"| `{name}` |" in md
    assert '| `image` | `"ghcr.io/huggingface/text-generation-inference:3.3.7"` (tgi); ' in md
    assert "| `model_id` | required |" in md
    assert "| `tgi_ready_timeout` | `1800` |" in md
    assert '`"all"` (`"none"` on a CPU-mode host)' in md
