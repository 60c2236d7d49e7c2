"""The TGI stand-in (lab/tgi_standin) against TGI's recorded contract and real clients.

Every server here is a real subprocess on a free 127.0.0.1 port; the clients are the unchanged
``text_generation``, ``huggingface_hub`` and ``openai`` packages; response bodies are checked
against the reference openapi.json schemas.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import stat
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import jsonschema
import pytest
import tgi_infra

from lab import tgi_standin
from lab.tgi_standin import launcher_args
from tests.helpers.tgi_standin import (
    JEAN,
    Standin,
    metric_values,
    post,
    run_launcher,
)

REFERENCE = Path(tgi_infra.__file__).resolve().parent / "reference" / "tgi"
YEAR = [
    {"role": "system", "content": "The best year ever is 1986."},
    {"role": "user", "content": "What is the best year?"},
]


def _nullable(node):
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


TEST_REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "tgi"
OPENAPI = json.loads((TEST_REFERENCE / "openapi.json").read_text())
COMPONENTS = _nullable(copy.deepcopy(OPENAPI["components"]))


def check_schema(instance, name: str) -> None:
    """Validate against components/schemas/<name> (OpenAPI `nullable` mapped to JSON Schema)."""
    schema = {"components": COMPONENTS, "$ref": f"#/components/schemas/{name}"}
    jsonschema.Draft202012Validator(schema).validate(instance)


def sse_events(raw: str) -> list[str]:
    assert raw.endswith("\n\n"), raw[-200:]
    events = raw[:-2].split("\n\n")
    for event in events:
        assert event.startswith("data:") and not event.startswith("data: "), event
    return [e[len("data:") :] for e in events]


@pytest.fixture(scope="module")
def tgi():
    server = Standin(
        "--model-id", "acme/tiny-chat", "--max-input-tokens", "1000", "--max-total-tokens", "1512"
    )
    yield server.url
    server.stop()


# --- launcher flags -------------------------------------------------------------------------
def test_every_reference_launcher_flag_has_a_value_type():
    reference = json.loads((REFERENCE / "launcher-args.json").read_text())
    assert launcher_args.ARGUMENTS == reference["arguments"]
    assert set(launcher_args.VALUE_TYPES) == {a["flag"] for a in reference["arguments"]}


def test_flags_env_and_defaults_parse_like_clap():
    args = launcher_args.parse(
        ["-p", "81", "--model-id=org/m", "--cuda-graphs", "1,2,4", "--trust-remote-code"],
        {"QUANTIZE": "awq", "PORT": "99", "DISABLE_CUSTOM_KERNELS": "false", "SHARDED": "true"},
    )
    v = args.values
    assert v["port"] == 81  # the flag beats the env var
    assert v["model_id"] == "org/m" and v["quantize"] == "awq" and v["sharded"] is True
    assert v["cuda_graphs"] == [1, 2, 4] and v["trust_remote_code"] is True
    assert v["disable_custom_kernels"] is False
    defaults = launcher_args.parse([], {}).values
    assert defaults["model_id"] == "bigscience/bloom-560m" and defaults["port"] == 3000
    assert defaults["max_concurrent_requests"] == 128 and defaults["hostname"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--foo"], {}, "error: unexpected argument '--foo' found"),
        (["--quantize", "int3"], {}, "error: invalid value 'int3' for '--quantize <QUANTIZE>'"),
        ([], {"QUANTIZE": "int3"}, "error: invalid value 'int3' for '--quantize <QUANTIZE>'"),
        (["--max-total-tokens", "lots"], {}, "invalid digit found in string"),
        (["--port", "70000"], {}, "70000 is not in 0..=65535"),
        (["--dtype", "float32"], {}, "[possible values: float16, bfloat16]"),
        (["--model-id"], {}, "a value is required for '--model-id <MODEL_ID>'"),
        (["--json-output=yes"], {}, "unexpected value 'yes' for '--json-output'"),
        (["stray"], {}, "error: unexpected argument 'stray' found"),
    ],
)
def test_bad_flags_exit_2_with_clap_message(argv, env, needle):
    proc = run_launcher(*argv, env=env)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["--max-input-tokens", "2048", "--max-total-tokens", "2048"],
            "`max_input_tokens`(2048) must be < `max_total_tokens`(2048)",
        ),
        (
            ["--max-input-tokens", "1000", "--max-total-tokens", "4096"]
            + ["--max-batch-total-tokens", "4000"],
            "`max_total_tokens` must be <= `max_batch_total_tokens`",
        ),
        (["--dtype", "float16", "--quantize", "awq"], "Only 1 can be set between `dtype`"),
        (["--max-input-tokens", "10", "--max-input-length", "10"], "`max_input_length"),
        (["--sharded", "true", "--num-shard", "1"], "`sharded` is true but `num_shard` <= 1"),
    ],
)
def test_launcher_consistency_checks_exit_1(argv, needle):
    proc = run_launcher(*argv)
    assert proc.returncode == 1
    assert "Error: ArgumentValidation(" in proc.stderr and needle in proc.stderr


def test_help_and_version():
    assert run_launcher("--version").stdout.strip() == "text-generation-launcher 3.3.7"
    helped = run_launcher("--help")
    assert helped.returncode == 0 and "--max-batch-prefill-tokens" in helped.stdout


# --- start-up, logs, secrets ----------------------------------------------------------------
def test_warmup_refuses_connections_then_serves_and_logs_stages():
    secret, token = "sk-standin-SECRET-1", "hf_SECRETtoken42"
    server = Standin(
        "--model-id",
        "acme/m",
        "--api-key",
        secret,
        env={"TGI_STANDIN_WARMUP_S": "1.0", "HF_TOKEN": token},
        wait=False,
    )
    try:
        time.sleep(0.3)
        assert server.proc.poll() is None and not server.connectable()
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=1)
        server.wait_ready()
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        out, err = server.stop()
    assert server.proc.returncode == 0
    for line in (
        "Args {",
        "Starting check and download process for acme/m",
        "Successfully downloaded weights for acme/m",
        "Warming up model",
        "Connected",
        "Shutting down shards",
    ):
        assert line in out
    assert secret not in out + err and token not in out + err
    assert 'api_key: Some("[REDACTED]")' in out


def test_json_output_logs_are_json_lines():
    server = Standin("--json-output", env={"API_KEY": "k-SECRET-9"})
    out, _ = server.stop()
    records = [json.loads(line) for line in out.splitlines()]
    assert any(r["fields"]["message"] == "Connected" for r in records)
    assert "k-SECRET-9" not in out


# --- real clients ---------------------------------------------------------------------------
def test_text_generation_client(tgi):
    from text_generation import Client

    client = Client(tgi, timeout=30)
    resp = client.generate("Your name is Jean-baptiste. What is your name?", max_new_tokens=20)
    assert "Jean-baptiste" in resp.generated_text
    assert resp.details.finish_reason.value == "eos_token"
    assert resp.details.generated_tokens == len(resp.details.tokens)
    tokens = list(client.generate_stream("Tell me a story", max_new_tokens=7))
    assert len(tokens) == 7 and all(t.generated_text is None for t in tokens[:-1])
    assert tokens[-1].generated_text == "".join(t.token.text for t in tokens)
    assert tokens[-1].details.finish_reason.value == "length"


def test_huggingface_hub_inference_client(tgi):
    from huggingface_hub import InferenceClient

    client = InferenceClient(base_url=tgi)
    text = client.text_generation("The best year ever is 1986. What is the best year?")
    assert "1986" in text
    streamed = "".join(client.text_generation("Tell me a story", max_new_tokens=5, stream=True))
    full = client.text_generation("Tell me a story", max_new_tokens=5, details=True)
    # POST / defaults return_full_text to true for text-generation models (compat_generate)
    assert full.generated_text == "Tell me a story" + streamed
    assert full.details.generated_tokens == 5
    chat = client.chat_completion(messages=JEAN, max_tokens=30)
    assert "Jean-baptiste" in chat.choices[0].message.content


def test_huggingface_hub_chat_stream_chokes_on_unspaced_done(tgi):
    """Known client/server mismatch, reproduced on purpose: TGI (axum ``Event::data``) sends
    ``data:[DONE]``; huggingface_hub 0.36 only recognises ``data: [DONE]`` and raises
    JSONDecodeError after the last real chunk. Consumers must not rely on hf_hub chat streaming
    ending cleanly (huggingface_hub issue #4536)."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(base_url=tgi)
    content = ""
    with pytest.raises(json.JSONDecodeError):
        for chunk in client.chat_completion(messages=YEAR, max_tokens=30, stream=True):
            content += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert "1986" in content


def test_openai_client(tgi):
    import openai

    client = openai.OpenAI(base_url=tgi + "/v1", api_key="unused")
    chat = client.chat.completions.create(model="tgi", messages=YEAR, max_tokens=30)
    assert chat.object == "chat.completion" and "1986" in chat.choices[0].message.content
    assert chat.choices[0].finish_reason == "stop" and chat.model == "acme/tiny-chat"
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    stream = client.chat.completions.create(
        model="tgi",
        messages=JEAN,
        stream=True,
        max_tokens=30,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Jean-baptiste" in content
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    done = client.completions.create(model="tgi", prompt="Deep learning is", max_tokens=10)
    assert done.object == "text_completion" and done.usage.completion_tokens <= 10
    assert done.choices[0].finish_reason in ("length", "stop")
    streamed = list(
        client.completions.create(
            model="tgi", prompt="Deep learning is", max_tokens=10, stream=True
        )
    )
    assert "".join(c.choices[0].text for c in streamed) == done.choices[0].text
    models = client.models.list()
    assert [m.id for m in models.data] == ["acme/tiny-chat"]


# --- wire shapes ----------------------------------------------------------------------------
def test_generate_details_match_openapi(tgi):
    body = {
        "inputs": "Test request",
        "parameters": {
            "details": True,
            "decoder_input_details": True,
            "top_n_tokens": 3,
            "max_new_tokens": 6,
            "do_sample": True,
            "seed": 7,
        },
    }
    resp = post(tgi, "/generate", body)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    data = resp.json()
    check_schema(data, "GenerateResponse")
    details = data["details"]
    assert details["seed"] == 7 and details["generated_tokens"] == 6
    assert details["prefill"][0]["logprob"] is None and len(details["prefill"]) > 1
    assert [len(t) for t in details["top_tokens"]] == [3] * 6
    assert int(resp.headers["x-generated-tokens"]) == 6
    plain = post(tgi, "/generate", {"inputs": "Test request"}).json()
    assert list(plain) == ["generated_text"]  # details default false: field omitted


def test_info_models_tokenize_match_openapi(tgi):
    info = httpx.get(tgi + "/info").json()
    check_schema(info, "Info")
    assert info["model_id"] == "acme/tiny-chat" and info["version"] == "3.3.7"
    assert (info["max_input_tokens"], info["max_total_tokens"]) == (1000, 1512)
    # every field upstream's Info schema has, and no other (reference openapi.json)
    assert set(info) == set(OPENAPI["components"]["schemas"]["Info"]["properties"])
    models = httpx.get(tgi + "/v1/models").json()
    assert models["object"] == "list"
    check_schema(models["data"][0], "ModelInfo")
    tokens = post(tgi, "/tokenize", {"inputs": "Hello world!"}).json()
    check_schema(tokens, "TokenizeResponse")
    assert [t["text"] for t in tokens[1:]] == ["Hello", " world", "!"]
    chat_tok = post(tgi, "/chat_tokenize", {"messages": JEAN}).json()
    check_schema(chat_tok, "ChatTokenizeResponse")
    assert "Jean-baptiste" in chat_tok["templated_text"]


def test_generate_stream_sse_framing_and_schema(tgi):
    body = {"inputs": "Once upon", "parameters": {"max_new_tokens": 4, "details": True}}
    resp = post(tgi, "/generate_stream", body)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    assert "[DONE]" not in events and len(events) == 4
    parsed = [json.loads(e) for e in events]
    for event in parsed:
        check_schema(event, "StreamResponse")
    assert [e["index"] for e in parsed] == [1, 2, 3, 4]
    assert all(e["generated_text"] is None and e["details"] is None for e in parsed[:-1])
    assert parsed[-1]["details"]["input_length"] > 0
    assert set(parsed[0]["token"]) == {"id", "text", "logprob", "special"}


def test_chat_and_completions_sse_end_with_done(tgi):
    chat = post(tgi, "/v1/chat/completions", {"messages": YEAR, "stream": True})
    events = sse_events(chat.text)
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        check_schema(chunk, "ChatCompletionChunk")
        assert chunk["object"] == "chat.completion.chunk"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    comp = post(tgi, "/v1/completions", {"prompt": "Hi", "max_tokens": 3, "stream": True})
    events = sse_events(comp.text)
    assert events[-1] == "[DONE]"
    parsed = [json.loads(e) for e in events[:-1]]
    for chunk in parsed[:-1]:
        check_schema(chunk, "Chunk")
    check_schema(parsed[-1], "CompletionFinal")
    assert parsed[-1]["usage"]["completion_tokens"] == 3


def test_non_stream_openai_shapes_match_openapi(tgi):
    chat = post(
        tgi, "/v1/chat/completions", {"messages": JEAN, "logprobs": True, "top_logprobs": 2}
    )
    data = chat.json()
    check_schema(data, "ChatCompletion")
    assert data["object"] == "chat.completion" and data["id"] == ""
    assert data["system_fingerprint"].startswith("3.3.7-")
    assert len(data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]) == 2
    comp = post(tgi, "/v1/completions", {"prompt": ["a b", "c d"], "max_tokens": 4}).json()
    check_schema(comp, "CompletionFinal")
    assert [c["index"] for c in comp["choices"]] == [0, 1]


def test_compat_and_invocations_routes(tgi):
    compat = post(tgi, "/", {"inputs": "Hi there", "parameters": {"max_new_tokens": 3}})
    assert isinstance(compat.json(), list)
    assert compat.json()[0]["generated_text"].startswith("Hi there")  # full text by default
    check_schema(compat.json()[0], "GenerateResponse")
    stream = post(tgi, "/", {"inputs": "Hi", "stream": True, "parameters": {"max_new_tokens": 2}})
    assert len(sse_events(stream.text)) == 2
    chat = post(tgi, "/invocations", {"messages": YEAR}).json()
    assert "1986" in chat["choices"][0]["message"]["content"]
    gen = post(tgi, "/invocations", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}})
    assert isinstance(gen.json(), list)


