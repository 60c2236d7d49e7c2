"""The STAND-IN nvidia-ctk (and its sibling stand-ins) against the real tools' contract.

Contract: lab/nvidia_mirror/CONTRACT.md. Each test runs the rendered stand-in script as
a subprocess, exactly as /usr/bin/nvidia-ctk would run on a lab host.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
from pathlib import Path

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host.nvidia_toolkit import runtime_commands

from lab.nvidia_mirror.packages import fake_commit, render_template
from tests.helpers.ctk_standin import VERSION, configure, install_standin, log_messages, run

RUNTIME_ENTRY = {"args": [], "path": "nvidia-container-runtime"}


@pytest.fixture
def ctk(tmp_path: Path) -> Path:
    return install_standin(tmp_path, "nvidia_ctk.py", "nvidia-ctk")


def test_version_format(ctk: Path) -> None:
    result = run(ctk, "--version")
    assert result.returncode == 0
    assert result.stdout == (
        f"NVIDIA Container Toolkit CLI version 1.17.8\ncommit: {fake_commit('1.17.8')}\n"
    )
    assert re.fullmatch(r"[0-9a-f]{40}", fake_commit("1.17.8"))


def test_version_follows_package_version(tmp_path: Path) -> None:
    old = install_standin(tmp_path, "nvidia_ctk.py", "nvidia-ctk-old", "1.17.7-1")
    assert run(old, "-v").stdout.startswith("NVIDIA Container Toolkit CLI version 1.17.7\n")


def test_missing_file_is_created(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "etc" / "docker" / "daemon.json"
    result = configure(ctk, config)
    assert result.returncode == 0, result.stderr
    assert json.loads(config.read_text()) == {"runtimes": {"nvidia": RUNTIME_ENTRY}}
    assert log_messages(result.stderr) == [
        ("info", "Config file does not exist; using empty config"),
        ("info", f"Wrote updated config to {config}"),
        ("info", "It is recommended that docker daemon be restarted."),
    ]
    assert result.stdout == ""


def test_empty_object(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text("{}")
    result = configure(ctk, config)
    assert result.returncode == 0, result.stderr
    assert json.loads(config.read_text()) == {"runtimes": {"nvidia": RUNTIME_ENTRY}}
    assert log_messages(result.stderr)[0] == ("info", f"Loading config from {config}")


def test_existing_keys_and_runtimes_are_kept(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    original = {
        "log-driver": "json-file",
        "registry-mirrors": ["http://mirror.local:5000"],
        "runtimes": {"custom": {"path": "/usr/local/bin/custom-runc", "runtimeArgs": ["--x"]}},
        "insecure-registries": ["mirror.local:5000"],
    }
    config.write_text(json.dumps(original))
    assert configure(ctk, config).returncode == 0
    result = json.loads(config.read_text())
    assert result == {
        **original,
        "runtimes": {**original["runtimes"], "nvidia": RUNTIME_ENTRY},
    }
    assert "default-runtime" not in result


def test_set_as_default(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"default-runtime": "runc"}')
    assert configure(ctk, config, "--set-as-default").returncode == 0
    assert json.loads(config.read_text())["default-runtime"] == "nvidia"


def test_without_set_as_default_an_existing_default_is_left_alone(
    ctk: Path, tmp_path: Path
) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"default-runtime": "nvidia"}')
    assert configure(ctk, config).returncode == 0
    assert json.loads(config.read_text())["default-runtime"] == "nvidia"


def test_dry_run_prints_and_writes_nothing(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"log-driver": "local"}')
    before = config.read_bytes()
    result = configure(ctk, config, "--dry-run", "--set-as-default")
    assert result.returncode == 0, result.stderr
    assert config.read_bytes() == before
    assert json.loads(result.stdout) == {
        "default-runtime": "nvidia",
        "log-driver": "local",
        "runtimes": {"nvidia": RUNTIME_ENTRY},
    }
    assert result.stdout.endswith("}\n")
    assert not any("Wrote" in msg for _, msg in log_messages(result.stderr))
    missing = tmp_path / "absent" / "daemon.json"
    assert configure(ctk, missing, "--dry-run").returncode == 0
    assert not missing.parent.exists()


def test_output_is_go_marshal_indent(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"z": 1, "a": {"y": [1.5, 2.0], "b": "<&>"}, "m": {}}')
    assert configure(ctk, config, "--set-as-default").returncode == 0
    expected = (
        "{\n"
        '    "a": {\n'
        '        "b": "\\u003c\\u0026\\u003e",\n'
        '        "y": [\n'
        "            1.5,\n"
        "            2\n"
        "        ]\n"
        "    },\n"
        '    "default-runtime": "nvidia",\n'
        '    "m": {},\n'
        '    "runtimes": {\n'
        '        "nvidia": {\n'
        '            "args": [],\n'
        '            "path": "nvidia-container-runtime"\n'
        "        }\n"
        "    },\n"
        '    "z": 1\n'
        "}"
    )
    assert config.read_text() == expected  # sorted keys, 4 spaces, no trailing newline


def test_second_run_is_byte_identical(ctk: Path, tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"log-driver": "json-file", "runtimes": {"custom": {"path": "/x"}}}')
    assert configure(ctk, config, "--set-as-default", "--cdi.enabled").returncode == 0
    first = config.read_bytes()
    assert configure(ctk, config, "--set-as-default", "--cdi.enabled").returncode == 0
    assert config.read_bytes() == first
    assert json.loads(first)["features"] == {"cdi": True}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"log-driver": ', "unexpected EOF"),
        ("{'single': 1}", "invalid character '\\'' looking for beginning of object key string"),
        ("", "EOF"),
        ("[]", "json: cannot unmarshal array into Go value of type docker.Config"),
    ],
)
def test_invalid_json_fails(ctk: Path, tmp_path: Path, content: str, detail: str) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(content)
    result = configure(ctk, config)
    assert result.returncode == 1
    assert config.read_text() == content
    assert log_messages(result.stderr)[-1] == (
        "error",
        f"unable to load config for runtime docker: {detail}",
    )


@pytest.mark.parametrize("runtime", ["containerd", "crio"])
def test_other_real_runtimes_are_refused_by_the_stand_in(
    ctk: Path, tmp_path: Path, runtime: str
) -> None:
    result = run(ctk, "runtime", "configure", f"--runtime={runtime}")
    assert result.returncode == 1
    level, message = log_messages(result.stderr)[-1]
    assert level == "error"
    assert "supports --runtime=docker only" in message and runtime in message


def test_unknown_runtime_is_refused_like_the_real_tool(ctk: Path) -> None:
    result = run(ctk, "runtime", "configure", "--runtime", "podman")
    assert result.returncode == 1
    assert log_messages(result.stderr)[-1] == ("error", "unrecognized runtime 'podman'")


def test_unknown_flag_and_subcommand(ctk: Path) -> None:
    bad_flag = run(ctk, "runtime", "configure", "--no-such-flag")
    assert bad_flag.returncode == 1
    assert "Incorrect Usage: flag provided but not defined: -no-such-flag" in bad_flag.stderr
    bad_command = run(ctk, "frobnicate")
    assert bad_command.returncode == 1
    assert "No help topic for 'frobnicate'" in bad_command.stderr


def test_cdi_generate_fails_without_a_driver(ctk: Path, tmp_path: Path) -> None:
    output = tmp_path / "cdi" / "nvidia.yaml"
    result = run(ctk, "cdi", "generate", f"--output={output}")
    assert result.returncode == 1
    assert log_messages(result.stderr) == [
        (
            "error",
            "failed to generate CDI spec: failed to create device CDI specs: "
            "failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND",
        )
    ]
    assert not output.exists()


def test_cdi_generate_empty_spec_opt_in(ctk: Path, tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    output = tmp_path / "cdi" / "nvidia.yaml"
    env = {**os.environ, "NVIDIA_CTK_STANDIN_CDI_EMPTY": "1"}
    result = run(ctk, "cdi", "generate", "--output", str(output), env=env)
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    assert text.startswith("---\n")  # CDI's Spec.write puts a document marker first
    spec = yaml.safe_load(text)
    assert spec == {
        "cdiVersion": "0.5.0",
        "kind": "nvidia.com/gpu",
        "devices": [],
        "containerEdits": {},
    }
    messages = log_messages(result.stderr)
    assert messages[0][0] == "warning"
    # generate.go run(): the message names the CDI version, not the file
    assert messages[-1] == ("info", "Generated CDI spec with version 0.5.0")
    assert output.stat().st_mode & 0o777 == 0o644  # nvcdi's default permissions
    assert output.parent.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in output.parent.iterdir()) == ["nvidia.yaml"]  # temp renamed


def test_cdi_generate_replaces_a_spec_by_rename(ctk: Path, tmp_path: Path) -> None:
    """CDI's Spec.write: a temp file in the spec's folder renamed over it (a reader sees the
    old spec or the new one); an old 0600 spec becomes 0644."""
    output = tmp_path / "cdi" / "nvidia.yaml"
    output.parent.mkdir()
    output.write_text("old")
    output.chmod(0o600)
    inode = output.stat().st_ino
    env = {**os.environ, "NVIDIA_CTK_STANDIN_CDI_EMPTY": "1"}
    assert run(ctk, "cdi", "generate", f"--output={output}", env=env).returncode == 0
    assert output.read_text().startswith("---\ncdiVersion: 0.5.0")
    assert output.stat().st_ino != inode
    assert output.stat().st_mode & 0o777 == 0o644


def test_cdi_generate_output_path_and_format_follow_upstream(ctk: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NVIDIA_CTK_STANDIN_CDI_EMPTY": "1"}
    # the output flag's env var (the one nvidia-cdi-refresh.service sets)
    json_out = tmp_path / "a" / "nvidia.json"
    run(ctk, "cdi", "generate", env={**env, "NVIDIA_CTK_CDI_OUTPUT_FILE_PATH": str(json_out)})
    assert json.loads(json_out.read_text())["kind"] == "nvidia.com/gpu"  # format from the name
    assert not json_out.read_text().endswith("\n")  # json.Marshal
    # spec.go normalizePath: another extension gets the format's appended
    run(ctk, "cdi", "generate", f"--output={tmp_path / 'b' / 'nvidia.yml'}", env=env)
    assert (tmp_path / "b" / "nvidia.yml.yaml").exists()
    bad = run(ctk, "cdi", "generate", "--format=toml", f"--output={tmp_path / 'c'}", env=env)
    assert bad.returncode == 1
    assert log_messages(bad.stderr)[-1] == ("error", "invalid output format: toml")
    assert not (tmp_path / "c").exists()


def test_terminal_log_format(ctk: Path, tmp_path: Path) -> None:
    """On a terminal logrus prints `INFO[0000] message` (coloured level)."""
    config = tmp_path / "daemon.json"
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [str(ctk), "runtime", "configure", f"--config={config}"],
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=30,
            check=False,
        )
        os.close(secondary)
        secondary = -1
        chunks = []
        # the child has exited: read what it wrote, without blocking (an fd of the secondary
        # kept open elsewhere, e.g. by a gevent-patched subprocess in the same test process,
        # would otherwise make the read wait forever instead of reporting EOF)
        while select.select([primary], [], [], 2)[0]:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if secondary != -1:
            os.close(secondary)
        os.close(primary)
    assert result.returncode == 0
    text = re.sub(r"\x1b\[\d+m", "", b"".join(chunks).decode())
    assert f"INFO[0000] Wrote updated config to {config}" in text
    assert "INFO[0000] It is recommended that docker daemon be restarted." in text


# --- the sibling stand-ins ------------------------------------------------------------------


def test_container_cli(tmp_path: Path) -> None:
    cli = install_standin(tmp_path, "nvidia-container-cli.sh", "nvidia-container-cli")
    version = run(cli, "--version")
    assert version.returncode == 0
    assert version.stdout.splitlines()[:2] == ["cli-version: 1.17.8", "lib-version: 1.17.8"]
    info = run(cli, "info")
    assert info.returncode == 1
    assert info.stderr == (
        "nvidia-container-cli: initialization error: nvml error: driver not loaded\n"
    )


def test_runtime_hook_is_a_no_op(tmp_path: Path) -> None:
    hook = install_standin(
        tmp_path, "nvidia-container-runtime-hook.sh", "nvidia-container-runtime-hook"
    )
    result = run(hook, "prestart", input='{"ociVersion": "1.0.2", "id": "x"}')
    assert (result.returncode, result.stdout) == (0, "")
    assert run(hook, "--version").stdout.startswith("NVIDIA Container Runtime Hook version 1.17.8")


@pytest.mark.skipif(
    not any(Path(p).exists() for p in ("/usr/bin/runc", "/usr/sbin/runc"))
    and not shutil.which("runc"),
    reason="runc is not installed",
)
def test_container_runtime_forwards_to_runc(tmp_path: Path) -> None:
    runtime = install_standin(tmp_path, "nvidia-container-runtime.sh", "nvidia-container-runtime")
    result = run(runtime, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NVIDIA Container Runtime version 1.17.8\n")
    assert "runc version" in result.stdout
    # Everything else goes to runc verbatim: runc's own answer to an unknown command.
    forwarded = run(runtime, "no-such-runc-command")
    assert forwarded.returncode != 0
    assert "no-such-runc-command" in forwarded.stderr


def test_runtime_without_runc_fails_clearly(tmp_path: Path) -> None:
    runtime = install_standin(tmp_path, "nvidia-container-runtime.sh", "nvidia-container-runtime")
    text = runtime.read_text().replace("/usr/bin/runc /usr/sbin/runc", "/nonexistent/runc")
    text = text.replace("/usr/local/bin/runc /usr/local/sbin/runc", "/nonexistent/runc2")
    runtime.write_text(text)
    result = run(runtime, "--version", env={"PATH": str(tmp_path / "empty")})
    assert result.returncode == 1
    assert "runc not found" in result.stderr


def test_every_stand_in_says_so_in_its_header() -> None:
    for template in (
        "nvidia_ctk.py",
        "nvidia-container-cli.sh",
        "nvidia-container-runtime.sh",
        "nvidia-container-runtime-hook.sh",
    ):
        header = "\n".join(render_template(template, VERSION).splitlines()[:4])
        assert "STAND-IN for NVIDIA's" in header, template
        assert "1.17.8" in header, template


# --- system create-dev-char-symlinks (NVIDIA/nvidia-docker#1730) -------------------------------
# The real code: cmd/nvidia-ctk/system/create-dev-char-symlinks/ at v1.17.8. The stand-in reads
# /proc, /sys and /dev under NVIDIA_CTK_STANDIN_DEV_ROOT (the library's WithDevRoot).


def _char_node(path: Path, major: int, minor: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD (root)")


def _pci(root: Path, address: str, vendor: str, klass: str, physfn: bool = False) -> None:
    device = root / "sys/bus/pci/devices" / address
    device.mkdir(parents=True)
    (device / "vendor").write_text(vendor + "\n")
    (device / "class").write_text(klass + "\n")
    if physfn:
        (device / "physfn").symlink_to("../0000:3b:00.0")


def _gpu_root(tmp_path: Path, proc_devices: str = "195 nvidia\n507 nvidia-uvm\n") -> Path:
    """One NVIDIA 3D controller, its virtual function, an Intel bridge; the driver's nodes."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/devices").write_text("Character devices:\n  1 mem\n" + proc_devices)
    _pci(root, "0000:00:00.0", "0x8086", "0x060000")
    _pci(root, "0000:3b:00.0", "0x10de", "0x030200")
    _pci(root, "0000:3b:00.4", "0x10de", "0x030200", physfn=True)
    _char_node(root / "dev/nvidia0", 195, 0)
    _char_node(root / "dev/nvidiactl", 195, 255)
    _char_node(root / "dev/nvidia-uvm", 507, 0)
    _char_node(root / "dev/nvidia-nvswitch0", 241, 0)
    return root


