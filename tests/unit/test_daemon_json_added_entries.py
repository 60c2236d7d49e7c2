"""daemon.json entries the deploy added go when the inventory drops them; the host's own stay
(``docker_engine.plan_daemon_json``, the record ``/var/lib/tgi-infra/daemon-json-added.json``).

The plan on its own (file, inventory and record in, file and record out), the record's parser,
the drift check of a removal whose restart never came, and the deploy step on pyinfra's
``@fake`` connector: facts in, commands out, and Docker restarted only when daemon.json changed.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from tgi_infra.config import load_host_config
from tgi_infra.host import reading
from tgi_infra.host.daemon_state import daemon_mismatches
from tgi_infra.host.docker_engine import plan_daemon_json, record_content
from tgi_infra.host.reading import parse_daemon_json_added

NONE = {"added": {}, "created_keys": []}
USER_FILE = {
    "log-driver": "journald",
    "insecure-registries": ["user.lab:5002"],
    "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
}


def ours(*entries: str, created: bool = False) -> dict:
    return {
        "added": {"insecure-registries": list(entries)} if entries else {},
        "created_keys": ["insecure-registries"] if created else [],
    }


def test_added_entry_is_recorded_next_to_the_users_own():
    plan = plan_daemon_json(USER_FILE, ["mirror.lab:5000"], NONE)
    assert plan.content == {
        **USER_FILE,
        "insecure-registries": ["user.lab:5002", "mirror.lab:5000"],
    }
    assert plan.added == ["mirror.lab:5000"] and plan.removed == []
    assert plan.record == plan.record_during == ours("mirror.lab:5000")


def test_dropped_entry_of_ours_is_removed_the_users_own_and_other_keys_stay():
    current = {**USER_FILE, "insecure-registries": ["user.lab:5002", "mirror.lab:5000"]}
    plan = plan_daemon_json(current, [], ours("mirror.lab:5000"))
    assert plan.content == USER_FILE  # log-driver and runtimes kept, the user's entry too
    assert plan.removed == ["mirror.lab:5000"]
    assert plan.record == NONE
    # until Docker restarted, the record still names it (a deploy killed in between)
    assert plan.record_during == ours("mirror.lab:5000")


def test_an_entry_the_user_had_before_the_inventory_listed_it_stays_when_dropped():
    listed = plan_daemon_json(USER_FILE, ["user.lab:5002"], NONE)
    assert listed.content is None and listed.record == NONE  # nothing to add: not ours
    dropped = plan_daemon_json(USER_FILE, [], listed.record)
    assert dropped.content is None and dropped.removed == []


def test_a_key_the_deploy_created_goes_with_its_last_entry():
    first = plan_daemon_json({"log-level": "warn"}, ["mirror.lab:5000"], NONE)
    assert first.content == {"log-level": "warn", "insecure-registries": ["mirror.lab:5000"]}
    assert first.record == ours("mirror.lab:5000", created=True)
    gone = plan_daemon_json(first.content, [], first.record)
    assert gone.content == {"log-level": "warn"}
    assert gone.record == NONE


def test_the_users_empty_list_is_kept():
    plan = plan_daemon_json(
        {"insecure-registries": ["mirror.lab:5000"]}, [], ours("mirror.lab:5000")
    )
    assert plan.content == {"insecure-registries": []}


def test_same_inventory_twice_changes_nothing():
    first = plan_daemon_json(USER_FILE, ["mirror.lab:5000", "10.9.0.0/16"], NONE)
    again = plan_daemon_json(first.content, ["mirror.lab:5000", "10.9.0.0/16"], first.record)
    assert again.content is None
    assert again.record == again.record_during == first.record


def test_no_file_and_nothing_to_add_writes_nothing():
    plan = plan_daemon_json(None, [], NONE)
    assert plan.content is None and plan.record == plan.record_during == NONE


def test_record_round_trips_and_a_broken_one_keeps_every_entry():
    text = record_content(ours("mirror.lab:5000", created=True))
    data = json.loads(text)
    assert "never removed" in data["about"]
    assert parse_daemon_json_added(text) == {**ours("mirror.lab:5000", created=True), "error": None}
    assert parse_daemon_json_added(None) == {**NONE, "error": None}
    broken = parse_daemon_json_added('{"added": {"insecure-registries": "x"}}')
    assert broken["added"] == {} and broken["error"]
    # with nothing recorded, nothing is taken away
    plan = plan_daemon_json(USER_FILE, [], {k: broken[k] for k in ("added", "created_keys")})
    assert plan.content is None


def test_removal_whose_restart_never_came_is_drift():
    """The file lost our entry but the daemon still runs with it: restart."""
    info = {
        "ServerVersion": "20.10.24",
        "RegistryConfig": {
            "IndexConfigs": {
                "mirror.lab:5000": {"Name": "mirror.lab:5000", "Secure": False},
                "docker.io": {"Name": "docker.io", "Secure": True},
            },
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        },
    }
    assert daemon_mismatches({}, info, ["mirror.lab:5000"]) == [
        "insecure registry 'mirror.lab:5000' removed from daemon.json but still applied"
    ]
    assert daemon_mismatches({"insecure-registries": ["mirror.lab:5000"]}, info, []) == []
    restarted = {**info, "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": []}}
    assert daemon_mismatches({}, restarted, ["mirror.lab:5000"]) == []


# -- the deploy step: facts in, commands out ---------------------------------------------------

M = reading.MARK


def run_gpu_host_steps(daemon_json: dict | None, record: dict | None, wanted: list[str]):
    """configure_daemon, the restart and record_daemon_json on a @fake systemd host; returns
    (commands run, names of the operations that changed)."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.operations import run_ops
    from pyinfra.operations.util import any_changed
    from tgi_infra.host import docker_engine

    responses: dict = {"docker.io docker-ce": [f"{M}dpkg", f"{M}cli", f"{M}info"]}
    if daemon_json is not None:
        responses[f"cat {reading.DAEMON_JSON_PATH}"] = [f"{M}present", json.dumps(daemon_json)]
    if record is not None:
        responses[f"cat {reading.DAEMON_JSON_ADDED_PATH}"] = [
            f"{M}present",
            *record_content(record).splitlines(),
        ]
    data = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": responses}
    inventory = Inventory(([("@fake/h1", data)], {}))
    state = State(inventory, Config())
    connect_all(state)
    fake = inventory.get_host("@fake/h1")
    cfg = load_host_config("h1", {"tgi_docker_insecure_registries": wanted})
    plan = SimpleNamespace(skip_engine_and_toolkit=False, systemd=True, wsl=False)

    def steps(cfg, plan):
        op = docker_engine.configure_daemon(cfg, plan)
        ops = [op] if op is not None else []
        docker_engine.ensure_running(cfg, plan, restart_if=any_changed(*ops))
        docker_engine.record_daemon_json(cfg, plan)

    add_deploy(state, steps, cfg, plan)
    run_ops(state)
    assert fake not in state.failed_hosts
    changed = [
        state.get_op_meta(op).names
        for op in state.get_op_order()
        if state.get_op_data_for_host(fake, op).operation_meta.did_change()
    ]
    return fake.connector.executed_commands, [n for names in changed for n in names]


