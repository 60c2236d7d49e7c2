"""The smoke suite's issue-13 additions on the container lab: the seed's client styles and
--load against every deployed service (real Docker, systemd, pyinfra; TGI is the stand-in)."""

from __future__ import annotations

import json

import pytest

from lab.conftest import run_smoke
from lab.fleet import SERVICES, engine_of

pytestmark = pytest.mark.lab


def test_load_mode_against_every_lab_service(deployed_lab, tmp_path):
    out = tmp_path / "smoke.json"
    proc = run_smoke(
        "--json",
        str(out),
        "--load",
        "4",
        "--load-requests",
        "40",
        "--load-duration",
        "20",
        "--load-max",
        "error_rate=0",
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    by_name = {t["name"]: t for t in report["targets"]}
    assert sorted(by_name) == sorted(f"{h}/{s}" for h, svcs in SERVICES.items() for s in svcs)
    for name, target in by_name.items():
        checks = {c["name"]: c for c in target["checks"]}
        styles = {  # each engine's clients and routes (smoke/engines.py)
            "tgi": ("generate", "tgi_client", "hf_client_stream", "langchain", "chat"),
            "vllm": ("completions", "completions_stream", "chat", "chat_stream"),
            "sglang": ("sglang_generate", "sglang_generate_stream", "completions", "chat"),
        }[engine_of(*name.split("/"))]
        assert target["engine"] == engine_of(*name.split("/")), name
        for style in styles:
            assert checks[style]["status"] == "passed", (name, style, checks[style])
        assert checks["throughput"]["status"] == "skipped"  # the lab is CPU mode
        load = checks["load"]
        assert load["status"] == "passed", (name, load["message"])
        assert load["load"]["requests"] == 40 and load["load"]["errors"] == 0
        assert load["load"]["ttft"]["p99"] is not None
    assert "time to first token" in proc.stdout
