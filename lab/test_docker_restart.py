"""A deploy that restarts Docker leaves every service answering when it exits, and the
insecure registries it added to daemon.json go again when the inventory drops them.

One lab host of its own (the ``debian12`` profile's shape: Debian 12, systemd, SSH as root; one
service behind an API key, with a warm-up of ``WARMUP_S`` during which its port is closed, as a
real model's load takes), whose daemon.json starts with the user's own settings: a
``log-level`` and an insecure registry of their own. The real pyinfra CLI deploys it; then:

1. the inventory adds an insecure registry: daemon.json changes, Docker restarts (which stops
   the service's container), and when the deploy exits 0 the service answers at once; the
   output says how long it took to come back;
2. the inventory drops it again: it leaves daemon.json (the user's entry and keys stay), Docker
   restarts, the service answers at once;
3. the same inventory again changes nothing and restarts nothing.

Run alone: ``TGI_LAB_INSTANCE=<you> pytest lab/test_docker_restart.py`` (``TGI_LAB_KEEP=1``
keeps the host for a rerun with ``TGI_LAB_REUSE=1``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from tgi_infra.engines import engine_spec

from lab import lab, profiles
from lab.conftest import lab_env

PROFILE = profiles.BY_NAME["debian12"]
HOST = PROFILE.host
USER_DAEMON_JSON = {"log-level": "warn", "insecure-registries": ["user.lab:5002"]}
EXTRA = "extra.lab:5001"
SERVICE = profiles.SERVICE["name"]


# a warm-up as long as the one seen in the field (a service came back 23 s after the restart):
# the port stays closed meanwhile (lab/tgi_standin/CONTRACT.md, TGI_STANDIN_WARMUP_S)
WARMUP_S = 20
SERVICES = [{**profiles.SERVICE, "env": {"TGI_STANDIN_WARMUP_S": str(WARMUP_S)}}]


def _deploy(state, env: dict, overrides: dict | None = None) -> tuple[int, str]:
    run_env = dict(env)
    run_env["TGI_LAB_OVERRIDES"] = json.dumps(
        {HOST: {"tgi_services": SERVICES, **(overrides or {})}}
    )
    rc, _, out = profiles._deploy(run_env, timeout=1200)
    return rc, out


@pytest.fixture(scope="module")
def restart_lab():
    import docker

    spec = lab.HostSpec(HOST, PROFILE.kind, daemon_json=USER_DAEMON_JSON, release=PROFILE.release)
    reuse = os.environ.get("TGI_LAB_REUSE") == "1"
    state = lab.up(hosts=[spec], fresh=not reuse, state_file=profiles.state_file(PROFILE))
    env = profiles.profile_env(PROFILE, Path(state.state_dir), lab_env())
    rc, out = _deploy(state, env)
    if rc != 0:
        pytest.fail(f"first deploy failed ({rc}):\n{out[-6000:]}")
    yield state, env
    if os.environ.get("TGI_LAB_KEEP") != "1":
        lab.remove_host(docker.from_env(timeout=600), HOST)


def answers_now(state, env: dict) -> tuple[str, str]:
    """(/health code, one-token /generate code), asked on the host right after the deploy."""
    key = shlex.quote(f"Authorization: Bearer {env['TGI_LAB_API_KEY']}")
    base = "curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H " + key
    health = lab.exec_on(state, HOST, f"{base} http://127.0.0.1:8080/health", check=False)
    path, body = engine_spec("tgi").ready_request  # the deploy's own one-token request
    gen = lab.exec_on(
        state,
        HOST,
        f"{base} -H 'Content-Type: application/json' -d {shlex.quote(body)} "
        f"http://127.0.0.1:8080{path}",
        check=False,
    )
    return health.strip(), gen.strip()


def daemon_json(state) -> dict:
    return json.loads(lab.exec_on(state, HOST, "cat /etc/docker/daemon.json"))


def running_insecure(state) -> set[str]:
    out = lab.exec_on(state, HOST, "docker info --format '{{json .RegistryConfig.IndexConfigs}}'")
    return {name for name, idx in json.loads(out).items() if not idx.get("Secure")}


def changed(out: str) -> int:
    m = re.search(r"Grand total\s+(\S+)\s+(\S+)", out)
    assert m, out[-3000:]
    return 0 if m.group(2) == "-" else int(m.group(2))


def restarted(out: str) -> bool:
    """Whether the "Restart Docker" operation ran (its row in pyinfra's results table)."""
    m = re.search(
        r"Restart Docker \(daemon\.json changed\)\s+\S+\s+(\S+)\s+\S+\s+\S+\s*$", out, re.M
    )
    assert m, "no Restart Docker row in the results:\n" + out[-3000:]
    return m.group(1) == "1"


def back_after(out: str) -> int:
    m = re.search(rf"\] {SERVICE} back after (\d+)s \(Docker restarted: daemon\.json changed", out)
    assert m, "the deploy does not report the service back after the restart:\n" + out[-4000:]
    return int(m.group(1))


def test_added_registry_restarts_docker_and_the_service_answers_when_the_deploy_ends(
    restart_lab,
):
    state, env = restart_lab
    registry = state.registry
    rc, out = _deploy(state, env, {"tgi_docker_insecure_registries": [registry, EXTRA]})
    assert answers_now(state, env) == ("200", "200"), out[-4000:]
    assert rc == 0, out[-6000:]
    assert restarted(out), out[-4000:]
    seconds = back_after(out)
    print(f"{SERVICE} back after {seconds} s")
    assert seconds >= WARMUP_S / 2  # the wait really waited: the service was down
    daemon = daemon_json(state)
    assert daemon["log-level"] == "warn" and "nvidia" in daemon["runtimes"]
    assert daemon["insecure-registries"] == ["user.lab:5002", registry, EXTRA]
    assert EXTRA in running_insecure(state)


def test_dropped_registry_leaves_daemon_json_the_users_own_stays(restart_lab):
    state, env = restart_lab
    rc, out = _deploy(state, env)  # the lab's inventory: only the lab registry
    now = answers_now(state, env)
    assert rc == 0, out[-6000:]
    daemon = daemon_json(state)
    assert daemon["insecure-registries"] == ["user.lab:5002", state.registry]
    assert daemon["log-level"] == "warn" and "nvidia" in daemon["runtimes"]
    assert restarted(out), out[-4000:]
    assert now == ("200", "200"), out[-4000:]
    back_after(out)
    assert EXTRA not in running_insecure(state)
    assert "user.lab:5002" in running_insecure(state)
    record = json.loads(lab.exec_on(state, HOST, "cat /var/lib/tgi-infra/daemon-json-added.json"))
    assert record["added"] == {"insecure-registries": [state.registry]}
    mode = lab.exec_on(state, HOST, "stat -c '%a %U %G' /var/lib/tgi-infra/daemon-json-added.json")
    assert mode.strip() == "644 root root"


def test_same_inventory_again_restarts_nothing(restart_lab):
    state, env = restart_lab
    rc, out = _deploy(state, env)
    assert rc == 0, out[-6000:]
    assert changed(out) == 0, out[-4000:]
    assert f"{SERVICE} back after" not in out
