"""On the lab: change a running fleet safely.

A model change prefetches the weights while the old container serves, then swaps; a new
config that crashes is rolled back to the previous container; a deploy without the token
changes nothing; a new token restarts once; a model change does no daemon-reload; a swap
interrupted after setting the old container aside is finished by the next deploy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from tgi_infra.services import swap

from lab import lab
from lab.conftest import HF_TOKEN_CANARY, REPO, lab_env, run_deploy
from lab.fleet import SERVICES, assert_ok, container_ids, lab_services, only, restore

NEW_MODEL = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
UNCACHED = f"lab/prefetch-{uuid.uuid4().hex[:8]}"  # never in the volume: the prefetch downloads


def info(state, host: str, port: int) -> dict:
    # -f: an HTTP error fails here with its status, not as JSON that does not parse
    return json.loads(lab.exec_on(state, host, f"curl -fsS localhost:{port}/info"))


def cid(state, host: str, name: str) -> str:
    return lab.exec_on(state, host, f"docker inspect -f '{{{{.Id}}}}' {name}").strip()


def reloads(state, host: str) -> int:
    """systemd's count of daemon-reloads (it logs "Reloading" for each one)."""
    out = lab.exec_on(state, host, "journalctl -b -o cat _PID=1 | grep -c '^Reloading' || true")
    return int(out.strip() or 0)


def test_model_change_prefetches_while_serving_then_swaps_without_daemon_reload(deployed_lab):
    services = lab_services("lab-linux-1")
    services[1]["model_id"] = UNCACHED
    reloads_before = reloads(deployed_lab, "lab-linux-1")
    try:
        run = run_deploy({"lab-linux-1": {"tgi_services": services}}, args=only("lab-linux-1"))
        assert_ok(run, "deploy with a model change")
        out = run.output
        assert f"prefetching {UNCACHED}" in out, out[-4000:]
        assert "Download file: model.safetensors" in out, "download progress not shown"
        assert out.index("prefetching") < out.index("replaced (config changed)")
        assert info(deployed_lab, "lab-linux-1", 8081)["model_id"] == UNCACHED
        names = lab.exec_on(deployed_lab, "lab-linux-1", "docker ps -a --format '{{.Names}}'")
        assert "tgi-small-previous" not in names and "prefetch" not in names, names
        assert reloads(deployed_lab, "lab-linux-1") == reloads_before, "daemon-reload happened"
        again = run_deploy({"lab-linux-1": {"tgi_services": services}}, args=only("lab-linux-1"))
        assert again.totals()["changed"] == 0, again.output[-3000:]
    finally:
        restore("lab-linux-1")


def test_crash_of_the_new_config_restores_the_previous_container(deployed_lab):
    for host, port in (("lab-linux-1", 8081), ("lab-wsl-1", 8080)):
        services = lab_services(host)
        idx = 1 if host == "lab-linux-1" else 0
        name = services[idx]["name"]
        old_model = services[idx]["model_id"]
        old_id = cid(deployed_lab, host, name)
        env_file = f"/opt/tgi/{name}/service.env"
        old_env = lab.exec_on(deployed_lab, host, f"sha256sum {env_file}").split()[0]
        services[idx]["model_id"] = NEW_MODEL
        services[idx]["env"] = {"TGI_STANDIN_FAULT": "crash_at_start"}
        run = run_deploy({host: {"tgi_services": services}}, args=only(host))
        assert run.returncode != 0, f"{host}: a crashing new config must fail the deploy"
        out = run.output
        assert f"service {name}: change not applied" in out, out[-4000:]
        assert "the previous container was restored and serves again" in out, out[-30000:]
        assert "likely cause: the GPU ran out of memory" in out
        assert cid(deployed_lab, host, name) == old_id, f"{host}: not the previous container"
        assert info(deployed_lab, host, port)["model_id"] == old_model
        names = lab.exec_on(deployed_lab, host, "docker ps -a --format '{{.Names}}'")
        assert f"{name}-previous" not in names, names
        # the env file went back with its container: the old one, 0600, no copy left over
        env_now = lab.exec_on(deployed_lab, host, f"sha256sum {env_file}").split()[0]
        assert env_now == old_env, f"{host}: service.env is not the previous container's"
        mode = lab.exec_on(deployed_lab, host, f"stat -c '%a %U' {env_file}").strip()
        assert mode == "600 root", mode
        left = lab.exec_on(deployed_lab, host, f"ls -A /opt/tgi/{name}")
        assert ".service.env.previous" not in left, left
        restore(host)


