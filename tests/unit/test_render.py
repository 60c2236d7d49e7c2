"""deploy/services/render.py: golden renders, launcher flags TGI knows, shell hygiene, no secrets.

Regenerate golden files after an intended change:
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render.py -k golden
That run writes the files and FAILS (an update run is never green); review `git diff`, then
run again without UPDATE_GOLDEN.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tgi_infra
from tgi_infra.config import ConfigError, load_host_config
from tgi_infra.services.render import (
    CREATE_SCRIPT,
    ENV_EXAMPLE,
    ENV_FILE_MODE,
    LABEL_HASH,
    STOP_SCRIPT,
    env_file_content,
    launcher_args,
    missing_secrets,
    render_host,
    render_service,
    secrets_digest,
)

from tests.helpers.render_cases import CASES, GOLDEN, docker_command, rendered_case

REFERENCE = Path(tgi_infra.__file__).resolve().parent / "reference" / "tgi"
CANARY_TOKEN = "hf_CANARYcanaryCANARYcanary0123456789"
CANARY_KEY = "api-key-CANARY-7f3a9c"


def all_rendered():
    for name in CASES:
        _, services = rendered_case(name)
        for r in services:
            yield name, r


def launcher_reference() -> dict[str, dict]:
    path = REFERENCE / "launcher-args.json"
    return {a["flag"]: a for a in json.loads(path.read_text())["arguments"]}


@pytest.mark.parametrize("case", list(CASES))
def test_golden(case):
    _, services = rendered_case(case)
    got = {
        f"{r.service.name}/{fname}": content
        for r in services
        for fname, (content, _mode) in r.files.items()
    }
    case_dir = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(case_dir, ignore_errors=True)
        for rel, content in got.items():
            (case_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (case_dir / rel).write_text(content)
        # an update run is never green: review the diff (git diff tests/unit/golden), then
        # run again without UPDATE_GOLDEN
        pytest.fail(f"golden files of {case} rewritten (UPDATE_GOLDEN=1); review and re-run")
    assert case_dir.is_dir(), f"no golden files for {case}; run with UPDATE_GOLDEN=1"
    expected = {
        str(p.relative_to(case_dir)): p.read_text() for p in case_dir.rglob("*") if p.is_file()
    }
    assert sorted(got) == sorted(expected)
    for rel in got:
        assert got[rel] == expected[rel], f"{case}/{rel} differs from golden"


def test_every_launcher_flag_in_every_script_is_known_to_tgi():
    reference = launcher_reference()
    for case, r in all_rendered():
        if r.service.engine != "tgi":
            continue  # test_render_engines.py checks vLLM's and SGLang's flags
        argv = docker_command(r.files[CREATE_SCRIPT][0])
        assert argv[:2] in (["docker", "create"], ["docker", "run"])
        assert argv.count(r.image) == 1, (case, argv)
        launcher = argv[argv.index(r.image) + 1 :]
        assert launcher == launcher_args(r.service, load_host_config(case, CASES[case][0]))
        i = 0
        while i < len(launcher):
            flag = launcher[i]
            assert flag in reference, f"{case}: {flag} is not a text-generation-launcher flag"
            spec = reference[flag]
            if spec["value"] is not None:
                value = launcher[i + 1]
                if spec["possible_values"]:
                    assert value in spec["possible_values"], (case, flag, value)
                i += 2
            else:
                i += 1
        assert "--api-key" not in launcher
        assert launcher[launcher.index("--port") + 1] == "80"


def test_docker_command_matches_the_structured_argv():
    for case, r in all_rendered():
        assert docker_command(r.files[CREATE_SCRIPT][0]) == ["docker", *r.docker_argv], case


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_rendered_scripts_are_shellcheck_clean(tmp_path):
    scripts = []
    for case, r in all_rendered():
        for fname, (content, _mode) in r.files.items():
            if fname.endswith(".sh"):
                path = tmp_path / case / r.service.name / fname
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
                scripts.append(str(path))
    assert len(scripts) >= 4 * len(CASES)
    proc = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", *scripts],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rendered_scripts_parse_with_bash_n_and_have_strict_mode(tmp_path):
    for case, r in all_rendered():
        for fname, (content, mode) in r.files.items():
            if not fname.endswith(".sh"):
                continue
            assert content.startswith("#!/usr/bin/env bash\n"), (case, fname)
            assert "\nset -euo pipefail\n" in content, (case, fname)
            assert mode == 0o755
            path = tmp_path / f"{case}-{r.service.name}-{fname}"
            path.write_text(content)
            proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert proc.returncode == 0, (case, fname, proc.stderr)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_units_verify(tmp_path):
    units = []
    for case, r in all_rendered():
        if r.unit_name:
            path = tmp_path / case / r.unit_name
            path.parent.mkdir(exist_ok=True)
            path.write_text(r.files[r.unit_name][0])
            units.append(path)
    assert units
    for unit in units:
        proc = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
        )
        assert str(unit) not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_secrets_never_reach_rendered_files():
    environ = {"HF_TOKEN": CANARY_TOKEN, "MY_HF_TOKEN": CANARY_TOKEN, "TGI_API_KEY": CANARY_KEY}
    for case in CASES:
        host = load_host_config(case, CASES[case][0])
        for svc in host.tgi_services:
            digest = secrets_digest(svc, environ)
            r = render_service(case, host, svc, CASES[case][1], secrets_digest=digest)
            for fname, (content, _) in r.files.items():
                assert CANARY_TOKEN not in content and CANARY_KEY not in content, (case, fname)
            assert not any(CANARY_TOKEN in a or CANARY_KEY in a for a in r.docker_argv)
            assert CANARY_TOKEN not in digest and CANARY_KEY not in digest
            content, mode = r.env_file(environ)
            assert mode == ENV_FILE_MODE == 0o600 and r.env_file_mode == 0o600
            if svc.hf_token_env:
                assert f"\nHF_TOKEN={CANARY_TOKEN}\n" in content
            else:
                assert CANARY_TOKEN not in content
            if svc.api_key_env:
                assert f"\nAPI_KEY={CANARY_KEY}\n" in content
                if svc.engine == "vllm":  # vLLM reads VLLM_API_KEY
                    assert f"\nVLLM_API_KEY={CANARY_KEY}\n" in content
            else:
                assert "API_KEY=" not in content


def test_env_file_and_example():
    host, services = rendered_case("api-key")
    r = services[0]
    environ = {"MY_HF_TOKEN": CANARY_TOKEN, "TGI_API_KEY": CANARY_KEY}
    content = env_file_content(r.service, environ)
    body = [line for line in content.splitlines() if not line.startswith("#")]
    assert body == [
        f"HF_TOKEN={CANARY_TOKEN}",
        f"API_KEY={CANARY_KEY}",
        "LOG_LEVEL=info,text_generation_router=debug",
    ]
    example = r.files[ENV_EXAMPLE][0]
    assert "HF_TOKEN=\n" in example and "API_KEY=\n" in example and "LOG_LEVEL=\n" in example
    assert "$MY_HF_TOKEN" in example and "$TGI_API_KEY" in example
    assert missing_secrets(r.service, {}) == ["MY_HF_TOKEN", "TGI_API_KEY"]
    assert missing_secrets(r.service, environ) == []
    assert r.env_file_path == "/opt/tgi/tgi-secure/service.env"
    assert f"--env-file {r.env_file_path}" in r.files[CREATE_SCRIPT][0]
    with pytest.raises(ValueError, match="MY_HF_TOKEN"):
        env_file_content(r.service, {"MY_HF_TOKEN": "a\nb"})


def test_config_hash_is_stable_labelled_and_sensitive():
    host, services = rendered_case("one-gpu")
    r = services[0]
    again = render_service("one-gpu", host, host.tgi_services[0], "systemd")
    assert r.config_hash == again.config_hash and len(r.config_hash) == 64
    assert f"--label {LABEL_HASH}={r.config_hash}" in r.files[CREATE_SCRIPT][0]
    assert "--label tgi-infra.managed=true" in r.files[CREATE_SCRIPT][0]
    other_host = load_host_config(
        "one-gpu",
        {"tgi_services": [{**CASES["one-gpu"][0]["tgi_services"][0], "max_total_tokens": 10}]},
    )
    changed = render_service("one-gpu", other_host, other_host.tgi_services[0], "systemd")
    assert changed.config_hash != r.config_hash
    docker = render_service("one-gpu", host, host.tgi_services[0], "docker")
    assert docker.config_hash != r.config_hash
    d1 = secrets_digest(host.tgi_services[0], {"HF_TOKEN": "hf_one"})
    d2 = secrets_digest(host.tgi_services[0], {"HF_TOKEN": "hf_two"})
    s1 = render_service("one-gpu", host, host.tgi_services[0], secrets_digest=d1)
    s2 = render_service("one-gpu", host, host.tgi_services[0], secrets_digest=d2)
    # secrets are out of the config hash (a token change is applied from the env
    # file, not by a config change), and the hash equals the one render_host prints
    offline = render_host("one-gpu", host)[0]
    assert s1.config_hash == s2.config_hash == r.config_hash == offline.config_hash
    # the env file's non-secret part (svc.env) is config: it is in the hash
    with_env = load_host_config(
        "one-gpu",
        {"tgi_services": [{**CASES["one-gpu"][0]["tgi_services"][0], "env": {"A": "1"}}]},
    )
    other_env = load_host_config(
        "one-gpu",
        {"tgi_services": [{**CASES["one-gpu"][0]["tgi_services"][0], "env": {"A": "2"}}]},
    )
    h1 = render_service("one-gpu", with_env, with_env.tgi_services[0]).config_hash
    h2 = render_service("one-gpu", other_env, other_env.tgi_services[0]).config_hash
    assert len({h1, h2, r.config_hash}) == 3


def test_unit_file_does_not_change_with_the_model_or_image():
    """A model or image change must not rewrite the unit (no daemon-reload: NVIDIA's
    nvidia-docker#1730, running GPU containers lose their GPUs on a reload)."""
    host, _ = rendered_case("one-gpu")
    base = CASES["one-gpu"][0]["tgi_services"][0]
    other = load_host_config(
        "one-gpu", {"tgi_services": [{**base, "model_id": "org/another", "image": "x/y:2"}]}
    )
    a = render_service("h", host, host.tgi_services[0], "systemd")
    b = render_service("h", other, other.tgi_services[0], "systemd")
    assert a.config_hash != b.config_hash
    assert a.files[a.unit_name] == b.files[b.unit_name]


@pytest.mark.parametrize(
    "svc, docker_t",
    [
        # TGI: --graceful-termination-timeout (env GRACEFUL_TERMINATION_TIMEOUT), default 90 s
        ({}, 120),
        ({"extra_args": ["--graceful-termination-timeout", "300"]}, 330),
        ({"extra_args": ["--graceful-termination-timeout=5"]}, 35),
        ({"env": {"GRACEFUL_TERMINATION_TIMEOUT": "200"}}, 230),
        (  # the flag wins over the env var, as in the launcher (clap)
            {
                "extra_args": ["--graceful-termination-timeout", "10"],
                "env": {"GRACEFUL_TERMINATION_TIMEOUT": "200"},
            },
            40,
        ),
        # vLLM: --shutdown-timeout, default 0 (requests in flight are aborted)
        ({"engine": "vllm"}, 30),
        ({"engine": "vllm", "extra_args": ["--shutdown-timeout", "60"]}, 90),
        ({"engine": "vllm", "extra_args": ["--shutdown-timeout=120"]}, 150),
        ({"engine": "vllm", "env": {"VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS": "45"}}, 70),
        # SGLang: drains until idle (no setting): the deploy allows 90 s; SGL_FORCE_SHUTDOWN: none
        ({"engine": "sglang"}, 120),
        ({"engine": "sglang", "env": {"SGL_FORCE_SHUTDOWN": "true"}}, 30),
        ({"engine": "sglang", "env": {"SGL_FORCE_SHUTDOWN": "0"}}, 120),
    ],
)
def test_stop_timeouts_follow_the_engines_drain_setting(svc, docker_t):
    """Every stop path gives the engine its drain time: the unit's ExecStop and TimeoutStopSec
    (above it), the stop script, the creation script's replacement of the old container and
    the container's own --stop-timeout (a plain `docker stop`, dockerd at shutdown)."""
    data = {"tgi_services": [{"name": "svc", "model_id": "org/m", "gpus": 1, **svc}]}
    host = load_host_config("h", data)
    service = host.tgi_services[0]
    sysd = render_service("h", host, service, "systemd")
    unit = sysd.files[sysd.unit_name][0]
    assert f"ExecStop=/usr/bin/docker stop -t {docker_t} svc\n" in unit
    assert f"TimeoutStopSec={docker_t + 30}\n" in unit
    dock = render_service("h", host, service, "docker")
    assert f"exec docker stop -t {docker_t} svc\n" in dock.files[STOP_SCRIPT][0]
    for r in (sysd, dock):
        argv = docker_command(r.files[CREATE_SCRIPT][0])
        assert argv[argv.index("--stop-timeout") + 1] == str(docker_t)
        assert r.docker_argv[r.docker_argv.index("--stop-timeout") + 1] == str(docker_t)
        script = r.files[CREATE_SCRIPT][0]
        stop = f"docker stop -t {docker_t} svc >/dev/null 2>&1 || true\n"
        assert stop in script
        assert script.index(stop) < script.index("docker rm -f svc")


@pytest.mark.parametrize(
    "svc, field, value",
    [
        ({"extra_args": ["--graceful-termination-timeout", "1m"]}, "extra_args",
         "--graceful-termination-timeout 1m"),
        ({"env": {"GRACEFUL_TERMINATION_TIMEOUT": "-5"}}, "env", "GRACEFUL_TERMINATION_TIMEOUT=-5"),
        ({"engine": "vllm", "extra_args": ["--shutdown-timeout=2.5"]}, "extra_args",
         "--shutdown-timeout 2.5"),
        ({"engine": "vllm", "env": {"VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS": "x"}}, "env",
         "VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS=x"),
    ],
)  # fmt: skip
def test_a_drain_setting_that_is_not_whole_seconds_is_refused(svc, field, value):
    """The stop timeouts are derived from it: a value the engine would not read as seconds is
    a config error naming host, service, field and value, before any host is changed."""
    data = {"tgi_services": [{"name": "svc", "model_id": "org/m", **svc}]}
    with pytest.raises(ConfigError) as exc:
        load_host_config("gpu-1", data)
    (msg,) = exc.value.errors
    assert msg.startswith(f"host gpu-1: service svc: field {field}: value {value!r} is not allowed")
    assert "drain of the requests in flight on stop" in msg
    assert msg.endswith("allowed: whole seconds, an integer >= 0")


def test_supervisor_controls_restart_policy_and_unit():
    host, _ = rendered_case("one-gpu")
    svc = host.tgi_services[0]
    sysd = render_service("h", host, svc, "systemd")
    dock = render_service("h", host, svc, "docker")
    assert sysd.unit_name == "tgi-tgi-service.service" and sysd.unit_name in sysd.files
    assert sysd.files[sysd.unit_name][1] == 0o644
    assert "ExecStart=/usr/bin/docker start -a tgi-service" in sysd.files[sysd.unit_name][0]
    assert "--restart no" in sysd.files[CREATE_SCRIPT][0]
    assert "docker create" in sysd.files[CREATE_SCRIPT][0]
    assert dock.unit_name is None and not any(f.endswith(".service") for f in dock.files)
    assert "--restart unless-stopped" in dock.files[CREATE_SCRIPT][0]
    assert "docker run -d" in dock.files[CREATE_SCRIPT][0]
    assert sysd.container_name == "tgi-service" and sysd.directory == "/opt/tgi/tgi-service"
    with pytest.raises(ValueError, match="supervisor"):
        render_service("h", host, svc, "upstart")  # type: ignore[arg-type]


def test_gpu_selection_and_num_shard_rendering():
    host = load_host_config("h", {"tgi_services": [{"model_id": "x", "shm_size": "8g"}]})
    svc = host.tgi_services[0]
    unknown = render_service("h", host, svc)
    assert "--gpus all" in unknown.files[CREATE_SCRIPT][0]
    assert "--num-shard" not in unknown.docker_argv
    known = render_service("h", host, svc, host_gpu_count=8)
    assert known.docker_argv[known.docker_argv.index("--num-shard") + 1] == "8"
    _, two = rendered_case("two-services")
    assert "--gpus '\"device=0,1\"'" in two[0].files[CREATE_SCRIPT][0]
    assert "--gpus '\"device=2,3\"'" in two[1].files[CREATE_SCRIPT][0]
    assert two[1].docker_argv[two[1].docker_argv.index("-v") + 1] == "tgi-cache:/data"
    _, cpu = rendered_case("cpu-mode")
    assert "--gpus" not in cpu[0].docker_argv
    assert cpu[0].image == "registry.lab:5000/huggingface/text-generation-inference:3.3.7"
    _, q = rendered_case("quantized")
    assert "-p '[::1]:8080:80'" in q[0].files[CREATE_SCRIPT][0]


def test_absent_services_are_not_rendered():
    host = load_host_config(
        "h", {"tgi_services": [{"model_id": "x"}, {"name": "b", "model_id": "y", "present": False}]}
    )
    assert [r.service.name for r in render_host("h", host)] == ["tgi-service"]


@pytest.mark.release  # two pytest runs in subprocesses: a release check
def test_golden_update_mode_writes_then_fails(tmp_path):
    """UPDATE_GOLDEN=1 rewrites the golden files and fails; the next plain run passes."""
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN, golden)
    stale = next(p for p in sorted(golden.rglob("*")) if p.is_file())
    stale.write_text("stale\n")

    def run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"]
            + ["-k", "test_golden and not update_mode"],
            env={**os.environ, "TGI_GOLDEN_DIR": str(golden), **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    update = run(UPDATE_GOLDEN="1")
    assert update.returncode == 1, update.stdout[-2000:]
    assert f"{len(CASES)} failed" in update.stdout
    assert "rewritten (UPDATE_GOLDEN=1); review and re-run" in update.stdout
    assert stale.read_text() != "stale\n"
    again = run()
    assert again.returncode == 0, again.stdout[-2000:]


# --------------------------------------------------------------------------------------------
# CPU services and TGI's custom kernels.
#
# A CPU service gets ``--disable-custom-kernels`` (TGI's README: "drop
# ``--gpus all`` and add ``--disable-custom-kernels``" for CPU), a GPU service does not, and a user
# who already passes it in extra_args does not get it twice (clap refuses a repeated flag).


def _argv(host_data: dict) -> list[str]:
    host = load_host_config("h", host_data)
    rendered = render_service("h", host, host.tgi_services[0])
    return rendered.docker_argv


def test_cpu_service_disables_custom_kernels():
    argv = _argv({"tgi_gpus": "none", "tgi_services": [{"model_id": "org/m"}]})
    assert "--gpus" not in argv
    assert argv.count("--disable-custom-kernels") == 1
    # a launcher flag: after the image
    assert argv.index("--disable-custom-kernels") > argv.index("--model-id")


def test_cpu_service_on_gpu_host_disables_custom_kernels():
    argv = _argv({"tgi_services": [{"model_id": "org/m", "gpus": "none"}]})
    assert argv.count("--disable-custom-kernels") == 1


def test_gpu_service_keeps_custom_kernels():
    argv = _argv({"tgi_services": [{"model_id": "org/m"}]})
    assert "--disable-custom-kernels" not in argv


def test_flag_in_extra_args_is_not_repeated():
    argv = _argv(
        {
            "tgi_gpus": "none",
            "tgi_services": [{"model_id": "org/m", "extra_args": ["--disable-custom-kernels"]}],
        }
    )
    assert argv.count("--disable-custom-kernels") == 1
