"""The container fact never reads the container's environment, the atomic
write operation through pyinfra itself, and what `present: false` may remove."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess

import pytest
from tgi_infra.host import facts

CANARY = "hf_FactCanary0123456789abcdefXYZ"


def sh(cmd: str) -> list[str]:
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.fixture(scope="module")
def container_with_secrets():
    """A real container whose environment holds a token and an API key, as a TGI one does."""
    tag = f"tgi-infra-atomic-test/empty:{os.getpid()}"  # one image per xdist worker
    name = f"tgi-infra-env-test-{os.getpid()}"
    tar = subprocess.run(["tar", "cf", "-", "--files-from", "/dev/null"], capture_output=True)
    subprocess.run(
        ["docker", "import", "-", tag], input=tar.stdout, check=True, capture_output=True
    )
    subprocess.run(
        ["docker", "create", "--name", name, "--label", "tgi-infra.config-hash=h9"]
        + ["--env", f"HF_TOKEN={CANARY}", "--env", "API_KEY=fact-api-key-1234", tag, "/x"],
        check=True,
        capture_output=True,
    )
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "rmi", tag], capture_output=True)


def test_container_fact_output_carries_no_environment(container_with_secrets):
    """pyinfra prints a fact's raw output at -vv and more: it must not hold the env."""
    name = container_with_secrets
    out = sh(facts.ContainerState().command([name, "tgi-infra-no-such-container"]))
    text = "\n".join(out)
    assert CANARY not in text and "fact-api-key-1234" not in text and "Env" not in text
    state = facts.ContainerState().process(out)
    assert state["tgi-infra-no-such-container"] is None
    assert state[name]["labels"] == {"tgi-infra.config-hash": "h9"}
    assert state[name]["status"] == "created" and state[name]["running"] is False
    assert state[name]["image"] == f"tgi-infra-atomic-test/empty:{os.getpid()}"


# -- atomic.put through pyinfra's @local connector ------------------------------------------------


