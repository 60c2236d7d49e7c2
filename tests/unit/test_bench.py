"""Helpers of the benchmark (bench/): statistics, output parsing, targets, results writer,
the Ansible inventory generator, the fleet's canned-answer translation and the timer."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

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
    from tgi_infra.services.render import render_service, secrets_digest

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
    from tgi_infra.services.render import render_service, secrets_digest

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


# --- the published Ansible roles (bench/peers/) -------------------------------------------------


def test_vendored_roles_are_the_published_files(tmp_path):
    import shutil

    from bench.peers_bench import PEERS, vendored_mismatches

    assert vendored_mismatches() == []
    for role in ("geerlingguy.docker", "nvidia.nvidia_container_toolkit"):
        assert (PEERS / "roles" / role / "LICENSE").is_file()
    notice = (PEERS / "README.md").read_text()
    assert "68d6a6d" in notice and "3957a42f" in notice
    # an edited, a removed and an added file are each caught
    copy = tmp_path / "peers"
    shutil.copytree(PEERS, copy)
    main = copy / "roles/nvidia.nvidia_container_toolkit/tasks/main.yml"
    main.write_text(main.read_text().replace('"Ubuntu"', '"Debian"'))
    (copy / "roles/geerlingguy.docker/vars/Debian.yml").unlink()
    (copy / "roles/geerlingguy.docker/tasks/extra.yml").write_text("---\n")
    assert vendored_mismatches(copy) == [
        "changed: roles/nvidia.nvidia_container_toolkit/tasks/main.yml",
        "missing: roles/geerlingguy.docker/vars/Debian.yml",
        "not in the manifest: roles/geerlingguy.docker/tasks/extra.yml",
    ]


def _peers_play() -> dict:
    import yaml

    from bench.peers_bench import PEERS

    (play,) = yaml.safe_load((PEERS / "site.yml").read_text())
    return play


def test_peers_playbook_adapts_the_roles_only_through_variables_they_read():
    """Every parameter given to a published role is a variable that role reads (a misspelt one
    would silently change nothing), and the play has no tasks of its own beside the roles."""
    from bench.peers_bench import PEERS

    play = _peers_play()
    assert not {"tasks", "pre_tasks", "post_tasks", "handlers"} & set(play)
    roles = {r["role"] if isinstance(r, dict) else r: r for r in play["roles"]}
    assert list(roles) == ["geerlingguy.docker", "nvidia.nvidia_container_toolkit", "tgi_service"]
    for name in ("geerlingguy.docker", "nvidia.nvidia_container_toolkit"):
        text = "\n".join(p.read_text() for p in (PEERS / "roles" / name).rglob("*.yml"))
        params = [k for k in roles[name] if k != "role"]
        assert params
        for key in params:
            assert key in text, f"{name} never reads {key}"
    assert roles["nvidia.nvidia_container_toolkit"]["ansible_distribution"] == "Ubuntu"


def test_peers_daemon_json_carries_the_runtime_the_toolkit_role_checks_for():
    """geerlingguy.docker writes daemon.json whole; the toolkit role's check must find its
    runtime there, or each role undoes the other on every run (never a no-op)."""
    from bench.peers_bench import PEERS

    options = _peers_play()["roles"][0]["docker_daemon_options"]
    check = (PEERS / "roles/nvidia.nvidia_container_toolkit/tasks/docker.yml").read_text()
    assert '"nvidia-container-runtime", "/usr/bin/nvidia-container-runtime"' in check
    assert options["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert "default-runtime" not in options  # deploy/main.py's default: not the default runtime
    assert _peers_play()["roles"][1]["nvidia_container_toolkit_set_as_default_runtime"] is False


def test_run_timed_tree_memory_sums_every_process_of_the_tree():
    # three children, each holding 60 MiB of its own: the largest single process holds ~70 MiB,
    # the tree ~3 x 60 MiB. The children hold it together for 2 s once all three have it (a
    # fixed hold per child did not overlap on a loaded machine)
    code = (
        "import os, time, sys\n"
        "ready_r, ready_w = os.pipe(); go_r, go_w = os.pipe()\n"
        "kids = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        b = bytearray(60 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])\n"
        "        os.write(ready_w, b'.'); os.read(go_r, 1); os._exit(0)\n"
        "    kids.append(pid)\n"
        "got = b''\n"
        "while len(got) < 3: got += os.read(ready_r, 3)\n"
        "time.sleep(2)\n"
        "os.write(go_w, b'...')\n"
        "for pid in kids: os.waitpid(pid, 0)\n"
    )
    t = run_timed([sys.executable, "-c", code], tree_memory=True)
    assert t.returncode == 0, t.output
    assert t.max_rss_kb < 120 * 1024, t.max_rss_kb
    assert t.tree_pss_kb >= 3 * 60 * 1024, t.tree_pss_kb
    assert t.tree_rss_kb >= t.tree_pss_kb
    assert t.tree_procs >= 4  # GNU time's child + the python parent + 3 children seen at once
    assert run_timed([sys.executable, "-c", "pass"]).tree_pss_kb is None  # only when asked


def _peer_sample(scen, tool, n, rep, wall, valid=True, pss=100 * 1024):
    return {
        "scenario": scen,
        "tool": tool,
        "hosts": n,
        "rep": rep,
        "wall_s": wall,
        "max_rss_kb": 70 * 1024,
        "tree_pss_kb": pss,
        "tree_rss_kb": pss + 1024,
        "tree_procs": 3,
        "returncode": 0,
        "changes": 0,
        "valid": valid,
    }


def test_peers_targets_medians_with_spread_and_load_in_results():
    from bench import peers_results

    s = [
        _peer_sample("first", "pyinfra", 8, 1, 100.0),
        _peer_sample("first", "pyinfra", 8, 2, 120.0),
        _peer_sample("first", "peers", 8, 1, 160.0),
        _peer_sample("first", "peers", 8, 2, 180.0),
        _peer_sample("noop", "pyinfra", 8, 1, 5.0),
        _peer_sample("noop", "pyinfra", 8, 2, 7.0),
        _peer_sample("noop", "pyinfra", 8, 3, 500.0, valid=False),
        _peer_sample("noop", "peers", 8, 1, 30.0),
        _peer_sample("noop", "peers", 8, 2, 40.0),
    ]
    checks = {t: (m, ok) for t, m, ok in peers_results.check_targets(s)}
    assert checks[peers_results.TARGETS["noop8_vs_peers"]] == ("6.00 s vs 35.00 s = 0.17x", True)
    assert checks[peers_results.TARGETS["noop8_abs"]][1] is True
    first8 = peers_results.TARGETS["first_vs_peers"].format(n=8, s="s")
    assert checks[first8] == ("110.00 s vs 170.00 s = 0.65x", True)  # 0.647 <= 0.7
    first1 = peers_results.TARGETS["first_vs_peers"].format(n=1, s="")
    assert checks[first1][1] is None  # not measured, not "met"
    s[0]["wall_s"] = s[1]["wall_s"] = 130.0  # 130 / 170 = 0.76
    checks = {t: ok for t, _, ok in peers_results.check_targets(s)}
    assert checks[first8] is False
    run = {
        "command": "python -m bench run --only peers --sizes 8",
        "started": "2026-11-25 19:00 UTC",
        "commit": "abc1234",
        "tools": ["pyinfra", "peers"],
        "load": [{"hosts": 8, "before": "1.00 2.00 3.00", "after": None}],
        "samples": s,
    }
    section, raw = peers_results.render({"runs": [run]}, ["a note"])
    text = "\n".join(section + raw)
    row = "| first | 8 | 130.00 [130.00-130.00] (n=2) | 170.00 [160.00-180.00] (n=2) | 0.76x |"
    assert row in text
    assert "| noop | 8 | 6.00 [5.00-7.00] (n=2) | 35.00 [30.00-40.00] (n=2) | 0.17x |" in text
    assert "| 8 | 1.00 2.00 3.00 | n/a (interrupted) |" in text
    assert "(started 2026-11-25 19:00 UTC, checkout abc1234)" in text
    assert "MISSED" in text and "- a note" in text and "`python -m bench run --only peers" in text
    assert text.count("| noop | pyinfra | 8 |") == 3  # every raw sample, the invalid one too


def test_bench_state_dir_and_host_names_follow_the_lab_instance():
    """With TGI_LAB_INSTANCE the bench keeps its own state directory (SSH key, state.json) and
    its hosts are that instance's containers, volumes and network, not another lab's."""
    import os
    import subprocess

    code = (
        "import json, os\n"
        "from bench import lab_hosts\n"
        "from lab import lab\n"
        "print(json.dumps([lab_hosts.DEFAULT_STATE_DIR, lab.host_container_name('bench-1'),"
        " lab.host_volume_name('bench-1'), lab.NETWORK, lab.INFRA_NAME]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TGI_LAB_STATE_DIR",)}
    env["TGI_LAB_INSTANCE"] = "zz9"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [
        "/tmp/bench-state-zz9",
        "tgi-zz9-bench-1",
        "tgi-lab-zz9-bench-1-docker",
        "tgi-lab-zz9",
        "tgi-lab-infra-zz9",
    ]
    # bench/inventory.py (read by pyinfra, no TGI_LAB_STATE_DIR) looks in the same default place
    import shutil
    import uuid

    env["TGI_LAB_INSTANCE"] = instance = f"t{uuid.uuid4().hex[:10]}"
    sdir = Path(f"/tmp/bench-state-{instance}")
    sdir.mkdir()
    try:
        (sdir / "state.json").write_text(json.dumps({"hosts": []}))
        inv = "import runpy; print(runpy.run_path('bench/inventory.py')['_state_dir'])"
        out = subprocess.run(
            [sys.executable, "-c", inv], env=env, capture_output=True, text=True, check=True
        ).stdout
    finally:
        shutil.rmtree(sdir)
    assert out.strip() == str(sdir)


def test_import_floor_takes_the_larger_bound_and_is_named_in_the_results():
    from bench import import_floor

    styles = {"a": 0.2, "b": 0.9, "c": 0.1}
    # one style's chain (0.9 s) beats the spread of all over 2 cores (1.0 / 2)
    assert import_floor.floor(styles, 1.0, 0.02, 2)["floor_s"] == 0.92
    # with one core the spread (1.6 s) is the bound
    got = import_floor.floor(styles, 1.6, 0.02, 1)
    assert got["floor_s"] == 1.62 and got["largest_style_s"] == 0.9
    floor = {
        "reps": 3,
        "nproc": 2,
        "interpreter_s": 0.02,
        "styles_s": styles,
        "together_s": 1.0,
        **import_floor.floor(styles, 1.0, 0.02, 2),
    }
    smoke = results.smoke_medians(
        [{"endpoints": 1, "rep": 1, "smoke_s": 2.0, "smoke_inner_s": 1.0, "raw_s": 1.0}]
    )
    (row,) = [c for c in results.check_targets({}, smoke, floor) if "smoke" in c[0]][:1]
    assert (
        "import floor of the five client styles alone 0.920 s on 2 cores, 0.920 s on any" in row[1]
    )
    text = "\n".join(results.import_floor_lines(floor))
    assert "| all five in one interpreter | 1.000 |" in text and "**0.920 s**" in text


def test_import_floor_measures_a_real_import():
    from bench import import_floor

    bare = import_floor.cpu_s("pass")
    heavier = import_floor.cpu_s("import asyncio, email.parser, http.client, xml.dom.minidom")
    assert 0 < bare < heavier
    with pytest.raises(RuntimeError, match="no_such_module_here"):
        import_floor.cpu_s("import no_such_module_here")
