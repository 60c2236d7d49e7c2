"""Model weights in the Hugging Face cache, and ``text-generation-server download-weights``.

Follows TGI's ``server/text_generation_server/cli.py`` (``download_weights``) and
``server/text_generation_server/utils/hub.py`` (``weight_files``, ``download_weights``,
``_get_cached_revision_directory``) for the cache layout and the log lines, and
``huggingface_hub.constants`` for where the cache is (``HF_HUB_CACHE``, then
``HUGGINGFACE_HUB_CACHE``, then ``$HF_HOME/hub``). The "download" writes a small stand-in
``model.safetensors`` and ``config.json`` and takes ``TGI_STANDIN_DOWNLOAD_S`` seconds
(default: 4 x ``TGI_STANDIN_WARMUP_S``), so a cold start is visibly slower than a warm one.
Without any of those cache variables set nothing is written (the unit tests' case).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from . import faults as faults_mod
from .logs import Logger

WEIGHT_FILES = ["model.safetensors"]


def cache_dir(environ: dict[str, str]) -> Path | None:
    """huggingface_hub.constants.HF_HUB_CACHE, or None when the environment names none."""
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(key):
            return Path(environ[key])
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]) / "hub"
    return None


def repo_folder_name(model_id: str) -> str:
    """huggingface_hub.file_download.repo_folder_name(repo_type="model")."""
    return "--".join(["models", *model_id.split("/")])


def commit_sha(model_id: str, revision: str | None) -> str:
    """The stand-in's commit of a revision: a 40-hex name that is stable per (model, revision)."""
    rev = revision or "main"
    if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev):
        return rev
    return hashlib.sha1(f"{model_id}@{rev}".encode()).hexdigest()


def cached_snapshot(model_id: str, revision: str | None, environ: dict[str, str]) -> Path | None:
    """hub.py ``_get_cached_revision_directory`` + every weight file present (``weight_files``)."""
    local = Path(model_id)
    if local.is_dir():
        return local if any(local.glob("*.safetensors")) else None
    root = cache_dir(environ)
    if root is None:
        return None
    repo = root / repo_folder_name(model_id)
    rev = revision or "main"
    ref = repo / "refs" / rev
    if ref.is_file():
        rev = ref.read_text().strip()
    snap = repo / "snapshots" / rev
    if all((snap / f).is_file() for f in WEIGHT_FILES):
        return snap
    return None


def download_seconds(environ: dict[str, str]) -> float:
    warmup = float(environ.get("TGI_STANDIN_WARMUP_S", "0.5") or 0)
    return float(environ.get("TGI_STANDIN_DOWNLOAD_S", str(4 * warmup)) or 0)


class DownloadError(RuntimeError):
    pass


def ensure_weights(
    model_id: str,
    revision: str | None,
    environ: dict[str, str],
    logger: Logger,
    stop: threading.Event | None = None,
) -> bool:
    """Skip when cached, else "download" into the cache. False when ``stop`` was set."""
    if cached_snapshot(model_id, revision, environ) is not None:
        logger.info("Files are already present on the host. Skipping download.")
        return True
    if Path(model_id).exists():
        raise DownloadError(f"No local weights found in {model_id} with extension .safetensors")
    if environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise DownloadError(
            f"File model.safetensors of model {model_id} not found in "
            f"{environ.get('HUGGINGFACE_HUB_CACHE', 'the local cache')}. "
            f"Please run `text-generation-server download-weights {model_id}` first."
        )
    seconds = download_seconds(environ)
    stop = stop or threading.Event()
    start = time.monotonic()
    for i, fname in enumerate(WEIGHT_FILES):
        logger.info(f"Download file: {fname}")
        steps = 4
        for _ in range(steps):
            if stop.wait(seconds / len(WEIGHT_FILES) / steps):
                return False
        path = _write(model_id, revision, environ, fname)
        took = timedelta(seconds=int(time.monotonic() - start))
        logger.info(f"Downloaded {path or fname} in {took}.")
        remaining = len(WEIGHT_FILES) - (i + 1)
        per_file = timedelta(seconds=time.monotonic() - start) / (i + 1)
        eta = per_file * remaining if remaining else 0
        logger.info(f"Download: [{i + 1}/{len(WEIGHT_FILES)}] -- ETA: {eta}")
    return True


