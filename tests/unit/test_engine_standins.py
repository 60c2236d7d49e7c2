"""The vLLM and SGLang stand-ins (lab/vllm_standin, lab/sglang_standin) against the reference
data (deploy/reference/{vllm,sglang}: flag dumps, README wire facts; tests/data/reference:
openapi.json) and the real clients (openai, httpx). Every server here is a real subprocess on a
free 127.0.0.1 port."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema
import openai
import pytest
import tgi_infra
from prometheus_client.parser import text_string_to_metric_families

from lab.sglang_standin import cli as sglang_cli
from lab.standin_common import argspec
from lab.tgi_standin import launcher_args as tgi_launcher_args
from lab.vllm_standin import cli as vllm_cli
from tests.helpers.engine_standins import KEY, MODEL, REPO, Server, clean_env

REFERENCE = Path(tgi_infra.__file__).resolve().parent / "reference"
JEAN = [
    {"role": "system", "content": "Your name is Jean-baptiste."},
    {"role": "user", "content": "Comment tu t'appelle ?"},
]


@pytest.fixture(scope="module")
def vllm():
    server = Server("vllm", "--api-key", KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sglang():
    server = Server("sglang", "--api-key", KEY, "--enable-metrics")
    yield server
    server.stop()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def run(engine: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    argv = (
        ["-m", "lab.vllm_standin", *args]
        if engine == "vllm"
        else ["-m", "lab.sglang_standin", *args]
    )
    return subprocess.run(
        [sys.executable, *argv],
        cwd=REPO,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=30,
    )


# --- flags: drift and argparse behaviour ------------------------------------------------------
@pytest.mark.parametrize(
    ("link", "reference"),
    [
        (vllm_cli.SPEC_FILE, REFERENCE / "vllm" / "serve-args.json"),
        (vllm_cli.QUANT_FILE, REFERENCE / "vllm" / "quantization-methods.json"),
        (sglang_cli.SPEC_FILE, REFERENCE / "sglang" / "launch-server-args.json"),
        (tgi_launcher_args.SPEC_FILE, REFERENCE / "tgi" / "launcher-args.json"),
    ],
    ids=["vllm-serve-args", "vllm-quantization", "sglang-launch-server-args", "tgi-launcher"],
)
def test_stand_ins_read_the_one_reference_copy_of_each_flag_list(link, reference):
    # a link to the package's file, not a second copy that could drift
    assert link.is_symlink(), f"{link} is a copy; it must link to {reference}"
    assert link.resolve() == reference.resolve()
    assert json.loads(link.read_text())


def _value_for(arg: dict) -> list[str]:
    if arg["nargs"] == 0:
        return []
    if arg["choices"]:
        return [str(arg["choices"][0])]
    kind = arg["type"]
    if kind == "int":
        return ["2"]
    if kind == "float":
        return ["0.5"]
    if kind and kind.startswith("human_readable_int"):
        return ["2k"]
    return ["x"]


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_reference_flag_is_accepted_and_no_other(engine):
    cli = vllm_cli if engine == "vllm" else sglang_cli
    spec = cli.spec()
    flags = [a for a in spec.arguments if "flags" in a and a["dest"] != "help"]
    assert len(flags) == (320 if engine == "vllm" else 531)
    for arg in flags:
        for flag in arg["flags"]:
            values = argspec.parse(spec, [flag, *_value_for(arg)], prog="p", usage="u")
            assert arg["dest"] in values["_given"], flag
    with pytest.raises(argspec.ArgError, match="unrecognized arguments: --num-shard"):
        argspec.parse(spec, ["--num-shard", "2"], prog="p", usage="u")


def test_vllm_parses_like_flexible_argument_parser():
    spec = vllm_cli.spec()
    v = argspec.parse(
        spec,
        ["m1", "--max_model_len", "8K", "--no-enforce-eager", "-tp", "2", "--api-key", "a", "b"],
        prog="vllm serve",
        usage="u",
        underscores=True,
    )
    assert v["model_tag"] == "m1" and v["max_model_len"] == 8192
    assert v["enforce_eager"] is False and v["tensor_parallel_size"] == 2
    assert v["api_key"] == ["a", "b"] and v["port"] == 8000
    # vLLM's human_readable_int: k = 1000, K = 1024
    assert (
        argspec.parse(spec, ["--max-model-len", "8k"], prog="p", usage="u")["max_model_len"] == 8000
    )
    v = argspec.parse(spec, ["--enable-expert-parallel"], prog="p", usage="u")
    assert v["enable_expert_parallel"] is True
    v = argspec.parse(spec, ["--disable-expert-parallel"], prog="p", usage="u")
    assert v["enable_expert_parallel"] is False


@pytest.mark.parametrize(
    ("engine", "args", "needle"),
    [
        ("vllm", ["serve", MODEL, "--num-shard", "2"], "unrecognized arguments: --num-shard 2"),
        ("vllm", ["serve", MODEL, "--dtype", "fp7"], "argument --dtype: invalid choice: 'fp7'"),
        ("vllm", ["serve", MODEL, "--port", "x"], "argument --port: invalid int value: 'x'"),
        ("vllm", ["serve", MODEL, "--port"], "argument --port: expected one argument"),
        ("vllm", ["launch"], "argument subparser: invalid choice: 'launch'"),
        (
            "sglang",
            ["--model-path", MODEL, "--max-total-tokens", "9", "--num-shard", "2"],
            "unrecognized arguments: --num-shard 2",
        ),
        (
            "sglang",
            ["--model-path", MODEL, "--quantization", "nope"],
            "argument --quantization: invalid choice: 'nope'",
        ),
        (
            "sglang",
            ["--port", "30001"],
            "the following arguments are required: --model-path/--model",
        ),
    ],
)
def test_bad_flags_exit_2_like_argparse(engine, args, needle):
    done = run(engine, *args)
    assert done.returncode == 2, done
    assert done.stderr.startswith("usage: ") and needle in done.stderr, done.stderr
    assert done.stdout == ""


def test_vllm_unknown_quantization_exits_1_and_version():
    done = run("vllm", "serve", MODEL, "--quantization", "nope")
    assert done.returncode == 1
    assert "Unknown quantization method: nope" in done.stderr
    assert run("vllm", "--version").stdout.strip() == "0.33.0"


# --- start-up ---------------------------------------------------------------------------------
def test_vllm_has_no_listener_until_the_engine_is_up():
    server = Server("vllm", env={"VLLM_STANDIN_WARMUP_S": "1.5"}, wait=False)
    try:
        time.sleep(0.6)
        assert server.proc.poll() is None and not server.connectable()
        server.wait_healthy()
        assert time.monotonic() - server.started >= 1.5
    finally:
        out, _ = server.stop()
    assert "Starting vLLM API server 0 on http://127.0.0.1:" in out
    assert "Application startup complete." in out


def test_sglang_health_is_503_while_starting_then_200():
    server = Server("sglang", env={"SGLANG_STANDIN_WARMUP_S": "3"}, wait=False)
    try:
        deadline = time.monotonic() + 10
        while not server.connectable() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(server.url + "/health").status_code == 503
        server.wait_healthy()
    finally:
        out, _ = server.stop()
    assert "The server is fired up and ready to roll!" in out


def test_sglang_binds_loopback_and_port_30000_by_default():
    v = argspec.parse(sglang_cli.spec(), ["--model-path", MODEL], prog="p", usage="u")
    assert (v["host"], v["port"]) == ("127.0.0.1", 30000)
    v = argspec.parse(vllm_cli.spec(), [MODEL], prog="p", usage="u")
    assert (v["host"], v["port"]) == (None, 8000)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        ("crash_at_start", "CUDA out of memory"),
        ("crash_gated", "gated repo"),
        ("crash_nccl", "NCCL error"),
    ],
)
def test_crash_faults_exit_1_with_diagnosable_logs(engine, fault, needle):
    variable = f"{engine.upper()}_STANDIN_FAULT"
    args = ["serve", MODEL] if engine == "vllm" else ["--model-path", MODEL]
    done = run(engine, *args, env={variable: fault})
    assert done.returncode == 1
    assert needle in done.stdout + done.stderr


def test_unknown_fault_exits_64():
    done = run("vllm", "serve", MODEL, env={"VLLM_STANDIN_FAULT": "nope"})
    assert done.returncode == 64 and "unknown VLLM_STANDIN_FAULT value(s) nope" in done.stderr
    # SGLang's abort finish reason is the SGLang stand-in's alone
    done = run("vllm", "serve", MODEL, env={"VLLM_STANDIN_FAULT": "abort"})
    assert done.returncode == 64 and "unknown VLLM_STANDIN_FAULT value(s) abort" in done.stderr


def test_secrets_stay_out_of_logs():
    server = Server("vllm", "--api-key", KEY, env={"HF_TOKEN": "hf_secret_token"})
    out, err = server.stop()
    assert KEY not in out + err and "hf_secret_token" not in out + err
    assert "'api_key': '[REDACTED]'" in out
    server = Server("sglang", "--api-key", KEY)
    out, err = server.stop()
    assert KEY not in out + err and "api_key='[REDACTED]'" in out


# --- OpenAI-compatible routes with the real openai client --------------------------------------
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_openai_client_models_completions_chat_and_streams(engine, request):
    server = request.getfixturevalue(engine)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == [MODEL]
    chat = client.chat.completions.create(model=MODEL, messages=JEAN, max_tokens=32)
    assert "Jean-baptiste" in chat.choices[0].message.content
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    done = client.completions.create(model=MODEL, prompt="Deep learning is", max_tokens=5)
    assert done.choices[0].finish_reason == "length" and done.usage.completion_tokens == 5
    pieces = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=MODEL, messages=JEAN, stream=True)
        if c.choices
    ]
    assert "".join(pieces) == chat.choices[0].message.content
    stop = client.completions.create(
        model=MODEL,
        prompt="The best year ever is 1986. What is the best year ever?",
        stop=["year"],
        max_tokens=20,
    )
    assert stop.choices[0].text == " 1986 is the best " and stop.choices[0].finish_reason == "stop"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0).models.list()


def _sse(raw: str) -> list[str]:
    assert raw.endswith("\n\n")
    events = raw[:-2].split("\n\n")
    assert all(e.startswith("data: ") for e in events), events  # with a space (README)
    return [e[len("data: ") :] for e in events]


TEST_REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
VLLM_OPENAPI = json.loads((TEST_REFERENCE / "vllm" / "openapi.json").read_text())
SGLANG_OPENAPI = json.loads((TEST_REFERENCE / "sglang" / "openapi.json").read_text())


def schema_check(document: dict, instance, name: str) -> None:
    schema = {"components": document["components"], "$ref": f"#/components/schemas/{name}"}
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_vllm_responses_match_its_openapi(vllm):
    h = auth()
    body = {"model": MODEL, "prompt": "Hello", "max_tokens": 8}
    schema_check(VLLM_OPENAPI, body, "CompletionRequest")
    resp = httpx.post(vllm.url + "/v1/completions", json=body, headers=h)
    schema_check(VLLM_OPENAPI, resp.json(), "CompletionResponse")
    chat = {
        "model": MODEL,
        "messages": JEAN,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    schema_check(VLLM_OPENAPI, chat, "ChatCompletionRequest")
    resp = httpx.post(vllm.url + "/v1/chat/completions", json={**chat, "stream": False}, headers=h)
    schema_check(VLLM_OPENAPI, resp.json(), "ChatCompletionResponse")
    resp = httpx.post(vllm.url + "/v1/chat/completions", json=chat, headers=h)
    events = _sse(resp.text)
    assert events[-1] == "[DONE]" and json.loads(events[-2])["usage"]["completion_tokens"] > 0
    for event in events[:-1]:
        schema_check(VLLM_OPENAPI, json.loads(event), "ChatCompletionStreamResponse")
    events = _sse(
        httpx.post(vllm.url + "/v1/completions", json={**body, "stream": True}, headers=h).text
    )
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        schema_check(VLLM_OPENAPI, json.loads(event), "CompletionStreamResponse")


@pytest.mark.parametrize(
    ("body", "status", "message", "param"),
    [
        ({"top_p": 1.5}, 400, "top_p must be in (0, 1], got 1.5.", "top_p"),
        ({"temperature": -1}, 400, "temperature must be non-negative, got -1.", "temperature"),
        ({"max_tokens": 0}, 400, "max_tokens must be at least 1, got 0.", "max_tokens"),
        (
            {"max_tokens": 100000},
            400,
            "'max_tokens' or 'max_completion_tokens' is too large",
            "max_tokens",
        ),
        ({"model": "gpt2"}, 404, "The model `gpt2` does not exist.", "model"),
    ],
)
def test_vllm_errors_in_its_error_shape(vllm, body, status, message, param):
    resp = httpx.post(
        vllm.url + "/v1/completions", json={"model": MODEL, "prompt": "hi", **body}, headers=auth()
    )
    assert resp.status_code == status
    schema_check(VLLM_OPENAPI, resp.json(), "ErrorResponse")
    error = resp.json()["error"]
    assert message in error["message"] and error["param"] == param and error["code"] == status


def test_sglang_errors_in_its_error_shape(sglang):
    resp = httpx.post(
        sglang.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": JEAN, "top_p": 1.5},
        headers=auth(),
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "object": "error",
        "message": "top_p must be in (0, 1], got 1.5.",
        "type": "BadRequestError",
        "param": "top_p",
        "code": 400,
    }
    # native /generate: {"error": {"message"}} (http_server.py generate_request)
    resp = httpx.post(
        sglang.url + "/generate",
        json={"text": "hi", "sampling_params": {"temperature": -2}},
        headers=auth(),
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": {"message": "temperature must be non-negative, got -2."}}


def test_sglang_native_generate_and_cumulative_stream(sglang):
    body = {
        "text": "The best year ever is 1986. What is the best year ever?",
        "sampling_params": {"max_new_tokens": 4, "temperature": 0},
    }
    schema_check(SGLANG_OPENAPI, body, "GenerateReqInput")
    out = httpx.post(sglang.url + "/generate", json=body, headers=auth()).json()
    assert out["text"] == " 1986 is the best" and len(out["output_ids"]) == 4
    assert out["meta_info"]["finish_reason"] == {"type": "length", "length": 4}
    assert out["meta_info"]["completion_tokens"] == 4 and out["meta_info"]["prompt_tokens"] > 0
    raw = httpx.post(sglang.url + "/generate", json={**body, "stream": True}, headers=auth()).text
    events = _sse(raw)
    assert events[-1] == "[DONE]"
    texts = [json.loads(e)["text"] for e in events[:-1]]
    assert texts == [" 1986", " 1986 is", " 1986 is the", " 1986 is the best"]
    full = httpx.post(sglang.url + "/generate", json={"text": "Say hello."}, headers=auth()).json()
    assert full["meta_info"]["finish_reason"]["type"] == "stop"


def test_sglang_incremental_streaming_output_streams_only_the_new_text():
    """--incremental-streaming-output (tokenizer_manager.py _handle_batch_output): each event
    carries the new text and output_ids only; completion_tokens still counts all so far."""
    server = Server("sglang", "--incremental-streaming-output")
    try:
        info = httpx.get(server.url + "/server_info").json()
        assert info["incremental_streaming_output"] is True
        body = {
            "text": "The best year ever is 1986. What is the best year ever?",
            "sampling_params": {"max_new_tokens": 4, "temperature": 0},
        }
        out = httpx.post(server.url + "/generate", json=body).json()
        assert out["text"] == " 1986 is the best" and len(out["output_ids"]) == 4
        events = _sse(httpx.post(server.url + "/generate", json={**body, "stream": True}).text)
        assert events[-1] == "[DONE]"
        parsed = [json.loads(e) for e in events[:-1]]
        assert [e["text"] for e in parsed] == [" 1986", " is", " the", " best"]
        assert [e["output_ids"] for e in parsed] == [[i] for i in out["output_ids"]]
        assert [e["meta_info"]["completion_tokens"] for e in parsed] == [1, 2, 3, 4]
        assert parsed[-1]["meta_info"]["finish_reason"] == {"type": "length", "length": 4}
    finally:
        server.stop()


def test_sglang_abort_fault_ends_every_generation_with_the_abort_finish_reason():
    """A running request aborted by the scheduler (scheduler.py abort_request: FINISH_ABORT(),
    no HTTP status) ends as a normal 200 answer cut short, finish reason type abort."""
    server = Server("sglang", env={"SGLANG_STANDIN_FAULT": "abort"})
    abort = {"type": "abort", "message": "Aborted", "status_code": None, "err_type": None}
    try:
        body = {
            "text": "The best year ever is 1986. What is the best year ever?",
            "sampling_params": {"max_new_tokens": 4, "temperature": 0},
        }
        resp = httpx.post(server.url + "/generate", json=body)
        assert resp.status_code == 200
        out = resp.json()
        assert out["text"] == " 1986 is" and out["meta_info"]["completion_tokens"] == 2
        assert out["meta_info"]["finish_reason"] == abort
        events = _sse(httpx.post(server.url + "/generate", json={**body, "stream": True}).text)
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["meta_info"]["finish_reason"] == abort
        # the OpenAI routes: finish_reason "abort" (serving_chat.py / serving_completions.py)
        chat = {"messages": JEAN, "max_tokens": 8}
        answer = httpx.post(server.url + "/v1/chat/completions", json=chat).json()
        assert answer["choices"][0]["finish_reason"] == "abort"
        events = _sse(
            httpx.post(server.url + "/v1/completions", json={"prompt": "Hi", "stream": True}).text
        )
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["choices"][0]["finish_reason"] == "abort"
    finally:
        server.stop()


def test_sglang_info_routes(sglang):
    info = httpx.get(sglang.url + "/model_info", headers=auth()).json()
    assert info["model_path"] == MODEL and info["is_generation"] is True
    assert httpx.get(sglang.url + "/get_model_info", headers=auth()).json() == info
    server = httpx.get(sglang.url + "/server_info", headers=auth()).json()
    assert server["version"] == "0.5.23" and server["port"] == sglang.port
    assert "api_key" not in server and KEY not in json.dumps(server)


def test_auth_rules_follow_each_engine(vllm, sglang):
    # vLLM: only /v1... needs the key (api_server.py); 401 {"error": "Unauthorized"}
    for path in ("/health", "/metrics", "/version", "/ping"):
        assert httpx.get(vllm.url + path).status_code == 200, path
    resp = httpx.get(vllm.url + "/v1/models")
    assert (resp.status_code, resp.json()) == (401, {"error": "Unauthorized"})
    resp = httpx.get(vllm.url + "/v1/models", headers={"Authorization": f"bearer {KEY}"})
    assert resp.status_code == 401
    # SGLang: everything but /health* and /metrics
    for path in ("/health", "/health_generate", "/metrics"):
        assert httpx.get(sglang.url + path).status_code == 200, path
    for path in ("/model_info", "/server_info", "/v1/models"):
        resp = httpx.get(sglang.url + path)
        assert (resp.status_code, resp.json()) == (401, {"error": "Unauthorized"}), path


def test_vllm_api_key_from_env_and_flag_wins():
    server = Server("vllm", env={"VLLM_API_KEY": "from-env"})
    try:
        h = {"Authorization": "Bearer from-env"}
        assert httpx.get(server.url + "/v1/models", headers=h).status_code == 200
    finally:
        server.stop()
    server = Server("vllm", "--api-key", "from-flag", env={"VLLM_API_KEY": "from-env"})
    try:
        h = {"Authorization": "Bearer from-env"}
        assert httpx.get(server.url + "/v1/models", headers=h).status_code == 401
    finally:
        server.stop()


def _counters(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


@pytest.mark.parametrize(
    ("engine", "counter"),
    [("vllm", "vllm:request_success_total"), ("sglang", "sglang:num_requests_total")],
)
def test_metrics_use_engine_names_and_rise(engine, counter, request):
    server = request.getfixturevalue(engine)
    before = _counters(server.url)
    assert counter in before and f"{engine}:generation_tokens_total" in before
    httpx.post(server.url + "/v1/completions", json={"model": MODEL, "prompt": "x"}, headers=auth())
    after = _counters(server.url)
    assert after[counter] == before[counter] + 1
    assert not any(name.startswith("tgi_") for name in after)


def test_sglang_metrics_only_with_enable_metrics():
    server = Server("sglang")
    try:
        assert httpx.get(server.url + "/metrics").status_code == 404
    finally:
        server.stop()


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_stream_faults(engine):
    variable = f"{engine.upper()}_STANDIN_FAULT"
    server = Server(engine, env={variable: "no_done,wrong_model_id"})
    try:
        body = {"prompt": "Deep learning is", "stream": True}
        events = _sse(httpx.post(server.url + "/v1/completions", json=body).text)
        assert events[-1] != "[DONE]"
        ids = [m["id"] for m in httpx.get(server.url + "/v1/models").json()["data"]]
        assert ids != [MODEL]
    finally:
        server.stop()