def _writes(commands: list[str], path: str) -> list[str]:
    return [c for c in commands if "mv -fT" in c and path in c]


def test_deploy_removes_a_dropped_entry_restarts_docker_and_updates_the_record():
    current = {**USER_FILE, "insecure-registries": ["user.lab:5002", "mirror.lab:5000"]}
    commands, changed = run_gpu_host_steps(current, ours("mirror.lab:5000"), [])
    assert len(_writes(commands, reading.DAEMON_JSON_PATH)) == 1
    assert any("systemctl restart docker" in c for c in commands)
    record_writes = _writes(commands, reading.DAEMON_JSON_ADDED_PATH)
    assert len(record_writes) == 1, "the record is rewritten once, after the restart"
    assert commands.index(record_writes[0]) > next(
        i for i, c in enumerate(commands) if "systemctl restart docker" in c
    )
    assert any(n.endswith("Restart Docker (daemon.json changed)") for n in changed), changed


def test_deploy_records_before_it_adds():
    commands, _ = run_gpu_host_steps(USER_FILE, None, ["mirror.lab:5000"])
    record = _writes(commands, reading.DAEMON_JSON_ADDED_PATH)
    daemon = _writes(commands, reading.DAEMON_JSON_PATH)
    assert len(record) == 1 and len(daemon) == 1
    assert commands.index(record[0]) < commands.index(daemon[0])
    assert any("chmod 644" in c and reading.DAEMON_JSON_ADDED_PATH in c for c in commands)


@pytest.mark.parametrize(
    "current,record,wanted",
    [
        # ours, still wanted: nothing to do
        (
            {**USER_FILE, "insecure-registries": ["user.lab:5002", "mirror.lab:5000"]},
            ours("mirror.lab:5000"),
            ["mirror.lab:5000"],
        ),
        # the user's own entry dropped from the inventory: kept, nothing to do
        (USER_FILE, None, []),
    ],
)
def test_no_change_no_restart_no_record_write(current, record, wanted):
    commands, changed = run_gpu_host_steps(current, record, wanted)
    assert not any("systemctl restart docker" in c for c in commands), commands
    assert _writes(commands, reading.DAEMON_JSON_PATH) == []
    assert _writes(commands, reading.DAEMON_JSON_ADDED_PATH) == []
    assert not any("Restart Docker" in n for n in changed), changed


def test_insecure_registries_that_is_not_a_list_is_refused_before_any_change():
    with pytest.raises(ValueError, match="'insecure-registries' is str, not a list"):
        plan_daemon_json({"insecure-registries": "mirror.lab:5000"}, ["mirror.lab:5000"], NONE)