def devchar(ctk: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NVIDIA_CTK_STANDIN_DEV_ROOT": str(root)}
    dev_char = f"--dev-char-path={root / 'dev/char'}"
    return run(ctk, "system", "create-dev-char-symlinks", dev_char, *args, env=env)


def _links(root: Path) -> dict[str, str]:
    char = root / "dev/char"
    return {p.name: os.readlink(p) for p in sorted(char.iterdir())} if char.exists() else {}


def test_dev_char_create_all_without_nvidia_majors_fails_like_the_real_tool(
    ctk: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/devices").write_text("Character devices:\n  1 mem\n  4 tty\n")
    result = devchar(ctk, root, "--create-all")
    assert result.returncode == 1
    assert log_messages(result.stderr) == [
        (
            "error",
            "failed to create symlink creator: failed to create all possible device lister: "
            "failed reading device majors: no NVIDIA devices found",
        )
    ]
    assert not (root / "dev/char").exists()


def test_dev_char_existing_nodes_none_creates_nothing(ctk: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    result = devchar(ctk, root)
    assert result.returncode == 0, result.stderr
    assert log_messages(result.stderr) == [("info", f"No NVIDIA devices found in {root}")]
    assert not (root / "dev/char").exists()


def test_dev_char_create_all_links_what_the_deploys_fact_checks(ctk: Path, tmp_path: Path) -> None:
    from tgi_infra.host import reading

    root = _gpu_root(tmp_path)
    fact = "sh", "-c", reading.nvidia_dev_char_command(str(root))

    def state() -> dict:
        out = subprocess.run(fact, capture_output=True, text=True, timeout=30, check=True)
        return reading.parse_nvidia_dev_char(out.stdout.splitlines())

    assert len(state()["missing"]) == 3
    result = devchar(ctk, root, "--create-all")
    assert result.returncode == 0, result.stderr
    # all.go: the control nodes, then /dev/nvidia<N> per GPU (the VF and the bridge are no GPU)
    assert _links(root) == {
        "195:254": f"{root}/dev/nvidia-modeset",
        "195:255": f"{root}/dev/nvidiactl",
        "507:0": f"{root}/dev/nvidia-uvm",
        "507:1": f"{root}/dev/nvidia-uvm-tools",
        "195:0": f"{root}/dev/nvidia0",
    }
    assert ("info", f"Creating link {root}/dev/char/195:0 => {root}/dev/nvidia0") in (
        log_messages(result.stderr)
    )
    after = state()
    assert after["missing"] == [] and after["other"] == []
    assert all(n["link"] == "ok" for n in after["nodes"]), after["nodes"]
    # a second run: os.Symlink fails on each existing link, logged as a warning, exit 0
    again = devchar(ctk, root, "--create-all")
    assert again.returncode == 0, again.stderr
    warnings = [m for level, m in log_messages(again.stderr) if level == "warning"]
    assert (
        f"Could not create symlink: symlink {root}/dev/nvidia0 {root}/dev/char/195:0: file exists"
    ) in warnings
    assert len(warnings) == 5


def test_dev_char_without_create_all_links_existing_nodes_only(ctk: Path, tmp_path: Path) -> None:
    root = _gpu_root(tmp_path)
    result = devchar(ctk, root)
    assert result.returncode == 0, result.stderr
    assert _links(root) == {  # existing.go: no nvidia-nvswitch*, no possible-but-absent nodes
        "195:0": f"{root}/dev/nvidia0",
        "195:255": f"{root}/dev/nvidiactl",
        "507:0": f"{root}/dev/nvidia-uvm",
    }


@pytest.mark.parametrize(
    ("proc_devices", "args", "error"),
    [
        ("195 nvidia\n", ["--create-all"], "missing required device major nvidia-uvm"),
        ("195 nvidia\n507 nvidia-uvm\n", ["--create-all", "--watch"], "mutually exclusive"),
    ],
)
def test_dev_char_refusals(ctk: Path, tmp_path: Path, proc_devices, args, error) -> None:
    root = _gpu_root(tmp_path, proc_devices)
    result = devchar(ctk, root, *args)
    assert result.returncode == 1
    assert error in result.stderr
    assert _links(root) == {}


def test_dev_char_dry_run_creates_nothing(ctk: Path, tmp_path: Path) -> None:
    root = _gpu_root(tmp_path)
    result = devchar(ctk, root, "--create-all", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert sum("Creating link" in m for _, m in log_messages(result.stderr)) == 5
    assert not (root / "dev/char").exists()


# The deploy's daemon.json steps against the stand-in nvidia-ctk, run here with ``sh``.
#
# A blank daemon.json, and the stand-in's ``features`` map:
#
# * The real ``nvidia-ctk runtime configure`` fails on an empty or whitespace-only daemon.json
#   (pkg/config/engine/docker/option.go ``loadConfig``: ``json.NewDecoder(...).Decode`` returns
#   ``EOF``; configure.go: "unable to load config for runtime docker: EOF") while Docker 23+
#   accepts the file (moby PR #42393; 20.10 refuses to start with it, moby issue #41268). The
#   deploy makes such a file ``{}`` right before it calls nvidia-ctk.
# * pkg/config/engine/docker/docker.go ``EnableCDI``: ``config["features"].(map[string]bool)``
#   never holds for a decoded map (``map[string]interface{}``), so the real tool REPLACES the
#   ``features`` map with ``{"cdi": true}``, dropping the user's other features.
#
# The deploy's commands run here with ``sh`` and the stand-in nvidia-ctk on PATH.


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
