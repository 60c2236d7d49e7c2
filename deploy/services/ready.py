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
restarts repeatedly, or that Docker could not start (a host port already taken, the NVIDIA
runtime refusing the image: ``State.Error`` of a container left ``created``) fails the deploy at
once with ``docker logs --tail`` and the likely cause (``CAUSES``, in the engine's own
settings).

:func:`wait_ready` raises ``OperationError`` (``swap.py`` catches it to roll back); the deploy
calls it through ``hostcmd.reported``, so a failure is one block under the host's prefix (why,
likely cause, log tail) with no traceback.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from dataclasses import dataclass, field

from pyinfra import logger
from pyinfra.api.exceptions import OperationError
from tgi_infra.config.grammar import mask_values
from tgi_infra.host import remote
from tgi_infra.readiness import (
    STATE_FORMAT,
    WaitTimedOut,
    crash_looping,
    failed_start,
    parse_state,
    poll,
)
from tgi_infra.services import envfile

# -- likely causes -------------------------------------------------------------------------------
# Each cause is recognised by the error lines the engines (and Docker, the NVIDIA container
# runtime, torch/CUDA, huggingface_hub) really print, matched as whole words: "OOM" is not in
# "bloom", "nccl==2.27.3" in vLLM's start-up banner is not an NCCL error. The forms and the file
# each comes from are listed per cause; tests/unit/fixtures/engine-logs holds a log per engine
# and cause (its README names the upstream source of every line).


def _forms(*forms: str) -> re.Pattern[str]:
    """One pattern for any of ``forms`` (regexes), each only as whole words: a form that
    starts (ends) with a letter, digit or ``_`` has none right before (after) it.
    Case-insensitive."""

    def whole(form: str) -> str:
        before = r"(?<!\w)" if re.match(r"\w", form) else ""
        after = r"(?!\w)" if re.search(r"\w$", form) else ""
        return f"{before}(?:{form}){after}"

    return re.compile("|".join(map(whole, forms)), re.I)


@dataclass(frozen=True)
class Cause:
    kind: str
    pattern: re.Pattern[str]
    fix: str  # the likely cause and its fix, in TGI's settings where settings are named
    engine_fix: dict[str, str] = field(default_factory=dict)  # other engines' own settings

    def fix_for(self, engine: str) -> str:
        return self.engine_fix.get(engine, self.fix)


_SHM_FIX = (
    "NCCL / shared memory failed between tensor-parallel {ranks}: leave shm_size unset (the "
    "container then runs with --ipc=host, as {engine}'s docs say) or raise it (e.g. 16g), and "
    "check the GPUs assigned"
)

