"""Issue 12, defect 5, and the nvidia-ctk stand-in's ``features`` map.

* The real ``nvidia-ctk runtime configure`` fails on an empty or whitespace-only daemon.json
  (pkg/config/engine/docker/option.go ``loadConfig``: ``json.NewDecoder(...).Decode`` returns
  ``EOF``; configure.go: "unable to load config for runtime docker: EOF") while Docker 23+
  accepts the file (moby PR #42393; 20.10 refuses to start with it, moby issue #41268). The
  deploy makes such a file ``{}`` right before it calls nvidia-ctk.
* pkg/config/engine/docker/docker.go ``EnableCDI``: ``config["features"].(map[string]bool)``
  never holds for a decoded map (``map[string]interface{}``), so the real tool REPLACES the
  ``features`` map with ``{"cdi": true}``, dropping the user's other features.

The deploy's commands run here with ``sh`` and the stand-in nvidia-ctk on PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host.nvidia_toolkit import runtime_commands

from tests.unit.test_nvidia_ctk_standin import _install, configure, log_messages


@pytest.fixture
def ctk(tmp_path: Path) -> Path:
    return _install(tmp_path, "nvidia_ctk.py", "nvidia-ctk")


def _run_deploy_commands(ctk: Path, daemon_json: Path) -> subprocess.CompletedProcess:
    cfg = load_host_config("h1", {"tgi_services": []})
    script = " && ".join(runtime_commands(cfg, daemon_json=str(daemon_json)))
    env = dict(os.environ, PATH=f"{ctk.parent}:{os.environ['PATH']}")
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("content", ["", "   \n\t\n"])
def test_stand_in_fails_on_blank_file_like_the_real_tool(ctk, tmp_path, content):
    config = tmp_path / "daemon.json"
    config.write_text(content)
    result = configure(ctk, config)
    assert result.returncode == 1
    assert log_messages(result.stderr)[-1] == (
        "error",
        "unable to load config for runtime docker: EOF",
    )


@pytest.mark.parametrize("content", ["", "   \n\t\n", "\n"])
def test_deploy_makes_a_blank_daemon_json_valid_before_nvidia_ctk(ctk, tmp_path, content):
    config = tmp_path / "daemon.json"
    config.write_text(content)
    config.chmod(0o640)
    result = _run_deploy_commands(ctk, config)
    assert result.returncode == 0, result.stderr
    assert json.loads(config.read_text()) == {
        "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}
    }
    assert config.stat().st_mode & 0o777 == 0o640  # the user's mode kept


def test_deploy_leaves_a_real_daemon_json_to_nvidia_ctk(ctk, tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text('{"log-driver": "journald"}')
    assert _run_deploy_commands(ctk, config).returncode == 0
    data = json.loads(config.read_text())
    assert data["log-driver"] == "journald" and "nvidia" in data["runtimes"]


def test_deploy_does_not_create_a_missing_daemon_json_itself(ctk, tmp_path):
    config = tmp_path / "daemon.json"
    assert _run_deploy_commands(ctk, config).returncode == 0  # nvidia-ctk creates it
    assert "nvidia" in json.loads(config.read_text())["runtimes"]


def test_cdi_replaces_the_features_map_like_the_real_tool(ctk, tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text('{"features": {"containerd-snapshotter": true, "buildkit": false}}')
    assert configure(ctk, config, "--cdi.enabled").returncode == 0
    assert json.loads(config.read_text())["features"] == {"cdi": True}
