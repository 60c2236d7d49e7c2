"""Smoke targets from --url and from a pyinfra inventory through deploy.config (the deploy's
own config model) and pyinfra's own inventory loader; the SSH forward command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tgi_infra.smoke import cli
from tgi_infra.smoke.targets import (
    SSHSettings,
    TargetConfigError,
    targets_from_inventory,
    targets_from_urls,
)
from tgi_infra.smoke.tunnel import ssh_forward_command

INVENTORY = """
gpu_hosts = [
    (
        "gpu-1",
        {
            "ssh_hostname": "10.0.0.5",
            "ssh_user": "ops",
            "ssh_port": 2222,
            "ssh_key": "/keys/id_ed25519",
            "tgi_gpus": "none",
            "tgi_services": [
                {"name": "llama", "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                 "port": 8080, "bind": "127.0.0.1", "api_key_env": "SMOKE_TEST_API_KEY"},
                {"name": "public", "model_id": "org/public", "port": 8081, "bind": "0.0.0.0",
                 "smoke_semantic": False},
                {"name": "gone", "model_id": "org/gone", "port": 8082, "present": False},
            ],
        },
    ),
    ("gpu-2.example.net", {"tgi_gpus": "none",
        "tgi_services": [{"name": "tiny", "model_id": "org/tiny", "bind": "10.9.9.9"}]}),
]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inv.py"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_inventory_targets(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SMOKE_TEST_API_KEY", "k3y")
    targets = {t.name: t for t in targets_from_inventory(write(tmp_path, INVENTORY))}
    assert sorted(targets) == ["gpu-1/llama", "gpu-1/public", "gpu-2.example.net/tiny"]

    llama = targets["gpu-1/llama"]
    assert llama.via == "ssh-tunnel" and llama.url is None
    assert llama.ssh == SSHSettings(
        hostname="10.0.0.5", user="ops", port=2222, key="/keys/id_ed25519"
    )
    assert (llama.remote_bind, llama.remote_port) == ("127.0.0.1", 8080)
    assert llama.expected_model_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert llama.api_key == "k3y" and llama.semantic is True

    public = targets["gpu-1/public"]
    assert public.via == "direct" and public.url == "http://10.0.0.5:8081"
    assert public.semantic is False and public.api_key is None

    tiny = targets["gpu-2.example.net/tiny"]  # no ssh_hostname: the host name; default port
    assert tiny.url == "http://gpu-2.example.net:8080"


def test_inventory_missing_api_key_is_a_config_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("SMOKE_TEST_API_KEY", raising=False)
    path = write(tmp_path, INVENTORY)
    with pytest.raises(TargetConfigError, match=r"SMOKE_TEST_API_KEY is not set"):
        targets_from_inventory(path)
    assert cli.main(["--inventory", path]) == 2


def test_invalid_inventory_exits_2_listing_errors(tmp_path, capsys) -> None:
    path = write(
        tmp_path,
        """
        hosts = [("a", {"tgi_services": [{"name": "x", "port": 99999}]}),
                 ("b", {"tgi_services": [{"model_id": "m", "bind": 5}]})]
        """,
    )
    assert cli.main(["--inventory", path]) == 2
    err = capsys.readouterr().err
    assert "invalid config" in err and "host a" in err and "host b" in err


def test_inventory_without_services_exits_2(tmp_path, capsys) -> None:
    path = write(tmp_path, 'hosts = [("a", {"tgi_gpus": "none"})]\n')
    assert cli.main(["--inventory", path]) == 2
    assert "no host has a present TGI service" in capsys.readouterr().err


def test_url_targets_pair_model_ids_and_keys(monkeypatch) -> None:
    monkeypatch.setenv("K1", "one")
    a, b = targets_from_urls(["http://a:1/", "http://b:2"], ["m1", "m2"], ["K1", ""], False)
    assert (a.url, a.expected_model_id, a.api_key, a.semantic) == ("http://a:1", "m1", "one", False)
    assert (b.url, b.expected_model_id, b.api_key) == ("http://b:2", "m2", None)


def test_ssh_forward_command_uses_pyinfra_settings() -> None:
    ssh = SSHSettings(
        hostname="10.0.0.5",
        user="ops",
        port=2222,
        key="/k",
        known_hosts_file="/kh",
        strict_host_key_checking="yes",
    )
    cmd = ssh_forward_command(ssh, 40000, "localhost", 8080)
    assert cmd[:4] == ["ssh", "-N", "-L", "127.0.0.1:40000:127.0.0.1:8080"]
    joined = " ".join(cmd)
    for part in (
        "BatchMode=yes",
        "ExitOnForwardFailure=yes",
        "-p 2222",
        "-i /k",
        "-l ops",
        "UserKnownHostsFile=/kh",
        "StrictHostKeyChecking=yes",
    ):
        assert part in joined
    assert cmd[-1] == "10.0.0.5"
    v6 = ssh_forward_command(SSHSettings(hostname="h"), 1, "::1", 80)
    assert v6[3] == "127.0.0.1:1:[::1]:80" and "-p" not in v6