# In order: the first cause whose pattern is in the log is the likely one. A log can hold
# several: vLLM chains a GatedRepoError into "Invalid repository ID" (gated before not found),
# the NVIDIA runtime's CUDA requirement error names nvidia-container-cli (driver before runtime),
# an OOM on one rank breaks NCCL on the others (OOM before NCCL), TGI rejects an unknown
# --quantize like any other argument (quantization before arguments).
CAUSES: list[Cause] = [
    Cause(
        "docker-daemon",
        # the docker CLI's answer when dockerd is not running (killed, crashed, stopped)
        _forms(r"Cannot connect to the Docker daemon", r"Is the docker daemon running"),
        "Docker daemon stopped while the service was starting: start it (`systemctl start "
        "docker`, or `service docker start` without systemd), read why it stopped "
        "(`journalctl -u docker`), then run the deploy again",
    ),
    Cause(
        "driver",
        _forms(
            # CUDA runtime: cudaErrorInsufficientDriver (35), cudaErrorCompatNotSupportedOnDevice
            # (804), cudaErrorSystemDriverMismatch (803), as torch and the engines print them
            r"CUDA driver version is insufficient for CUDA runtime version",
            r"forward compatibility was attempted on non supported HW",
            r"system has unsupported display driver / cuda driver combination",
            r"CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE|cudaErrorInsufficientDriver",
            # torch (c10/cuda/CUDAFunctions.cpp)
            r"The NVIDIA driver on your system is too old",
            # NVML after a driver upgrade without a reboot
            r"Driver/library version mismatch",
            # libnvidia-container (src/cli/configure.c, src/dsl.c): the image's
            # NVIDIA_REQUIRE_CUDA is above what the driver supports
            r"requirement error: unsatisfied condition: cuda",
            r"please update your driver to a newer version",
        ),
        "the host's NVIDIA driver is too old for the CUDA of this image (or the driver was "
        "upgraded without a reboot): upgrade the driver (`nvidia-smi` shows the highest CUDA "
        "it supports) and reboot, or set image to a build for an older CUDA",
    ),
    Cause(
        "gpu-runtime",
        _forms(
            r"could not select device driver",
            r"unknown or invalid runtime name: nvidia",
            r"nvidia-container-cli",
        ),
        "Docker cannot give the container GPUs: check the NVIDIA driver (`nvidia-smi`) and "
        "the toolkit (`nvidia-ctk runtime configure --runtime=docker`, restart docker)",
    ),
    Cause(
        "gated",
        _forms(
            # huggingface_hub (utils/_http.py hf_raise_for_status): GatedRepoError, and the
            # Hub's X-Error-Message for a gated repo (401 without a token, 403 without access)
            r"GatedRepoError",
            r"Cannot access gated repo",
            r"Access to model \S+ is restricted",
            # transformers (utils/hub.py cached_files) re-raises it as an OSError
            r"You are trying to access a gated repo",
            # a token the Hub rejects, or one without the permission
            r"Invalid credentials in Authorization header",
            r"Make sure your token has the correct permissions",
        ),
        "the model is gated or private, or the HF token is invalid: set the HF token in the "
        "control machine's environment variable named by hf_token_env (default HF_TOKEN) and "
        "accept the model's licence on huggingface.co",
    ),
    Cause(
        "model-not-found",
        _forms(
            # huggingface_hub: RepoNotFound / RevisionNotFound (a 401 without a token too)
            r"RepositoryNotFoundError",
            r"Repository Not Found for url",
            r"RevisionNotFoundError",
            r"Revision Not Found for url",
            # transformers (utils/hub.py cached_files), SGLang's AutoConfig
            r"is not a local folder and is not a valid model identifier",
            # vLLM (transformers_utils/config.py get_config)
            r"Invalid repository ID or local directory specified",
        ),
        "the model id or revision does not exist on the Hub, or the repo is private and needs "
        "a token: check model_id and revision (and hf_token_env for a private repo)",
    ),
    Cause(
        "oom",
        _forms(
            # torch's allocator and the CUDA runtime
            r"CUDA out of memory",
            r"OutOfMemoryError",
            r"CUDA error: out of memory",
            # TGI: server/.../flash_causal_lm.py warmup, backends/v3/src/lib.rs NotEnoughMemory
            r"Not enough memory to handle",
            r"NotEnoughMemory",
            # vLLM: v1/core/kv_cache_planning.py, v1/worker/utils.py (a GPU others hold)
            r"No available memory for the cache blocks",
            r"larger than the available KV cache memory",
            r"on startup is less than (?:desired GPU memory utilization|the engine's budget)",
            # SGLang: model_executor/pool_configurator.py, distributed/bootstrap.py
            r"Not enough memory\. Please try to increase --mem-fraction-static",
            r"The memory capacity is unbalanced",
        ),
        "the GPU ran out of memory at warm-up: lower max_batch_prefill_tokens (and "
        "max_batch_total_tokens / max_total_tokens), quantize, or add GPUs; a GPU another "
        "process uses (`nvidia-smi`) has less to give",
        {
            "vllm": "vLLM ran out of GPU memory at start (weights + KV cache): lower "
            "max_total_tokens (--max-model-len) or max_concurrent_requests (--max-num-seqs), "
            "quantize, raise num_shard over more GPUs, or tune --gpu-memory-utilization in "
            "extra_args; a GPU another process uses (`nvidia-smi`) has less to give",
            "sglang": "SGLang ran out of GPU memory at start: lower max_batch_total_tokens "
            "(--max-total-tokens) or max_total_tokens (--context-length), quantize, raise "
            "num_shard over more GPUs, or tune --mem-fraction-static in extra_args; a GPU "
            "another process uses (`nvidia-smi`) has less to give",
        },
    ),
    Cause(
        "nccl-shm",
        _forms(
            # torch.distributed / NCCL's own error names, never NCCL's name alone: vLLM's
            # banner says "vLLM is using nccl==2.27.3", its workers "backend=nccl"
            r"NCCL error",
            r"DistBackendError",
            r"nccl(?:SystemError|InternalError|UnhandledCudaError|RemoteError|InvalidUsage)",
            r"NCCL WARN",
            # /dev/shm too small for NCCL's segments or the engines' queues (vLLM
            # shm_broadcast.py "Insufficient space in /dev/shm"), a bus error on it
            r"/dev/shm",
            r"Bus error",
        ),
        "NCCL failed between shards: raise shm_size (e.g. 16g) or set NCCL_SHM_DISABLE=1 "
        "in env, and check the GPUs assigned",
        {
            "vllm": _SHM_FIX.format(ranks="workers", engine="vLLM"),
            "sglang": _SHM_FIX.format(ranks="ranks", engine="SGLang"),
        },
    ),
    Cause(
        "quantization",
        _forms(
            # TGI: clap's answer to --quantize (launcher/src/main.rs Quantization);
            # server/.../utils/quantization.py
            r"invalid value '[^']*' for '--quantize",
            r"Unknown quantization method",
            # vLLM config/model.py, SGLang configs/model_config.py (same wording)
            r"Quantization method specified in the model config \S+ does not match",
            r"The quantization method \S+ is not supported for the current GPU",
            # argparse choices (SGLang --quantization)
            r"argument --quantization(?:/-q)?: invalid choice",
        ),
        "TGI does not know this quantization: set quantize to one of TGI's values (or leave "
        "it unset)",
        {
            "vllm": "vLLM does not know this quantization, it does not match the model's own "
            "quantization_config, or this GPU does not support it: set quantize to the model's "
            "method (or leave it unset: vLLM reads it from the model's config)",
            "sglang": "SGLang does not know this quantization, it does not match the model's "
            "own quantization_config, or this GPU does not support it: set quantize to the "
            "model's method (or leave it unset)",
        },
    ),
    Cause(
        "arguments",
        _forms(
            # TGI: launcher and router validation (`fn main() -> Result<(), _>` prints
            # `Error: ArgumentValidation("...")`), clap's errors
            r"ArgumentValidation",
            r"error: unexpected argument '",
            r"error: invalid value '",
            r"error: the argument '",
            r"error: a value is required for '",
            r"error: the following required arguments were not provided",
            # argparse (vLLM's FlexibleArgumentParser, SGLang's launch_server)
            r"error: unrecognized arguments",
            r"error: argument [-\w/]+: (?:invalid|expected)",
            r"error: the following arguments are required",
            r"error: ambiguous option",
            # vLLM's pydantic configs (a value the engine refuses, e.g. --max-model-len)
            r"validation errors? for \w*Config",
        ),
        "the launcher refused its arguments: check the service's token limits "
        "(max_input_tokens < max_total_tokens <= max_batch_total_tokens, "
        "max_batch_prefill_tokens >= max_input_tokens), extra_args and the flags in "
        "tgi-service-creation.sh against `text-generation-launcher --help` of this image",
        {
            "vllm": "vllm serve refused its arguments: check extra_args and the service's "
            "settings against `vllm serve --help` of this image (the deploy checks them "
            "against vLLM 0.33.0's flags)",
            "sglang": "sglang.launch_server refused its arguments: check extra_args against "
            "`python3 -m sglang.launch_server --help` of this image",
        },
    ),
    Cause(
        "port",
        _forms(
            # Docker (docker start: userland proxy, port allocator), the engines' listeners
            # (Rust io::Error, Python OSError, asyncio/uvicorn), torch's TCPStore; not vLLM's
            # "Address already in use. Retrying with a new port." (it retries by itself)
            r"address already in use(?!\w|\. Retrying)",
            r"port is already allocated",
            r"EADDRINUSE",
            r"AddrInUse",
        ),
        "the service's port is taken on the host (another service, container or program "
        "listens on it): free it (`ss -ltnp`, `docker ps`) or set another port",
    ),
]

