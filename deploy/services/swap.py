"""Change a running TGI service without leaving the host with nothing to serve.

A running container whose config (or env file) changed is replaced in three steps, all while
the old one keeps serving until the last possible moment:

1. **prefetch** (``prefetch``): the new image is pulled (by the deploy, before this) and the new
   model's weights are downloaded into the shared volume in a throwaway container of the new
   image that reads the token from the service's 0600 env file (``--env-file``, never argv).
   Its progress lines are shown as they come. TGI: its own downloader,
   ``text-generation-server download-weights <model> --revision <rev>``. vLLM and SGLang have
   no downloader command of their own; both images ship huggingface_hub, whose
   ``snapshot_download`` (the function behind ``hf download``; called from ``python3 -c`` because
   its signature is stable across huggingface_hub versions, where the CLI's options changed)
   fills the same HF cache the engine reads (``/root/.cache/huggingface``, where the volume is
   mounted), limited to the files an engine loads (``PREFETCH_INCLUDE``: safetensors weights,
   configs, tokenizer files). A model given as a local path is not downloaded (nothing to
   fetch).
2. **swap** (``replace``): the old container is stopped and renamed ``<name>-previous`` (kept,
   with its config), the creation script creates and starts the new one under the service's
   name, and the deploy waits until it is ready (``ready.wait_ready``). Only then is the
   previous container removed.
3. **rollback**: if the new container does not become ready, it is removed, the previous one
   gets its name back and is started again (same container, same config), the deploy waits for
   it, and the operation fails naming the cause (the new container's log tail and likely cause).

The env file goes with its container: before the deploy replaces ``service.env`` for a swap,
the host's file is copied to ``.service.env.previous`` next to it (0600 from creation, by
``umask 077``, then renamed into place; on the host, the content never travels or is logged).
The rendered files go with it (``keep_command``): the scripts, ``service.env.example`` and the
systemd unit are copied to ``.<file>.previous`` in the service directory before the deploy
writes the new ones. A rollback renames them all back over the new ones before the previous
container starts again (the unit with a ``daemon-reload`` when it differs), so the files on the
host keep describing the container that runs (the ready probe reads the API key from there, the
next deploy compares its digests, a user reads ``tgi-service-creation.sh``); so does a failed
prefetch. A committed swap removes the copies.

An interrupted swap (the deploy killed between keeping the files and committing) leaves
``<name>-previous`` and the copies behind. The next deploy finds them (facts, before anything
else of the service) and finishes it (``interrupted_swap`` decides, ``recover`` acts), saying so
in one line under the host's prefix: the new container runs: commit (the previous container and
the copies removed); the new container is missing or stopped: roll back (``rollback_command``:
the previous container and its files back, started, waited for); no previous container but
copies: the container was never replaced, its files are put back. The rest of the deploy is
planned on the state the recovery leaves.

Ports: the old and new containers publish the same host port, and Docker cannot publish one
port twice, so they cannot run side by side. The old one is stopped just before the new one is
started; with the weights already cached the unavailable window is the new container's start
and warm-up only, and a failure costs one more start of the old container (its weights are
cached too). Running both (a second port, then a switch) would need a proxy in front of every
service; that trade-off is not taken.
"""

from __future__ import annotations

import posixpath
import shlex
import time
from dataclasses import dataclass

from pyinfra import logger
from pyinfra.api.exceptions import OperationError
from tgi_infra.engines.spec import TEARDOWN_S
from tgi_infra.host import remote
from tgi_infra.services.ready import WaitTarget, likely_cause, wait_ready
from tgi_infra.services.render import (
    CREATE_SCRIPT,
    ENV_EXAMPLE,
    LOGS_SCRIPT,
    START_SCRIPT,
    STOP_SCRIPT,
)

PREVIOUS_SUFFIX = "-previous"
PREFETCH_SUFFIX = "-prefetch"
PREVIOUS_ENV_SUFFIX = ".previous"  # .service.env.previous: the env file of <name>-previous
UNIT_DIR = "/etc/systemd/system"
# the rendered files of a service directory (render.py), kept with the env file for a rollback
RENDERED_FILES = (CREATE_SCRIPT, START_SCRIPT, STOP_SCRIPT, LOGS_SCRIPT, ENV_EXAMPLE)


