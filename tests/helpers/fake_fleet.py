"""Shared by the unit tests (moved from test_dry_plan.py)."""

from __future__ import annotations

import textwrap

FAKE_FLEET = textwrap.dedent(
    """
    M = "@@tgi-infra:"


    def _platform(wsl):
        return [
            M + "osrelease", "6.6.87.2-microsoft-standard-WSL2" if wsl else "6.1.0-28-amd64",
            M + "proc_version", "Linux version 6.1.0",
            M + "markers", *(["/run/WSL"] if wsl else []),
            M + "env", "WSL_DISTRO_NAME=" + ("Debian" if wsl else ""),
            M + "os_release", "ID=debian", 'VERSION_ID="12"', "VERSION_CODENAME=bookworm",
            M + "arch", "amd64",
        ]


    def _host(name, wsl, **data):
        pid1 = "init" if wsl else "systemd"
        systemd = ["pid1_comm=" + pid1, "sd_booted=" + ("no" if wsl else "yes")]
        return (name, {
            "fake_delay": 0, "fake_delay_jitter": 0, "tgi_gpus": "none", **data,
            "fake_responses": {
                "osrelease'; cat /proc/sys/kernel/osrelease": _platform(wsl),
                "pid1_comm=": systemd,
            },
        })


    debian = [_host("@fake/deb", False, tgi_docker_source="distro", tgi_services=[
        {"name": "alpha", "model_id": "org/a"},
        {"name": "beta", "model_id": "org/b", "port": 8081},
    ])]
    wsl = [_host("@fake/wsl", True, tgi_docker_source="docker-ce", tgi_services=[
        {"name": "gamma", "model_id": "org/c"},
    ])]
    """
)
