"""The TGI stand-in's behaviours added so the smoke checks can be shown right and wrong:
metrics listed only after first use, context answers restated (not copied), and
one fault per check."""

from __future__ import annotations

import httpx
import pytest

from lab.tgi_standin import faults, generation
from tests.helpers.tgi_standin import Standin, metric_values, post

CHAT = "/v1/chat/completions"


@pytest.fixture
def fresh():
    server = Standin("--model-id", "acme/tiny-chat")
    yield server
    server.stop()


def test_no_request_metric_before_the_first_request(fresh) -> None:
    """metrics-exporter-prometheus lists a metric only once it was first touched."""
    before = httpx.get(fresh.url + "/metrics")
    assert before.status_code == 200
    assert "tgi_request" not in before.text and "tgi_queue_size" not in before.text
    post(fresh.url, "/generate", {"inputs": "Hi", "parameters": {"max_new_tokens": 3}})
    after = metric_values(fresh.url)
    assert after["tgi_request_count"] == 1 and after["tgi_request_success"] == 1
    assert after["tgi_request_duration_count"] == 1
    assert not any(k.startswith("tgi_request_failure") for k in after)  # none failed yet


def test_context_answers_are_restated_not_copied() -> None:
    year = generation.context_answer(
        "The best year ever is 1986\nWhat is the best year ever? Answer with a short sentence."
    )
    assert year == "1986 is the best year ever."
    name = generation.context_answer("Your name is Jean-baptiste\nComment tu t'appelle ?")
    assert name == "My name is Jean-baptiste."


def _chat(url: str, system: str, question: str) -> str:
    body = {
        "model": "tgi",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "max_tokens": 64,
    }
    return post(url, CHAT, body).json()["choices"][0]["message"]["content"]


def test_echo_system_fault_copies_the_system_prompt() -> None:
    server = Standin(env={"TGI_STANDIN_FAULT": "echo_system"})
    try:
        answer = _chat(server.url, "The best year ever is 1986", "What is the best year ever?")
        assert answer == "The best year ever is 1986"
    finally:
        server.stop()


def test_ignore_system_fault_answers_without_the_context() -> None:
    server = Standin(env={"TGI_STANDIN_FAULT": "ignore_system"})
    try:
        answer = _chat(server.url, "The best year ever is 1986", "What is the best year ever?")
        assert answer and "1986" not in answer
    finally:
        server.stop()
    healthy = Standin()
    try:  # the same question with the context seen
        answer = _chat(healthy.url, "The best year ever is 1986", "What is the best year ever?")
        assert answer == "1986 is the best year ever."
    finally:
        healthy.stop()


@pytest.mark.parametrize(
    "fault,probe",
    [
        ("chat_bad_usage", "usage"),
        ("compat_404", "compat"),
        ("accept_top_p_1", "top_p"),
        ("metrics_stale", "metrics"),
    ],
)
def test_per_check_faults(fault, probe) -> None:
    assert fault in faults.FAULTS
    server = Standin(env={"TGI_STANDIN_FAULT": fault})
    url = server.url
    try:
        if probe == "usage":
            u = post(url, CHAT, {"messages": [{"role": "user", "content": "Hi"}]}).json()["usage"]
            assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] + 1
        elif probe == "compat":
            assert post(url, "/", {"inputs": "Hi"}).status_code == 404
            assert post(url, "/generate", {"inputs": "Hi"}).status_code == 200
        elif probe == "top_p":
            resp = post(url, "/generate", {"inputs": "Hi", "parameters": {"top_p": 1.0}})
            assert resp.status_code == 200
        else:
            post(url, "/generate", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}})
            assert "tgi_request_count" not in httpx.get(url + "/metrics").text
    finally:
        server.stop()