@dataclass(frozen=True)
class Swap:
    name: str  # the container (and service) name
    unit: str | None  # systemd unit that supervises it; None: Docker's restart policy
    creation_script: str  # rendered tgi-service-creation.sh on the host
    image: str
    env_file: str
    volume: str
    model_id: str
    revision: str | None
    why: str  # what changed, for the log
    keep_previous: bool = False  # a rollout commits or rolls back after its smoke checks
    engine: str = "tgi"
    # `docker stop -t`: the engine's drain of the requests in flight (render.stop_timeout)
    stop_timeout: int = TEARDOWN_S

    @property
    def previous(self) -> str:
        return self.name + PREVIOUS_SUFFIX

    @property
    def files(self) -> tuple[str, ...]:
        """The rendered files of the service on the host (kept with the env file)."""
        return rendered_files(self.env_file, self.unit)


# what the prefetch fetches for vLLM/SGLang: the files their loaders read (safetensors first;
# a model with only .bin weights gets those at start, as without a prefetch)
PREFETCH_INCLUDE = (
    "*.json",
    "*.safetensors",
    "*.model",
    "*.txt",
    "*.tiktoken",
    "*.jinja",
    "*.py",
)


# python3 -c PREFETCH_SCRIPT MODEL REVISION PATTERN...: HF_TOKEN comes from the environment
# (--env-file), never argv; huggingface_hub reads it itself
PREFETCH_SCRIPT = (
    "import sys; from huggingface_hub import snapshot_download; "
    "path = snapshot_download(sys.argv[1], revision=sys.argv[2] or None, "
    "allow_patterns=sys.argv[3:]); print(f'weights of {sys.argv[1]} in {path}')"
)


def prefetch_program(engine: str) -> str:
    if engine == "tgi":
        return "text-generation-server download-weights"
    return "huggingface_hub.snapshot_download"


def previous_env_file(env_file: str) -> str:
    """``/opt/tgi/a/service.env`` -> ``/opt/tgi/a/.service.env.previous``."""
    directory, _, name = env_file.rpartition("/")
    return f"{directory}/.{name}{PREVIOUS_ENV_SUFFIX}"


def keep_env_command(env_file: str) -> str:
    """Copy the host's env file aside before the deploy replaces it: 0600 from creation
    (``umask 077``), then renamed into place (never half-written)."""
    env, prev = shlex.quote(env_file), previous_env_file(env_file)
    staged, prev = shlex.quote(prev + ".new"), shlex.quote(prev)
    return (
        f"if [ -f {env} ]; then (umask 077 && cp -- {env} {staged} && chmod 600 -- {staged} "
        f"&& mv -f -- {staged} {prev}); else rm -f -- {prev}; fi"
    )


def restore_env_command(env_file: str) -> str:
    """The kept env file back over ``env_file`` (one rename); nothing when none was kept."""
    prev = shlex.quote(previous_env_file(env_file))
    return f"if [ -f {prev} ]; then mv -f -- {prev} {shlex.quote(env_file)}; fi"


def drop_env_command(env_file: str) -> str:
    prev = previous_env_file(env_file)
    return f"rm -f -- {shlex.quote(prev)} {shlex.quote(prev + '.new')}"


def rendered_files(env_file: str, unit: str | None) -> tuple[str, ...]:
    """The rendered files of the service whose env file is ``env_file``: its scripts and
    example in its directory, and its systemd unit when systemd supervises it."""
    directory = posixpath.dirname(env_file)
    files = [f"{directory}/{n}" for n in RENDERED_FILES]
    return (*files, f"{UNIT_DIR}/{unit}") if unit else tuple(files)


def kept_file(path: str, env_file: str) -> str:
    """Where ``path`` is kept during a swap: ``.<name>.previous`` next to the env file's copy
    (the unit's too: ``/opt/tgi/a/.tgi-a.service.previous``)."""
    name = posixpath.basename(path)
    return f"{posixpath.dirname(env_file)}/.{name}{PREVIOUS_ENV_SUFFIX}"


def kept_names(env_file: str, unit: str | None) -> tuple[str, ...]:
    """The names of the copies a swap keeps in the service directory (env file first)."""
    kept = [kept_file(p, env_file) for p in rendered_files(env_file, unit)]
    return tuple(posixpath.basename(k) for k in (previous_env_file(env_file), *kept))


