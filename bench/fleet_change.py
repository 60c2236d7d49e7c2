"""``python -m bench.fleet_change``: changing a running fleet (issue 14), on the container lab.

Needs the lab up and deployed (``TGI_LAB_INSTANCE=... python -m lab up`` and a deploy of
``inventories/lab.py``). Writes ``bench/raw/fleet_change.json`` and rewrites RESULTS.md.

1. **Unavailable seconds per host for a model change** (lab-wsl-1, one service): a poller on
   the host itself asks ``/health`` every 0.1 s; the figure is the longest run of answers other
   than 200. Every repetition moves to a model id the volume has never seen (weights not cached),
   with a stand-in download of ``DOWNLOAD_S`` s and warm-up of ``WARMUP_S`` s.
   - *before* (the old behaviour): the rendered creation script run as the old deploy ran it:
     stop, ``docker rm -f``, create, start; TGI downloads the weights inside the window;
   - *after*: the deploy (prefetch with ``text-generation-server download-weights``, then swap).
2. **Time to roll three hosts**: ``tgi-deploy rollout inventories/lab.py --batch 1`` with a
   model change on every host (new, uncached model; smoke checks ready,info,generate,chat).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lab import lab
from lab.conftest import lab_env, run_deploy
from lab.test_lab import lab_services

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RAW = HERE / "raw" / "fleet_change.json"
HOST, SERVICE, PORT = "lab-wsl-1", "tgi-service", 8080
DOWNLOAD_S, WARMUP_S = "20", "2"
POLL = (
    "while :; do c=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 1 "
    'http://127.0.0.1:{port}/health); echo "$(date +%s.%N) $c"; sleep 0.1; done > {log}'
)


def new_model() -> str:
    return f"bench/downtime-{uuid.uuid4().hex[:8]}"


def changed_services(host: str, model: str) -> list[dict]:
    services = lab_services(host)
    services[0]["model_id"] = model
    services[0]["env"] = {"TGI_STANDIN_DOWNLOAD_S": DOWNLOAD_S, "TGI_STANDIN_WARMUP_S": WARMUP_S}
    return services


def unavailable_s(lines: list[str]) -> float:
    """Longest run of non-200 samples, from its first sample to the next 200."""
    worst, start = 0.0, None
    for line in lines:
        parts = line.split()
        if len(parts) != 2:
            continue
        t, code = float(parts[0]), parts[1]
        if code != "200" and start is None:
            start = t
        elif code == "200" and start is not None:
            worst, start = max(worst, t - start), None
    return worst


def with_poller(state, action) -> float:
    log = f"/tmp/poll-{uuid.uuid4().hex[:6]}.log"
    cmd = POLL.format(port=PORT, log=log)
    lab.exec_on(state, HOST, f"setsid nohup bash -c {shlex.quote(cmd)} >/dev/null 2>&1 & "
                f"echo $! > {log}.pid")  # fmt: skip
    time.sleep(1)
    try:
        action()
        time.sleep(1)
    finally:
        lab.exec_on(state, HOST, f"kill -- -$(cat {log}.pid) 2>/dev/null; kill $(cat {log}.pid)",
                    check=False)  # fmt: skip
    lines = lab.exec_on(state, HOST, f"cat {log}").splitlines()
    lab.exec_on(state, HOST, f"rm -f {log} {log}.pid", check=False)
    return unavailable_s(lines)


def before(state) -> float:
    """The old flow: the creation script (stop, rm -f, create, start), then wait for 200."""
    from tgi_infra.config import load_host_config
    from tgi_infra.services.render import render_service

    model = new_model()
    services = changed_services(HOST, model)
    ns = json.loads(json.dumps(_host_data(HOST)))
    cfg = load_host_config(HOST, {**ns, "tgi_services": services})
    svc = cfg.tgi_services[0]
    script = render_service(HOST, cfg, svc, "docker").files["tgi-service-creation.sh"][0]
    path = "/tmp/old-creation.sh"
    lab.exec_on(state, HOST, f"cat > {path} <<'EOF'\n{script}EOF")
    env_lines = "".join(f"{k}={v}\n" for k, v in services[0]["env"].items())
    # the old deploy wrote the new env file first (non-secret lines appended here)
    lab.exec_on(
        state, HOST, f"printf %s {shlex.quote(env_lines)} >> {cfg.service_dir(svc)}/service.env"
    )

    def act() -> None:
        lab.exec_on(state, HOST, f"bash {path}")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            code = lab.exec_on(state, HOST, f"curl -s -o /dev/null -w '%{{http_code}}' "
                               f"localhost:{PORT}/health", check=False)  # fmt: skip
            if code.strip() == "200":
                return
            time.sleep(0.2)
        raise RuntimeError("the old flow's container never answered")

    return with_poller(state, act)


def after(state) -> float:
    services = changed_services(HOST, new_model())

    def act() -> None:
        run = run_deploy({HOST: {"tgi_services": services}})
        if run.returncode != 0:
            raise RuntimeError(run.output[-4000:])

    return with_poller(state, act)


def rollout_three() -> dict:
    model = new_model()
    overrides = {h: {"tgi_services": changed_services(h, model)} for h in lab_hosts()}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tgi_infra", "rollout", "inventories/lab.py", "--batch", "1"],
        cwd=REPO, env=lab_env(overrides), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    wall = time.monotonic() - t0
    summary = proc.stdout[proc.stdout.find("rollout summary") :]
    return {"wall_s": round(wall, 2), "rc": proc.returncode, "summary": summary.strip()}


def lab_hosts() -> list[str]:
    return ["lab-linux-1", "lab-linux-2", "lab-wsl-1"]


def _host_data(host: str) -> dict:
    import runpy

    ns = runpy.run_path(str(REPO / "inventories/lab.py"))
    for name, data in ns["lab_linux"] + ns["lab_wsl"]:
        if name == host:
            return {k: v for k, v in data.items() if k.startswith("tgi_")}
    raise KeyError(host)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet_change")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rollout-reps", type=int, default=1)
    args = p.parse_args(argv)
    os.environ.setdefault("TGI_LAB_STATE_DIR", str(lab.state_dir()))
    state = lab.up()
    res: dict = {"download_s": float(DOWNLOAD_S), "warmup_s": float(WARMUP_S), "samples": []}
    try:
        for rep in range(args.reps):
            for flow, fn in (("before", before), ("after", after)):
                if run_deploy().returncode != 0:
                    raise RuntimeError("restoring deploy failed")
                s = fn(state)
                res["samples"].append({"flow": flow, "rep": rep, "unavailable_s": round(s, 2)})
                print(json.dumps(res["samples"][-1]), flush=True)
        res["rollout"] = []
        for _ in range(args.rollout_reps):
            run_deploy()
            res["rollout"].append(rollout_three())
            print(json.dumps(res["rollout"][-1]), flush=True)
    finally:
        run_deploy()
    RAW.parent.mkdir(exist_ok=True)
    RAW.write_text(json.dumps(res, indent=1))
    from bench.__main__ import write_report

    write_report(HERE / "RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