def test_next_deploy_restores_a_swap_interrupted_after_setting_the_old_container_aside(
    deployed_lab,
):
    """What a deploy killed mid-swap leaves: the running container's files kept, the new
    config's written, the old container stopped and renamed <name>-previous, no new one. The
    next deploy restores it (container, env file, scripts, unit) and says so in one line."""
    host, name = "lab-linux-1", "tgi-small"
    d, unit = f"/opt/tgi/{name}", f"tgi-{name}.service"
    files = f"{d}/service.env {d}/tgi-service-creation.sh /etc/systemd/system/{unit}"
    before = lab.exec_on(deployed_lab, host, f"sha256sum {files}")
    old_id = cid(deployed_lab, host, name)
    lab.exec_on(
        deployed_lab,
        host,
        f"{swap.keep_command(f'{d}/service.env', unit)} && "
        f"echo '# the new config' >> {d}/tgi-service-creation.sh && "
        f"printf 'HF_TOKEN=hf_RotatedOutLabToken\\n' > {d}/service.env && "
        f"systemctl stop {unit} && docker stop {name} >/dev/null && "
        f"docker rename {name} {name}-previous",
    )
    restored = False
    try:
        run = run_deploy()
        assert_ok(run, "deploy after an interrupted swap")
        line = f"{name}: an interrupted swap was found ({name}-previous, .service.env.previous, "
        assert line in run.output, run.output[-6000:]
        assert "the new container is missing or not running: the previous one is restored " in (
            run.output
        )
        assert cid(deployed_lab, host, name) == old_id, "not the previous container"
        assert info(deployed_lab, host, 8081)["model_id"] == lab_services(host)[1]["model_id"]
        names = lab.exec_on(deployed_lab, host, "docker ps -a --format '{{.Names}}'")
        assert f"{name}-previous" not in names, names
        left = lab.exec_on(deployed_lab, host, f"ls -A {d}")
        assert ".previous" not in left, left
        # the files on disk describe the container that runs: the ones it was created from
        assert lab.exec_on(deployed_lab, host, f"sha256sum {files}") == before
        again = run_deploy()
        restored = again.returncode == 0
        assert again.totals()["changed"] == 0, again.output[-3000:]
        assert "interrupted swap" not in again.output
    finally:
        if not restored:
            restore(host)


def test_deploy_without_the_token_keeps_it_and_a_new_token_restarts_once(deployed_lab):
    before = container_ids(deployed_lab)
    bare = run_deploy(HF_TOKEN="")
    assert_ok(bare, "deploy without HF_TOKEN")
    assert bare.totals()["changed"] == 0, bare.output[-4000:]
    assert "service tgi-service keeps the HF_TOKEN already on the host" in bare.output
    assert container_ids(deployed_lab) == before
    env = lab.exec_on(deployed_lab, "lab-wsl-1", "cat /opt/tgi/tgi-service/service.env")
    assert f"HF_TOKEN={HF_TOKEN_CANARY}" in env
    try:
        new = run_deploy(HF_TOKEN="hf_AnotherLabToken9876543210")
        assert_ok(new, "deploy with a new token")
        assert "the token in service.env changed: applied with one restart" in new.output
        assert "hf_AnotherLabToken" not in new.output
        after = container_ids(deployed_lab)
        assert all(after[k] != before[k] for k in before), "every service must restart once"
        assert run_deploy(HF_TOKEN="hf_AnotherLabToken9876543210").totals()["changed"] == 0
    finally:
        restore()  # every host had the new token


