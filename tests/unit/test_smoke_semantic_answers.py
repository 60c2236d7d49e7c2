"""The semantic checks judge the fact in an answer, never its wording: a real HTTP server answers
``/v1/chat/completions`` with a chat completion recorded from a real TGI server
(tests/data/reference/tgi/snapshots, TGI's integration tests) whose message content is the answer
under test, and the check runs against it as against any service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tgi_infra.smoke.context import Settings, TargetContext
from tgi_infra.smoke.runner import FAILED, PASSED, run_check
from tgi_infra.smoke.targets import Target

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / "tests/data/reference/tgi/snapshots"
SNAPSHOT = SNAPSHOTS / "test_chat_llama__test_flash_llama_simple.json"


class Answers:
    """What the server answers next: message content and finish_reason."""

    content = ""
    finish_reason = "stop"


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[str, type[Answers]]]:
    recorded = json.loads(SNAPSHOT.read_text())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = json.loads(json.dumps(recorded))
            answer["choices"][0]["message"]["content"] = Answers.content
            answer["choices"][0]["finish_reason"] = Answers.finish_reason
            body = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Answers
    finally:
        server.shutdown()
        server.server_close()


def check(model, name: str, content: str, finish_reason: str = "stop"):
    url, answers = model
    answers.content, answers.finish_reason = content, finish_reason
    ctx = TargetContext(
        target=Target(name="t", url=url), base_url=url, settings=Settings(timeout=10)
    )
    try:
        return run_check(name, ctx)
    finally:
        ctx.close()


@pytest.mark.parametrize(
    "answer",
    [
        "The best year ever is 1986.",  # the context sentence, restated
        "The best year ever is 1986",
        "1986",
        "1986 is the best year ever.",
        "It's **1986**!",
        "According to what you told me, the best year ever was 1986 (a great year).",
        "The best year ever is １９８６.",  # full-width digits
        "1986年是最好的一年。",
    ],
)
def test_semantic_year_passes_any_answer_that_states_the_year(model, answer) -> None:
    result = check(model, "semantic_year", answer)
    assert result.status == PASSED, result.message
    assert result.message.startswith("answer states '1986': ")


@pytest.mark.parametrize(
    "answer",
    [
        "Your name is Jean-baptiste.",  # the context sentence, restated
        "Je m'appelle Jean-Baptiste.",
        "je m'appelle jean-baptiste",
        "JEAN-BAPTISTE",
        "Je m'appelle Jean Baptiste.",
        "Je m'appelle Jean\u2011Baptiste.",  # non-breaking hyphen
        "Je m'appelle Jean\u2013Baptiste.",  # en dash
        "Je m'appelle Jéan-Baptisté.",
        "Je m'appelle JeanBaptiste.",
    ],
)
def test_semantic_name_passes_any_answer_that_states_the_name(model, answer) -> None:
    result = check(model, "semantic_name", answer)
    assert result.status == PASSED, result.message


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("semantic_year", "The best year ever is 19860."),
        ("semantic_year", "The best year ever is 11986."),
        ("semantic_year", "The best year ever is 1987."),
        ("semantic_year", "I do not know which year is the best."),
        ("semantic_year", ""),
        ("semantic_name", "Je m'appelle Jean."),
        ("semantic_name", "Je m'appelle Baptiste."),
        ("semantic_name", "Je m'appelle Jean-Baptistelle."),
        ("semantic_name", "Je suis un assistant."),
    ],
)
def test_semantic_checks_fail_an_answer_that_lacks_the_fact(model, name, answer) -> None:
    result = check(model, name, answer)
    assert result.status == FAILED, result.message
    assert f"got: the answer lacks it: {answer}" in result.message, result.message


def test_semantic_checks_fail_an_aborted_answer(model) -> None:
    """An answer that states the fact but that the engine aborted (finish_reason "abort")."""
    result = check(model, "semantic_year", "The best year ever is 1986", "abort")
    assert result.status == FAILED
    assert 'got: aborted: finish_reason "abort"' in result.message, result.message