# --- generation semantics -------------------------------------------------------------------
def test_determinism_and_seed(tgi):
    req = {"inputs": "Explain GPUs", "parameters": {"max_new_tokens": 20, "details": True}}
    first, second = post(tgi, "/generate", req).json(), post(tgi, "/generate", req).json()
    assert first == second
    sampled = [
        post(
            tgi,
            "/generate",
            {"inputs": "Explain GPUs", "parameters": {"do_sample": True, "seed": s}},
        ).json()["generated_text"]
        for s in (1, 1, 2)
    ]
    assert sampled[0] == sampled[1] != sampled[2]
    greedy = [
        post(tgi, "/generate", {"inputs": "Explain GPUs", "parameters": {"seed": s}}).json()
        for s in (1, 2)
    ]
    assert greedy[0] == greedy[1]


def key_tree(value):
    """The shape of a JSON value: keys of objects (recursively), first item of arrays."""
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [key_tree(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def _same_shape(ours, upstream, path="$") -> list[str]:
    """Where the stand-in's response differs in shape from the one upstream recorded (fields
    missing or extra; a null upstream may hold any value here, and the reverse). A field
    recorded as null or [] may be absent: the router skips it when empty
    (``skip_serializing_if`` on ``Details.best_of_sequences``/``top_tokens`` in
    router/src/lib.rs) and the recording client filled it in (reference README)."""
    if isinstance(upstream, dict) and isinstance(ours, dict):
        problems = [
            f"{path}.{k}: missing"
            for k, v in upstream.items()
            if k not in ours and v not in (None, [])
        ]
        problems += [f"{path}.{k}: not in upstream's response" for k in ours if k not in upstream]
        for k in set(upstream) & set(ours):
            problems += _same_shape(ours[k], upstream[k], f"{path}.{k}")
        return problems
    if isinstance(upstream, list) and isinstance(ours, list):
        return _same_shape(ours[0], upstream[0], f"{path}[0]") if ours and upstream else []
    if upstream is None or ours is None or type(ours) is type(upstream):
        return []
    if {type(ours), type(upstream)} <= {int, float}:
        return []
    return [f"{path}: {type(ours).__name__}, upstream {type(upstream).__name__}"]


@pytest.mark.parametrize(
    ("snapshot", "path", "body"),
    [
        (
            "test_flash_llama__test_flash_llama_simple.json",
            "/generate",
            {"inputs": "Test request", "parameters": {"max_new_tokens": 10, "details": True}},
        ),
        (
            "test_chat_llama__test_flash_llama_simple.json",
            "/v1/chat/completions",
            {"model": "tgi", "messages": YEAR, "max_tokens": 10},
        ),
        (
            "test_completion_prompts__test_flash_llama_completion_single_prompt.json",
            "/v1/completions",
            {"model": "tgi", "prompt": "What is Deep Learning?", "max_tokens": 10},
        ),
    ],
)
def test_responses_have_the_shape_upstream_recorded(tgi, snapshot, path, body):
    """Against responses recorded from real TGI servers (deploy/reference/tgi/snapshots),
    not against the stand-in's own rules."""
    upstream = json.loads((TEST_REFERENCE / "snapshots" / snapshot).read_text())
    ours = post(tgi, path, body).json()
    assert _same_shape(ours, upstream) == [], (key_tree(ours), key_tree(upstream))


def test_max_new_tokens_stop_and_full_text(tgi):
    base = "Your name is Jean-baptiste. What is your name?"
    short = post(
        tgi, "/generate", {"inputs": base, "parameters": {"max_new_tokens": 2, "details": True}}
    )
    assert short.json()["details"]["finish_reason"] == "length"
    assert short.json()["generated_text"] == " My name"
    stopped = post(
        tgi, "/generate", {"inputs": base, "parameters": {"stop": [" is"], "details": True}}
    ).json()
    assert stopped["generated_text"] == " My name is"
    assert stopped["details"]["finish_reason"] == "stop_sequence"
    full = post(tgi, "/generate", {"inputs": base, "parameters": {"return_full_text": True}})
    assert full.json()["generated_text"].startswith(base + " My name is Jean-baptiste")
    best = post(
        tgi,
        "/generate",
        {"inputs": "Go", "parameters": {"best_of": 2, "do_sample": True, "details": True}},
    ).json()
    assert len(best["details"]["best_of_sequences"]) == 1


# --- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"top_p": 1.0}, "`top_p` must be > 0.0 and < 1.0"),
        ({"temperature": 0.0}, "`temperature` must be strictly positive"),
        ({"top_k": 0}, "`top_k` must be strictly positive"),
        ({"max_new_tokens": 0}, "`max_new_tokens` must be strictly positive"),
        ({"repetition_penalty": 0}, "`repetition_penalty` must be strictly positive"),
        ({"typical_p": 1.5}, "`typical_p` must be > 0.0 and < 1.0"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "`stop` supports up to 4 stop sequences. Given: 5"),
        ({"top_n_tokens": 9}, "`top_n_tokens` must be >= 0 and <= 5. Given: 9"),
        ({"best_of": 3, "do_sample": True}, "`best_of` must be > 0 and <= 2. Given: 3"),
        ({"best_of": 2}, "you must use sampling when `best_of` is > 1"),
        ({"best_of": 2, "do_sample": True, "seed": 1}, "`seed` must not be set when `best_of` > 1"),
        (
            {"max_new_tokens": 1510},
            "`inputs` tokens + `max_new_tokens` must be <= 1512. "
            "Given: 3 `inputs` tokens and 1510 `max_new_tokens`",
        ),
    ],
)
def test_validation_errors_422(tgi, params, message):
    resp = post(tgi, "/generate", {"inputs": "Hello there", "parameters": params})
    assert resp.status_code == 422
    assert resp.json() == {
        "error": f"Input validation error: {message}",
        "error_type": "validation",
    }
    check_schema(resp.json(), "ErrorResponse")


