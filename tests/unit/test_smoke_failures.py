# ruff: noqa: F811 - pytest fixtures imported from test_smoke_cli are arguments here
"""Each smoke check can fail, and fails for the reason it names.

Every case starts the TGI stand-in with one fault (lab/tgi_standin/faults.py) and runs the
real CLI: the run exits 1, the named check fails with what was sent, expected and got.
Also: the 401 hint, the ready wait's progress, the metrics check on a fresh server, the
semantic checks passing a model that answers with its system prompt's sentence, the seed's
generation config on every generation request, and the LangChain check without its extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
import requests
from tgi_infra.smoke import clients
from tgi_infra.smoke.checks import CHECK_NAMES
from tgi_infra.smoke.seed import SEED_CONFIG

from tests.helpers.smoke_standin import API_KEY_ENV, MODEL, REPO, checks_of, free_port, run_cli

# fault, server env, extra CLI args, checks that must fail, text the first one's message has
FAULTS = [
    ("chat_bad_usage", {}, [], ["chat"], "inconsistent usage"),
    ("ignore_system", {}, [], ["semantic_name", "semantic_year"], "the answer lacks it"),
    pytest.param(
        "compat_404",
        {},
        [],
        ["hf_client_stream", "tgi_client", "langchain"],
        "HTTP 404",
        marks=pytest.mark.langchain,
    ),
    ("accept_top_p_1", {}, [], ["validation"], "HTTP 200"),
    ("metrics_stale", {}, [], ["metrics"], "still absent"),
    (
        "",
        {"TGI_STANDIN_TOKEN_DELAY_S": "0.01"},
        ["--min-tokens-per-s", "500"],
        ["throughput"],
        "likely causes: the service fell back to CPU",
    ),
    (
        "",
        {"TGI_STANDIN_TOKEN_DELAY_S": "0.01"},
        ["--max-ttft", "0.001", "--min-tokens-per-s", "0"],
        ["throughput"],
        "first token",
    ),
]


@pytest.mark.parametrize(
    "fault,env,args,failing,text",
    FAULTS,
    ids=["chat", "semantic", "clients", "validation", "metrics", "floor_tps", "floor_ttft"],
)
def test_each_check_can_fail(standins, tmp_path, capsys, fault, env, args, failing, text) -> None:
    s = standins.start(faults=fault, **env)
    s.wait_healthy()
    code, report, out = run_cli(
        ["--url", s.url, "--model-id", MODEL, "--timeout", "10", "--ready-timeout", "10", *args],
        tmp_path,
        capsys,
    )
    assert code == 1, f"{fault}: exit {code}\n{out}"
    failed = {n: c["message"] for n, c in checks_of(report).items() if c["status"] == "failed"}
    assert set(failing) <= set(failed), f"{fault}: failed {sorted(failed)}\n{out}"
    message = failed[failing[0]]
    assert text in message, message
    assert "sent: " in message and "expected: " in message and "got: " in message
    for name in failing:
        assert f"FAILED {s.url} :: {name}" in out  # the terminal names the check


def test_metrics_check_passes_on_a_server_that_served_nothing(standins, tmp_path, capsys):
    """TGI lists tgi_request_count only after its first increment: a fresh server has none."""
    s = standins.start()
    s.wait_healthy()
    assert "tgi_request_count" not in httpx.get(s.url + "/metrics").text
    code, report, out = run_cli(["--url", s.url, "--model-id", MODEL], tmp_path, capsys)
    assert code == 0, out
    metrics = checks_of(report)["metrics"]
    assert metrics["status"] == "passed"
    assert metrics["message"].startswith("tgi_request_count absent (no request served yet) ->")
    assert int(metrics["message"].rsplit(" ", 1)[1]) > 0


def test_semantic_checks_pass_the_standins_answers(standins, tmp_path, capsys) -> None:
    s = standins.start()
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--model-id", MODEL], tmp_path, capsys)
    assert code == 0, out
    checks = checks_of(report)
    # the year is asked for in a sentence: the stand-in restates the context sentence
    assert "1986 is the best year ever" in checks["semantic_year"]["message"]
    assert "My name is Jean-baptiste" in checks["semantic_name"]["message"]
    # a pass on the stand-in says so
    for name in ("semantic_name", "semantic_year"):
        assert "answer from the lab's TGI stand-in" in checks[name]["message"]


def test_semantic_checks_pass_an_answer_that_repeats_the_context_sentence(
    standins, tmp_path, capsys
) -> None:
    """A model answering with the system prompt's own sentence ("The best year ever is 1986")
    answered right: the stand-in's echo_system fault answers exactly that."""
    s = standins.start(faults="echo_system")
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--model-id", MODEL], tmp_path, capsys)
    assert code == 0, out
    checks = checks_of(report)
    assert checks["semantic_year"]["status"] == "passed", checks["semantic_year"]
    assert "The best year ever is 1986" in checks["semantic_year"]["message"]
    assert checks["semantic_name"]["status"] == "passed", checks["semantic_name"]
    assert "Your name is Jean-baptiste" in checks["semantic_name"]["message"]


