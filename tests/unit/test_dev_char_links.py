"""GPU containers survive `systemctl daemon-reload`: NVIDIA's /dev/char links and udev rule
(NVIDIA/nvidia-docker#1730; ``deploy/host/dev_char_links.py``, ``facts.NvidiaDevChar``).

The fact's parser on written fixtures (GPU hosts cannot exist here) and one captured here; the
fact's command on a real device tree (character nodes made with mknod under a temp root); the
deploy step as pyinfra's own operation tests do it, facts in and commands out, on pyinfra's
``@fake`` connector (commands recorded, nothing run).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host import facts, reading

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia"
M = reading.MARK


def fixture(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


# -- the fact's parser --------------------------------------------------------------------------


def test_fresh_gpu_host_has_every_node_missing_and_no_rule():
    got = facts.NvidiaDevChar().process(fixture("dev-char-h100-fresh.txt"))
    assert got["driver_loaded"] is True
    assert got["majors"] == {"nvidia": 195, "nvidia-uvm": 507, "nvidia-caps": 508}
    assert got["missing"] == [
        "/dev/nvidia-modeset",
        "/dev/nvidia-uvm",
        "/dev/nvidia-uvm-tools",
        "/dev/nvidia0",
        "/dev/nvidiactl",
    ]
    assert {n["path"]: n["dev"] for n in got["nodes"]}["/dev/nvidia-uvm-tools"] == "507:1"
    assert got["other"] == [] and got["unlinked"] == []
    assert got["nvidia_ctk"] == "/usr/bin/nvidia-ctk"
    assert got["rule"] is None and got["rule_ok"] is False


def test_done_host_has_every_link_and_our_rule():
    got = facts.NvidiaDevChar().process(fixture("dev-char-h100-done.txt"))
    assert got["missing"] == [] and got["other"] == []
    assert all(n["link"] == "ok" for n in got["nodes"]) and len(got["nodes"]) == 5
    assert got["rule"] == reading.NVIDIA_DEV_CHAR_RULE and got["rule_ok"] is True


def test_mig_host_separates_what_create_all_makes_from_the_rest():
    got = facts.NvidiaDevChar().process(fixture("dev-char-a100-mig-partial.txt"))
    assert got["majors"]["nvidia-frontend"] == 195  # drivers before 550.40 name it so
    assert got["missing"] == ["/dev/nvidia1"]  # nvidia-ctk --create-all makes it
    assert got["unlinked"] == ["/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2"]
    assert got["other"] == ["/dev/nvidiactl"]
    assert "create-dev-char-symlinks --create-all" in got["rule"] and not got["rule_ok"]


def test_host_without_the_driver_captured_here():
    got = facts.NvidiaDevChar().process(fixture("dev-char-no-driver.txt"))
    assert got == facts.NvidiaDevChar.default() | {"nvidia_ctk": None}
    assert got["driver_loaded"] is False and got["nodes"] == [] and got["rule"] is None


def test_an_unreadable_node_line_is_a_fact_error_naming_it():
    bad = [f"{M}proc_devices", f"{M}nodes", "/dev/nvidia0 195-0 missing"]
    with pytest.raises(facts.FactParseError, match="'/dev/nvidia0 195-0 missing'"):
        facts.NvidiaDevChar().process(bad)


# -- the fact's command on a real device tree ---------------------------------------------------


def mknod(path: Path, major: int, minor: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD (root); the fact's parser is tested on fixtures")


@pytest.fixture
def gpu_tree(tmp_path: Path) -> Path:
    """A root with /proc/devices, two NVIDIA nodes, a blocked one, a MIG capability node."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/devices").write_text(
        "Character devices:\n  1 mem\n195 nvidia\n507 nvidia-uvm\n508 nvidia-caps\n"
    )
    mknod(root / "dev/nvidia0", 195, 0)
    mknod(root / "dev/nvidiactl", 195, 255)
    mknod(root / "dev/nvidia-uvm", 507, 0)  # a major above 255: stat prints it in hex (1fb)
    mknod(root / "dev/nvidia-nvswitch0", 241, 0)  # nvidia-ctk skips these
    mknod(root / "dev/nvidia-caps/nvidia-cap1", 508, 1)
    (root / "dev/nvidia-not-a-device").write_text("")
    return root


