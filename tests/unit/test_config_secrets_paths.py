"""System paths, the Docker socket, control characters and Docker's env-file
line limit are refused, and no error message repeats a secret.

Same model as test_config_rejects.py: each bad input is refused with a message naming the host,
the service, the field, the value and what is allowed.
"""

from __future__ import annotations

import pytest
from tgi_infra.config import ConfigError, host_key, load_host_config

# docker/cli pkg/kvfile reads --env-file with a default bufio.Scanner: a line and its newline must
# fit bufio.MaxScanTokenSize (64 KiB); checked with `docker create --env-file` on Docker 20.10.
ENV_FILE_LINE_MAX = 64 * 1024 - 1

HOST = "bad-host"


def svc(**kw):
    return {"name": "svc-a", "model_id": "org/model", **kw}


def one(**kw):
    return {"tgi_services": [svc(**kw)]}


def refused(data) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_host_config(HOST, data)
    return info.value.errors


def message_for(errors: list[str], service: str | None, field: str) -> str:
    prefix = f"host {HOST}: " + (f"service {service}: " if service else "")
    prefix += f"field {field if service else host_key(field)}: "
    matching = [m for m in errors if m.startswith(prefix)]
    assert matching, f"no message starts with {prefix!r}: {errors}"
    assert len(matching) == 1, matching
    msg = matching[0]
    assert "; allowed: " in msg and "is not allowed" in msg, msg
    return msg


# -- tgi_root -------------------------------------------------------------------------------------

ROOT_REFUSED = [
    "/",
    "/etc",
    "/etc/tgi",
    "/usr",
    "/usr/local/tgi",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/libx32/tgi",
    "/boot",
    "/dev",
    "/dev/shm/tgi",
    "/proc",
    "/proc/1",
    "/sys",
    "/sys/fs/tgi",
    "/run",
    "/run/tgi",
    "/var",
    "/var/run/tgi",
    "/var/lib",
    "/var/lib/docker",
    "/var/lib/docker/tgi",
    "/var/log",
    "/var/tmp",
    "/var/cache",
    "/root",
    "/home",
    "/opt",
    "/tmp",
    "/srv",
    "/mnt",
    "/media",
]
ROOT_ACCEPTED = ["/opt/tgi", "/srv/tgi", "/home/ubuntu/tgi", "/data/tgi", "/var/lib/tgi", "/tmp/x"]


@pytest.mark.parametrize("path", ROOT_REFUSED)
def test_tgi_root_system_directory_is_refused(path):
    msg = message_for(refused({"tgi_root": path}), None, "tgi_root")
    assert f"value {path!r} is not allowed" in msg
    assert "not a system directory" in msg and "/lib*" in msg


@pytest.mark.parametrize("path", ROOT_ACCEPTED)
def test_tgi_root_own_directory_is_accepted(path):
    assert load_host_config(HOST, {"tgi_root": path}).tgi_root == path


# -- volume ---------------------------------------------------------------------------------------

VOLUME_REFUSED = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/",
    "/etc",
    "/etc/ssl",
    "/usr",
    "/usr/share/models",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var",
    "/var/lib",
    "/var/lib/docker",
    "/var/lib/docker/volumes",
    "/home",
    "/root",
]
VOLUME_ACCEPTED = ["/var/lib/tgi/data", "/data/hf", "/home/ubuntu/hf-cache", "hf-cache"]


@pytest.mark.parametrize("path", VOLUME_REFUSED)
def test_volume_system_path_or_docker_socket_is_refused(path):
    msg = message_for(refused(one(volume=path)), "svc-a", "volume")
    assert f"value {path!r} is not allowed" in msg and "Docker socket" in msg
    if path.endswith("docker.sock"):
        assert "(the Docker socket" in msg


@pytest.mark.parametrize("value", VOLUME_ACCEPTED)
def test_volume_own_directory_or_named_volume_is_accepted(value):
    assert load_host_config(HOST, one(volume=value)).tgi_services[0].volume == value


# -- control characters ---------------------------------------------------------------------------

