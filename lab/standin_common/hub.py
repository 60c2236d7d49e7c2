"""``huggingface_hub.snapshot_download`` in the vLLM and SGLang stand-in images.

The deploy's prefetch (deploy/services/swap.py ``PREFETCH_SCRIPT``) runs ``python3 -c`` with
``from huggingface_hub import snapshot_download`` in the engine image. This follows the
documented contract of huggingface_hub's ``_snapshot_download.py`` (``snapshot_download``):
the files of ``repo_id`` at ``revision`` matching ``allow_patterns`` land in the HF cache
(``HF_HUB_CACHE``, then ``HUGGINGFACE_HUB_CACHE``, then ``$HF_HOME/hub``; ``constants.py``) as
``models--org--name/snapshots/<commit>/`` with ``refs/<revision>`` naming the commit
(``file_download.py`` ``repo_folder_name``), and the snapshot folder's path is returned. An
already cached snapshot is returned without a download; with ``HF_HUB_OFFLINE=1`` and nothing
cached it raises (upstream: ``LocalEntryNotFoundError``). The stand-in's repo has the files
TGI's stand-in "downloads" (lab/tgi_standin/weights.py): ``config.json`` and
``model.safetensors``; like it, the Hub itself is not reached (the lab is air-gapped).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import time
from pathlib import Path

REPO_FILES = {
    "config.json": lambda repo: json.dumps({"_name_or_path": repo}) + "\n",
    "model.safetensors": lambda repo: f"stand-in weights for {repo}\n",
}


class LocalEntryNotFoundError(FileNotFoundError):
    """huggingface_hub.errors.LocalEntryNotFoundError (offline, nothing cached)."""


def cache_root(environ: dict[str, str]) -> Path:
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(key):
            return Path(environ[key])
    home = environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return Path(home) / "hub"


def commit_of(repo_id: str, revision: str) -> str:
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision
    return hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()


def _matches(name: str, allow: list[str] | None) -> bool:
    return allow is None or any(fnmatch.fnmatch(name, p) for p in allow)


def snapshot_download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    allow_patterns: list[str] | str | None = None,
    token: str | bool | None = None,
    **_ignored,
) -> str:
    environ = dict(os.environ)
    revision = revision or "main"
    allow = [allow_patterns] if isinstance(allow_patterns, str) else allow_patterns
    root = Path(cache_dir) if cache_dir else cache_root(environ)
    repo_dir = root / "--".join(["models", *repo_id.split("/")])
    ref = repo_dir / "refs" / revision
    sha = ref.read_text().strip() if ref.is_file() else commit_of(repo_id, revision)
    snap = repo_dir / "snapshots" / sha
    wanted = [f for f in REPO_FILES if _matches(f, allow)]
    if all((snap / f).is_file() for f in wanted):
        return str(snap)
    if environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise LocalEntryNotFoundError(
            "Cannot find an appropriate cached snapshot folder for the specified revision on the "
            "local disk and outgoing traffic has been disabled. To enable repo look-ups and "
            "downloads online, set 'HF_HUB_OFFLINE=0' as environment variable."
        )
    seconds = float(environ.get("HUB_STANDIN_DOWNLOAD_S", "1") or 0)
    snap.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        time.sleep(seconds / max(len(wanted), 1))
        tmp = snap / f".{name}.incomplete"
        tmp.write_text(REPO_FILES[name](repo_id))
        tmp.replace(snap / name)
    (repo_dir / "refs").mkdir(exist_ok=True)
    ref.write_text(sha)
    return str(snap)
