"""In the lab: one field, `engine`, moves a running TGI service to vLLM.

The real deploy (pyinfra over SSH) sees the changed config of one service, prefetches its
weights with the new image's huggingface_hub (the vLLM stand-in image's, lab/standin_common/hub.py)
while the TGI container serves, swaps the container, waits for vLLM's readiness, and leaves
every other container as it was (compared by container id). The smoke suite then takes the
service's engine from the inventory and passes vLLM's checks on it.
"""

from __future__ import annotations

import json

import pytest

from lab import lab
from lab.conftest import run_deploy, run_smoke
from lab.fleet import assert_ok, container_ids, lab_services, only, restore
from lab.inventory_data import ENGINE_CPU_IMAGES

HOST, SERVICE = "lab-linux-2", "tgi-service"  # the TGI service with an API key
# where the vLLM image's HF cache (/root/.cache/huggingface) is on the host: the service volume
HUB = "/var/lib/tgi/data/hub"


def test_tgi_to_vllm_by_changing_engine_replaces_one_container(deployed_lab, tmp_path):
    before = container_ids(deployed_lab)
    services = lab_services(HOST)
    svc = next(s for s in services if s["name"] == SERVICE)
    assert svc.get("engine", "tgi") == "tgi"
    # the user's edit: the engine (and, in CPU mode, the engine's CPU build as the image)
    svc.update(engine="vllm", image=ENGINE_CPU_IMAGES["vllm"])
    overrides = {HOST: {"tgi_services": services}}
    repo_dir = f"{HUB}/models--{svc['model_id'].replace('/', '--')}"
    lab.exec_on(deployed_lab, HOST, f"rm -rf {repo_dir}")  # the prefetch must fill it
    try:
        run = run_deploy(overrides)
        assert_ok(run, "deploy with engine vllm")
        assert f"{SERVICE}: prefetching {svc['model_id']} with the new image" in run.output
        snap = lab.exec_on(deployed_lab, HOST, f"ls {repo_dir}/snapshots/*/model.safetensors")
        assert "model.safetensors" in snap, "the prefetch did not fill the vLLM image's HF cache"

        after = container_ids(deployed_lab)
        changed = sorted(k for k in before if after[k] != before[k])
        assert changed == [(HOST, SERVICE)], f"expected one container replaced, got {changed}"
        assert all(after[k] for k in after), after

        c = json.loads(lab.exec_on(deployed_lab, HOST, f"docker inspect {SERVICE}"))[0]
        assert c["Config"]["Labels"]["tgi-infra.engine"] == "vllm"
        assert c["Config"]["Image"].endswith("/q9t5s3a7/vllm-cpu-release-repo:v0.33.0")
        assert c["Config"]["Entrypoint"] == ["vllm", "serve"]
        assert c["Config"]["Cmd"][0] == svc["model_id"], c["Config"]  # `vllm serve MODEL ...`
        names = lab.exec_on(deployed_lab, HOST, "docker ps -a --format '{{.Names}}'")
        assert "-previous" not in names and "-prefetch" not in names, names

        out = tmp_path / "smoke.json"
        proc = run_smoke("--json", str(out), overrides=overrides)
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
        targets = {t["name"]: t for t in json.loads(out.read_text())["targets"]}
        moved = targets[f"{HOST}/{SERVICE}"]
        assert moved["engine"] == "vllm" and moved["passed"], moved
        checks = {c["name"]: c["status"] for c in moved["checks"]}
        assert checks["completions"] == checks["chat"] == checks["auth"] == "passed", checks
        assert checks.get("generate", "skipped") == "skipped"  # TGI's route: not vLLM's
        assert targets[f"{HOST}/sglang-service"]["engine"] == "sglang"

        again = run_deploy(overrides, args=only(HOST))
        assert_ok(again, "second deploy with engine vllm")
        assert again.totals()["changed"] == 0, again.output[-4000:]
    finally:
        restore(HOST)
    restored = json.loads(lab.exec_on(deployed_lab, HOST, f"docker inspect {SERVICE}"))[0]
    assert restored["Config"]["Labels"]["tgi-infra.engine"] == "tgi"


@pytest.mark.parametrize(
    "host,service,env,cause",
    [
        ("lab-linux-1", "vllm-service", {"VLLM_STANDIN_FAULT": "crash_at_start"},
         "vLLM ran out of GPU memory at start"),
        ("lab-linux-2", "sglang-service", {"SGLANG_STANDIN_FAULT": "crash_nccl"},
         "NCCL / shared memory failed between tensor-parallel ranks"),
    ],
)  # fmt: skip
def test_engine_crash_at_start_fails_naming_the_cause_and_rolls_back(
    deployed_lab, host, service, env, cause
):
    """The engine writes its fatal error to stderr: the deploy reads `docker logs` with stderr,
    names the engine's likely cause, and the previous container serves again."""
    before = container_ids(deployed_lab)
    services = lab_services(host)
    next(s for s in services if s["name"] == service)["env"] = env
    try:
        run = run_deploy({host: {"tgi_services": services}}, args=only(host))
        assert run.returncode != 0, "a crashing service must fail the deploy"
        assert f"service {service} is not ready" in run.output, run.output[-4000:]
        assert "likely cause:" in run.output and cause in run.output, run.output[-4000:]
        assert "last log lines" in run.output
        # one block: the cause and the log tail once, no traceback (deploy/host/remote.py reported)
        assert run.output.count("likely cause:") == 1, run.output[-6000:]
        assert run.output.count(f"service {service} is not ready") == 1, run.output[-6000:]
        # the engine's own traceback, in the log tail, is under the host's prefix
        lines = run.output.splitlines()
        assert not [line for line in lines if line.lstrip().startswith("Traceback")], lines
        assert "site-packages/pyinfra/" not in run.output, run.output[-6000:]
        assert "Unexpected error in Python callback" not in run.output, run.output[-6000:]
        after = container_ids(deployed_lab)
        assert after == before, "the rollback must bring the previous container back"
    finally:
        restore(host)
