# ruff: noqa: F811 - pytest fixtures imported from test_smoke_cli are arguments here
"""``tgi-smoke --load`` and the throughput floor from the inventory, against the stand-in."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from tgi_infra.smoke import cli
from tgi_infra.smoke.load import percentile
from tgi_infra.smoke.report import SCHEMA_PATH

from tests.helpers.smoke_standin import MODEL, checks_of, run_cli

pytest_plugins = ["pytester"]  # the pytest front end, run in this process


def test_percentile_interpolates_between_ranks() -> None:
    data = [float(x) for x in range(1, 101)]  # 1..100
    assert percentile(data, 50) == pytest.approx(50.5)
    assert percentile(data, 95) == pytest.approx(95.05)
    assert percentile(data, 99) == pytest.approx(99.01)
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def test_load_reports_percentiles_in_table_json_and_junit(standins, tmp_path, capsys) -> None:
    s = standins.start(TGI_STANDIN_TOKEN_DELAY_S="0.002")
    s.wait_healthy()
    junit = tmp_path / "junit.xml"
    code, report, out = run_cli(
        ["--url", s.url, "--model-id", MODEL, "--load", "3", "--load-requests", "12"]
        + ["--load-max", "error_rate=0", "--load-min", "tokens_per_s=1", "--junit", str(junit)],
        tmp_path,
        capsys,
    )
    assert code == 0, out
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    load = checks_of(report)["load"]
    assert load["status"] == "passed"
    summary = load["load"]
    assert summary["requests"] == 12 and summary["errors"] == 0 and summary["streams"] == 3
    assert summary["error_rate"] == 0 and summary["tokens_per_s"] > 0
    for series in ("ttft", "itl", "e2e"):
        p50, p95, p99 = (summary[series][p] for p in ("p50", "p95", "p99"))
        assert 0 <= p50 <= p95 <= p99, summary[series]
    assert summary["ttft"]["p99"] <= summary["e2e"]["p99"]
    assert summary["itl"]["p50"] > 0  # the stand-in paces tokens 2 ms apart
    assert summary["thresholds"] == {"max": {"error_rate": 0.0}, "min": {"tokens_per_s": 1.0}}
    assert "time to first token" in out and "inter-token" in out and "end to end" in out
    case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "load")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["requests"] == "12" and "ttft_p95_s" in props and "itl_p99_s" in props
    assert case.find("failure") is None


def test_load_threshold_fails_the_run_with_the_figures(standins, tmp_path, capsys) -> None:
    s = standins.start()
    s.wait_healthy()
    code, report, out = run_cli(
        ["--url", s.url, "--load", "2", "--load-requests", "4", "--load-max", "ttft_p95=0"],
        tmp_path,
        capsys,
    )
    assert code == 1, out
    load = checks_of(report)["load"]
    assert load["status"] == "failed"
    assert load["load"]["violations"][0].startswith("ttft_p95 ")
    assert "> 0 (4 requests over 2 streams" in load["message"]
    assert "FAILED" in out and ":: load" in out


def test_load_is_bounded_in_time(standins, tmp_path, capsys) -> None:
    s = standins.start(TGI_STANDIN_TOKEN_DELAY_S="0.01")  # ~0.5 s per request
    s.wait_healthy()
    code, report, out = run_cli(
        ["--url", s.url, "--load", "2", "--load-duration", "1", "--timeout", "5"],
        tmp_path,
        capsys,
    )
    assert code == 0, out
    summary = checks_of(report)["load"]["load"]
    assert summary["request_limit"] is None and summary["duration_limit_s"] == 1
    # nothing starts after the deadline; what runs then finishes within --timeout
    assert 1 <= summary["wall_s"] < 1 + 5
    assert 2 <= summary["requests"] <= 2 * 4


def test_load_errors_are_counted_and_fail_when_all_fail(standins, tmp_path, capsys) -> None:
    s = standins.start(faults="generate_500")
    s.wait_healthy()
    code, report, out = run_cli(
        ["--url", s.url, "--load", "2", "--load-requests", "4"], tmp_path, capsys
    )
    assert code == 1
    summary = checks_of(report)["load"]["load"]
    assert summary["errors"] == 4 and summary["error_rate"] == 1.0
    assert "Incomplete generation" in summary["first_error"]
    assert summary["violations"][0].startswith("every request failed")


@pytest.mark.parametrize(
    "args,text",
    [
        (["--load-requests", "3"], "need --load N"),
        (["--load", "2", "--load-max", "latency=1"], "NAME one of ttft_p50"),
        (["--load", "2", "--load-min", "tokens_per_s=fast"], "is not a number"),
        (["--load", "0"], "invalid stream count"),
        (["--load", "2", "--load-duration", "0"], "--load-duration must be in"),
        (["--max-ttft", "-1"], "invalid number >= 0"),
    ],
)
def test_load_and_floor_usage_errors_exit_2(args, text, capsys) -> None:
    code = cli.main(["--url", "http://127.0.0.1:1", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert text in err


def _inventory(tmp_path, port: int, gpus: str, extra: str = "") -> str:
    path = tmp_path / f"inv-{gpus}.py"
    path.write_text(
        f"hosts = [('h1', {{'ssh_hostname': '127.0.0.1', 'tgi_gpus': {gpus!r}, "
        f"'tgi_services': [{{'name': 'svc', 'model_id': {MODEL!r}, 'port': {port}, "
        f"'bind': '0.0.0.0'{extra}}}]}})]\n"
    )
    return str(path)


def test_inventory_floor_fails_a_slow_gpu_service(standins, tmp_path, capsys) -> None:
    s = standins.start(TGI_STANDIN_TOKEN_DELAY_S="0.01")  # ~100 tokens/s at best
    s.wait_healthy()
    inv = _inventory(tmp_path, s.port, "all", ", 'smoke_min_tokens_per_s': 400")
    code, report, out = run_cli(["--inventory", inv], tmp_path, capsys)
    assert code == 1, out
    throughput = checks_of(report)["throughput"]
    assert throughput["status"] == "failed"
    assert "< floor 400 tokens/s" not in throughput["message"]  # the figure is the rate
    assert "tokens/s < floor 400" in throughput["message"]
    assert "likely causes" in throughput["message"]
    # the command line beats the inventory
    code, report, out = run_cli(["--inventory", inv, "--min-tokens-per-s", "1"], tmp_path, capsys)
    assert code == 0, out
    assert checks_of(report)["throughput"]["status"] == "passed"


def test_floor_is_skipped_for_cpu_mode_services(standins, tmp_path, capsys) -> None:
    s = standins.start(TGI_STANDIN_TOKEN_DELAY_S="0.01")
    s.wait_healthy()
    inv = _inventory(tmp_path, s.port, "none", ", 'smoke_min_tokens_per_s': 400")
    code, report, out = run_cli(["--inventory", inv], tmp_path, capsys)
    assert code == 0, out
    throughput = checks_of(report)["throughput"]
    assert throughput["status"] == "skipped"
    assert "CPU-mode" in throughput["message"]


def _pytest_suite(args: list[str], pytester) -> tuple[SimpleNamespace, Path]:
    """The installed pytest plugin, in this process from pytester's empty folder (outside the
    checkout), with a JUnit file."""
    junit = pytester.path / f"pytest-{time.monotonic_ns()}.xml"
    result = pytester.runpytest_inprocess(
        "--pyargs", "tgi_infra.smoke", "-p", "no:cacheprovider", "-q", *args, f"--junitxml={junit}"
    )
    out = SimpleNamespace(
        returncode=result.ret, stdout=result.stdout.str(), stderr=result.stderr.str()
    )
    return out, junit


def test_pytest_front_end_has_the_floors_and_the_load(standins, pytester) -> None:
    """``pytest --pyargs tgi_infra.smoke`` takes the CLI's floor and load options."""
    s = standins.start(TGI_STANDIN_TOKEN_DELAY_S="0.01")  # ~100 tokens/s at best
    s.wait_healthy()
    proc, junit = _pytest_suite(
        ["--url", s.url, "--model-id", MODEL, "--min-tokens-per-s", "400"]
        + ["--load", "2", "--load-requests", "4", "--load-max", "error_rate=0"],
        pytester,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    failed = [n for n, c in cases.items() if c.find("failure") is not None]
    assert failed == [f"test_check[{s.url}::throughput]"], proc.stdout
    assert "tokens/s < floor 400" in proc.stdout and "likely causes" in proc.stdout
    load = cases[f"test_check[{s.url}::load]"]
    assert load.find("failure") is None and load.find("skipped") is None, proc.stdout
    props = {p.get("name"): p.get("value") for p in load.iter("property")}
    assert props["requests"] == "4" and "ttft_p95_s" in props and "itl_p99_s" in props
    # a load threshold that is not met fails the load test; --max-ttft 0 turns that half off
    proc, junit = _pytest_suite(
        ["--url", s.url, "--min-tokens-per-s", "0", "--max-ttft", "0"]
        + ["--load", "2", "--load-requests", "2", "--load-min", "tokens_per_s=100000"],
        pytester,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    failed = [n for n, c in cases.items() if c.find("failure") is not None]
    assert failed == [f"test_check[{s.url}::load]"], proc.stdout
    assert "tokens_per_s" in proc.stdout and "< 100000" in proc.stdout
    throughput = cases[f"test_check[{s.url}::throughput]"]
    assert throughput.find("skipped") is not None  # both limits off


@pytest.mark.parametrize(
    "args,text",
    [
        (["--load-requests", "3"], "need --load N"),
        (["--load", "2", "--load-max", "latency=1"], "NAME one of ttft_p50"),
        # refused by the option's type, in the command line's words (smoke/options.py)
        (["--max-ttft", "-1"], "argument --max-ttft: invalid number >= 0 value: '-1'"),
    ],
)
def test_pytest_front_end_load_usage_errors(args, text, pytester) -> None:
    proc, _ = _pytest_suite(["--url", "http://127.0.0.1:1", *args], pytester)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert text in proc.stderr