# (service field or host field, value holding a control character, where the bad string is)
CONTROL = [
    ("svc", "model_id", "org/model\n", "org/model\n"),
    ("svc", "model_id", "/data/m\x00", "/data/m\x00"),
    ("svc", "revision", "main\r", "main\r"),
    ("svc", "image", "ghcr.io/a/b:1\n", "ghcr.io/a/b:1\n"),
    ("svc", "name", "svc\n", "svc\n"),
    ("svc", "volume", "/data/hf\n", "/data/hf\n"),
    ("svc", "bind", "127.0.0.1\n", "127.0.0.1\n"),
    ("svc", "shm_size", "1g\n", "1g\n"),
    ("svc", "hf_token_env", "HF_TOKEN\n", "HF_TOKEN\n"),
    ("svc", "extra_args", ["--max-best-of", "1\n--port 1"], "1\n--port 1"),
    ("svc", "extra_args", ["--max-best-of\t1"], "--max-best-of\t1"),
    ("svc", "extra_args", ["--max-best-of", "1\x1b[2J"], "1\x1b[2J"),
    ("svc", "env", {"A": "x\ny"}, "x\ny"),
    ("svc", "env", {"A\r": "x"}, "A\r"),
    ("svc", "env", {"A": "x\x7f"}, "x\x7f"),
    ("svc", "env", {"A": "x\x00"}, "x\x00"),
    ("host", "tgi_root", "/opt/tgi\n", "/opt/tgi\n"),
    ("host", "cuda_image", "nvidia/cuda:12\n", "nvidia/cuda:12\n"),
    ("host", "image_mirror", "mirror.lab:5000\n", "mirror.lab:5000\n"),
    ("host", "docker_users", ["ubuntu\n"], "ubuntu\n"),
    ("host", "docker_insecure_registries", ["mirror.lab\r"], "mirror.lab\r"),
    ("host", "nvidia_toolkit_version", "1.17.8-1\n", "1.17.8-1\n"),
    ("host", "docker_ce_repo_url", "https://x.example/\n", "https://x.example/\n"),
]


@pytest.mark.parametrize("level, field, value, bad", CONTROL, ids=lambda v: repr(v)[:30])
def test_control_character_is_refused_naming_field_and_value(level, field, value, bad):
    data = one(**{field: value}) if level == "svc" else {host_key(field): value}
    label = "#0" if field == "name" else "svc-a"  # a bad name is not repeated as the label
    msg = message_for(refused(data), label if level == "svc" else None, field)
    assert f"value {bad!r} is not allowed (contains the control character" in msg, msg
    assert "printable characters only" in msg


# -- Docker's env-file line limit -----------------------------------------------------------------


def test_env_line_at_dockers_limit_is_accepted_and_one_byte_more_refused():
    fits = "x" * (ENV_FILE_LINE_MAX - len("BIG="))
    assert load_host_config(HOST, one(env={"BIG": fits})).tgi_services[0].env["BIG"] == fits
    msg = message_for(refused(one(env={"BIG": fits + "x"})), "svc-a", "env")
    assert "65536 bytes" in msg and "at most 65535 bytes" in msg and "bufio.Scanner" in msg


def test_env_value_over_64k_is_refused_with_a_truncated_value():
    msg = message_for(refused(one(env={"BIG": "y" * 70000})), "svc-a", "env")
    assert "value BIG='yyyy" in msg and "(70000 chars)" in msg and "65535" in msg
    assert len(msg) < 1000, "the value must be truncated in the message"


def test_multibyte_env_value_is_counted_in_bytes():
    value = "é" * 40000  # 80000 bytes in UTF-8
    msg = message_for(refused(one(env={"E": value})), "svc-a", "env")
    assert "80002 bytes" in msg


# -- no error message repeats a secret ------------------------------------------------------------

TOKEN = "hf_PastedTokenAbcdefghijklmnop0123"
SECRET_INPUTS = [
    ("hf_token_env", one(hf_token_env=TOKEN), TOKEN, "svc-a"),
    (
        "api_key_env",
        one(api_key_env="sk-live-0123456789abcdef"),
        "sk-live-0123456789abcdef",
        "svc-a",
    ),
    ("extra_args", one(extra_args=[f"--api-key={TOKEN}"]), TOKEN, "svc-a"),
    (
        "extra_args",
        one(extra_args=["--api-key=plain-secret-key-42"]),
        "plain-secret-key-42",
        "svc-a",
    ),
    ("extra_args", one(extra_args=["--max-best-of", TOKEN]), TOKEN, "svc-a"),
    ("env", one(env={"SOME_VAR": TOKEN}), TOKEN, "svc-a"),
    ("env", one(env={"X": f"{TOKEN}\n"}), TOKEN, "svc-a"),
    ("model_id", one(model_id=f"{TOKEN}/../x"), TOKEN, "svc-a"),
    ("hf_token_env", one(hf_token_env=f"{TOKEN}\n"), TOKEN, "svc-a"),
    ("tgi_root", {"tgi_root": f"/opt/{TOKEN} x"}, TOKEN, None),
]


@pytest.mark.parametrize("field, data, secret, service", SECRET_INPUTS, ids=lambda v: str(v)[:20])
def test_no_error_message_repeats_a_secret(field, data, secret, service):
    errors = refused(data)
    text = "\n".join(errors)
    assert secret not in text, text
    message_for(errors, service, field)


def test_figures():
    """The counts the report quotes: every bad input above is refused."""
    bad = len(ROOT_REFUSED) + len(VOLUME_REFUSED) + len(CONTROL) + 3 + len(SECRET_INPUTS)
    good = len(ROOT_ACCEPTED) + len(VOLUME_ACCEPTED) + 1
    assert (bad, good) == (88, 11)