def run_rollout(overrides: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgi_infra", "rollout", "inventories/lab.py", *args],
        cwd=REPO, env=lab_env(overrides), capture_output=True, text=True, timeout=1500,
    )  # fmt: skip


def test_rollout_stops_at_the_first_failing_host_and_rolls_it_back(deployed_lab):
    before = container_ids(deployed_lab)
    overrides = {}
    for host in ("lab-linux-1", "lab-linux-2", "lab-wsl-1"):
        services = lab_services(host)
        services[0]["model_id"] = NEW_MODEL
        if host == "lab-linux-2":  # ready for the deploy, but the smoke `info` check fails
            services[0]["env"] = {"TGI_STANDIN_FAULT": "wrong_model_id"}
        overrides[host] = {"tgi_services": services}
    try:
        proc = run_rollout(overrides, "--batch", "1")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out[-5000:]
        summary = out[out.index("rollout summary") :]
        assert "done:        lab-linux-1\n" in summary, summary
        assert "rolled back: lab-linux-2\n" in summary, summary
        assert "untouched:   lab-wsl-1\n" in summary, summary
        assert "lab-linux-2: tgi-service: info:" in summary
        assert info(deployed_lab, "lab-linux-1", 8080)["model_id"] == NEW_MODEL
        old = lab_services("lab-linux-2")[0]["model_id"]
        assert info(deployed_lab, "lab-linux-2", 8080)["model_id"] == old
        assert (
            cid(deployed_lab, "lab-linux-2", "tgi-service")
            == before[("lab-linux-2", "tgi-service")]
        )
        assert (
            container_ids(deployed_lab)[("lab-wsl-1", "tgi-service")]
            == before[("lab-wsl-1", "tgi-service")]
        )
        for host in ("lab-linux-1", "lab-linux-2"):
            names = lab.exec_on(deployed_lab, host, "docker ps -a --format '{{.Names}}'")
            assert "-previous" not in names, (host, names)
    finally:
        restore("lab-linux-1", "lab-linux-2")  # lab-wsl-1 was left untouched


LAB_MODELS = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": 269_060_552,
    "HuggingFaceTB/SmolLM2-360M-Instruct": 723_674_912,
    "Qwen/Qwen2.5-0.5B-Instruct": 988_097_824,
}


