"""Wait until a service answers, or fail with its last log lines and the likely cause.

Ready means: the port is open, ``/health`` answers 200 and a one-token request is answered, per
engine (``tgi_infra.engines``):

- TGI binds its port only after the weights are downloaded and warm-up is done; then
  ``/health`` 200 and a one-token ``/generate``;
- vLLM has no listener until the engine is initialised; then ``/health`` 200 (503 only when the
  engine died) and a one-token ``/v1/completions``;
- SGLang listens early and answers ``/health`` 503 while it starts (loading, warm-up), 200 once
  its own test generation passed; then a one-token native ``/generate``.

A first start can take many minutes: progress is shown while waiting. A container that exits,
or restarts repeatedly, fails the deploy at once with ``docker logs --tail`` and the likely
cause, matched on the engine's own log lines (``ENGINE_CAUSES``) before the common ones.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from dataclasses import dataclass

from pyinfra import logger
from pyinfra.api.exceptions import OperationError
from tgi_infra import envfile, hostcmd
from tgi_infra.config.grammar import mask_values

# (pattern in the container log, likely cause and fix)
CAUSES: list[tuple[re.Pattern[str], str]] = [
    (
        # the docker CLI's answer when dockerd is not running (killed, crashed, stopped)
        re.compile(r"Cannot connect to the Docker daemon|Is the docker daemon running", re.I),
        "Docker daemon stopped while the service was starting: start it (`systemctl start "
        "docker`, or `service docker start` without systemd), read why it stopped "
        "(`journalctl -u docker`), then run the deploy again",
    ),
    (
        re.compile(r"out of memory|OutOfMemoryError|CUDA error: out of memory|OOM", re.I),
        "the GPU ran out of memory at warm-up: lower max_batch_prefill_tokens "
        "(and max_batch_total_tokens / max_total_tokens), quantize, or add GPUs",
    ),
    (
        re.compile(
            r"gated repo|401 Client Error|Unauthorized|Invalid credentials|"
            r"Access to model .* is restricted",
            re.I,
        ),
        "the model is gated or private (401 from the Hub): set the HF token in the control "
        "machine's environment variable named by hf_token_env (default HF_TOKEN) and accept "
        "the model's licence on huggingface.co",
    ),
    (
        re.compile(r"NCCL|ncclSystemError|ncclInternalError|shm", re.I),
        "NCCL failed between shards: raise shm_size (e.g. 16g) or set NCCL_SHM_DISABLE=1 "
        "in env, and check the GPUs assigned",
    ),
    (
        re.compile(r"Repository Not Found|404 Client Error|is not a valid model identifier", re.I),
        "the model id or revision does not exist on the Hub (or needs a token): check model_id "
        "and revision",
    ),
    (
        re.compile(r"error: unexpected argument|error: invalid value|error: the argument", re.I),
        "the launcher refused its arguments: check extra_args and the flags in "
        "tgi-service-creation.sh against `text-generation-launcher --help` of this image",
    ),
    (
        re.compile(
            r"could not select device driver|nvidia-container-cli|unknown or invalid "
            r"runtime name: nvidia",
            re.I,
        ),
        "Docker cannot give the container GPUs: check the NVIDIA driver (`nvidia-smi`) and "
        "the toolkit (`nvidia-ctk runtime configure --runtime=docker`, restart docker)",
    ),
]


# Each engine's own failure lines, matched before CAUSES (whose OOM and argument hints name
# TGI's settings). Patterns follow the engines' messages (vllm/v1/core/kv_cache_utils.py,
# vllm/config, argparse; sglang/srt/mem_cache, sglang/srt/server_args.py).
_VLLM_SHM = (
    "NCCL / shared memory failed between tensor-parallel workers: leave shm_size unset (the "
    "container then runs with --ipc=host, as vLLM's docs say) or raise it (e.g. 16g), and check "
    "the GPUs assigned"
)
_SGLANG_SHM = _VLLM_SHM.replace("tensor-parallel workers", "tensor-parallel ranks").replace(
    "vLLM's", "SGLang's"
)
ENGINE_CAUSES: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "vllm": [
        (
            re.compile(
                r"No available memory for the cache blocks|CUDA out of memory|"
                r"OutOfMemoryError|is larger than the maximum number of tokens that can be "
                r"stored in KV cache",
                re.I,
            ),
            "vLLM ran out of GPU memory at start (weights + KV cache): lower max_total_tokens "
            "(--max-model-len) or max_concurrent_requests (--max-num-seqs), quantize, raise "
            "num_shard over more GPUs, or tune --gpu-memory-utilization in extra_args",
        ),
        (
            re.compile(
                r"Unknown quantization method|argument --quantization/-q: invalid|"
                r"Quantization method specified in the model config .* does not match|"
                r"quantization.*is not supported",
                re.I,
            ),
            "vLLM does not know this quantization, or it does not match the model's own "
            "quantization_config: set quantize to the model's method (or leave it unset: vLLM "
            "reads it from the model's config)",
        ),
        (
            re.compile(r"NCCL error|ncclSystemError|ncclInternalError|Bus error|/dev/shm", re.I),
            _VLLM_SHM,
        ),
        (
            re.compile(r"error: unrecognized arguments|error: argument [-\w/]+: invalid", re.I),
            "vllm serve refused its arguments: check extra_args against `vllm serve --help` of "
            "this image (the deploy checks them against vLLM 0.33.0's flags)",
        ),
    ],
    "sglang": [
        (
            re.compile(
                r"Not enough memory\. Please try to increase --mem-fraction-static|"
                r"CUDA out of memory|OutOfMemoryError",
                re.I,
            ),
            "SGLang ran out of GPU memory at start: lower max_batch_total_tokens "
            "(--max-total-tokens) or max_total_tokens (--context-length), quantize, raise "
            "num_shard over more GPUs, or tune --mem-fraction-static in extra_args",
        ),
        (
            re.compile(
                r"argument --quantization: invalid choice|Unknown quantization|"
                r"quantization.*is not supported|does not match the quantization",
                re.I,
            ),
            "SGLang does not know this quantization, or it does not match the model's own "
            "quantization_config: set quantize to the model's method (or leave it unset)",
        ),
        (
            re.compile(r"NCCL error|ncclSystemError|ncclInternalError|Bus error|/dev/shm", re.I),
            _SGLANG_SHM,
        ),
        (
            re.compile(r"error: unrecognized arguments|error: argument [-\w/]+: invalid", re.I),
            "sglang.launch_server refused its arguments: check extra_args against "
            "`python3 -m sglang.launch_server --help` of this image",
        ),
    ],
    "tgi": [
        (
            re.compile(r"error: invalid value '[^']*' for '--quantize", re.I),
            "TGI does not know this quantization: set quantize to one of TGI's values (or "
            "leave it unset)",
        ),
    ],
}


def likely_cause(log: str, engine: str = "tgi") -> str:
    for pattern, cause in [*ENGINE_CAUSES.get(engine, []), *CAUSES]:
        if pattern.search(log):
            return cause
    return "unknown: read the log lines above (`docker logs` of the container)"


@dataclass
class Probe:
    name: str
    url: str  # base URL as seen from the host itself
    env_file: str
    timeout: int
    api_key: bool
    # NAMES of the control machine's env vars holding this service's secrets (never the values)
    secret_envs: tuple[str, ...] = ()
    engine: str = "tgi"
    model: str = ""  # the model name the engine serves (vLLM's one-token request names it)

    def ready_request(self) -> tuple[str, str]:
        """(path, JSON body) of the one-token request that proves the engine generates."""
        from tgi_infra.engines import engine_spec

        path, body = engine_spec(self.engine).ready_request
        return path, body.replace("{model}", json.dumps(self.model))


def mask_log(log: str, secrets: list[str]) -> str:
    """``log`` with every secret value (and any ``hf_...`` token) masked.

    Real TGI's launcher logs its arguments with ``api_key: Some("<key>")`` in clear and starts
    the router with ``--api-key <key>`` (launcher/src/main.rs): the log tail a failed deploy
    prints must not carry them."""
    return mask_values(log, secrets)


def _state_cmd(name: str) -> str:
    fmt = "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
    return f"docker inspect -f {shlex.quote(fmt)} {shlex.quote(name)} 2>&1 || true"


def _http_cmd(probe: Probe, path: str, body: str | None = None) -> str:
    """curl on the host; the API key is read from the 0600 env file, never put in argv."""
    curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"]
    if body is not None:
        curl += ["-H", "Content-Type: application/json", "-d", body]
    script = ""
    if probe.api_key:
        # read like Docker's env-file (literal value), never sourced: see tgi_infra.envfile
        script = (
            "h=$(mktemp); trap 'rm -f \"$h\"' EXIT; "
            "{ printf 'Authorization: Bearer '; "
            f'{envfile.value_command(probe.env_file, "API_KEY")}; }} > "$h"; '
        )
        curl += ["-H", '@"$h"']
    quoted = " ".join(a if a == '@"$h"' else shlex.quote(a) for a in curl)
    return f"umask 077; {script}{quoted} {shlex.quote(probe.url + path)} || true"


def _run(state, host, cmd: str) -> str:
    _, out = hostcmd.run(state, host, cmd, print_output=False, print_input=False)
    return "\n".join(out.stdout_lines).strip()


def _fail(state, host, probe: Probe, why: str, what: str = "is not ready") -> None:
    _, out = hostcmd.run(
        state, host, f"docker logs --tail 40 {shlex.quote(probe.name)} 2>&1", print_output=False
    )
    log = "\n".join(out.stdout_lines + out.stderr_lines)
    log = mask_log(log, [os.environ.get(n, "") for n in probe.secret_envs])
    # why: the daemon's own answer when inspect failed
    cause = likely_cause(f"{why}\n{log}", probe.engine)
    raise OperationError(
        f"host {host.name}: service {probe.name} {what}: {why}\n"
        f"likely cause: {cause}\n"
        f"last log lines (docker logs --tail 40 {probe.name}):\n{log}"
    )


def health_status(engine: str, code: str) -> str:
    """What a /health answer other than 200 means while the engine starts."""
    if code in ("", "000"):
        if engine == "sglang":
            return "port not open yet (SGLang starting)"
        if engine == "vllm":
            return "port not open yet (vLLM listens once the engine is up: download / load)"
        return "port not open yet (downloading / warming up)"
    if engine == "sglang" and code == "503":
        return "/health answered 503 (SGLang loading weights / warming up)"
    if engine == "vllm" and code == "503":
        return "/health answered 503 (vLLM's engine is dead: EngineDeadError)"
    return f"/health answered {code}"


# After a Docker restart the supervisor starts the container again: systemd restarts the unit
# (Requires=docker.service) once docker.service is up, dockerd restarts `unless-stopped`
# containers itself. Until then the container reads "exited" and the daemon may not answer yet.
BACK_GRACE_S = 60
DAEMON_DOWN = re.compile(r"Cannot connect to the Docker daemon|Is the docker daemon running", re.I)


def _wait(state, host, probe: Probe, start: float, grace: float = 0, what: str = "is not ready"):
    """Poll until ready, crash or timeout (``probe.timeout`` from ``start``); the seconds
    waited. Within ``grace`` s of ``start`` a stopped container (or a daemon that does not
    answer yet) is waited for: its supervisor starts it again after a Docker restart."""
    last_report = time.monotonic() - start
    first_restarts: int | None = None
    delay = 1.0
    status = "starting"
    while True:
        elapsed = time.monotonic() - start
        answer = _run(state, host, _state_cmd(probe.name))
        parts = answer.split()
        in_grace = elapsed < grace
        if len(parts) != 3:
            if in_grace and DAEMON_DOWN.search(answer):
                status = "the Docker daemon does not answer yet"
                parts = []
            else:
                _fail(state, host, probe, f"the container is missing ({answer})", what)
        if parts:
            cstate, restarts, exit_code = parts[0], int(parts[1]), parts[2]
            if in_grace and cstate in ("exited", "created"):
                status = f"not started again yet (container {cstate}, code {exit_code})"
                cstate = "waiting"
            first_restarts = restarts if first_restarts is None else first_restarts
            if cstate in ("exited", "dead"):
                again = " and was not started again" if grace else ""
                _fail(
                    state, host, probe, f"the container {cstate} with code {exit_code}{again}", what
                )
            if restarts - first_restarts >= 2 or cstate == "restarting" and restarts >= 3:
                _fail(
                    state,
                    host,
                    probe,
                    f"the container is crash-looping ({restarts} restarts)",
                    what,
                )
            if cstate == "running":
                code = _run(state, host, _http_cmd(probe, "/health"))
                if code == "200":
                    path, body = probe.ready_request()
                    gen = _run(state, host, _http_cmd(probe, path, body))
                    if gen == "200":
                        return elapsed
                    status = f"{path} answered {gen or 'nothing'}"
                else:
                    status = health_status(probe.engine, code)
        if elapsed > probe.timeout:
            _fail(
                state, host, probe, f"timed out after {probe.timeout}s; last status: {status}", what
            )
        if elapsed - last_report >= 15:
            logger.info(f"{host.print_prefix}waiting for {probe.name}: {status} ({elapsed:.0f}s)")
            last_report = elapsed
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def wait_ready(state, host, probe: Probe) -> None:
    """python.call target: poll until ready, crash or timeout."""
    elapsed = _wait(state, host, probe, time.monotonic())
    logger.info(
        f"{host.print_prefix}{probe.name} ready after {elapsed:.0f}s "
        f"(/health 200, one-token {probe.ready_request()[0]} answered)"
    )


def wait_back(state, host, probes: list[Probe], why: str, skip=None) -> None:
    """python.call target after a Docker restart: every service answers again, each reported
    as ``<name> back after N s`` (seconds since the wait began, right after the restart).

    ``skip()``: the names this deploy (re)creates anyway and waits for there (asked when this
    runs: the services' own operations were planned after this one)."""
    start = time.monotonic()
    handled = set(skip() if skip is not None else ())
    for probe in probes:
        if probe.name in handled:
            logger.info(
                f"{host.print_prefix}{probe.name}: (re)created by this deploy, waited for then"
            )
            continue
        elapsed = _wait(
            state,
            host,
            probe,
            start,
            grace=BACK_GRACE_S,
            what=f"did not come back after the Docker restart ({why})",
        )
        logger.info(
            f"{host.print_prefix}{probe.name} back after {elapsed:.0f}s (Docker restarted: "
            f"{why}; /health 200, one-token {probe.ready_request()[0]} answered)"
        )
