"""The running daemon against daemon.json (deploy/host/daemon_state.py), on captured outputs.

``info-lab-nvidia-runtime-mirror.json`` is ``docker info --format '{{json .}}'`` of a lab host
whose daemon read ``daemon_json/lab-nvidia-runtime-mirror.json`` (captured together);
``info-docker-io-bookworm.json`` is a daemon started without any daemon.json.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from tgi_infra.host.daemon_state import (
    DaemonJsonText,
    daemon_mismatches,
    invalid_daemon_json,
    parse_running_info,
)
from tgi_infra.host.preflight import format_problems

FIX = Path(__file__).parent / "fixtures"


def _info(name: str) -> dict:
    text = (FIX / "docker" / name).read_text()
    info = parse_running_info(text.splitlines())
    assert info is not None
    return info


@pytest.fixture
def lab_file() -> dict:
    return json.loads((FIX / "daemon_json" / "lab-nvidia-runtime-mirror.json").read_text())


def test_daemon_that_read_the_file_matches(lab_file):
    assert daemon_mismatches(lab_file, _info("info-lab-nvidia-runtime-mirror.json")) == []


def test_file_written_but_daemon_not_restarted(lab_file):
    """The deploy killed between "merge daemon.json" and "restart Docker"."""
    stale = _info("info-docker-io-bookworm.json")
    found = daemon_mismatches(lab_file, stale)
    assert any("runtime 'nvidia' not loaded" in m for m in found), found
    assert "insecure registry 'mirror.lab:5000' not applied" in found
    assert "registry mirror 'http://mirror.lab:5000' not applied" in found


def test_each_setting_is_compared(lab_file):
    info = _info("info-lab-nvidia-runtime-mirror.json")
    edited = copy.deepcopy(lab_file)
    edited["insecure-registries"].append("extra.lab:5001")
    edited["insecure-registries"].append("10.99.0.0/16")
    edited["registry-mirrors"].append("https://mirror2.lab/")
    edited["default-runtime"] = "nvidia"
    edited["live-restore"] = True
    edited["runtimes"]["nvidia"]["path"] = "/usr/bin/nvidia-container-runtime"
    edited["data-root"] = "/srv/docker"
    found = daemon_mismatches(edited, info)
    assert found == [
        "runtime 'nvidia': path 'nvidia-container-runtime', daemon.json says "
        "'/usr/bin/nvidia-container-runtime'",
        "default runtime 'runc', daemon.json says 'nvidia'",
        "insecure registry 'extra.lab:5001' not applied",
        "insecure registry '10.99.0.0/16' not applied",
        "registry mirror 'https://mirror2.lab/' not applied",
        "live-restore is False, daemon.json says True",
        "data-root is '/var/lib/docker', daemon.json says '/srv/docker'",
    ]


def test_equivalent_spellings_match(lab_file):
    info = _info("info-lab-nvidia-runtime-mirror.json")
    same = copy.deepcopy(lab_file)
    same["registry-mirrors"] = ["http://mirror.lab:5000/"]  # dockerd adds the slash
    same["insecure-registries"].append("127.0.0.0/8")  # dockerd's default CIDR
    same["data-root"] = "/var/lib/docker/"
    same["default-runtime"] = "runc"
    assert daemon_mismatches(same, info) == []


def test_nothing_to_compare_without_a_file_or_a_running_daemon(lab_file):
    down = (FIX / "docker" / "info-daemon-down.txt").read_text().splitlines()
    assert parse_running_info(down) is None
    assert daemon_mismatches(lab_file, None) == []
    assert daemon_mismatches(None, _info("info-docker-io-bookworm.json")) == []


def test_invalid_daemon_json_is_one_preflight_error_naming_file_line_and_column():
    text = (FIX / "daemon_json" / "invalid-trailing-comma.json").read_text()
    problem = invalid_daemon_json("gpu-1", text)
    assert problem is not None and problem.severity == "error"
    shown = format_problems([problem])
    assert shown.count("/etc/docker/daemon.json is not valid JSON") == 1, shown
    assert "line 4 column 1" in shown, shown
    assert shown.startswith("preflight: 1 error(s), 0 warning(s)\nhost gpu-1:"), shown
    assert "Traceback" not in shown


def test_valid_empty_or_absent_daemon_json_is_no_problem(lab_file):
    assert invalid_daemon_json("gpu-1", json.dumps(lab_file)) is None
    assert invalid_daemon_json("gpu-1", "") is None
    assert invalid_daemon_json("gpu-1", None) is None


def test_daemon_json_text_fact_keeps_the_file_as_written():
    fact = DaemonJsonText()
    assert fact.process(["absent"]) is None
    assert fact.process(["present", "{", '  "a": 1,', "}"]) == '{\n  "a": 1,\n}'
