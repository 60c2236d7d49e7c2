"""``text-generation-launcher`` entry point: parse flags, fake the start-up, serve, shut down."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import threading
import time

from . import faults as faults_mod
from . import launcher_args, weights
from .logs import Logger
from .metrics import Metrics
from .server import StandinServer, State
from .validation import Limits

ROUTER = "text_generation_router_v3"


def _secrets(args: launcher_args.LauncherArgs, environ: dict[str, str]) -> list[str]:
    values = [args.values.get("api_key"), args.values.get("ngrok_authtoken")]
    values += [environ.get(k) for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "API_KEY")]
    return [v for v in values if isinstance(v, str) and v]


def _bind_address(hostname: str, logger: Logger) -> tuple[str, int]:
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        logger.warn("Invalid hostname, defaulting to 0.0.0.0", target=ROUTER)
        return "0.0.0.0", socket.AF_INET
    return str(ip), socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ if environ is None else environ)
    try:
        args = launcher_args.parse(argv, environ)
    except launcher_args.ClapError as exc:
        sys.stderr.write(str(exc))
        sys.stderr.flush()
        return 2
    v = args.values
    if v["help"]:
        sys.stdout.write(launcher_args.help_text())
        return 0
    if v["version"]:
        sys.stdout.write(f"{launcher_args.PROG} {launcher_args.VERSION}\n")
        return 0
    logger = Logger(json_output=bool(v["json_output"]), secrets=_secrets(args, environ))
    try:
        active = faults_mod.parse(environ.get("TGI_STANDIN_FAULT"))
    except faults_mod.UnknownFault as exc:
        sys.stderr.write(f"tgi-standin: {exc}\n")
        return 64
    if v["env"]:
        logger.raw(
            "Runtime environment:\nTarget: x86_64-unknown-linux-gnu\nCargo version: 1.85.1\n"
            "Commit sha: N/A\nDocker label: N/A\nnvidia-smi:\nN/A (TGI stand-in, no GPU)"
        )
    logger.info(launcher_args.args_debug(args))
    try:
        resolved = launcher_args.resolve(args, environ)
    except launcher_args.ArgumentValidation as exc:
        logger.raw(f'Error: ArgumentValidation("{exc}")', stream=sys.stderr)
        return 1
    for line in resolved.defaulted:
        logger.info(line)
    model_id = v["model_id"]
    if v["trust_remote_code"]:
        logger.warn(
            f"`trust_remote_code` is set. Trusting that model `{model_id}` do not contain "
            "malicious code."
        )
    if v["cuda_graphs"] is None:
        logger.info("Using default cuda graphs [1, 2, 4, 8, 16, 32]")
    if resolved.num_shard > 1:
        logger.info(f"Sharding model on {resolved.num_shard} processes")

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    warmup = float(environ.get("TGI_STANDIN_WARMUP_S", "0.5") or 0)

    def phase(fraction: float) -> bool:
        """Sleep a share of the warm-up; False when a signal arrived."""
        return not stop.wait(warmup * fraction)

    def crash(kind: str) -> int:
        for level, message in faults_mod.crash_lines(kind, model_id):
            if level == "RAW":
                logger.raw(message, stream=sys.stderr)
            else:
                logger.log(level, message)
        return 1

    logger.info(f"Starting check and download process for {model_id}", target="download")
    if not phase(0.3):
        return _terminated(logger, received)
    if "crash_gated" in active:
        return crash("crash_gated")
    try:  # the launcher runs `text-generation-server download-weights` (slow when not cached)
        if not weights.ensure_weights(model_id, v["revision"], environ, logger, stop):
            return _terminated(logger, received)
    except weights.DownloadError as exc:
        logger.error(f"Download encountered an error: \n{exc}")
        logger.raw("Error: DownloadError", stream=sys.stderr)
        return 1
    logger.info(f"Successfully downloaded weights for {model_id}", target="download")
    for rank in range(resolved.num_shard):
        logger.info(f"Starting shard rank={rank}", target="shard-manager")
    if not phase(0.3):
        return _terminated(logger, received)
    if "crash_nccl" in active:
        return crash("crash_nccl")
    for rank in range(resolved.num_shard):
        logger.info(f"Shard ready in {warmup * 0.6:.2f}s rank={rank}", target="shard-manager")
    logger.info("Starting Webserver")
    logger.info("Warming up model", target=ROUTER)
    if not phase(0.4):
        return _terminated(logger, received)
    if "crash_at_start" in active:
        return crash("crash_at_start")
    batch_total = v["max_batch_total_tokens"] or max(resolved.max_total_tokens * 16, 16000)
    logger.info(f"Setting max batch total tokens to {batch_total}", target=ROUTER)

    limits = Limits(
        max_best_of=v["max_best_of"],
        max_stop_sequences=v["max_stop_sequences"],
        max_top_n_tokens=v["max_top_n_tokens"],
        max_input_tokens=resolved.max_input_tokens,
        max_total_tokens=resolved.max_total_tokens,
        max_client_batch_size=v["max_client_batch_size"],
    )
    state = State(
        model_id=model_id,
        revision=v["revision"],
        limits=limits,
        max_concurrent_requests=v["max_concurrent_requests"],
        validation_workers=v["validation_workers"],
        api_key=v["api_key"],
        payload_limit=v["payload_limit"],
        faults=active,
        token_delay=faults_mod.token_delay(active, environ),
        logger=logger,
        metrics=Metrics(resolved.max_input_tokens, resolved.max_total_tokens),
        wrong_model_id=environ.get("TGI_STANDIN_WRONG_MODEL_ID", "bigscience/bloom-560m"),
    )
    host, family = _bind_address(v["hostname"], logger)
    try:
        httpd = StandinServer((host, v["port"]), state, family)
    except OSError as exc:
        logger.error(f"Webserver Crashed: {exc}")
        logger.info("Shutting down shards")
        logger.raw("Error: WebserverFailed", stream=sys.stderr)
        return 1
    if active:
        logger.warn(f"TGI stand-in fault injection active: {', '.join(sorted(active))}")
    logger.info("Connected", target="text_generation_router::server")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    while not stop.wait(0.5):
        pass
    logger.info(
        "signal received, starting graceful shutdown", target="text_generation_router::server"
    )
    httpd.shutdown()
    httpd.server_close()
    return _terminated(logger, received)


def _terminated(logger: Logger, received: list[str]) -> int:
    if received:
        logger.info(f"Received {received[0]}")
    logger.info("Terminating webserver")
    logger.info("webserver terminated")
    logger.info("Shutting down shards")
    logger.info("Shard terminated rank=0", target="shard-manager")
    time.sleep(0)
    return 0
