"""One host-probe layer: what reads a host (commands, parsers, constants) exists once, in
``tgi_infra.host.reading`` (no pyinfra), and serves the deploy's facts and the smoke host checks."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tgi_infra.host import facts, reading
from tgi_infra.smoke import hostchecks_parse as hp

REPO = Path(__file__).resolve().parents[2]

# literals that read a host or name what the deploy leaves on it: only probes.py may spell them
PROBE_LITERALS = [
    "pid1_comm=",
    "/run/systemd/system",
    "/etc/docker/daemon.json",
    "/usr/lib/wsl/lib",
    "tgi-infra.config-hash",
    "nvidia-container-toolkit-base",
    "libnvidia-container1",
    "db:Status-Abbrev",
    "71-nvidia-dev-char.rules",
    "create-dev-char-symlinks",
    "no path found matching pattern",
    "diversion by",
    "@@tgi-infra-read:",
    "@@tgi-infra-rc:",
]
SOURCES = sorted(p for folder in ("deploy", "smoke") for p in (REPO / folder).rglob("*.py"))


def _code_strings(path: Path) -> list[str]:
    """String constants of a module's code (docstrings left out: prose may name things)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


@pytest.mark.parametrize("literal", PROBE_LITERALS)
def test_probe_literals_exist_only_in_the_probe_layer(literal):
    spelled = [
        str(path.relative_to(REPO))
        for path in SOURCES
        if path.name != "reading.py" and any(literal in s for s in _code_strings(path))
    ]
    assert spelled == [], f"{literal!r} spelled outside deploy/host/reading.py: {spelled}"


def test_check_status_names_are_defined_once():
    defined = [
        str(path.relative_to(REPO))
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign)
        for target in node.targets
        for name in ast.walk(target)
        if isinstance(name, ast.Name) and name.id in ("PASSED", "FAILED", "SKIPPED")
    ]
    assert sorted(set(defined)) == ["deploy/host/reading.py"]


def test_probe_layer_host_checks_and_validate_import_no_pyinfra():
    """What reads a host without pyinfra, and the command line up to ``tgi-infra validate``'s
    Hub check (pyinfra's loader runs in a child process there): no pyinfra import, which costs
    every ``tgi-infra`` run a third of a second."""
    code = (
        "import sys; import tgi_infra.host.reading, tgi_infra.smoke.hostchecks_parse, "
        "tgi_infra.smoke.hostchecks, tgi_infra.services.render, tgi_infra.cli.commands, "
        "tgi_infra.services.hub; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyinfra', 'pyinfra_cli')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        ("pid1_comm=systemd\nsd_booted=yes", True),
        ("pid1_comm=init\nsd_booted=yes", False),  # a container image shipping the directory
        ("pid1_comm=init\nsd_booted=no", False),  # WSL without [boot] systemd=true
        ("pid1_comm=\nsd_booted=yes", True),  # comm unreadable: systemd's own test decides
    ],
)
def test_systemd_pid1_same_answer_for_facts_and_host_checks(text, expected):
    assert facts.parse_systemd_pid1(text.splitlines()) is expected
    assert hp.systemd_pid1(text) is expected


def test_daemon_json_same_parse_and_same_error_for_facts_and_host_checks():
    good = '{"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}, "log-level": "warn"}'
    assert (
        facts.parse_daemon_json(good)
        == hp.parse_daemon_json(good)
        == {
            "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}},
            "log-level": "warn",
        }
    )
    assert facts.parse_daemon_json(None) is hp.parse_daemon_json(None) is None
    assert facts.parse_daemon_json(" \n") == hp.parse_daemon_json("") == {}
    msg = re.escape(
        "/etc/docker/daemon.json is not valid JSON (Expecting property name enclosed in double "
        "quotes at line 1 column 2); dockerd will refuse to start with it"
    )
    with pytest.raises(facts.FactParseError, match=msg):
        facts.parse_daemon_json("{oops")
    with pytest.raises(hp.ParseError, match=msg):
        hp.parse_daemon_json("{oops")


def test_docker_desktop_same_answer_from_raw_info_and_the_fact():
    desktop = {"OperatingSystem": "Docker Desktop", "Name": "docker-desktop"}
    engine = {"OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "Name": "lab-linux-1"}
    for info, expected in ((desktop, True), (engine, False)):
        fact = {"operating_system": info["OperatingSystem"], "name": info["Name"]}
        assert hp.is_docker_desktop(info) is expected
        assert facts.is_docker_desktop_info(fact) is expected


def test_the_deploy_and_the_checks_use_the_same_names():
    from tgi_infra.host import nvidia_toolkit
    from tgi_infra.services import render
    from tgi_infra.smoke import hostchecks

    assert tuple(nvidia_toolkit.PACKAGES) == hp.TOOLKIT_PACKAGES == reading.TOOLKIT_PACKAGES
    assert render.LABEL_HASH == reading.LABEL_HASH
    assert (hostchecks.PASSED, hostchecks.FAILED, hostchecks.SKIPPED) == (
        reading.PASSED,
        reading.FAILED,
        reading.SKIPPED,
    )
    assert facts.SystemdPid1().command() == reading.SYSTEMD_PID1_COMMAND
    assert all(pkg in reading.toolkit_dpkg_command() for pkg in reading.TOOLKIT_PACKAGES)


def test_user_groups_reads_the_named_users_only_and_leaves_missing_ones_out():
    """Run here, with the real ``id``: root's groups, a user that does not exist left out."""
    command = reading.user_groups_command(("root", "no-such-user-tgi"))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    users = facts.UserGroups().process(out.stdout.splitlines())
    expected = subprocess.run(["id", "-Gn", "root"], capture_output=True, text=True).stdout.split()
    assert set(users) == {"root"}
    assert users["root"]["group"] == "root"
    assert users["root"]["groups"] == [g for g in expected if g != "root"]
    assert "lastlog" not in command and "/etc/passwd" not in command


def test_user_groups_keeps_secondary_groups_as_pyinfra_users_does():
    line = "mlops|mlops|mlops docker video"
    assert reading.parse_user_groups([line]) == {
        "mlops": {"group": "mlops", "groups": ["docker", "video"]}
    }