def run_put(**kwargs):
    """Run one atomic.put on @local; returns (changed, failed)."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operation import add_op
    from pyinfra.api.operations import run_ops
    from tgi_infra.services import atomic

    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@local")
    meta = add_op(state, atomic.put, **kwargs)[host]
    try:
        run_ops(state)
    except PyinfraError:
        pass
    failed = host in state.failed_hosts
    return (False if failed else meta.did_change()), failed


def owner() -> dict:
    return {
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "group": grp.getgrgid(os.getgid()).gr_name,
    }


def test_atomic_put_writes_mode_and_content_and_is_idempotent(tmp_path):
    dest = tmp_path / "service.env"
    assert run_put(content="HF_TOKEN=x\n", dest=str(dest), mode=0o600, **owner()) == (True, False)
    assert dest.read_text() == "HF_TOKEN=x\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.env"], "staging dir left"
    again = run_put(content="HF_TOKEN=x\n", dest=str(dest), mode=0o600, **owner())
    assert again == (False, False), "same content must change nothing"
    # a wider mode on an existing file is narrowed, the content left as it is
    dest.chmod(0o644)
    assert run_put(content="HF_TOKEN=x\n", dest=str(dest), mode=0o600, **owner()) == (True, False)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_atomic_put_replaces_by_rename(tmp_path):
    dest = tmp_path / "tgi-service-stop.sh"
    dest.write_text("old\n")
    before = dest.stat().st_ino
    assert run_put(content="#!/bin/sh\nnew\n", dest=str(dest), mode=0o755, **owner())[0]
    assert dest.read_text() == "#!/bin/sh\nnew\n"
    assert dest.stat().st_ino != before, "rewritten in place instead of renamed over"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_atomic_put_into_a_missing_directory_fails_and_creates_nothing(tmp_path):
    dest = tmp_path / "missing" / "daemon.json"
    assert run_put(content='{"a": 1}\n', dest=str(dest), mode=0o644, **owner()) == (False, True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "detail, cause",
    [
        ("OSError: size mismatch in put!  0 != 812", "no space left on /opt/tgi/a"),
        ("head: error writing 'standard output': No space left on device", "no space left on"),
        ("mkdir: cannot create directory 'x': Read-only file system", "read-only file system at"),
        ("OSError: Failure", "OSError: Failure"),
    ],
)
def test_write_error_names_the_cause(detail, cause):
    from tgi_infra.services import atomic

    msg = atomic.write_error("/opt/tgi/a/tgi-service-stop.sh", detail)
    assert msg.startswith("could not write /opt/tgi/a/tgi-service-stop.sh: ")
    assert cause in msg and "kept unchanged" in msg


def test_stage_dir_is_hidden_next_to_the_file():
    from tgi_infra.services import atomic

    assert atomic.stage_dir("/etc/docker/daemon.json") == "/etc/docker/.daemon.json.tgi-tmp"


# -- what present: false may remove ---------------------------------------------------------------


def test_only_the_deploys_names_are_managed():
    from tgi_infra.services.managed_dir import (
        MANAGED_FILES,
        MARKER,
        is_managed_name,
        marker_content,
    )

    kept_for_rollback = (".service.env.previous", ".service.env.previous.new", ".service.env.new")
    for name in (*MANAGED_FILES, MARKER, ".service.env.tgi-tmp", ".tgi-service.sh.tgi-tmp",
                 *kept_for_rollback):  # fmt: skip
        assert is_managed_name(name), name
    for name in ("notes.txt", "models", ".ssh", ".bashrc.tgi-tmp", "service.env.bak", "."):
        assert not is_managed_name(name), name
    assert marker_content("svc").splitlines()[0] == "tgi-infra service svc"


def test_managed_dir_fact_on_real_directories(tmp_path):
    from tgi_infra.services.managed_dir import MARKER, ManagedDir, marker_content, parse_managed_dir

    d = tmp_path / "svc"
    assert parse_managed_dir(sh(ManagedDir().command(str(d)))) is None
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    assert parse_managed_dir(sh(ManagedDir().command(str(d)))) == {
        "marker": None,
        "entries": ["notes.txt"],
    }
    (d / MARKER).write_text(marker_content("svc"))
    got = parse_managed_dir(sh(ManagedDir().command(str(d))))
    assert got == {"marker": "tgi-infra service svc", "entries": [MARKER, "notes.txt"]}
    link = tmp_path / "link"
    link.symlink_to(d)
    assert parse_managed_dir(sh(ManagedDir().command(str(link)))) is None, "symlink followed"


# -- the log tail of a failed service ------------------------------------------------------------

# What real TGI's launcher logs (launcher/src/main.rs: `tracing::info!("{:#?}", args)` with the
# derived Debug of Args, and the router started with `--api-key <key>`), text and JSON format.
TGI_LOG = """\
2026-01-08T15:02:49.101Z  INFO text_generation_launcher: Args {
    model_id: "Qwen/Qwen2.5-0.5B-Instruct",
    api_key: Some(
        "key-from-env-5f0c2e",
    ),
    json_output: false,
}
{"timestamp":"2026-01-08T15:02:50Z","level":"INFO","fields":{"message":"Args {\\n    api_key: \
Some(\\n        \\"key-from-env-5f0c2e\\",\\n    ),\\n}"},"target":"text_generation_launcher"}
2026-01-08T15:02:55.000Z ERROR text_generation_launcher: Webserver Crashed: ["text-generation-\
router", "--api-key", "key-from-env-5f0c2e"] HF_TOKEN=hf_FromEnvToken0123456789abcdef
"""


def test_failed_service_log_tail_masks_the_secrets():
    from tgi_infra.services.ready import mask_log

    out = mask_log(TGI_LOG, ["key-from-env-5f0c2e", "hf_FromEnvToken0123456789abcdef", ""])
    assert "key-from-env-5f0c2e" not in out and "hf_FromEnvToken0123456789abcdef" not in out
    assert out.count("key…(masked)") == 3 and "hf_…(masked)" in out
    assert "Webserver Crashed" in out and 'model_id: "Qwen/Qwen2.5-0.5B-Instruct"' in out


def test_failed_upload_on_a_dropped_connection_names_the_file_without_a_traceback():
    """A host that hangs mid-upload: the watchdog closes its SSH session, so put_file fails and
    the diagnostic command after it cannot open a channel either. The upload reports the file
    and the cause (pyinfra then names the host) instead of raising out of the operation."""
    from paramiko.ssh_exception import SSHException
    from tgi_infra.services import atomic

    class DroppedHost:
        logged: list[str] = []

        def put_file(self, *args, **kwargs):
            raise SSHException("SSH session not active")

        def run_shell_command(self, *args, **kwargs):
            raise SSHException("SSH session not active")

        def log_styled(self, message, **kwargs):
            self.logged.append(message)

    class State:
        print_output = print_input = False

    upload = atomic._upload_function(b"data", "/opt/tgi/a/tgi-service-stop.sh", {})
    host = DroppedHost()
    assert upload(State(), host) is False
    assert len(host.logged) == 1 and "/opt/tgi/a/tgi-service-stop.sh" in host.logged[0]
    assert "SSH session not active" in host.logged[0], host.logged
