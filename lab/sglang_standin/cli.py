"""``python3 -m sglang.launch_server --model-path M [flags]``: parse like SGLang's argparse
(ServerArgs.add_cli_args), load "weights" with no listener, then listen with /health 503 during
the warm-up, then 200; shut down on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from ..standin_common import argspec, launch
from ..standin_common import faults as faults_mod
from ..standin_common.server import State
from .server import SglangHandler, new_metrics

VERSION = "0.5.23"
SPEC_FILE = Path(__file__).resolve().parent / "launch-server-args.json"
PROG = "launch_server.py"
USAGE = f"{PROG} [-h] --model-path MODEL_PATH [options]"


class Logger:
    """SGLang's format: ``[2026-12-03 08:00:00] message``; secrets scrubbed."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, message: str, level: str = "INFO") -> None:
        for secret in self.secrets:
            message = message.replace(secret, "[REDACTED]")
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        stream = sys.stderr if level == "ERROR" else sys.stdout
        stream.write(f"[{stamp}] {message}\n")
        stream.flush()


def spec() -> argspec.Spec:
    return argspec.Spec.load(SPEC_FILE)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ if environ is None else environ)
    flags = spec()
    try:
        args = argspec.parse(flags, argv, prog=PROG, usage=USAGE)
    except argspec.ArgError as exc:
        sys.stderr.write(exc.format())
        return 2
    if args.get("help"):
        sys.stdout.write(argspec.help_text(flags, USAGE))
        return 0
    if not args["model_path"]:
        sys.stderr.write(
            argspec.ArgError(
                USAGE, PROG, "the following arguments are required: --model-path/--model"
            ).format()
        )
        return 2
    key = args["api_key"]
    log = Logger([key or "", environ.get("HF_TOKEN", "")])
    try:
        active = faults_mod.parse(
            environ.get("SGLANG_STANDIN_FAULT"), "SGLANG_STANDIN_FAULT", "sglang"
        )
    except faults_mod.UnknownFault as exc:
        sys.stderr.write(f"sglang-standin: {exc}\n")
        return 64
    model_path = args["model_path"]
    served = args["served_model_name"] or model_path
    shown = {k: v for k, v in args.items() if not k.startswith("_") and k != "help"}
    shown["api_key"] = None if key is None else "[REDACTED]"
    log(f"server_args=ServerArgs({', '.join(f'{k}={v!r}' for k, v in shown.items())})")
    stop, _ = launch.stop_event()
    warmup = float(environ.get("SGLANG_STANDIN_WARMUP_S", "0.5") or 0)
    if "crash_gated" in active:
        log(
            f"Scheduler hit an exception: OSError: You are trying to access a gated repo.\n"
            f"Cannot access gated repo for url https://huggingface.co/{model_path}/resolve/main/"
            "config.json.\n401 Client Error. Access to model is restricted. Please log in.",
            "ERROR",
        )
        return 1
    log("Load weight begin. avail mem=78.50 GB")
    if stop.wait(warmup * 0.5):
        return 0
    if "crash_nccl" in active:
        log(
            "Scheduler hit an exception: torch.distributed.DistBackendError: NCCL error: "
            "unhandled system error\nError while creating shared memory segment "
            "/dev/shm/nccl-standin (size 9637888)",
            "ERROR",
        )
        return 1
    if "crash_at_start" in active:
        log(
            "Scheduler hit an exception: torch.OutOfMemoryError: CUDA out of memory. Tried to "
            "allocate 1.96 GiB. GPU 0 has a total capacity of 23.57 GiB of which 1.12 GiB is "
            "free.",
            "ERROR",
        )
        return 1
    log("Load weight end. type=Qwen3ForCausalLM, dtype=torch.bfloat16, avail mem=76.20 GB")
    context = args["context_length"] or 4096
    server_args = {k: v for k, v in shown.items() if k not in ("api_key",)}
    state = State(
        engine="sglang",
        version=VERSION,
        model_path=model_path,
        served_name=served,
        max_model_len=int(context),
        api_keys=[key] if key else [],
        faults=active,
        metrics=new_metrics(served),
        log=log,
        server_args=server_args,
    )
    delay = float(environ.get("SGLANG_STANDIN_TOKEN_DELAY_S", "0") or 0)
    httpd = launch.bind(
        SglangHandler, state, args["host"], args["port"], delay, lambda m: log(m, "ERROR")
    )
    if httpd is None:
        return 1
    if active:
        log(f"SGLang stand-in fault injection active: {', '.join(sorted(active))}", "WARNING")
    log(f"Uvicorn running on http://{args['host']}:{args['port']} (Press CTRL+C to quit)")

    def warm() -> None:  # http_server.py _wait_and_warmup: one request, then status Up
        if not stop.wait(warmup * 0.5):
            state.ready.set()
            log("The server is fired up and ready to roll!")

    import threading

    threading.Thread(target=warm, daemon=True).start()
    launch.serve(httpd, stop)
    log("Shutting down")
    return 0