def test_401_is_reported_once_with_how_to_pass_a_key(standins, tmp_path, capsys) -> None:
    s = standins.start(api_key="only-the-server-knows")
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--model-id", MODEL], tmp_path, capsys)
    assert code == 1, out
    checks = checks_of(report)
    failed = [n for n, c in checks.items() if c["status"] == "failed"]
    assert failed == ["generate"], failed
    assert "requires an API key" in checks["generate"]["message"]
    assert "--api-key-env NAME" in checks["generate"]["message"]
    assert out.count("HTTP 401 (empty body)") == 1, out
    assert out.count("FAILED ") == 1, out
    after = list(CHECK_NAMES)[list(CHECK_NAMES).index("generate") + 1 :]
    assert all(checks[n]["status"] == "skipped" for n in after)
    assert "not run: the service answered HTTP 401 (see generate)" in checks["chat"]["message"]


def test_401_with_a_wrong_key_names_the_variable(standins, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "not-the-key")
    s = standins.start(api_key="the-key")
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--api-key-env", API_KEY_ENV], tmp_path, capsys)
    assert code == 1
    failed = {n: c["message"] for n, c in checks_of(report).items() if c["status"] == "failed"}
    assert list(failed) == ["generate"]
    assert f"refused the API key in ${API_KEY_ENV}" in failed["generate"]
    assert "not-the-key" not in out + json.dumps(report)