def test_empty_and_too_long_inputs(tgi):
    empty = post(tgi, "/generate", {"inputs": ""})
    assert empty.status_code == 422 and empty.json()["error"].endswith("`inputs` cannot be empty")
    long = post(
        tgi, "/generate", {"inputs": " ".join(["word"] * 1200), "parameters": {"max_new_tokens": 1}}
    )
    assert "`inputs` must have less than 1000 tokens. Given: 1201" in long.json()["error"]
    bad_json = httpx.post(
        tgi + "/generate", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    missing = post(tgi, "/generate", {"input": "typo"})
    assert missing.status_code == 422 and "missing field `inputs`" in missing.text
    no_ctype = httpx.post(tgi + "/generate", content=b'{"inputs":"x"}')
    assert no_ctype.status_code == 415


def test_stream_errors_arrive_inside_200_sse(tgi):
    resp = post(tgi, "/generate_stream", {"inputs": "Hi", "parameters": {"top_p": 1.0}})
    assert resp.status_code == 200
    (event,) = sse_events(resp.text)
    assert json.loads(event) == {
        "error": "Input validation error: `top_p` must be > 0.0 and < 1.0",
        "error_type": "validation",
    }
    chat = post(tgi, "/v1/chat/completions", {"messages": JEAN, "stream": True, "top_p": 1.0})
    events = sse_events(chat.text)
    assert json.loads(events[0])["error_type"] == "validation" and events[-1] == "[DONE]"
    best = post(tgi, "/generate_stream", {"inputs": "Hi", "parameters": {"best_of": 2}})
    assert "`best_of` != 1 is not supported when streaming tokens" in best.text


# --- auth, overload, metrics ----------------------------------------------------------------
def test_api_key_guards_generation_routes_only():
    server = Standin("--api-key", "s3cret")
    try:
        url = server.url
        body = {"inputs": "Hi", "parameters": {"max_new_tokens": 2}}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            resp = post(url, "/generate", body, headers=headers)
            assert resp.status_code == 401 and resp.content == b""
        for path in ("/v1/chat/completions", "/generate_stream", "/", "/v1/completions"):
            assert (
                post(url, path, {"messages": JEAN, "inputs": "x", "prompt": "x"}).status_code == 401
            )
        ok = post(url, "/generate", body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        # server.rs lowercases both sides before comparing
        assert (
            post(url, "/generate", body, headers={"Authorization": "bearer S3CRET"}).status_code
            == 200
        )
        for path in ("/health", "/info", "/metrics", "/v1/models", "/"):
            assert httpx.get(url + path).status_code == 200, path
    finally:
        server.stop()


def test_overloaded_429_when_over_max_concurrent_requests():
    server = Standin("--max-concurrent-requests", "1", env={"TGI_STANDIN_TOKEN_DELAY_S": "0.3"})
    try:
        url = server.url
        streaming = threading.Event()

        def hold() -> None:  # the one request allowed, in flight for 10 tokens (3 s)
            body = {"inputs": "x", "parameters": {"max_new_tokens": 10}}
            with httpx.stream("POST", url + "/generate_stream", json=body, timeout=60) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        streaming.set()

        holder = threading.Thread(target=hold)
        holder.start()
        # in flight once its first token came: a fixed sleep raced the request on a loaded machine
        assert streaming.wait(60), "the first request never streamed a token"
        resp = post(url, "/generate", {"inputs": "y", "parameters": {"max_new_tokens": 1}})
        assert resp.status_code == 429
        assert resp.json() == {"error": "Model is overloaded", "error_type": "overloaded"}
        stream = post(url, "/generate_stream", {"inputs": "y"})
        assert stream.status_code == 200 and '"error_type":"overloaded"' in stream.text
        holder.join()
        assert metric_values(url)["tgi_request_failure|err=overloaded"] == 2
    finally:
        server.stop()


def test_metrics_parse_and_counters_rise(tgi):
    # a counter appears once first incremented (TGI's metrics crate): none before any request
    before = defaultdict(float, metric_values(tgi))
    post(tgi, "/generate", {"inputs": "Hi", "parameters": {"max_new_tokens": 3}})
    post(tgi, "/generate", {"inputs": "Hi", "parameters": {"top_k": 0}})
    after = metric_values(tgi)
    raw = httpx.get(tgi + "/metrics").text
    assert f"\ntgi_request_count {int(after['tgi_request_count'])}\n" in raw  # no _total
    assert after["tgi_request_count"] == before["tgi_request_count"] + 2
    assert after["tgi_request_success"] == before["tgi_request_success"] + 1
    assert after["tgi_request_failure|err=validation"] >= 1
    assert after["tgi_request_duration_count"] == before["tgi_request_duration_count"] + 1
    assert (
        after["tgi_request_generated_tokens_sum"] == before["tgi_request_generated_tokens_sum"] + 3
    )


# --- faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        ("crash_at_start", "torch.OutOfMemoryError: CUDA out of memory"),
        ("crash_gated", "Cannot access gated repo"),
        ("crash_nccl", "NCCL error"),
    ],
)
def test_crash_faults_exit_1_with_diagnosable_logs(fault, needle):
    proc = run_launcher("--model-id", "org/gated", env={"TGI_STANDIN_FAULT": fault})
    assert proc.returncode == 1
    assert needle in proc.stdout + proc.stderr
    assert "Connected" not in proc.stdout


