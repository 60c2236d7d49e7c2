"""The smoke suite picks its checks by engine (smoke/engines.py) and passes against each
engine's stand-in run as a real process (lab/tgi_standin, lab/vllm_standin,
lab/sglang_standin); an injected fault fails the check that covers it, naming the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from tgi_infra.smoke import cli
from tgi_infra.smoke.engines import ALL_CHECKS, ENGINE_CHECKS
from tgi_infra.smoke.report import SCHEMA_PATH
from tgi_infra.smoke.targets import TargetConfigError, targets_from_urls

from tests.helpers.engine_standins import KEY, MODEL, REPO, Server, free_port

KEY_ENV = "I16S_SMOKE_KEY"

pytest_plugins = ["pytester"]  # the pytest front end, run in this process


class TgiServer:
    """The TGI stand-in, for the three-engine runs."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGI_STANDIN_")}
        env["TGI_STANDIN_WARMUP_S"] = "0"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lab.tgi_standin",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--model-id",
                MODEL,
                "--api-key",
                KEY,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def smoke(tmp_path, capsys, *args: str) -> tuple[int, str, dict, ET.Element]:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    code = cli.main(
        [
            *args,
            "--timeout",
            "20",
            "--ready-timeout",
            "20",
            "--json",
            str(report),
            "--junit",
            str(junit),
        ]
    )
    out = capsys.readouterr().out
    data = json.loads(report.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    return code, out, data, ET.parse(junit).getroot()


def checks_of(target: dict) -> dict[str, dict]:
    return {c["name"]: c for c in target["checks"]}


def test_engine_check_lists():
    for engine in ("tgi", "vllm", "sglang"):
        names = ENGINE_CHECKS[engine]
        for common in (
            "models",
            "completions",
            "completions_stream",
            "chat",
            "chat_stream",
            "semantic_name",
            "semantic_year",
            "validation",
            "auth",
            "metrics",
        ):
            assert common in names, (engine, common)
    assert {"generate", "generate_stream", "tgi_client", "hf_client_stream", "langchain"} & set(
        ENGINE_CHECKS["vllm"] + ENGINE_CHECKS["sglang"]
    ) == set()
    assert "sglang_generate" in ENGINE_CHECKS["sglang"]
    assert "sglang_generate" not in ENGINE_CHECKS["tgi"] + ENGINE_CHECKS["vllm"]
    assert set(ALL_CHECKS) == {n for names in ENGINE_CHECKS.values() for n in names}


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_each_engine_standin_passes_its_checks(engine, tmp_path, capsys):
    extra = ("--enable-metrics",) if engine == "sglang" else ()
    server = Server(engine, "--api-key", KEY, *extra)
    try:
        code, out, report, junit = smoke(
            tmp_path,
            capsys,
            "--url",
            server.url,
            "--engine",
            engine,
            "--model-id",
            MODEL,
            "--api-key-env",
            KEY_ENV,
        )
    finally:
        server.stop()
    assert code == 0, out
    target = report["targets"][0]
    assert target["engine"] == engine
    checks = checks_of(target)
    assert list(checks) == list(ENGINE_CHECKS[engine])
    assert all(c["status"] == "passed" for c in checks.values()), checks
    counter = "vllm:request_success_total" if engine == "vllm" else "sglang:num_requests_total"
    assert checks["metrics"]["message"].startswith(f"{counter} 0 -> ")
    assert f"({engine}, {server.url}" in out  # the table names the engine
    prop = junit.find("testsuite/properties/property[@name='engine']")
    assert prop is not None and prop.get("value") == engine
    assert KEY not in out + json.dumps(report)


def test_auto_detects_all_three_engines(tmp_path, capsys):
    servers = [
        TgiServer(),
        Server("vllm", "--api-key", KEY),
        Server("sglang", "--api-key", KEY, "--enable-metrics"),
    ]
    try:
        code, out, report, _ = smoke(
            tmp_path,
            capsys,
            *(a for s in servers for a in ("--url", s.url)),
            "--engine",
            "auto",
            "--api-key-env",
            KEY_ENV,
            "--model-id",
            MODEL,
        )
    finally:
        for server in servers:
            server.stop()
    assert code == 0, out
    engines = [t["engine"] for t in report["targets"]]
    assert engines == ["tgi", "vllm", "sglang"]
    for target in report["targets"]:
        checks = checks_of(target)
        assert list(checks) == list(ENGINE_CHECKS[target["engine"]])
        assert f"engine {target['engine']} (detected" in checks["ready"]["message"]
    tgi = checks_of(report["targets"][0])
    # TGI also gets the OpenAI routes it serves (tests/data/reference/tgi/openapi.json)
    for name in ("models", "completions", "completions_stream", "generate"):
        assert tgi[name]["status"] == "passed", tgi[name]


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize(
    ("fault", "failing", "needle"),
    [
        ("wrong_model_id", {"models"}, "wrong model id"),
        ("accept_bad_top_p", {"validation"}, "HTTP 200"),
        ("metrics_stale", {"metrics"}, "0 before, 0 after"),
        ("no_done", {"completions_stream", "chat_stream"}, "without data"),
        ("no_auth", {"auth"}, "expected: HTTP 401"),
    ],
)
def test_a_fault_fails_the_check_that_covers_it(engine, fault, failing, needle, tmp_path, capsys):
    variable = f"{engine.upper()}_STANDIN_FAULT"
    extra = ("--enable-metrics",) if engine == "sglang" else ()
    server = Server(engine, "--api-key", KEY, *extra, env={variable: fault})
    try:
        code, out, report, _ = smoke(
            tmp_path,
            capsys,
            "--url",
            server.url,
            "--engine",
            engine,
            "--api-key-env",
            KEY_ENV,
            "--model-id",
            MODEL,
        )
    finally:
        server.stop()
    assert code == 1
    checks = checks_of(report["targets"][0])
    failed = {n for n, c in checks.items() if c["status"] == "failed"}
    if fault == "no_done" and engine == "sglang":  # SGLang's native stream ends with it too
        failing = failing | {"sglang_generate_stream"}
    if fault == "wrong_model_id" and engine == "vllm":
        # vLLM refuses requests naming a model it does not serve: 404 on every OpenAI route
        assert (
            "models" in failed
            and "The model `Qwen/Qwen3-0.6B` does not exist" in (checks["completions"]["message"])
        )
    else:
        assert failed == failing, {n: checks[n]["message"] for n in failed}
    for name in failing:
        assert needle in checks[name]["message"], checks[name]["message"]


@pytest.mark.parametrize(
    ("flags", "style"),
    [((), "cumulative text"), (("--incremental-streaming-output",), "incremental text")],
)
def test_sglang_passes_in_either_stream_style(flags, style, tmp_path, capsys):
    """Without the flag every /generate stream event carries the text so far; with
    --incremental-streaming-output only the new text. Both are a healthy SGLang."""
    server = Server("sglang", "--api-key", KEY, "--enable-metrics", *flags)
    try:
        code, out, report, _ = smoke(
            tmp_path,
            capsys,
            "--url",
            server.url,
            "--engine",
            "sglang",
            "--api-key-env",
            KEY_ENV,
            "--model-id",
            MODEL,
        )
    finally:
        server.stop()
    checks = checks_of(report["targets"][0])
    stream = checks["sglang_generate_stream"]
    assert stream["status"] == "passed", stream["message"]
    assert stream["message"].endswith(f", {style}"), stream["message"]
    assert code == 0, out


def test_sglang_aborted_requests_fail_the_checks_naming_the_abort(tmp_path, capsys):
    """Every generation aborted half-way (a 200 answer, cut short, finish reason abort)."""
    server = Server("sglang", "--enable-metrics", env={"SGLANG_STANDIN_FAULT": "abort"})
    try:
        code, out, report, _ = smoke(
            tmp_path, capsys, "--url", server.url, "--engine", "sglang", "--model-id", MODEL
        )
    finally:
        server.stop()
    assert code == 1, out
    checks = checks_of(report["targets"][0])
    failed = {n: c["message"] for n, c in checks.items() if c["status"] == "failed"}
    native = '"type": "abort", "message": "Aborted"'
    for name in ("sglang_generate", "sglang_generate_stream"):
        assert f"got: aborted: finish_reason {{{native}" in failed.get(name, ""), checks[name]
    openai_style = ("completions", "completions_stream", "chat", "chat_stream")
    for name in (*openai_style, "semantic_name", "semantic_year"):
        assert 'got: aborted: finish_reason "abort"' in failed.get(name, ""), checks[name]


def test_load_counts_aborted_streams_as_errors(tmp_path, capsys):
    """--load on an engine that aborts every request: each stream is an error, not a sample."""
    server = Server("sglang", "--enable-metrics", env={"SGLANG_STANDIN_FAULT": "abort"})
    try:
        code, out, report, _ = smoke(
            tmp_path,
            capsys,
            "--url",
            server.url,
            "--engine",
            "sglang",
            "--model-id",
            MODEL,
            "--load",
            "2",
            "--load-requests",
            "4",
        )
    finally:
        server.stop()
    assert code == 1, out
    load = checks_of(report["targets"][0])["load"]
    assert load["status"] == "failed", load
    assert load["load"]["errors"] == load["load"]["requests"] == 4
    assert load["load"]["first_error"].startswith("aborted after "), load["load"]


def test_sglang_without_enable_metrics_fails_metrics_saying_why(tmp_path, capsys):
    server = Server("sglang")
    try:
        code, _, report, _ = smoke(tmp_path, capsys, "--url", server.url, "--engine", "sglang")
    finally:
        server.stop()
    assert code == 1
    checks = checks_of(report["targets"][0])
    assert [n for n, c in checks.items() if c["status"] == "failed"] == ["metrics"]
    assert "only with --enable-metrics" in checks["metrics"]["message"]
    assert checks["auth"]["status"] == "skipped"


def test_wrong_engine_fails_loudly(tmp_path, capsys):
    """A vLLM checked as TGI fails TGI's own routes (no /info, no /generate)."""
    server = Server("vllm")
    try:
        code, _, report, _ = smoke(tmp_path, capsys, "--url", server.url, "--engine", "tgi")
    finally:
        server.stop()
    assert code == 1
    checks = checks_of(report["targets"][0])
    assert checks["info"]["status"] == "failed" and "HTTP 404" in checks["info"]["message"]


def test_engine_per_url_and_only_for_url_targets():
    targets = targets_from_urls(["http://a:1", "http://b:2"], engines=["vllm", "sglang"])
    assert [t.engine for t in targets] == ["vllm", "sglang"]
    assert [t.engine for t in targets_from_urls(["http://a:1"])] == ["tgi"]
    with pytest.raises(TargetConfigError, match="--engine given 3 times for 2 --url"):
        targets_from_urls(["http://a:1", "http://b:2"], engines=["vllm"] * 3)
    assert cli.main(["--inventory", "x.py", "--engine", "vllm"]) == 2
    assert cli.main(["--url", "http://a:1", "--engine", "tensorrt"]) == 2


def test_pytest_plugin_runs_the_engine_checks(pytester):
    """The installed plugin, in this process from pytester's empty folder."""
    server = Server("sglang", "--enable-metrics")
    junit = pytester.path / "j.xml"
    try:
        result = pytester.runpytest_inprocess(
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "tgi_infra.smoke",
            "--url",
            server.url,
            "--engine",
            "auto",
            "-q",
            "-rs",
            "--ready-timeout",
            "20",
            "--junitxml",
            str(junit),
        )
    finally:
        server.stop()
    out = result.stdout.str()
    assert result.ret == 0, out[-3000:]
    cases = ET.parse(junit).getroot().iter("testcase")
    status = {
        c.get("name").split("::")[-1].rstrip("]"): "skipped"
        if c.find("skipped") is not None
        else "passed"
        for c in cases
    }
    assert status["sglang_generate_stream"] == "passed" and status["models"] == "passed"
    assert status["generate"] == "skipped"  # TGI's, skipped once SGLang was detected
    assert "not a check of sglang services" in out


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_load_phase_streams_openai_completions(engine, tmp_path, capsys):
    extra = ("--enable-metrics",) if engine == "sglang" else ()
    variable = f"{engine.upper()}_STANDIN_TOKEN_DELAY_S"
    server = Server(engine, *extra, env={variable: "0.005"})
    try:
        code, out, report, _ = smoke(
            tmp_path,
            capsys,
            "--url",
            server.url,
            "--engine",
            engine,
            "--load",
            "3",
            "--load-requests",
            "6",
        )
    finally:
        server.stop()
    assert code == 0, out
    load = checks_of(report["targets"][0])["load"]
    assert load["status"] == "passed", load["message"]
    summary = load["load"]
    assert summary["requests"] == 6 and summary["errors"] == 0
    assert summary["ttft"]["p50"] is not None and summary["itl"]["p50"] is not None