UNKNOWN = "unknown: read the container's last log lines below (`docker logs` of the container)"


def diagnose(log: str) -> Cause | None:
    """The first cause (in ``CAUSES`` order) whose error lines are in ``log``."""
    return next((cause for cause in CAUSES if cause.pattern.search(log)), None)


def likely_cause(log: str, engine: str = "tgi") -> str:
    """The likely cause of a failed start and its fix, in ``engine``'s own settings."""
    cause = diagnose(log)
    return cause.fix_for(engine) if cause else UNKNOWN


@dataclass
class WaitTarget:
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
    return f"docker inspect -f {shlex.quote(STATE_FORMAT)} {shlex.quote(name)} 2>&1 || true"


def _http_cmd(probe: WaitTarget, path: str, body: str | None = None) -> str:
    """curl on the host; the API key is read from the 0600 env file, never put in argv."""
    curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"]
    if body is not None:
        curl += ["-H", "Content-Type: application/json", "-d", body]
    script = ""
    if probe.api_key:
        # read like Docker's env-file (literal value), never sourced: see tgi_infra.services.envfile
        script = (
            "h=$(mktemp); trap 'rm -f \"$h\"' EXIT; "
            "{ printf 'Authorization: Bearer '; "
            f'{envfile.value_command(probe.env_file, "API_KEY")}; }} > "$h"; '
        )
        curl += ["-H", '@"$h"']
    quoted = " ".join(a if a == '@"$h"' else shlex.quote(a) for a in curl)
    return f"umask 077; {script}{quoted} {shlex.quote(probe.url + path)} || true"