def _write(model_id: str, revision: str | None, environ: dict[str, str], fname: str) -> Path | None:
    root = cache_dir(environ)
    if root is None:
        return None
    repo = root / repo_folder_name(model_id)
    sha = commit_sha(model_id, revision)
    snap = repo / "snapshots" / sha
    snap.mkdir(parents=True, exist_ok=True)
    (snap / "config.json").write_text(json.dumps({"_name_or_path": model_id}) + "\n")
    tmp = snap / f".{fname}.incomplete"
    tmp.write_bytes(b"TGI stand-in weights for " + model_id.encode() + b"\n")
    tmp.replace(snap / fname)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / (revision or "main")).write_text(sha)
    return snap / fname


USAGE = (
    "Usage: text-generation-server download-weights [OPTIONS] MODEL_ID\n"
    "Options: --revision TEXT --extension TEXT [default: .safetensors] --auto-convert / "
    "--no-auto-convert --logger-level TEXT --json-output --trust-remote-code --merge-lora\n"
)
_VALUE_OPTS = {"--revision", "--extension", "--logger-level"}
_FLAG_OPTS = {
    "--auto-convert",
    "--no-auto-convert",
    "--json-output",
    "--no-json-output",
    "--trust-remote-code",
    "--no-trust-remote-code",
    "--merge-lora",
    "--no-merge-lora",
}


def server_main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """``text-generation-server`` (typer app in cli.py); only ``download-weights`` is served."""
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ if environ is None else environ)
    if not argv or argv[0] in ("--help", "-h"):
        sys.stdout.write(
            "Usage: text-generation-server [OPTIONS] COMMAND [ARGS]...\n"
            "Commands: download-weights (others not in the TGI stand-in)\n"
        )
        return 0 if argv else 2
    if argv[0] != "download-weights":
        sys.stderr.write(f"Error: No such command '{argv[0]}' (TGI stand-in).\n")
        return 2
    values: dict[str, str | bool] = {}
    positional: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--help", "-h"):
            sys.stdout.write(USAGE)
            return 0
        name, eq, inline = arg.partition("=")
        if name in _VALUE_OPTS:
            if eq:
                values[name] = inline
            elif i + 1 < len(args):
                i += 1
                values[name] = args[i]
            else:
                sys.stderr.write(f"{USAGE}Error: Option '{name}' requires an argument.\n")
                return 2
        elif arg in _FLAG_OPTS:
            values[arg] = True
        elif arg.startswith("-"):
            sys.stderr.write(f"{USAGE}Error: No such option: {arg}\n")
            return 2
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1:
        sys.stderr.write(f"{USAGE}Error: Missing argument 'MODEL_ID'.\n")
        return 2
    model_id = positional[0]
    revision = values.get("--revision") or None
    secrets = [environ.get(k, "") for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")]
    logger = Logger(json_output=bool(values.get("--json-output")), secrets=secrets)
    try:
        active = faults_mod.parse(environ.get("TGI_STANDIN_FAULT"))
    except faults_mod.UnknownFault as exc:
        sys.stderr.write(f"tgi-standin: {exc}\n")
        return 64
    if "crash_gated" in active:
        for level, message in faults_mod.crash_lines("crash_gated", model_id):
            if level != "RAW":
                logger.log(level, message)
        return 1
    try:
        ensure_weights(model_id, revision, environ, logger)  # type: ignore[arg-type]
    except DownloadError as exc:
        logger.error(str(exc))
        return 1
    return 0