def test_unknown_fault_is_refused():
    proc = run_launcher(env={"TGI_STANDIN_FAULT": "meteor"})
    assert proc.returncode == 64 and "meteor" in proc.stderr


def test_health_wrong_model_malformed_truncated_faults():
    server = Standin(
        "--model-id",
        "acme/right",
        env={"TGI_STANDIN_FAULT": "health_503,wrong_model_id,malformed_json,truncated_stream"},
    )
    try:
        url = server.url
        health = httpx.get(url + "/health")
        assert health.status_code == 503
        assert health.json() == {"error": "unhealthy", "error_type": "healthcheck"}
        assert httpx.get(url + "/info").json()["model_id"] != "acme/right"
        for path, body in (
            ("/generate", {"inputs": "Hi"}),
            ("/v1/chat/completions", {"messages": JEAN}),
        ):
            resp = post(url, path, body)
            assert resp.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(resp.text)
        with pytest.raises(httpx.RemoteProtocolError):
            post(url, "/generate_stream", {"inputs": "Hi", "parameters": {"max_new_tokens": 6}})
        raw = b""
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            payload = b'{"inputs":"Hi","parameters":{"max_new_tokens":6,"details":true}}'
            sock.sendall(
                b"POST /generate_stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            while chunk := sock.recv(65536):
                raw += chunk
        assert raw.count(b"data:") == 3 and b'"generated_text":"' not in raw
        assert not raw.endswith(b"0\r\n\r\n")
    finally:
        server.stop()


def test_chat_no_done_and_slow_tokens():
    server = Standin(
        env={"TGI_STANDIN_FAULT": "chat_no_done,slow_tokens", "TGI_STANDIN_TOKEN_DELAY_S": "0.1"}
    )
    try:
        started = time.monotonic()
        chat = post(server.url, "/v1/chat/completions", {"messages": JEAN, "stream": True})
        events = sse_events(chat.text)
        assert "[DONE]" not in events and json.loads(events[-1])["choices"][0]["finish_reason"]
        assert time.monotonic() - started >= 0.1 * len(events)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [("generate_424", 424, "generation"), ("generate_500", 500, "incomplete_generation")],
)
def test_generation_error_faults(fault, status, error_type):
    server = Standin(env={"TGI_STANDIN_FAULT": fault})
    try:
        resp = post(server.url, "/generate", {"inputs": "Hi"})
        assert resp.status_code == status and resp.json()["error_type"] == error_type
        chat = post(server.url, "/v1/chat/completions", {"messages": JEAN})
        assert chat.status_code == status
        stream = post(server.url, "/generate_stream", {"inputs": "Hi"})
        assert stream.status_code == 200
        assert json.loads(sse_events(stream.text)[0])["error_type"] == error_type
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()


