"""Helpers of the benchmark (bench/): statistics, output parsing, targets, results writer,
the Ansible inventory generator, the fleet's canned-answer translation and the timer."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from bench import results
from bench.deploys import ansible_changes, pyinfra_changes
from bench.fleet_canned import host_values, translate
from bench.stats import fmt_ratio, fmt_s, median, ratio
from bench.timing import run_timed


def test_median_and_ratio():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert median([]) is None
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 4.0) is None and ratio(1.0, 0) is None
    assert fmt_s(None) == "n/a" and fmt_s(1.234) == "1.23" and fmt_ratio(0.333) == "0.33x"


PYINFRA_OUT = """
--> Results:
    Operation        Hosts   Success   Error   No Change
    Grand total      22      20        -       2
"""
PYINFRA_NOOP = "    Grand total      15      -         -       15\n"
ANSIBLE_OUT = """
PLAY RECAP *********************************************************************
bench-1                    : ok=24   changed=15   unreachable=0    failed=0    skipped=0
bench-2                    : ok=24   changed=3    unreachable=0    failed=0    skipped=0
"""


def test_change_counts_from_tool_output():
    assert pyinfra_changes(PYINFRA_OUT) == 20
    assert pyinfra_changes(PYINFRA_NOOP) == 0
    assert pyinfra_changes("no table") is None
    assert ansible_changes(ANSIBLE_OUT) == 18
    assert ansible_changes("fatal: [bench-1]: UNREACHABLE!") is None


def _deploy(scenario, tool, hosts, wall, valid=True):
    return {
        "scenario": scenario,
        "tool": tool,
        "hosts": hosts,
        "rep": 1,
        "wall_s": wall,
        "max_rss_kb": 70000,
        "returncode": 0,
        "changes": 0,
        "valid": valid,
    }


def test_medians_ignore_invalid_samples():
    samples = [_deploy("noop", "pyinfra", 8, w) for w in (5.0, 6.0, 7.0)]
    samples.append(_deploy("noop", "pyinfra", 8, 1.0, valid=False))
    assert results.deploy_medians(samples)[("noop", "pyinfra", 8)] == 6.0


def test_targets_met_missed_and_unmeasured():
    deploy = {
        ("noop", "pyinfra", 8): 6.0,
        ("noop", "ansible", 8): 24.0,
        ("noop", "pyinfra", 1): 4.0,
    }
    smoke = results.smoke_medians(
        [
            {"endpoints": 1, "rep": 1, "smoke_s": 2.0, "smoke_inner_s": 1.0, "raw_s": 1.0},
            {"endpoints": 16, "rep": 1, "smoke_s": 5.0, "smoke_inner_s": 4.0, "raw_s": 3.0},
        ]
    )
    assert smoke[1]["overhead"] == 1.0 and smoke[16]["per_endpoint"] == 2.0 / 16
    verdicts = {t: met for t, _, met in results.check_targets(deploy, smoke)}
    assert verdicts[results.TARGETS["noop8_vs_ansible"]] is True  # 6 <= 24/3
    assert verdicts[results.TARGETS["noop8_abs"]] is True
    assert verdicts[results.TARGETS["noop8_vs_noop1"]] is True  # 6 <= 2*4
    assert verdicts[results.TARGETS["smoke_overhead"]] is False  # 1.0 s for one endpoint
    assert verdicts[results.TARGETS["smoke_16_vs_1"]] is False  # 5 > 2*2
    verdicts = {t: met for t, _, met in results.check_targets({}, {})}
    assert set(verdicts.values()) == {None}


def test_results_markdown_has_command_targets_and_raw_samples():
    deploy = [_deploy("noop", "pyinfra", 1, 4.5), _deploy("noop", "ansible", 1, 10.5)]
    text = results.render(
        "python -m bench run --reps 3", {"nproc": "2"}, deploy, None, None, ["a note"]
    )
    assert "`python -m bench run --reps 3`" in text
    assert "| nproc | 2 |" in text
    assert "| noop | 1 | 4.50 | 10.50 | 0.43x | 1 / 1 |" in text
    assert "| noop | pyinfra | 1 | 1 | 4.50 |" in text
    assert "not measured" in text and "- a note" in text


def test_translate_swaps_host_values_longest_command_first():
    canned = {
        "sha1sum /a": {"success": True, "stdout": ["old1  /a"], "stderr": []},
        "sha1sum /a/b/c": {"success": True, "stdout": ["x old1 old2"], "stderr": []},
    }
    out = translate(canned, {"old1": "new1", "old2": "new2"})
    assert list(out) == ["sha1sum /a/b/c", "sha1sum /a"]
    assert out["sha1sum /a"]["stdout"] == ["new1  /a"]
    assert out["sha1sum /a/b/c"]["stdout"] == ["x new1 new2"]
    assert canned["sha1sum /a"]["stdout"] == ["old1  /a"]  # the recording is not changed


def _host_data() -> dict:
    return {
        "tgi_gpus": "none",
        "tgi_image_mirror": "mirror.lab:5000",
        "tgi_services": [
            {
                "name": "tgi-service",
                "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "port": 8080,
                "bind": "0.0.0.0",
            }
        ],
    }


def test_host_values_follow_the_host_name():
    from tgi_infra.config import load_host_config
    from tgi_infra.render import render_service, secrets_digest

    a, b = host_values("bench-1", _host_data()), host_values("@fake/fleet-001", _host_data())
    assert len(a) == len(b) and a != b
    cfg = load_host_config("@fake/fleet-001", _host_data())
    (svc,) = cfg.present_services()
    rendered = render_service(
        "@fake/fleet-001",
        cfg,
        svc,
        "systemd",
        secrets_digest=secrets_digest(svc, __import__("os").environ),
    )
    script = rendered.files["tgi-service-creation.sh"][0]
    assert hashlib.sha1(script.encode()).hexdigest() in b
    assert rendered.config_hash == b[-1]


def test_ansible_inventory_runs_the_same_rendered_creation_script(tmp_path, monkeypatch):
    from tgi_infra.config import load_host_config
    from tgi_infra.render import render_service, secrets_digest

    from bench import ansible_inventory

    key = tmp_path / "id_ed25519"
    state = {
        "ssh_key": str(key),
        "registry": "mirror.lab:5000",
        "nvidia_repo_url": "http://mirror.lab:8000/libnvidia-container",
        "nvidia_gpgkey_url": "http://mirror.lab:8000/libnvidia-container/gpgkey",
        "hosts": [{"name": f"bench-{i}", "address": f"172.30.0.{i + 1}"} for i in (1, 2)],
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    monkeypatch.setenv("TGI_LAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("BENCH_HOSTS", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    path = ansible_inventory.write(1, tmp_path / "ansible")
    hosts = json.loads(path.read_text())["bench"]["hosts"]
    assert list(hosts) == ["bench-1"]
    h = hosts["bench-1"]
    assert h["ansible_host"] == "172.30.0.2" and h["ansible_ssh_private_key_file"] == str(key)
    assert "StrictHostKeyChecking=no" in h["ansible_ssh_common_args"]
    assert h["nvidia_toolkit_version"] == "1.17.7-1"
    import bench.inventory as inv

    cfg = load_host_config("bench-1", dict(inv.bench[0][1]))
    (svc,) = cfg.present_services()
    import os

    rendered = render_service(
        "bench-1", cfg, svc, "systemd", secrets_digest=secrets_digest(svc, os.environ)
    )
    created = (tmp_path / "ansible/rendered/bench-1/tgi-service-creation.sh").read_text()
    assert created == rendered.files["tgi-service-creation.sh"][0]
    assert h["tgi_config_hash"] == rendered.config_hash
    assert {f["name"] for f in h["tgi_files"]} >= {"tgi-service-creation.sh", "tgi-service.sh"}


def test_run_timed_measures_wall_exit_code_and_peak_rss():
    code = "import time; b = bytearray(64 * 1024 * 1024); time.sleep(0.2); print('hi'); exit(3)"
    t = run_timed([sys.executable, "-c", code])
    assert t.returncode == 3 and "hi" in t.output
    assert t.wall_s >= 0.2
    assert t.max_rss_kb >= 64 * 1024


def test_run_timed_rss_is_the_commands_own_not_the_parents():
    ballast = bytearray(300 * 1024 * 1024)  # this process: > 300 MiB resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    t = run_timed([sys.executable, "-c", "pass"])
    assert t.returncode == 0
    assert t.max_rss_kb < 100 * 1024, t.max_rss_kb
    del ballast


@pytest.mark.parametrize("n", [0, 9])
def test_bench_host_count_is_bounded(n):
    from bench.lab_hosts import host_names

    with pytest.raises(ValueError):
        host_names(n)
    assert host_names(2) == ["bench-1", "bench-2"]