def read_tree(root: Path) -> dict:
    out = subprocess.run(
        ["sh", "-c", reading.nvidia_dev_char_command(str(root))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return reading.parse_nvidia_dev_char(out.stdout.splitlines())


def test_fact_command_reads_numbers_and_links_of_real_nodes(gpu_tree: Path):
    char = gpu_tree / "dev/char"
    char.mkdir()
    (char / "195:0").symlink_to(gpu_tree / "dev/nvidia0")  # ok
    (char / "195:255").symlink_to("/dev/null")  # something else
    got = read_tree(gpu_tree)
    assert got["driver_loaded"] and got["majors"]["nvidia-uvm"] == 507
    states = {Path(n["path"]).name: (n["dev"], n["link"]) for n in got["nodes"]}
    assert states == {
        "nvidia0": ("195:0", "ok"),
        "nvidiactl": ("195:255", "other"),
        "nvidia-uvm": ("507:0", "missing"),
        "nvidia-cap1": ("508:1", "missing"),
    }
    assert got["missing"] == [str(gpu_tree / "dev/nvidia-uvm")]
    assert got["unlinked"] == [str(gpu_tree / "dev/nvidia-caps/nvidia-cap1")]
    assert got["rule"] is None
    rule = gpu_tree / reading.NVIDIA_DEV_CHAR_RULE_PATH.lstrip("/")
    rule.parent.mkdir(parents=True)
    rule.write_text(reading.NVIDIA_DEV_CHAR_RULE)
    assert read_tree(gpu_tree)["rule_ok"] is True


# -- the deploy step: facts in, commands out (pyinfra's @fake connector) ------------------------

DOCKER_INFO = (
    '{"ServerVersion":"28.3.2","CgroupDriver":"%s","OperatingSystem":"Ubuntu 22.04.5 LTS",'
    '"Name":"gpu-1","Runtimes":{"nvidia":{"path":"nvidia-container-runtime"},"runc":{}}}'
)
RULE_STAT = (
    "user=root group=root mode=-rw-r--r-- atime=1 mtime=1 ctime=1 size=%d "
    f"'{reading.NVIDIA_DEV_CHAR_RULE_PATH}'"
)


def docker_state(driver: str) -> list[str]:
    return [
        f"{M}dpkg",
        "docker-ce\tinstall ok installed\t5:28.3.2-1~ubuntu.22.04~jammy",
        f"{M}cli",
        "/usr/bin/docker",
        "/usr/bin/docker",
        f"{M}info",
        DOCKER_INFO % driver,
    ]


def run_step(dev_char: list[str], *, driver="systemd", gpus="all", wsl=False, rule=False):
    """dev_char_links.ensure on a @fake host; returns (commands run, ops that changed).
    ``rule``: the rule file and its directory are on the host (else both absent)."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.operations import run_ops
    from tgi_infra.host import dev_char_links

    responses: dict = {"docker.io docker-ce": docker_state(driver), "proc_devices": dev_char}
    if rule:  # the rule file on the host, as the deploy wrote it (File and Sha1File facts)
        data = reading.NVIDIA_DEV_CHAR_RULE.encode()
        responses[f"sha1sum {reading.NVIDIA_DEV_CHAR_RULE_PATH}"] = [
            f"{hashlib.sha1(data).hexdigest()}  {reading.NVIDIA_DEV_CHAR_RULE_PATH}"
        ]
        responses[f"test -e {reading.NVIDIA_DEV_CHAR_RULE_PATH}"] = [RULE_STAT % len(data)]
        rules_dir = reading.NVIDIA_DEV_CHAR_RULE_PATH.rsplit("/", 1)[0]
        responses[f"test -e {rules_dir} |"] = [
            f"user=root group=root mode=drwxr-xr-x atime=1 mtime=1 ctime=1 size=4096 '{rules_dir}'"
        ]
    data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": responses}
    inventory = Inventory(([("@fake/gpu-1", data)], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@fake/gpu-1")
    cfg = load_host_config("gpu-1", {"tgi_gpus": gpus})
    plan = SimpleNamespace(wsl=wsl, skip_engine_and_toolkit=False, systemd=not wsl)
    add_deploy(state, dev_char_links.ensure, cfg, plan)
    run_ops(state)
    assert host not in state.failed_hosts
    changed = [
        state.get_op_meta(op).names
        for op in state.get_op_order()
        if state.get_op_data_for_host(host, op).operation_meta.did_change()
    ]
    return host.connector.executed_commands, changed


def ctk_runs(commands: list[str]) -> list[str]:
    return [c for c in commands if reading.DEV_CHAR_LINKS_COMMAND in c]


def test_gpu_host_gets_the_rule_then_the_links_checked_node_by_node():
    commands, changed = run_step(fixture("dev-char-h100-fresh.txt"))
    [ctk] = ctk_runs(commands)
    assert "command -v nvidia-ctk" in ctk and "Container Toolkit (>= 1.12)" in ctk
    for node, dev in (("/dev/nvidia0", "195:0"), ("/dev/nvidia-uvm-tools", "507:1")):
        assert f"[ /dev/char/{dev} -ef {node} ] ||" in ctk, ctk
    rule_moves = [c for c in commands if "mv -fT" in c and reading.NVIDIA_DEV_CHAR_RULE_PATH in c]
    assert len(rule_moves) == 1, "the rule is written atomically (staged, then renamed)"
    assert "chmod 644" in rule_moves[0]
    assert commands.index(rule_moves[0]) < commands.index(ctk)
    assert len(changed) == 3, changed  # the rules directory (absent here), the rule, nvidia-ctk


def test_second_deploy_changes_nothing():
    commands, changed = run_step(fixture("dev-char-h100-done.txt"), rule=True)
    assert ctk_runs(commands) == []
    assert [c for c in commands if "mv -fT" in c] == []
    assert changed == []


def test_driver_not_loaded_writes_the_rule_only():
    commands, _ = run_step(fixture("dev-char-no-driver.txt"))
    assert ctk_runs(commands) == []
    assert any("mv -fT" in c and reading.NVIDIA_DEV_CHAR_RULE_PATH in c for c in commands)


@pytest.mark.parametrize(
    "kw",
    [
        {"gpus": "none"},  # CPU mode
        {"driver": "cgroupfs"},  # systemd does not own the containers' cgroups
        {"wsl": True},  # /dev/dxg, no /dev/nvidia* nodes
    ],
)
def test_skipped_where_it_does_not_apply(kw):
    commands, changed = run_step(fixture("dev-char-h100-fresh.txt"), **kw)
    assert ctk_runs(commands) == [] and changed == []
    assert not any(reading.NVIDIA_DEV_CHAR_RULE_PATH in c for c in commands)


def test_skip_reasons_name_the_cause():
    from tgi_infra.host.dev_char_links import skip_reason

    gpu = load_host_config("gpu-1", {"tgi_gpus": "all"})
    native = SimpleNamespace(wsl=False, skip_engine_and_toolkit=False, systemd=True)
    assert skip_reason(gpu, native, {"cgroup_driver": "systemd"}) is None
    assert skip_reason(gpu, native, {"cgroup_driver": None}) is None  # Docker not running yet
    assert "cgroupfs" in skip_reason(gpu, native, {"cgroup_driver": "cgroupfs"})
    cpu = load_host_config("cpu-1", {"tgi_gpus": "none"})
    assert "CPU mode" in skip_reason(cpu, native, {})
    no_systemd = SimpleNamespace(wsl=False, skip_engine_and_toolkit=False, systemd=False)
    assert "systemd is not PID 1" in skip_reason(gpu, no_systemd, {})


# -- its place in the whole deploy: before the daemon-reload of a changed unit ------------------

GPU_FLEET = """
import pathlib as _pathlib

M = "@@tgi-infra:"
_FRESH = _pathlib.Path(%(fresh)r).read_text().splitlines()
_UNIT = "/etc/systemd/system/tgi-alpha.service"
hosts = [("@fake/gpu", {
    "fake_delay": 0, "fake_delay_jitter": 0, "tgi_docker_source": "docker-ce", "tgi_gpus": "all",
    "tgi_hub_check": False, "tgi_services": [{"name": "alpha", "model_id": "org/a"}],
    "fake_responses": {
        "osrelease'; cat /proc/sys/kernel/osrelease": [
            M + "osrelease", "6.1.0-28-amd64", M + "proc_version", "Linux version 6.1.0",
            M + "markers", M + "env", "WSL_DISTRO_NAME=", M + "os_release", "ID=debian",
            'VERSION_ID="12"', "VERSION_CODENAME=bookworm", M + "arch", "amd64",
        ],
        "pid1_comm=": ["pid1_comm=systemd", "sd_booted=yes"],
        "smi=$(command -v nvidia-smi": [
            M + "nvidia-smi /usr/bin/nvidia-smi",
            "0, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15, "
            "GPU-8d3c5a8e-3f53-2c1e-9a4b-0c4f2b7d9e11",
            M + "rc 0",
        ],
        "docker.io docker-ce": %(docker)r,
        "proc_devices": _FRESH,
        # the unit exists (a template change rewrites it: a daemon-reload follows)
        "test -e " + _UNIT: [
            "user=root group=root mode=-rw-r--r-- atime=1 mtime=1 ctime=1 size=900 '" + _UNIT + "'"
        ],
    },
})]
"""


def test_links_come_before_the_daemon_reload_of_a_changed_unit(tmp_path: Path):
    import json
    import sys

    repo = Path(__file__).resolve().parents[2]
    fleet = GPU_FLEET % {
        "fresh": str(FIXTURES / "dev-char-h100-fresh.txt"),
        "docker": docker_state("systemd"),
    }
    (tmp_path / "fleet.py").write_text(fleet)
    pyinfra = Path(sys.executable).with_name("pyinfra")
    argv = [str(pyinfra), "-y", "fleet.py", str(repo / "deploy/main.py")]
    proc = subprocess.run(
        [*argv, "--debug-operations", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = [op["names"][0].rsplit(" | ", 1)[-1] for op in json.loads(proc.stdout)["op_order"]]
    links = f"{reading.DEV_CHAR_LINKS_COMMAND} (before any daemon-reload)"
    assert names.count(links) == 1, names  # once, though both deploys ask for it
    assert names.index("Install NVIDIA Container Toolkit packages") < names.index(links)
    assert names.index(links) < names.index("systemctl daemon-reload"), names