def keep_command(env_file: str, unit: str | None) -> str:
    """The env file (0600, ``keep_env_command``) and the rendered files (mode and owner kept,
    ``cp -p``, then renamed into place) copied aside before the deploy writes new ones; a stale
    copy of a file that is not there is removed."""
    parts = [keep_env_command(env_file)]
    for path in rendered_files(env_file, unit):
        src, kept = shlex.quote(path), kept_file(path, env_file)
        staged, kept = shlex.quote(kept + ".new"), shlex.quote(kept)
        parts.append(
            f"if [ -f {src} ]; then cp -p -- {src} {staged} && mv -f -- {staged} {kept}; "
            f"else rm -f -- {kept}; fi"
        )
    return " && ".join(parts)


def restore_command(env_file: str, unit: str | None) -> str:
    """Every kept copy back over its file (one rename each; nothing where none was kept). A
    unit that differs is followed by ``systemctl daemon-reload`` (systemd must run the unit on
    disk); an identical one only drops the copy."""
    parts = [restore_env_command(env_file)]
    for path in rendered_files(env_file, unit):
        dest, kept = shlex.quote(path), shlex.quote(kept_file(path, env_file))
        if unit and path.startswith(UNIT_DIR + "/"):
            parts.append(
                f"if [ -f {kept} ]; then if cmp -s -- {kept} {dest}; then rm -f -- {kept}; "
                f"else mv -f -- {kept} {dest} && systemctl daemon-reload; fi; fi"
            )
        else:
            parts.append(f"if [ -f {kept} ]; then mv -f -- {kept} {dest}; fi")
    return "; ".join(parts)


def drop_command(env_file: str, unit: str | None) -> str:
    kept = [kept_file(p, env_file) for p in rendered_files(env_file, unit)]
    names = " ".join(shlex.quote(k) + " " + shlex.quote(k + ".new") for k in kept)
    return f"{drop_env_command(env_file)} {names}"


def prefetch_command(swap: Swap) -> str:
    """``docker run`` of the engine image's downloader; the token only via --env-file."""
    from tgi_infra.engines import engine_spec

    if swap.engine == "tgi":
        entrypoint, args = "text-generation-server", ["download-weights", swap.model_id]
        if swap.revision:
            args += ["--revision", swap.revision]
    else:
        args = ["-c", PREFETCH_SCRIPT, swap.model_id, swap.revision or "", *PREFETCH_INCLUDE]
        entrypoint = "python3"
    argv = [
        "docker", "run", "--rm",
        "--name", swap.name + PREFETCH_SUFFIX,
        "--env-file", swap.env_file,
        "-v", f"{swap.volume}:{engine_spec(swap.engine).cache_mount}",
        "--entrypoint", entrypoint,
        swap.image,
        *args,
    ]  # fmt: skip
    return " ".join(shlex.quote(a) for a in argv) + " 2>&1"


def stop_command(swap: Swap, name: str) -> str:
    """Stop the supervisor, then the container itself (a container started by hand, outside
    the unit, must not keep the port), giving the engine its drain time before SIGKILL."""
    stop = f"docker stop -t {swap.stop_timeout} {shlex.quote(name)} >/dev/null"
    if swap.unit:
        return f"systemctl stop {shlex.quote(swap.unit)}; {stop}"
    return stop


def start_command(swap: Swap, name: str) -> str:
    if swap.unit:
        u = shlex.quote(swap.unit)
        return f"systemctl reset-failed {u} 2>/dev/null || true; systemctl start {u}"
    return f"docker start {shlex.quote(name)}"


def _sh(host, cmd: str, print_output: bool = False) -> tuple[bool, str]:
    # with the host's sudo/su settings, as every command of the deploy (deploy/host/remote.py)
    ok, out = remote.run(host.state, host, cmd, print_output=print_output, print_input=False)
    return ok, "\n".join(out.stdout_lines + out.stderr_lines).strip()


