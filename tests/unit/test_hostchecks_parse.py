"""Pure parts of the host checks: parsing, drift compare, restart compare, message texts."""

from __future__ import annotations

import json

import pytest
from tgi_infra.smoke import hostchecks_parse as hp
from tgi_infra.smoke.hostchecks import FAILED, PASSED, SKIPPED, HostCheck, HostReport
from tgi_infra.smoke.hostchecks_connect import ssh_config_text
from tgi_infra.smoke.targets import SSHSettings


def test_daemon_json_absent_empty_and_runtimes() -> None:
    assert hp.parse_daemon_json(None) is None
    assert hp.parse_daemon_json("  \n") == {}
    d = hp.parse_daemon_json(
        json.dumps({"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}, "x": 1})
    )
    assert hp.daemon_runtimes(d) == ["nvidia"]
    assert hp.daemon_runtimes({"insecure-registries": []}) == []
    assert hp.daemon_runtimes(None) == []


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_daemon_json_invalid_is_named(text: str) -> None:
    with pytest.raises(hp.ParseError, match="/etc/docker/daemon.json"):
        hp.parse_daemon_json(text)


def test_docker_info_runtimes_and_desktop() -> None:
    info = hp.parse_docker_info(
        json.dumps({"Runtimes": {"runc": {}, "nvidia": {}}, "OperatingSystem": "Docker Desktop"})
    )
    assert hp.info_runtimes(info) == ["nvidia", "runc"]
    assert hp.is_docker_desktop(info)
    assert not hp.is_docker_desktop({"OperatingSystem": "Ubuntu 22.04.4 LTS"})
    with pytest.raises(hp.ParseError):
        hp.parse_docker_info("Cannot connect to the Docker daemon")


def test_dpkg_and_pinned_versions() -> None:
    out = (
        "nvidia-container-toolkit\t1.17.8-1\tii \n"
        "nvidia-container-toolkit-base\t1.17.8-1\tii \n"
        "libnvidia-container-tools\t1.17.7-1\tii \n"
        "libnvidia-container1:amd64\t1.17.8-1\trc \n"  # removed, config left: not installed
    )
    installed = hp.parse_dpkg(out)
    assert installed == {
        "nvidia-container-toolkit": "1.17.8-1",
        "nvidia-container-toolkit-base": "1.17.8-1",
        "libnvidia-container-tools": "1.17.7-1",
    }
    assert hp.package_problems(installed, "1.17.8-1") == [
        "libnvidia-container-tools 1.17.7-1 (pinned 1.17.8-1)",
        "libnvidia-container1 not installed",
    ]
    assert hp.package_problems(installed, None) == ["libnvidia-container1 not installed"]
    full = {
        **installed,
        "libnvidia-container-tools": "1.17.8-1",
        "libnvidia-container1": "1.17.8-1",
    }
    assert hp.package_problems(full, "1.17.8-1") == []


def test_df() -> None:
    df = (
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
        "/dev/sda1 100 50 2048 50% /var\n"
    )
    assert hp.parse_df_avail_bytes(df) == (2048 * 1024, "/var")
    with pytest.raises(hp.ParseError):
        hp.parse_df_avail_bytes("df: /nope: No such file or directory\n")


def _item(name: str, running=True, restarts=0, started="t0", labels=None) -> dict:
    return {
        "Name": f"/{name}",
        "RestartCount": restarts,
        "State": {
            "Running": running,
            "Status": "running" if running else "exited",
            "StartedAt": started,
            "ExitCode": 0 if running else 1,
        },
        "Config": {"Labels": labels or {}},
    }


def test_inspect_missing_and_present() -> None:
    got = hp.parse_inspect(json.dumps([_item("a", labels={"k": "v"})]), ["a", "b"])
    assert got["b"] is None
    assert got["a"].running and got["a"].labels == {"k": "v"}
    assert hp.parse_inspect("[]", ["a"]) == {"a": None}
    assert hp.parse_inspect("", ["a"]) == {"a": None}


def test_drift_compare() -> None:
    label = "tgi-infra.config-hash"
    assert hp.drift("abc", {label: "abc"}, label) is None
    assert hp.drift("abc", {label: "bogus"}, label) == "bogus"
    assert hp.drift("abc", {}, label) == "label missing"


def test_restart_climb() -> None:
    def info(**kw):
        return hp.parse_inspect(json.dumps([_item("a", **kw)]), ["a"])["a"]

    assert hp.restart_climb(info(), info()) is None
    assert "0 -> 2" in hp.restart_climb(info(), info(restarts=2))
    assert "StartedAt t0 -> t1" in hp.restart_climb(info(), info(started="t1"))
    assert "stopped" in hp.restart_climb(info(), info(running=False))
    assert "disappeared" in hp.restart_climb(info(), None)


def test_failure_text_names_expected_found_next() -> None:
    text = hp.failure_text(
        "env file is not private", "0600 root:root", "0644 root:root", "chmod 600 /opt/x"
    )
    assert text == (
        "env file is not private | expected: 0600 root:root | found: 0644 root:root "
        "| next: chmod 600 /opt/x"
    )
    assert hp.socket_spec("0.0.0.0", 8080) == "tcp://0.0.0.0:8080"
    assert hp.socket_spec("::", 8080) == "tcp://:::8080"


def test_ssh_config_carries_pyinfra_settings() -> None:
    text = ssh_config_text(
        SSHSettings("10.0.0.5", "ubuntu", 2222, "/k/id", "/dev/null", "no"), alias="h"
    )
    assert text.splitlines() == [
        "Host h",
        "  HostName 10.0.0.5",
        "  BatchMode yes",
        "  ConnectTimeout 15",
        "  LogLevel ERROR",
        "  StrictHostKeyChecking no",
        "  User ubuntu",
        "  Port 2222",
        '  IdentityFile "/k/id"',
        "  IdentitiesOnly yes",
        '  UserKnownHostsFile "/dev/null"',
    ]
    assert "StrictHostKeyChecking accept-new" in ssh_config_text(SSHSettings("h"))


def test_first_failing_layer_is_the_lowest() -> None:
    r = HostReport("h", "local://")
    r.checks = [
        HostCheck("docker", "dockerd", PASSED, 0, ""),
        HostCheck("nvidia-runtime", "daemon_json", FAILED, 0, ""),
        HostCheck("container", "running", FAILED, 0, "", "svc"),
        HostCheck("host", "gpus", SKIPPED, 0, "", "svc"),
    ]
    assert r.first_failing_layer() == "nvidia-runtime"
    assert r.layer_status("host") == SKIPPED and r.layer_status("docker") == PASSED
    r.checks = [HostCheck("docker", "dockerd", PASSED, 0, "")]
    assert r.first_failing_layer() is None
    assert r.first_failing_layer(http_failed=True) == "http"
