"""``python -m lab``: bring the container lab up or down, or run the whole pipeline on it
(``demo``).

python -m lab demo          lab up, real `pyinfra inventories/lab.py deploy/main.py` over SSH,
                      then the smoke suite against every deployed service (results table)
python -m lab up [--fresh] [--deploy] [--workers N]  bring the lab up (hosts recreated bare
                      with --fresh); --deploy: then the lab tests' first deploy, its result kept
                      for them (lab/runs.py); --workers N: the labs of `pytest lab -n N` side by
                      side, one per pytest-xdist worker (lab/instances.py)
python -m lab down [--keep-caches] [--purge] [--dry-run]  remove this lab instance
                      (TGI_LAB_INSTANCE): its containers, network, volumes and image tags,
                      nothing of another instance; --keep-caches keeps its apt/registry caches
                      and image tags; --purge also the images all instances share, if no other
                      instance is left; --dry-run prints what would go
python -m lab status        show the lab's hosts
python -m lab profiles [--all | NAME...]  run host profiles (lab/profiles.py): deploy, smoke +
                      host checks, second deploy; default: the CI set
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tgi_infra.cli.deploy_runner import EXIT_INTERRUPTED, pyinfra_command, run_step

from lab import instances, lab

REPO = Path(__file__).resolve().parents[1]


def lab_env() -> dict[str, str]:
    """The control machine's environment for the lab: the API key the lab inventory names."""
    env = dict(os.environ)
    key_file = lab.state_dir() / "api_key"  # stable across runs: a new key would recreate
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text("lab-" + secrets.token_hex(12))
    env.setdefault("TGI_LAB_API_KEY", key_file.read_text().strip())
    env.setdefault("TGI_LAB_STATE_DIR", str(lab.state_dir()))
    return env


def pyinfra_cmd(*extra: str) -> list[str]:
    return pyinfra_command("inventories/lab.py", "-y", *extra)


def smoke_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "smoke", "--inventory", "inventories/lab.py", *extra]


def demo(fresh: bool) -> int:
    lab.up(fresh=fresh)
    print(
        "\n[lab] stand-ins in this run: the GPU (CPU mode, gpus: none), NVIDIA's apt repository "
        "and packages (lab/nvidia_mirror), the engines themselves (TGI: lab/tgi_standin, vLLM: "
        "lab/vllm_standin, SGLang: lab/sglang_standin, each behind its image's upstream name; "
        "vLLM and SGLang as their CPU builds) and the WSL "
        "kernel (lab-wsl-1 carries WSL's markers). Real: Debian, systemd, sshd, apt with signed "
        "repositories, Docker Engine, the registry, pyinfra over SSH, the smoke clients.",
        flush=True,
    )
    env = lab_env()
    print("\n[lab] deploying: " + " ".join(pyinfra_cmd()), flush=True)
    # run_step: an interrupt (Ctrl-C) is exit 130, not pyinfra's own 0
    rc = run_step("the deploy (pyinfra)", pyinfra_cmd(), cwd=REPO, env=env)
    if rc != 0:
        print(f"[lab] pyinfra failed with exit code {rc}", file=sys.stderr)
        return rc
    print("\n[lab] smoke suite: " + " ".join(smoke_cmd()), flush=True)
    rc = run_step("the smoke suite", smoke_cmd(), cwd=REPO, env=env)
    print(STANDIN_ANSWERS, flush=True)
    return rc


# which stand-in answered each engine's checks in the demo (inventories/lab.py)
STANDINS = {
    "tgi": "the TGI stand-in (lab/tgi_standin)",
    "vllm": "the vLLM stand-in (lab/vllm_standin)",
    "sglang": "the SGLang stand-in (lab/sglang_standin)",
}
STANDIN_ANSWERS = (
    "\n[lab] note: no model answered above: "
    + "; ".join(f"{engine} services: {who}" for engine, who in STANDINS.items())
    + ". A passed semantic_name / semantic_year means the stand-in restated the context sentence "
    "by rule; only a real engine on a GPU host shows that a model answers."
)


def up_workers(count: int, fresh: bool, deploy: bool) -> int:
    """``lab up`` for each pytest-xdist worker's lab, side by side (each in its own process: an
    instance is fixed when ``lab.lab`` is imported); the first failure's exit code."""
    argv = [sys.executable, "-m", "lab", "up"]
    argv += [flag for flag, on in (("--fresh", fresh), ("--deploy", deploy)) if on]
    procs = [
        subprocess.Popen(argv, cwd=REPO, env={**os.environ, **instances.worker_env(worker)})
        for worker in instances.worker_names(count)
    ]
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c != 0), 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["profiles"]:
        from lab import profiles

        return profiles.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="tgi-lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_demo = sub.add_parser("demo", help="lab up, deploy, smoke")
    p_demo.add_argument("--fresh", action="store_true", help="recreate the hosts bare first")
    p_up = sub.add_parser("up", help="bring the lab up")
    p_up.add_argument("--fresh", action="store_true", help="recreate the hosts bare")
    p_up.add_argument(
        "--deploy",
        action="store_true",
        help="then run the lab tests' first deploy (kept for them: TGI_LAB_REUSE=1 pytest lab)",
    )
    p_up.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="bring up the labs of `pytest lab -n N`, one per worker (lab/instances.py)",
    )
    p_down = sub.add_parser(
        "down",
        help="remove this lab instance (TGI_LAB_INSTANCE): containers, network, volumes, "
        "image tags; never another instance's",
    )
    p_down.add_argument(
        "--keep-caches",
        action="store_true",
        help="keep this instance's apt and registry cache volumes and image tags (faster up)",
    )
    p_down.add_argument(
        "--purge",
        action="store_true",
        help="also remove the images every instance shares (Debian bases, infra), only when "
        "no other lab instance has a container or volume left",
    )
    p_down.add_argument(
        "--dry-run", action="store_true", help="print what would be removed, remove nothing"
    )
    sub.add_parser("status", help="show the lab's hosts")
    sub.add_parser("profiles", help="run host profiles (python -m lab profiles --help)")
    args = parser.parse_args(argv)
    if args.cmd == "demo":
        try:
            return demo(args.fresh)
        except KeyboardInterrupt:  # Ctrl-C outside the deploy and smoke steps (lab up)
            print("interrupted: the demo stopped before it finished", file=sys.stderr)
            return EXIT_INTERRUPTED
    if args.cmd == "up" and args.workers:
        return up_workers(args.workers, args.fresh, args.deploy)
    if args.cmd == "up":
        state = lab.up(fresh=args.fresh)
        if args.deploy:
            from lab import runs

            run = runs.first_deploy(state.state_dir)
            print(run.output[-3000:] if run.returncode else "[lab] first deploy: ok", flush=True)
            return run.returncode
    elif args.cmd == "down":
        lab.down(purge=args.purge, keep_caches=args.keep_caches, dry_run=args.dry_run)
    else:
        state = lab.load_state()
        for h in state.hosts:
            print(f"{h.name:14} {h.kind:6} {h.address:16} ssh -i {state.ssh_key} root@{h.address}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