def prefetch(state, host, swap: Swap) -> None:
    """python.call target: download the new weights while the old container serves."""
    logger.info(
        f"{host.print_prefix}{swap.name}: prefetching {swap.model_id} with the new image "
        f"({swap.why}); the running container keeps serving"
    )
    if swap.engine != "tgi" and swap.model_id.startswith("/"):
        logger.info(f"{host.print_prefix}{swap.name}: {swap.model_id} is a local path: no prefetch")
        return
    start = time.monotonic()
    _sh(host, f"docker rm -f {shlex.quote(swap.name + PREFETCH_SUFFIX)} >/dev/null 2>&1 || true")
    ok, out = _sh(host, prefetch_command(swap), print_output=True)
    if not ok:
        _sh(host, restore_command(swap.env_file, swap.unit))  # the running container's files
        raise OperationError(
            f"host {host.name}: service {swap.name}: downloading {swap.model_id} failed; the "
            "running container was not touched (its service.env and files were put back).\n"
            f"likely cause: {likely_cause(out, swap.engine)}\n"
            f"output of {prefetch_program(swap.engine)}:\n{out[-4000:]}"
        )
    logger.info(
        f"{host.print_prefix}{swap.name}: weights of {swap.model_id} in the cache "
        f"({time.monotonic() - start:.0f}s)"
    )


def replace(state, host, swap: Swap, probe: WaitTarget) -> None:
    """python.call target: stop+keep the old container, start the new one, roll back on failure."""
    name, prev = shlex.quote(swap.name), shlex.quote(swap.previous)
    # a leftover of an interrupted swap, while the service's own container exists, is stale
    _sh(host, f"docker inspect {name} >/dev/null 2>&1 && docker rm -f {prev} >/dev/null 2>&1")
    start = time.monotonic()
    ok, out = _sh(host, f"{stop_command(swap, swap.name)} && docker rename {name} {prev}")
    if not ok:
        restore = restore_command(swap.env_file, swap.unit)
        _sh(host, f"{restore}; {start_command(swap, swap.name)}")
        raise OperationError(
            f"host {host.name}: service {swap.name}: could not stop and set aside the running "
            f"container (it was started again):\n{out}"
        )
    ok, out = _sh(host, f"bash {shlex.quote(swap.creation_script)}")
    try:
        if not ok:
            raise OperationError(
                f"host {host.name}: service {swap.name}: the creation script failed:\n{out}"
            )
        wait_ready(state, host, probe)
    except OperationError as exc:
        _rollback(state, host, swap, probe, str(exc))
    if swap.keep_previous:
        kept = f"previous container kept, stopped, as {swap.previous} until the smoke checks"
    else:
        _sh(host, f"docker rm -f {prev}; {drop_command(swap.env_file, swap.unit)}")
        kept = "previous container removed"
    logger.info(
        f"{host.print_prefix}{swap.name}: replaced ({swap.why}); not serving for "
        f"{time.monotonic() - start:.1f}s; {kept}"
    )


def rollback_command(swap: Swap) -> str:
    """Stop (with the engine's drain time: after a failed smoke check the new container may be
    serving) and remove the new container, put the previous env file and rendered files back,
    give the previous container its name back and start it."""
    name, prev = shlex.quote(swap.name), shlex.quote(swap.previous)
    stop_new = stop_command(swap, swap.name) + " >/dev/null 2>&1; "
    return (
        f"{stop_new}docker rm -f {name} >/dev/null 2>&1; "
        f"{restore_command(swap.env_file, swap.unit)}; docker rename {prev} {name} && "
        f"{start_command(swap, swap.name)}"
    )


def _rollback(state, host, swap: Swap, probe: WaitTarget, cause: str) -> None:
    name = shlex.quote(swap.name)
    logger.warning(
        f"{host.print_prefix}{swap.name}: the new container is not ready; rolling back to the "
        "previous container"
    )
    ok, out = _sh(host, rollback_command(swap))
    restored = "the previous container was restored and serves again"
    if ok:
        # systemctl start returns before `docker start -a` has run: the container still reads
        # as exited from its stop; wait until it runs before probing it
        _sh(host, _until_running(name))
        try:
            wait_ready(state, host, probe)
        except OperationError as again:
            restored = f"the previous container was restored but is not ready either: {again}"
    else:
        restored = f"restoring the previous container failed: {out}"
    raise OperationError(
        f"host {host.name}: service {swap.name}: change not applied ({swap.why}), rolled back: "
        f"{restored}.\ncause: {cause.removeprefix(f'host {host.name}: ')}"
    )


def _until_running(quoted_name: str, seconds: int = 30) -> str:
    running = f"docker inspect -f '{{{{.State.Running}}}}' {quoted_name} 2>/dev/null"
    return f'for i in $(seq {seconds * 2}); do [ "$({running})" = true ] && break; sleep 0.5; done'


