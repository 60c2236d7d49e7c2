"""vLLM and SGLang services rendered from the same fields as TGI.

- a mixed-engine multi-host inventory validates and renders (golden files, same update mode as
  test_render.py: ``UPDATE_GOLDEN=1`` rewrites them and fails);
- every rendered flag is one its engine knows, checked against the reference dumps
  (deploy/reference/vllm/serve-args.json, deploy/reference/sglang/launch-server-args.json),
  values within the dump's choices;
- SGLang's API-key wrapper really hands the key to launch_server without a command line
  holding it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tgi_infra
from tgi_infra.config import validate_inventory
from tgi_infra.engines.sglang import KEY_WRAPPER
from tgi_infra.services.render import CREATE_SCRIPT, env_file_content, launcher_args, render_host

from tests.helpers.render_cases import CASES, GOLDEN, MIXED, docker_command, rendered_case

REFERENCE = Path(tgi_infra.__file__).resolve().parent / "reference"


def mixed_rendered():
    inv = validate_inventory(MIXED.items())
    for host in MIXED:
        cfg = inv[host]
        for r in render_host(host, cfg, "systemd"):
            yield host, cfg, r


def test_mixed_inventory_golden():
    got = {
        f"{host}/{r.service.name}/{fname}": content
        for host, _, r in mixed_rendered()
        for fname, (content, _mode) in r.files.items()
    }
    case_dir = GOLDEN / "mixed-engines"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(case_dir, ignore_errors=True)
        for rel, content in got.items():
            (case_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (case_dir / rel).write_text(content)
        pytest.fail("golden files of mixed-engines rewritten (UPDATE_GOLDEN=1); review and re-run")
    expected = {
        str(p.relative_to(case_dir)): p.read_text() for p in case_dir.rglob("*") if p.is_file()
    }
    assert sorted(got) == sorted(expected)
    for rel in got:
        assert got[rel] == expected[rel], f"mixed-engines/{rel} differs from golden"
    engines = {r.service.engine for _, _, r in mixed_rendered()}
    assert engines == {"tgi", "vllm", "sglang"}


def _reference_flags(engine: str) -> dict[str, dict]:
    path = {"vllm": "vllm/serve-args.json", "sglang": "sglang/launch-server-args.json"}[engine]
    out = {}
    for arg in json.loads((REFERENCE / path).read_text())["arguments"]:
        for name in arg.get("flags") or ():
            out[name] = arg
    return out


def _engine_renders():
    for case, (_, _sup) in CASES.items():
        host, services = rendered_case(case)
        for r in services:
            yield case, host, r
    for host, cfg, r in mixed_rendered():
        yield host, cfg, r


def _check_engine_argv(where: str, engine: str, argv: list[str]) -> None:
    """Every flag after the engine's command is in the engine's dump, with values allowed."""
    reference = _reference_flags(engine)
    i = 0
    while i < len(argv):
        flag = argv[i]
        assert flag.startswith("--"), f"{where}: {flag!r} is not a flag"
        assert flag in reference, f"{where}: {flag} is not a flag of {engine}"
        spec = reference[flag]
        # a flag the engine marks deprecated is not rendered (SGLang 0.5.23's
        # --disable-cuda-graph: "Deprecated. Use --cuda-graph-backend-{decode,prefill}=disabled")
        help_text = (spec.get("help") or "").lstrip("([").lower()
        assert not help_text.startswith("deprecated"), f"{where}: {flag}: {spec['help']}"
        i += 1
        values = []
        if spec["nargs"] != 0:
            while i < len(argv) and not argv[i].startswith("--"):
                values.append(argv[i])
                i += 1
                if spec["nargs"] not in ("+", "*"):
                    break
            assert values, f"{where}: {flag} needs a value"
        if spec["choices"]:
            assert all(v in spec["choices"] for v in values), (where, flag, values)
        if spec["type"] == "int":
            assert all(v.lstrip("-").isdigit() for v in values), (where, flag, values)


def test_every_rendered_flag_is_known_to_its_engine():
    seen = set()
    for where, host, r in _engine_renders():
        svc = r.service
        if svc.engine == "tgi":
            continue  # test_render.py checks TGI's against launcher-args.json
        argv = docker_command(r.files[CREATE_SCRIPT][0])
        rest = argv[argv.index(r.image) + 1 :]
        assert rest == launcher_args(svc, host)
        if svc.engine == "vllm":
            # `vllm serve MODEL`: the image's entrypoint, then the positional model_tag
            assert not rest[0].startswith("-")
            flags = rest[1:]
        elif svc.api_key_env:
            assert rest[:3] == ["python3", "-c", KEY_WRAPPER]
            flags = rest[3:]
        else:
            assert rest[:3] == ["python3", "-m", "sglang.launch_server"]
            flags = rest[3:]
        _check_engine_argv(f"{where}/{svc.name}", svc.engine, flags)
        assert "--api-key" not in flags
        if svc.engine == "sglang":
            assert flags[flags.index("--host") + 1] == "0.0.0.0"
            assert flags[flags.index("--port") + 1] == "30000"
            assert "--enable-metrics" in flags
            assert f":{svc.port}:30000" in " ".join(argv)
        else:
            assert f":{svc.port}:8000" in " ".join(argv)
            assert "--port" not in flags and "--host" not in flags
        assert f"{svc.volume}:/root/.cache/huggingface" in argv
        if "shm_size" in svc.model_fields_set:
            assert argv[argv.index("--shm-size") + 1] == svc.shm_size
        else:
            assert "--ipc=host" in argv and "--shm-size" not in argv
        seen.add(svc.engine)
    assert seen == {"vllm", "sglang"}


def test_common_settings_map_to_each_engines_flag():
    by_name = {r.service.name: (h, r) for h, _, r in mixed_rendered()}
    _, qwen = by_name["vllm-qwen"]
    args = qwen.docker_argv[qwen.docker_argv.index(qwen.image) + 1 :]
    assert args[:1] == ["Qwen/Qwen2.5-7B-Instruct"]
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[args.index("--quantization") + 1] == "fp8"
    assert "--enforce-eager" in args
    _, sgl = by_name["sglang-mistral"]
    args = sgl.docker_argv[sgl.docker_argv.index(sgl.image) + 1 :]
    for flag, value in (
        ("--model-path", "mistralai/Mistral-7B-Instruct-v0.3"),
        ("--tp-size", "2"),
        ("--context-length", "8192"),
        ("--max-total-tokens", "65536"),
        ("--max-running-requests", "32"),
    ):
        assert args[args.index(flag) + 1] == value, flag
    _, local = by_name["vllm-local"]
    args = local.docker_argv[local.docker_argv.index(local.image) + 1 :]
    # a local model under /data: the volume is mounted at the HF cache, the path follows it
    assert args[0] == "/root/.cache/huggingface/models/my-finetune"
    assert args[
        args.index("--cudagraph-capture-sizes") + 1 : args.index("--cudagraph-capture-sizes") + 5
    ] == ["1", "2", "4", "8"]
    assert args[args.index("--max-num-batched-tokens") + 1] == "4096"


def test_sglang_cuda_graphs_zero_renders_the_replacement_of_the_deprecated_flag():
    """cuda_graphs [0] on SGLang 0.5.23: both phase backends `disabled` (server_args.py's
    `new_flag` of --disable-cuda-graph), choices from the reference dump."""
    host, (r,) = rendered_case("sglang-api-key")
    assert r.service.cuda_graphs == [0]
    args = launcher_args(r.service, host)
    assert "--disable-cuda-graph" not in args
    for flag in ("--cuda-graph-backend-decode", "--cuda-graph-backend-prefill"):
        assert args[args.index(flag) + 1] == "disabled"
        assert "disabled" in _reference_flags("sglang")[flag]["choices"]
    deprecated = _reference_flags("sglang")["--disable-cuda-graph"]["help"]
    assert "--cuda-graph-backend-{decode,prefill}=disabled" in deprecated


def test_engine_is_part_of_the_config_hash_and_tgi_hash_is_unchanged():
    host_data = {"tgi_services": [{"name": "s", "model_id": "org/model", "gpus": [0]}]}
    inv = validate_inventory([("h", host_data)])
    cfg = inv["h"]
    tgi = render_host("h", cfg, "systemd")[0]
    hashes = {tgi.config_hash}
    for engine in ("vllm", "sglang"):
        data = {"tgi_services": [{**host_data["tgi_services"][0], "engine": engine}]}
        inv = validate_inventory([("h", data)])
        cfg = inv["h"]
        r = render_host("h", cfg, "systemd")[0]
        hashes.add(r.config_hash)
        assert f"tgi-infra.engine={engine}" in r.docker_argv
    assert len(hashes) == 3
    # TGI's rendering did not change with engines: the one-gpu golden hash still holds
    golden = (GOLDEN / "one-gpu" / "tgi-service" / CREATE_SCRIPT).read_text()
    _, services = rendered_case("one-gpu")
    assert f"config-hash={services[0].config_hash}" in golden


def test_vllm_env_file_carries_the_key_as_vllm_api_key():
    _, services = rendered_case("vllm-two-gpus")
    content = env_file_content(services[0].service, {"HF_TOKEN": "hf_x", "TGI_API_KEY": "k-1"})
    assert "\nVLLM_API_KEY=k-1\n" in content and "\nAPI_KEY=k-1\n" in content


def test_sglang_key_wrapper_passes_the_key_in_process_only(tmp_path):
    """The wrapper runs the real module path with the key added to the parsed argv, and the
    process's command line (what `ps` and `docker inspect` show) never holds it."""
    pkg = tmp_path / "sglang"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    out = tmp_path / "out.json"
    (pkg / "launch_server.py").write_text(
        "import json, os, sys\n"
        "cmdline = open(f'/proc/{os.getpid()}/cmdline', 'rb').read().decode()\n"
        f"json.dump({{'argv': sys.argv, 'cmdline': cmdline}}, open({str(out)!r}, 'w'))\n"
    )
    key = "sk-wrapper-canary-" + str(time.time_ns())
    env = {**os.environ, "API_KEY": key, "PYTHONPATH": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-c", KEY_WRAPPER, "--model-path", "org/m", "--port", "30000"],
        env=env,
        check=True,
        timeout=60,
    )
    got = json.loads(out.read_text())
    assert got["argv"][1:] == ["--model-path", "org/m", "--port", "30000", "--api-key", key]
    assert key not in got["cmdline"]
    # without a key the wrapper adds nothing
    env.pop("API_KEY")
    subprocess.run(
        [sys.executable, "-c", KEY_WRAPPER, "--model-path", "org/m"],
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(out.read_text())["argv"][1:] == ["--model-path", "org/m"]


def test_shipped_engines_inventory_validates_and_renders(tmp_path):
    from tests.helpers.tgi_infra_cli import REPO, run

    # the API key variable it names must be set, as for the deploy
    proc = run("validate", "inventories/engines.py", cwd=REPO)
    assert proc.returncode == 2 and "variable SERVING_API_KEY is not set" in proc.stderr
    env = {"HF_HUB_OFFLINE": "1", "SERVING_API_KEY": "k"}
    proc = run("validate", "inventories/engines.py", cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ok: 2 host(s)" in proc.stdout
    proc = run("render", "inventories/engines.py", "--out", str(tmp_path), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    engines = {}
    for script in tmp_path.rglob("tgi-service-creation.sh"):
        argv = docker_command(script.read_text())
        engine = next(a.split("=", 1)[1] for a in argv if a.startswith("tgi-infra.engine="))
        engines[script.parent.name] = engine
        if engine != "tgi":
            image = next(a for a in argv if a.startswith(("vllm/", "lmsysorg/")))
            rest = argv[argv.index(image) + 1 :]
            flags = rest[1:] if engine == "vllm" else rest[3:]
            _check_engine_argv(str(script), engine, flags)
    assert engines == {"tgi-smol": "tgi", "vllm-qwen": "vllm", "sglang-llama": "sglang"}