def _run(state, host, cmd: str) -> str:
    _, out = remote.run(state, host, cmd, print_output=False, print_input=False)
    return "\n".join(out.stdout_lines).strip()


def _fail(state, host, probe: WaitTarget, why: str, what: str = "is not ready") -> None:
    _, out = remote.run(
        state, host, f"docker logs --tail 40 {shlex.quote(probe.name)} 2>&1", print_output=False
    )
    log = "\n".join(out.stdout_lines + out.stderr_lines)
    log = mask_log(log, [os.environ.get(n, "") for n in probe.secret_envs]) or "(none)"
    # why: the daemon's own answer (inspect failed, or State.Error of a failed start)
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


def _wait(
    state, host, probe: WaitTarget, start: float, grace: float = 0, what: str = "is not ready"
):
    """Poll until ready, crash, failed start or timeout (``probe.timeout`` from ``start``); the
    seconds waited. Within ``grace`` s of ``start`` a stopped container (or a daemon that does
    not answer yet) is waited for: its supervisor starts it again after a Docker restart."""
    first_restarts: list[int] = []

    def step(elapsed: float) -> tuple[bool | None, str]:
        answer = _run(state, host, _state_cmd(probe.name))
        found = parse_state(answer)
        in_grace = elapsed < grace
        if found is None:
            if not (in_grace and DAEMON_DOWN.search(answer)):
                why = f"the container is missing ({' '.join(answer.split())})"
                _fail(state, host, probe, why, what)
            return None, "the Docker daemon does not answer yet"
        if in_grace and found.status in ("exited", "created"):
            return None, f"not started again yet (container {found.status}, code {found.exit_code})"
        first_restarts[:] = first_restarts or [found.restarts]
        why = failed_start(found)
        if why:
            _fail(state, host, probe, why + (" and was not started again" if grace else ""), what)
        why = crash_looping(first_restarts[0], found)
        if why:
            _fail(state, host, probe, why, what)
        if found.status != "running":
            return None, f"container {found.status}"
        code = _run(state, host, _http_cmd(probe, "/health"))
        if code != "200":
            return None, health_status(probe.engine, code)
        path, body = probe.ready_request()
        gen = _run(state, host, _http_cmd(probe, path, body))
        return (True, "ready") if gen == "200" else (None, f"{path} answered {gen or 'nothing'}")

    def report(status: str, elapsed: float) -> None:
        logger.info(f"{host.print_prefix}waiting for {probe.name}: {status} ({elapsed:.0f}s)")

    try:
        return poll(step, probe.timeout, start=start, report=report).seconds
    except WaitTimedOut as late:
        why = f"timed out after {probe.timeout}s; last status: {late.status}"
        _fail(state, host, probe, why, what)


def wait_ready(state, host, probe: WaitTarget) -> None:
    """python.call target: poll until ready, crash or timeout."""
    elapsed = _wait(state, host, probe, time.monotonic())
    logger.info(
        f"{host.print_prefix}{probe.name} ready after {elapsed:.0f}s "
        f"(/health 200, one-token {probe.ready_request()[0]} answered)"
    )


def wait_back(state, host, probes: list[WaitTarget], why: str, skip=None) -> None:
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
