# ruff: noqa: F811 - pytest fixtures imported from test_smoke_cli are arguments here
"""The command line runs the ``langchain`` check in a worker process (smoke/workers.py): its
imports use another core. Same report as an in-process run: order, names, statuses, failures.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tgi_infra.smoke.checks import CHECK_NAMES

from tests.unit.test_smoke_cli import MODEL, REPO, checks_of, run_cli, standins  # noqa: F401

# the command line as the console script runs it (main() reads sys.argv and ends the process
# with os._exit), then: had this process imported LangChain?
PROBE = """
import os, sys
from tgi_infra.smoke import cli
real_exit = os._exit
def probe(code):
    print("LANGCHAIN-IN-MAIN", "langchain_openai" in sys.modules,
          "langchain_huggingface" in sys.modules, flush=True)
    real_exit(code)
os._exit = probe
sys.exit(cli.main())
"""


def _command_line(args: list[str], tmp_path) -> tuple[int, dict, str]:
    report = tmp_path / "cli.json"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--json", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, data, proc.stdout + proc.stderr


@pytest.mark.langchain
def test_langchain_runs_in_a_worker_with_the_in_process_report(standins, tmp_path, capsys):
    s = standins.start()
    s.wait_healthy()
    args = ["--url", s.url, "--model-id", MODEL, "--timeout", "20"]
    code, report, out = _command_line(args, tmp_path)
    assert code == 0, out
    # the check passed through both integrations, and the main process never imported them
    assert "LANGCHAIN-IN-MAIN False False" in out, out
    cli_checks = checks_of(report)
    assert list(cli_checks) == list(CHECK_NAMES)
    message = cli_checks["langchain"]["message"]
    assert "HuggingFaceEndpoint" in message and "ChatOpenAI" in message, message
    # an in-process run reports the same names, order and statuses
    code, in_process, out = run_cli(args, tmp_path, capsys)
    assert code == 0, out
    assert [(n, c["status"]) for n, c in checks_of(in_process).items()] == [
        (n, c["status"]) for n, c in cli_checks.items()
    ]


@pytest.mark.langchain
def test_a_langchain_failure_in_the_worker_fails_the_run_naming_it(standins, tmp_path):
    s = standins.start(faults="compat_404")
    s.wait_healthy()
    code, report, out = _command_line(
        ["--url", s.url, "--model-id", MODEL, "--timeout", "10"], tmp_path
    )
    assert code == 1, out
    assert "LANGCHAIN-IN-MAIN False False" in out, out
    langchain = checks_of(report)["langchain"]
    assert langchain["status"] == "failed"
    message = langchain["message"]
    assert "HTTP 404" in message and "sent: " in message and "got: " in message, message
    assert f"FAILED {s.url} :: langchain" in out
    assert list(checks_of(report)) == list(CHECK_NAMES)