def finish(
    state,
    host,
    action: str,
    name_: str,
    unit: str | None,
    probe: WaitTarget,
    stop_timeout: int = TEARDOWN_S,
) -> None:
    """python.call target of ``swap_finish.py``: commit or roll back a kept previous container
    (and its env file, ``.service.env.previous``). The previous container is stopped already
    (``replace``): removing it cuts no request."""
    prev = name_ + PREVIOUS_SUFFIX
    ok, _ = _sh(host, f"docker inspect {shlex.quote(prev)} >/dev/null 2>&1")
    if not ok:
        logger.info(f"{host.print_prefix}{name_}: no previous container: nothing to {action}")
        return
    if action == "commit":
        drop = drop_command(probe.env_file, unit)
        _sh(host, f"docker rm -f {shlex.quote(prev)}; {drop}")
        logger.info(f"{host.print_prefix}{name_}: change kept, {prev} removed")
        return
    spec = Swap(
        name_, unit, "", "", probe.env_file, "", "", None, "smoke checks failed",
        stop_timeout=stop_timeout,
    )  # fmt: skip
    try:
        _rollback(state, host, spec, probe, "the smoke checks failed after the change")
    except OperationError as exc:
        if "serves again" not in str(exc):
            raise
        logger.warning(f"{host.print_prefix}{name_}: rolled back, the previous container serves")


# -- an interrupted swap: the next deploy finishes it (facts decide, ``recover`` acts) ---------

COMMIT, ROLL_BACK, PUT_BACK = "commit", "roll back", "put back"


@dataclass(frozen=True)
class Leftover:
    """What an interrupted swap left on the host, and what the deploy does about it."""

    action: str  # COMMIT, ROLL_BACK or PUT_BACK
    found: tuple[str, ...]  # the leftovers, for the log

    def line(self, name: str) -> str:
        files = [
            f for f in self.found if f.startswith(".") and f != f".service.env{PREVIOUS_ENV_SUFFIX}"
        ]
        named = [f for f in self.found if f not in files]
        if files:
            named.append(f"{len(files)} kept rendered file{'s' if len(files) > 1 else ''}")
        found = ", ".join(named)
        if self.action == COMMIT:
            done = "the new container runs: the previous one is removed (committed)"
        elif self.action == ROLL_BACK:
            done = (
                "the new container is missing or not running: the previous one is restored "
                "(rolled back)"
            )
        else:
            done = (
                "the container was not replaced yet: the files describing it are put back "
                "(rolled back)"
            )
        return f"{name}: an interrupted swap was found ({found}): {done}"


def interrupted_swap(
    name: str,
    current: dict | None,
    previous: dict | None,
    kept: tuple[str, ...] | list[str],
) -> Leftover | None:
    """What to do with the leftovers of an interrupted swap of service ``name``.

    ``current``/``previous``: ContainerState of ``<name>`` and ``<name>-previous`` (None when
    missing); ``kept``: the copies (``kept_names``) found in the service directory. A previous
    container next to a running ``<name>`` is committed (``<name>`` is the new one: a rollback
    renames the previous container back, so both never exist after one); next to a missing or
    stopped ``<name>`` it is restored. Copies without a previous container: the swap stopped
    before the old container was set aside, so ``<name>`` is the old one and they describe it.
    None: nothing left over."""
    found = ([name + PREVIOUS_SUFFIX] if previous is not None else []) + list(kept)
    if previous is not None:
        running = bool(current and current.get("running"))
        return Leftover(COMMIT if running else ROLL_BACK, tuple(found))
    if kept:
        return Leftover(PUT_BACK, tuple(found))
    return None


def recover(state, host, swap: Swap, leftover: Leftover, probe: WaitTarget) -> None:
    """python.call target: finish the interrupted swap ``leftover`` describes."""
    prev = shlex.quote(swap.previous)
    if leftover.action == COMMIT:
        _sh(host, f"docker rm -f {prev} >/dev/null 2>&1; {drop_command(swap.env_file, swap.unit)}")
    elif leftover.action == PUT_BACK:
        _sh(host, restore_command(swap.env_file, swap.unit))
    else:
        ok, out = _sh(host, rollback_command(swap))
        if not ok:
            raise OperationError(
                f"host {host.name}: service {swap.name}: an interrupted swap left "
                f"{swap.previous}; restoring it failed:\n{out}"
            )
        _sh(host, _until_running(shlex.quote(swap.name)))
        wait_ready(state, host, probe)
