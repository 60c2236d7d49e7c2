"""``vllm serve <model> [flags]``: parse like vLLM's FlexibleArgumentParser, fake the engine
start-up (no listener until it is up), serve, shut down on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from ..standin_common import argspec, launch
from ..standin_common import faults as faults_mod
from ..standin_common.server import State
from .server import VllmHandler, new_metrics

VERSION = "0.33.0"
HERE = Path(__file__).resolve().parent
SPEC_FILE = HERE / "serve-args.json"
QUANT_FILE = HERE / "quantization-methods.json"
USAGE = "vllm serve [model_tag] [options]"
SUBCOMMANDS = ("chat", "complete", "serve", "bench", "collect-env", "run-batch")
SECRET_DESTS = ("api_key",)


class Logger:
    """vLLM's log format: ``INFO 12-03 08:00:00 [file.py:123] message`` on stdout; every line is
    scrubbed of the secrets (real vLLM prints ``non-default args`` with the key: stricter)."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, message: str, level: str = "INFO", where: str = "api_server.py:1") -> None:
        for secret in self.secrets:
            message = message.replace(secret, "[REDACTED]")
        stamp = datetime.now().strftime("%m-%d %H:%M:%S")
        stream = sys.stderr if level == "ERROR" else sys.stdout
        stream.write(f"(APIServer pid={os.getpid()}) {level} {stamp} [{where}] {message}\n")
        stream.flush()


def spec() -> argspec.Spec:
    return argspec.Spec.load(SPEC_FILE)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ if environ is None else environ)
    if argv[:1] in (["--version"], ["-v"]):
        print(VERSION)
        return 0
    if not argv or argv[0] not in SUBCOMMANDS:
        shown = ", ".join(repr(s) for s in SUBCOMMANDS)
        what = (
            f"invalid choice: {argv[0]!r} (choose from {shown})"
            if argv
            else ("the following arguments are required: subparser")
        )
        sys.stderr.write(
            f"usage: vllm [-h] [-v] {{{','.join(SUBCOMMANDS)}}} ...\n"
            f"vllm: error: argument subparser: {what}\n"
        )
        return 2
    if argv[0] != "serve":
        sys.stderr.write(f"vllm stand-in: only `vllm serve` is mimicked, not `vllm {argv[0]}`\n")
        return 2
    flags = spec()
    try:
        args = argspec.parse(flags, argv[1:], prog="vllm serve", usage=USAGE, underscores=True)
    except argspec.ArgError as exc:
        sys.stderr.write(exc.format())
        return 2
    if args.get("help"):
        sys.stdout.write(argspec.help_text(flags, USAGE))
        return 0
    keys = args["api_key"] or ([environ["VLLM_API_KEY"]] if environ.get("VLLM_API_KEY") else [])
    log = Logger(keys + [environ.get("HF_TOKEN", "")])
    try:
        active = faults_mod.parse(environ.get("VLLM_STANDIN_FAULT"), "VLLM_STANDIN_FAULT", "vllm")
    except faults_mod.UnknownFault as exc:
        sys.stderr.write(f"vllm-standin: {exc}\n")
        return 64
    model = args["model_tag"] or args["model"]
    served = (args["served_model_name"] or [model])[0]
    log(f"vLLM API server version {VERSION}", where="api_server.py:1839")
    given = {d: ("[REDACTED]" if d in SECRET_DESTS else args[d]) for d in sorted(args["_given"])}
    log(f"non-default args: {given}", where="utils.py:253")
    quant = args["quantization"]
    methods = json.loads(QUANT_FILE.read_text())
    if quant is not None and quant not in methods:
        log("Error in inspecting model architecture", "ERROR", "config.py:1")
        sys.stderr.write(
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
            f"  Value error, Unknown quantization method: {quant}. Must be one of "
            f"{methods}. [type=value_error, input_value=ArgsKwargs(...), input_type=ArgsKwargs]\n"
        )
        return 1
    stop, received = launch.stop_event()
    warmup = float(environ.get("VLLM_STANDIN_WARMUP_S", "0.5") or 0)
    if "crash_gated" in active:
        sys.stderr.write(
            f"OSError: You are trying to access a gated repo.\nMake sure to have access to it at "
            f"https://huggingface.co/{model}.\n401 Client Error. (Request ID: standin)\n\n"
            f"Cannot access gated repo for url https://huggingface.co/{model}/resolve/main/"
            "config.json.\nAccess to model is restricted. You must have access to it and be "
            "authenticated to access it. Please log in.\n"
        )
        return 1
    tp = args["tensor_parallel_size"]
    log(
        f"Initializing a V1 LLM engine (v{VERSION}) with config: model='{model}', "
        f"tensor_parallel_size={tp}, dtype={args['dtype']}, quantization={quant}",
        where="core.py:84",
    )
    if stop.wait(warmup * 0.5):
        return 0
    if "crash_nccl" in active:
        sys.stderr.write(
            "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:3356, "
            "unhandled system error\nError while creating shared memory segment "
            "/dev/shm/nccl-standin (size 9637888)\n"
            "RuntimeError: Engine core initialization failed. See root cause above. "
            "Failed core proc(s): {}\n"
        )
        return 1
    log(f"Loading weights took {warmup * 0.2:.2f} seconds", where="default_loader.py:268")
    if stop.wait(warmup * 0.5):
        return 0
    if "crash_at_start" in active:
        sys.stderr.write(
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. GPU 0 has a "
            "total capacity of 23.57 GiB of which 1.12 GiB is free.\n"
            "RuntimeError: Engine core initialization failed. See root cause above. "
            "Failed core proc(s): {}\n"
        )
        return 1
    max_len = args["max_model_len"]
    max_len = 4096 if max_len in (None, -1) else int(max_len)
    state = State(
        engine="vllm",
        version=VERSION,
        model_path=model,
        served_name=served,
        max_model_len=max_len,
        api_keys=keys,
        faults=active,
        metrics=new_metrics(served),
        log=log,
        server_args={"model": model, "port": args["port"]},
    )
    state.ready.set()
    host = args["host"] or "0.0.0.0"
    delay = float(environ.get("VLLM_STANDIN_TOKEN_DELAY_S", "0") or 0)
    httpd = launch.bind(
        VllmHandler, state, host, args["port"], delay, lambda m: log(m, "ERROR", "server.py:1")
    )
    if httpd is None:
        return 1
    httpd.fresh_metrics = lambda: new_metrics(served)
    if active:
        log(f"vLLM stand-in fault injection active: {', '.join(sorted(active))}", "WARNING")
    log(f"Starting vLLM API server 0 on http://{host}:{args['port']}", where="api_server.py:1906")
    log("Available routes are:", where="launcher.py:37")
    log("Application startup complete.", where="on.py:62")
    launch.serve(httpd, stop)
    log("Shutting down", where="server.py:264")
    time.sleep(0)
    return 0