# --- image layout ---------------------------------------------------------------------------
def test_image_files_run_standalone_with_bare_python(tmp_path):
    files = tgi_standin.image_files()
    assert files["usr/local/bin/text-generation-launcher"].startswith(b"#!/bin/sh")
    assert b'"$@"' in files["usr/local/bin/text-generation-launcher"]
    assert "opt/tgi_standin/tgi_standin/__main__.py" in files
    assert "opt/tgi_standin/tgi_standin/CONTRACT.md" in files
    for rel, content in tgi_standin.image_files(root=str(tmp_path / "opt/tgi_standin")).items():
        target = tmp_path / rel.removeprefix(str(tmp_path).strip("/") + "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    launcher = tmp_path / "usr/local/bin/text-generation-launcher"
    launcher.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "TGI_STANDIN_WARMUP_S": "0"}
    proc = subprocess.run(
        [str(launcher), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "text-generation-launcher 3.3.7"
    bad = subprocess.run(
        [str(launcher), "--quantize", "nope"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert 'ENTRYPOINT ["text-generation-launcher"]' in tgi_standin.dockerfile("debian:12")


# --------------------------------------------------------------------------------------------
# The stand-in follows TGI 3.3.7's source, not this project's config rules.
#
# * dtype with bitsandbytes*: server/text_generation_server/cli.py (serve);
# * max_batch_prefill_tokens < max_input_tokens: backends/v3/src/main.rs refuses it only
#   ``&& !support_chunking`` (models/model.py: ``support_chunking and PREFILL_CHUNKING``, and
#   off with speculation);
# * GPU count: launcher/src/main.rs ``num_cuda_devices`` (NVIDIA_VISIBLE_DEVICES ``all``/``void``
#   counted with ``nvidia-smi --query-gpu=uuid``);
# * ``/invocations`` is in ``base_routes``, behind the API key (router/src/server.rs).


@pytest.mark.parametrize("quantize", ["bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4"])
def test_dtype_with_bitsandbytes_starts(quantize):
    args = launcher_args.parse(["--dtype", "float16", "--quantize", quantize], {})
    launcher_args.resolve(args, {})  # no ArgumentValidation


def test_dtype_with_awq_is_refused_like_the_shard():
    proc = run_launcher("--dtype", "float16", "--quantize", "awq")
    assert proc.returncode == 1 and "Only 1 can be set between `dtype`" in proc.stderr


def test_prefill_below_input_is_legal_with_chunking():
    argv = ["--max-input-tokens", "3000", "--max-batch-prefill-tokens", "2000"]
    resolved = launcher_args.resolve(launcher_args.parse(argv, {}), {})
    assert resolved.max_batch_prefill_tokens == 2000


@pytest.mark.parametrize(
    ("extra", "env"), [([], {"PREFILL_CHUNKING": "0"}), (["--speculate", "2"], {})]
)
def test_prefill_below_input_is_refused_without_chunking(extra, env):
    proc = run_launcher(
        "--max-input-tokens", "3000", "--max-batch-prefill-tokens", "2000", *extra, env=env
    )
    assert proc.returncode == 1
    assert "`max_batch_prefill_tokens` must be >= `max_input_tokens`" in proc.stderr


def _fake_nvidia_smi(tmp_path, uuids: list[str]) -> str:
    tool = tmp_path / "nvidia-smi"
    body = "".join(f"echo {u}\n" for u in uuids)
    tool.write_text(
        '#!/bin/sh\n[ "$1" = "--query-gpu=uuid" ] && [ "$2" = "--format=csv,noheader" ] || exit 9\n'
        + body
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return f"{tmp_path}:{os.environ.get('PATH', '')}"


@pytest.mark.parametrize("visible", ["all", "void"])
def test_gpu_count_from_nvidia_smi_when_all_or_void(tmp_path, visible):
    path = _fake_nvidia_smi(tmp_path, ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"])
    env = {"NVIDIA_VISIBLE_DEVICES": visible, "PATH": path}
    assert launcher_args.num_cuda_devices(env) == 3
    resolved = launcher_args.resolve(launcher_args.parse([], env), env)
    assert resolved.num_shard == 3


def test_gpu_count_from_the_device_lists():
    assert launcher_args.num_cuda_devices({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert launcher_args.num_cuda_devices({"NVIDIA_VISIBLE_DEVICES": "0,1,2"}) == 3
    # CUDA_VISIBLE_DEVICES wins even when empty (env::var is Ok(""); "".split(',') has 1 part)
    both = {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "0,1"}
    assert launcher_args.num_cuda_devices(both) == 1
    assert launcher_args.num_cuda_devices({"ZE_AFFINITY_MASK": "0,1"}) == 2
    assert launcher_args.num_cuda_devices({"PATH": "/nonexistent"}) is None


def test_invocations_is_behind_the_api_key():
    server = Standin("--api-key", "s3cret")
    try:
        body = {"messages": JEAN}
        assert post(server.url, "/invocations", body).status_code == 401
        ok = post(server.url, "/invocations", body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()