def test_ready_wait_shows_progress_while_nothing_listens(tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    proc = subprocess.Popen(
        # 20 s: the CLI's start alone took over 6 s beside the lab tests (load average 20)
        [sys.executable, "-m", "tgi_infra.smoke", "--url", url, "--ready-timeout", "20"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        seen_at = time.monotonic() - start
        still_waiting = proc.poll() is None
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert line.startswith(f"tgi-smoke: waiting for {url} ({url}/health): ConnectError"), line
    assert "of the --ready-timeout of 20s" in line
    assert still_waiting and seen_at < 20, (seen_at, line)  # shown while waiting, not after
    assert proc.returncode == 1, rest


@pytest.mark.langchain
def test_every_generation_request_carries_the_seed_config(standins, monkeypatch) -> None:
    """Spy on what goes out (the requests still reach the stand-in)."""
    s = standins.start()
    s.wait_healthy()
    bodies: list[tuple[str, dict]] = []
    orig_httpx, orig_requests = httpx.Client.send, requests.Session.send

    def keep(url, content) -> None:
        path = str(url)[len(s.url) :] or "/"
        if content:
            bodies.append((path.split("?")[0], json.loads(content)))

    def httpx_send(self, request, *a, **kw):
        keep(request.url, request.read())
        return orig_httpx(self, request, *a, **kw)

    def requests_send(self, request, **kw):
        keep(request.url, request.body)
        return orig_requests(self, request, **kw)

    monkeypatch.setattr(httpx.Client, "send", httpx_send)
    monkeypatch.setattr(requests.Session, "send", requests_send)
    try:  # openai >= 3 (and so langchain-openai) default to httpx2, httpx's successor
        import httpx2
    except ImportError:
        pass
    else:
        orig_httpx2 = httpx2.Client.send

        def httpx2_send(self, request, *a, **kw):
            keep(request.url, request.read())
            return orig_httpx2(self, request, *a, **kw)

        monkeypatch.setattr(httpx2.Client, "send", httpx2_send)
    from tgi_infra.smoke import cli

    assert cli.main(["--url", s.url, "--model-id", MODEL]) == 0
    native = [b for p, b in bodies if p in ("/generate", "/generate_stream", "/")]
    chat = [b for p, b in bodies if p == "/v1/chat/completions"]
    # raw generate, raw stream, text_generation, InferenceClient, HuggingFaceEndpoint
    # (validation and auth probes send their own parameters on purpose)
    seeded = [b for b in native if b.get("parameters", {}).get("seed") == 42]
    assert len(seeded) >= 5, native
    for body in seeded:
        params = body["parameters"]
        for key, value in SEED_CONFIG.items():
            assert params.get(key) == value, (key, body)
    # openai chat, chat stream (client + raw), semantic x2, ChatOpenAI
    assert len(chat) >= 6, chat
    for body in chat:
        assert (body["temperature"], body["top_p"], body["seed"]) == (0.01, 0.8, 42), body
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 64, body
    assert any(m["content"] == "Comment tu t'appelle ?" for b in chat for m in b["messages"])


def test_langchain_check_skips_with_a_reason_without_the_extra(
    standins, tmp_path, capsys, monkeypatch
) -> None:
    for name in clients.LANGCHAIN_INTEGRATIONS:  # Python's way to make an import fail
        monkeypatch.setitem(sys.modules, name, None)
    s = standins.start()
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--model-id", MODEL], tmp_path, capsys)
    assert code == 0, out
    lc = checks_of(report)["langchain"]
    assert lc["status"] == "skipped"
    assert lc["message"] == clients.LANGCHAIN_MISSING
    assert "pip install 'tgi-infra[langchain]'" in lc["message"]


@pytest.mark.langchain
def test_langchain_check_runs_both_integrations(standins, tmp_path, capsys) -> None:
    s = standins.start()
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--model-id", MODEL], tmp_path, capsys)
    assert code == 0, out
    message = checks_of(report)["langchain"]["message"]
    assert "HuggingFaceEndpoint" in message and "ChatOpenAI" in message, message


def test_auth_check_fails_when_the_service_takes_requests_without_a_key(
    standins, tmp_path, capsys, monkeypatch
) -> None:
    """A key is configured for the target but the service enforces none (deployed without
    API_KEY): ``auth`` fails, naming the request that should have been refused."""
    monkeypatch.setenv(API_KEY_ENV, "a-key-the-service-does-not-check")
    s = standins.start()  # no --api-key: every request is accepted
    s.wait_healthy()
    code, report, out = run_cli(
        ["--url", s.url, "--model-id", MODEL, "--api-key-env", API_KEY_ENV], tmp_path, capsys
    )
    assert code == 1, out
    failed = {n: c["message"] for n, c in checks_of(report).items() if c["status"] == "failed"}
    assert list(failed) == ["auth"], failed
    assert "without Authorization" in failed["auth"] and "expected: HTTP 401" in failed["auth"]
    assert "got: HTTP 200" in failed["auth"], failed["auth"]
    assert f"FAILED {s.url} :: auth" in out
    assert "a-key-the-service-does-not-check" not in out + json.dumps(report)


def test_a_stream_past_the_deadline_fails_even_while_items_keep_coming():
    """The --timeout deadline holds over a whole stream (SSE, the openai client's chunks,
    huggingface_hub's tokens), not just between items: a stream that trickles forever fails."""
    from tgi_infra.smoke.checks import CheckFailed, _timed

    def trickle():
        n = 0
        while True:
            time.sleep(0.05)
            n += 1
            yield n

    start = time.monotonic()
    seen = []
    with pytest.raises(CheckFailed) as failed:
        for elapsed, item in _timed(trickle(), start, 0.3, "sent", "expected"):
            seen.append((elapsed, item))
    assert "timed out: stream still running after the --timeout deadline of 0.3s" in str(
        failed.value
    )
    assert 3 <= len(seen) <= 7 and [item for _, item in seen] == list(range(1, len(seen) + 1))
    assert all(a < b for (a, _), (b, _) in zip(seen, seen[1:], strict=False))  # elapsed grows
    assert list(_timed(iter("ab"), time.monotonic(), 5, "s", "e"))[-1][1] == "b"