def test_preflight_against_hub_disk_and_ports_stops_before_any_change(deployed_lab):
    from lab.hub_standin.server import Catalog, serve

    catalog = {
        "models": {
            **{m: {"files": {"model.safetensors": size}} for m, size in LAB_MODELS.items()},
            "meta-llama/Llama-3.1-8B-Instruct": {"gated": True, "files": {"a.safetensors": 1}},
            "org/huge": {"files": {"model.safetensors": 50 * 10**12}},
        },
        "tokens": {HF_TOKEN_CANARY: []},  # a valid token without access to the gated model
    }
    httpd = serve(Catalog(catalog))
    endpoint = f"http://127.0.0.1:{httpd.server_address[1]}"
    lab.exec_on(
        deployed_lab, "lab-linux-1",
        "setsid nohup python3 -m http.server 8090 >/dev/null 2>&1 < /dev/null & "
        "echo $! > /tmp/http8090.pid; sleep 1",
    )  # fmt: skip
    before = container_ids(deployed_lab)
    services = lab_services("lab-linux-1")
    services[0]["model_id"] = "meta-llama/Llama-3.1-8B-Instruct"
    services[1]["port"] = 8090
    services[1]["model_id"] = "/data/no-such-model"
    services.append({"name": "tgi-huge", "model_id": "org/huge", "port": 8092})
    try:
        hub_on = {h: {"tgi_hub_check": True} for h in ("lab-linux-1", "lab-linux-2", "lab-wsl-1")}
        ok = run_deploy(hub_on, HF_ENDPOINT=endpoint)
        assert_ok(ok, "deploy with the Hub check on, nothing wrong")
        assert ok.totals()["changed"] == 0, ok.output[-3000:]
        bad = run_deploy(
            {"lab-linux-1": {"tgi_hub_check": True, "tgi_services": services}},
            HF_ENDPOINT=endpoint,
        )
        out = bad.output
        assert bad.returncode != 0
        assert "preflight failed, no host was changed" in out, out[-4000:]
        assert (
            "host lab-linux-1: service tgi-service: field model_id: value "
            "'meta-llama/Llama-3.1-8B-Instruct': model meta-llama/Llama-3.1-8B-Instruct is "
            "gated and the token in HF_TOKEN may not read it"
        ) in out
        assert (
            "service tgi-small: field port: value 8090: already taken on the host by python3" in out
        )
        assert "service tgi-small: field model_id: value '/data/no-such-model': no such path" in out
        assert "service tgi-huge: the weights of org/huge need 50000.0 GB" in out
        assert HF_TOKEN_CANARY not in out
        assert container_ids(deployed_lab) == before, "a host changed although preflight failed"
        # hub_check false
        air = run_deploy({"lab-linux-1": {"tgi_services": services[:1]}}, args=only("lab-linux-1"))
        assert "Hub check skipped (tgi_hub_check: false, air-gapped)" in air.output
    finally:
        httpd.shutdown()
        lab.exec_on(deployed_lab, "lab-linux-1", "kill $(cat /tmp/http8090.pid)", check=False)
        restore("lab-linux-1")


def test_adding_a_service_next_to_running_ones_does_no_daemon_reload(deployed_lab):
    services = lab_services("lab-linux-1")
    services.append({"name": "tgi-extra", "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                     "port": 8093, "bind": "0.0.0.0"})  # fmt: skip
    before = reloads(deployed_lab, "lab-linux-1")
    try:
        run = run_deploy({"lab-linux-1": {"tgi_services": services}}, args=only("lab-linux-1"))
        assert_ok(run, "deploy adding a service")
        assert reloads(deployed_lab, "lab-linux-1") == before, "daemon-reload happened"
        unit = "tgi-tgi-extra"
        state = lab.exec_on(
            deployed_lab, "lab-linux-1", f"systemctl is-active {unit}; systemctl is-enabled {unit}"
        )
        assert state.split() == ["active", "enabled"], state
        assert info(deployed_lab, "lab-linux-1", 8093)["model_id"].endswith("135M-Instruct")
    finally:
        services[-1]["present"] = False
        removed = run_deploy({"lab-linux-1": {"tgi_services": services}}, args=only("lab-linux-1"))
        assert_ok(removed, "removing tgi-extra")


def test_rendered_config_hash_equals_the_deployed_label(deployed_lab, tmp_path):
    def render(*extra: str) -> dict[tuple[str, str], str]:
        proc = subprocess.run(
            [sys.executable, "-m", "tgi_infra", "render", "inventories/lab.py",
             "--out", str(tmp_path / "r"), *extra],
            cwd=REPO, env=lab_env(), capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        pairs = {}
        for line in proc.stdout.splitlines():
            if "config-hash " in line and ": " in line:
                where, rest = line.split(": ", 1)
                host, svc = where.split("/")
                pairs[(host, svc)] = rest.split("config-hash ")[1].split()[0]
        return pairs

    rendered = render("--no-systemd", "lab-wsl-1")
    assert len(rendered) == sum(map(len, SERVICES.values()))  # every lab service
    fmt = "'{{index .Config.Labels \"tgi-infra.config-hash\"}}'"
    for (host, svc), digest in rendered.items():
        label = lab.exec_on(deployed_lab, host, f"docker inspect -f {fmt} {svc}").strip()
        assert label == digest, (host, svc)
