"""The smoke suite end to end against the TGI stand-in (lab/tgi_standin) run as a real
subprocess on a free 127.0.0.1 port.

The stand-in replaces TGI's router (which needs a GPU and model weights). Its contract is TGI
v3.3.x's HTTP API: /health, /info, /generate, /generate_stream (SSE, no [DONE]),
/v1/chat/completions (SSE ending in data:[DONE]), /metrics, 422 validation errors,
401 when --api-key is set; faults are injected with TGI_STANDIN_FAULT.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from tgi_infra.smoke import cli
from tgi_infra.smoke.checks import CHECK_NAMES
from tgi_infra.smoke.context import Settings
from tgi_infra.smoke.report import SCHEMA_PATH
from tgi_infra.smoke.runner import run
from tgi_infra.smoke.targets import targets_from_urls

from tests.helpers.smoke_standin import (
    API_KEY_ENV,
    MODEL,
    REPO,
    checks_of,
    run_cli,
)

pytest_plugins = ["pytester"]  # the pytest front end, run in this process


@pytest.mark.langchain
def test_healthy_standin_passes_every_check(standins, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "s3cret-key")
    with_key = standins.start(api_key="s3cret-key")
    without_key = standins.start()
    with_key.wait_healthy()
    without_key.wait_healthy()
    junit = tmp_path / "junit.xml"
    code, report, out = run_cli(
        [
            "--url",
            with_key.url,
            "--url",
            without_key.url,
            "--model-id",
            MODEL,
            "--api-key-env",
            API_KEY_ENV,
            "--api-key-env",
            "",
            "--timeout",
            "10",
            "--ready-timeout",
            "10",
            "--junit",
            str(junit),
        ],
        tmp_path,
        capsys,
    )
    assert code == 0, out
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    assert report["passed"] is True
    keyed, open_ = checks_of(report, 0), checks_of(report, 1)
    assert list(keyed) == list(CHECK_NAMES)
    assert all(c["status"] == "passed" for c in keyed.values()), keyed
    assert {n for n, c in open_.items() if c["status"] != "passed"} == {"auth"}
    assert open_["auth"]["status"] == "skipped"
    # streaming measurements are reported
    for name in ("generate_stream", "chat_stream", "hf_client_stream"):
        m = keyed[name]["measurements"]
        assert m["ttft_s"] is not None and 0 <= m["ttft_s"] <= m["latency_s"]
        assert m["tokens"] > 1 and m["tokens_per_s"] > 0
    assert "ttft" in out and "tok/s" in out
    # the langchain check ran in this process, through both integrations
    message = keyed["langchain"]["message"]
    assert "HuggingFaceEndpoint" in message and "ChatOpenAI" in message, message
    assert "s3cret-key" not in out + json.dumps(report)

    # JUnit: one suite per target, one case per check, the skip recorded
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [with_key.url, without_key.url]
    assert [c.get("name") for c in suites[0].findall("testcase")] == list(CHECK_NAMES)
    assert root.get("failures") == "0"
    skipped = [
        c.get("name") for c in suites[1].findall("testcase") if c.find("skipped") is not None
    ]
    assert skipped == ["auth"]


def test_semantic_checks_can_be_switched_off(standins, tmp_path, capsys) -> None:
    s = standins.start()
    s.wait_healthy()
    code, report, out = run_cli(["--url", s.url, "--no-semantic"], tmp_path, capsys)
    assert code == 0, out
    checks = checks_of(report)
    assert checks["semantic_name"]["status"] == "skipped"
    assert checks["semantic_year"]["status"] == "skipped"


def test_inventory_targets_end_to_end(standins, tmp_path, capsys, monkeypatch) -> None:
    """--inventory: the service address, port, model id and key come from tgi_infra.config."""
    monkeypatch.setenv(API_KEY_ENV, "inv-key")
    keyed = standins.start(api_key="inv-key")
    plain = standins.start()
    inventory = tmp_path / "inv.py"
    inventory.write_text(
        "hosts = [('lab-1', {'ssh_hostname': '127.0.0.1', 'tgi_gpus': 'none', 'tgi_services': [\n"
        f"  {{'name': 'keyed', 'model_id': {MODEL!r}, 'port': {keyed.port}, 'bind': '0.0.0.0',\n"
        f"   'api_key_env': {API_KEY_ENV!r}}},\n"
        f"  {{'name': 'plain', 'model_id': {MODEL!r}, 'port': {plain.port}, 'bind': '0.0.0.0',\n"
        "   'smoke_semantic': False},\n"
        "  {'name': 'old', 'model_id': 'x/y', 'port': 1, 'present': False}]})]\n"
    )
    keyed.wait_healthy()
    plain.wait_healthy()
    code, report, out = run_cli(["--inventory", str(inventory)], tmp_path, capsys)
    assert code == 0, out
    by_name = {t["name"]: t for t in report["targets"]}
    assert sorted(by_name) == ["lab-1/keyed", "lab-1/plain"]
    assert by_name["lab-1/keyed"]["url"] == keyed.url
    assert by_name["lab-1/keyed"]["expected_model_id"] == MODEL
    keyed_checks = {c["name"]: c["status"] for c in by_name["lab-1/keyed"]["checks"]}
    plain_checks = {c["name"]: c["status"] for c in by_name["lab-1/plain"]["checks"]}
    assert keyed_checks["auth"] == "passed" and keyed_checks["semantic_name"] == "passed"
    assert plain_checks["auth"] == "skipped" and plain_checks["semantic_year"] == "skipped"


# fault, server env, extra CLI args, check that must fail, text its message must contain
FAULTS = [
    ("crash_at_start", {}, ["--ready-timeout", "1.5"], "ready", "ConnectError"),
    ("health_503", {}, ["--ready-timeout", "1.5"], "ready", "HTTP 503"),
    ("generate_424", {}, [], "generate", "HTTP 424"),
    ("generate_500", {}, [], "generate", "HTTP 500"),
    ("truncated_stream", {}, [], "generate_stream", "truncated"),
    ("chat_no_done", {}, [], "chat_stream", "without data:[DONE]"),
    ("wrong_model_id", {}, [], "info", "wrong model_id"),
    (
        "slow_tokens",
        {"TGI_STANDIN_TOKEN_DELAY_S": "0.2"},
        ["--timeout", "0.5"],
        "generate_stream",
        "timed out",
    ),
    ("malformed_json", {}, [], "generate", "malformed JSON"),
    ("missing_auth", {}, [], "generate", "HTTP 401"),
    # a proxy that forwards only the documented routes: LangChain's HuggingFaceEndpoint posts /
    pytest.param(
        "compat_404", {}, [], "langchain", "HTTP 404", marks=pytest.mark.langchain, id="compat_404"
    ),
]


@pytest.mark.parametrize(
    "fault,env,args,check,text",
    FAULTS,
    ids=[f[0] if isinstance(f, tuple) else None for f in FAULTS],
)
def test_fault_fails_the_run(standins, tmp_path, capsys, fault, env, args, check, text) -> None:
    if fault == "missing_auth":  # server wants a key, the target has none configured
        s = standins.start(api_key="only-the-server-knows", **env)
    else:
        s = standins.start(faults=fault, **env)
    if fault == "health_503":  # listening and answering 503 before the short ready wait starts
        s.wait_listening()
    code, report, out = run_cli(
        ["--url", s.url, "--model-id", MODEL, "--ready-timeout", "10", "--timeout", "10", *args],
        tmp_path,
        capsys,
    )
    assert code == 1, f"{fault}: exit {code}\n{out}\n{s.log()}"
    failed = {n: c for n, c in checks_of(report).items() if c["status"] == "failed"}
    assert check in failed, f"{fault}: {check} did not fail; failed: {failed}\n{out}"
    message = failed[check]["message"]
    assert text in message, f"{fault}: {text!r} not in {message!r}"
    # what was sent, what was expected, what came back
    assert "sent: " in message and "expected: " in message and "got: " in message
    assert text in out  # the terminal shows the failure too


@pytest.mark.parametrize(
    "args,text",
    [
        ([], "--url or an --inventory"),
        (["--url", "ftp://x"], "expected http(s)"),
        (["--url", "http://a:1", "--api-key-env", "TGI_SMOKE_UNSET_VAR"], "is not set"),
        (["--model-id", "m"], "apply to --url targets only"),
        (["--inventory", "/nonexistent/inventory.py"], "no such file"),
        (["--url", "http://a:1", "--concurrency", "0"], "must be > 0"),
        (["--url", "http://a:1", "--timeout", "soon"], "not a number"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(args, text, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TGI_SMOKE_UNSET_VAR", raising=False)
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert text in err


def test_model_ids_must_pair_with_urls(capsys) -> None:
    code = cli.main(
        ["--url", "http://a:1", "--url", "http://b:2", "--url", "http://c:3"]
        + ["--model-id", "x", "--model-id", "y"]
    )
    assert code == 2
    assert "--model-id given 2 times for 3 --url" in capsys.readouterr().err


def test_python_dash_m_entry_point(standins, tmp_path) -> None:
    s = standins.start()
    s.wait_healthy()
    report = tmp_path / "r.json"
    junit = tmp_path / "j.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "smoke", "--url", s.url, "--json", str(report)]
        + ["--junit", str(junit), "--timeout", "10"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jsonschema.validate(json.loads(report.read_text()), json.loads(SCHEMA_PATH.read_text()))
    assert ET.parse(junit).getroot().tag == "testsuites"
    assert "hf_client_stream" in proc.stdout


def test_pytest_front_end(standins, pytester) -> None:
    """The installed plugin (entry point pytest11), in this process from pytester's empty folder
    (outside the checkout)."""
    good = standins.start()
    bad = standins.start(faults="wrong_model_id")
    good.wait_healthy()
    bad.wait_healthy()
    junit = pytester.path / "pytest.xml"
    result = pytester.runpytest_inprocess(
        "--pyargs",
        "tgi_infra.smoke",
        "-p",
        "no:cacheprovider",
        "-q",
        "--url",
        good.url,
        "--url",
        bad.url,
        "--model-id",
        MODEL,
        "--request-timeout",
        "10",
        f"--junitxml={junit}",
    )
    out = result.stdout.str()
    assert result.ret == 1, out + result.stderr.str()
    cases = ET.parse(junit).getroot().iter("testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    # a wrong model shows in /info and in /v1/models (the OpenAI check every engine gets)
    assert failed == [f"test_check[{bad.url}::info]", f"test_check[{bad.url}::models]"], out
    assert "wrong model_id" in out and "wrong model id: /v1/models lists" in out


@pytest.mark.parametrize(
    "target", [["--pyargs", "tgi_infra.smoke"], [str(REPO / "smoke")]], ids=["pyargs", "path"]
)
def test_pytest_front_end_without_targets_is_a_usage_error(target, pytester) -> None:
    """pytest (in this process, from pytester's empty folder) with the installed plugin."""
    result = pytester.runpytest_inprocess(*target, "-p", "no:cacheprovider", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.outlines + result.errlines
    assert "the TGI smoke suite needs a target: --url" in result.stderr.str()
    assert " passed" not in result.stdout.str()


def test_targets_run_concurrently_within_the_bound(standins, monkeypatch) -> None:
    """8 targets with --concurrency 4: several are checked at once, never more than 4.

    The real run_target runs; a wrapper only records when each target starts and ends. How
    long 1 vs 16 targets take is a benchmark (bench/RESULTS.md), not a timed test.
    """
    import threading

    from tgi_infra.smoke import runner

    servers = [standins.start(TGI_STANDIN_TOKEN_DELAY_S="0.003") for _ in range(8)]
    for s in servers:
        s.wait_healthy()
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    real = runner.run_target

    def recorded(target, settings):
        t0 = time.monotonic()
        try:
            return real(target, settings)
        finally:
            with lock:
                spans.append((t0, time.monotonic()))

    monkeypatch.setattr(runner, "run_target", recorded)
    report = run(
        targets_from_urls([s.url for s in servers]),
        Settings(ready_timeout=10, timeout=20),
        concurrency=4,
    )
    assert report.passed and len(report.targets) == 8
    events = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans])
    in_flight = peak = 0
    for _, delta in events:
        in_flight += delta
        peak = max(peak, in_flight)
    assert 2 <= peak <= 4, f"peak concurrency {peak}, bound 4"
