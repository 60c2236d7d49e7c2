"""Build the NVIDIA Container Toolkit apt mirror STAND-IN served by the TGI lab.

Layout (mirrors https://nvidia.github.io/libnvidia-container, ``<base>`` = ``out_dir``)::

    <base>/gpgkey                                         ASCII-armoured signing key
    <base>/stable/deb/nvidia-container-toolkit.list       apt source list file
    <base>/stable/deb/<arch>/                             flat repo, arch in amd64, arm64
        *.deb  Packages  Packages.gz  Release  InRelease  Release.gpg

Builds are cached: a stamp (``.stand-in-stamp.json``) holds a hash of every input; the debs and
indexes are rebuilt only when an input changed or a file is missing, and re-signed only when
the signing key changed. The private key lives OUTSIDE ``out_dir`` (default
``<out_dir>.gnupg`` next to it) so the served tree holds public material only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from ..locks import file_lock
from .packages import ARCHES, PACKAGES, VERSIONS, build_deb, deb_filename, source_files
from .repo_index import write_packages, write_release
from .signing import agent_session, ensure_key, export_public_key, sign_release

DEFAULT_KEY_NAME = "TGI Lab NVIDIA mirror stand-in"
WRONG_KEY_SUFFIX = " (WRONG KEY, not the published gpgkey)"
REAL_BASE_URL = "https://nvidia.github.io/libnvidia-container"
LIST_PATH = "stable/deb/nvidia-container-toolkit.list"
KEYRING_PATH = "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"
STAMP_NAME = ".stand-in-stamp.json"
SIGNATURE_FILES = ("InRelease", "Release.gpg")


@dataclass(frozen=True)
class MirrorInfo:
    """What :func:`build_mirror` produced."""

    root: Path
    key_fingerprint: str
    versions: list[str] = field(default_factory=lambda: list(VERSIONS))
    arches: list[str] = field(default_factory=lambda: list(ARCHES))
    signer_fingerprint: str = ""
    gnupg_home: Path | None = None
    rebuilt: bool = False

    def arch_dir(self, arch: str) -> Path:
        return self.root / "stable" / "deb" / arch


def default_gnupg_home(out_dir: Path) -> Path:
    return out_dir.parent / f"{out_dir.name}.gnupg"


def apt_source_line(base_url: str, keyring: str = KEYRING_PATH) -> str:
    """The sources.list line the official instructions end up with (``$(ARCH)`` kept)."""
    return f"deb [signed-by={keyring}] {base_url.rstrip('/')}/stable/deb/$(ARCH) /"


def list_file_text(base_url: str) -> str:
    """Content of ``stable/deb/nvidia-container-toolkit.list`` (same shape as NVIDIA's)."""
    base = base_url.rstrip("/")
    return f"deb {base}/stable/deb/$(ARCH) /\n#deb {base}/experimental/deb/$(ARCH) /\n"


def _inputs_hash(fingerprint: str, base_url: str, versions: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps([fingerprint, base_url, list(versions), ARCHES]).encode())
    return digest.hexdigest()


def _expected_files(root: Path, versions: tuple[str, ...]) -> list[Path]:
    files = [root / "gpgkey", root / LIST_PATH]
    for arch in ARCHES:
        arch_dir = root / "stable" / "deb" / arch
        files += [arch_dir / name for name in ("Packages", "Packages.gz", "Release")]
        files += [
            arch_dir / deb_filename(spec, version, arch)
            for spec in PACKAGES
            for version in versions
        ]
    return files


def _signatures(root: Path) -> list[Path]:
    return [root / "stable" / "deb" / a / name for a in ARCHES for name in SIGNATURE_FILES]


def _read_stamp(root: Path) -> dict:
    try:
        return json.loads((root / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(root: Path, stamp: dict) -> None:
    (root / STAMP_NAME).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def _locked(out_dir: Path) -> AbstractContextManager[None]:
    return file_lock(out_dir.parent / f".{out_dir.name}.lock")


def _build_content(
    root: Path, home: Path, fingerprint: str, base_url: str, versions: tuple[str, ...]
) -> None:
    (root / "gpgkey").write_text(export_public_key(home, fingerprint))
    list_file = root / LIST_PATH
    list_file.parent.mkdir(parents=True, exist_ok=True)
    list_file.write_text(list_file_text(base_url))
    for arch in ARCHES:
        arch_dir = root / "stable" / "deb" / arch
        arch_dir.mkdir(parents=True, exist_ok=True)
        for spec in PACKAGES:
            for version in versions:
                build_deb(spec, version, arch, arch_dir)
        write_packages(arch_dir)
        write_release(arch_dir, arch, published=len(versions))


def _sign(root: Path, home: Path, signer: str) -> None:
    for arch in ARCHES:
        sign_release(home, signer, root / "stable" / "deb" / arch / "Release")


def build_mirror(
    out_dir: Path,
    gnupg_home: Path | None = None,
    key_name: str = DEFAULT_KEY_NAME,
    *,
    wrong_key: bool = False,
    base_url: str = REAL_BASE_URL,
    key_algorithm: str = "ed25519",
    versions: tuple[str, ...] = VERSIONS,
) -> MirrorInfo:
    """Build (or reuse) the mirror in ``out_dir``; returns its :class:`MirrorInfo`.

    ``gnupg_home`` holds the signing key (created with ``gpg --quick-gen-key`` when no key
    named ``key_name`` is there). ``wrong_key=True`` signs the Release files with a second key
    while ``gpgkey`` still publishes the first one, so apt must refuse the mirror.
    ``base_url`` only changes the URL written into the ``.list`` file. ``versions``: the
    toolkit versions published (see :func:`publish_version` and :func:`rotate_key` for what
    NVIDIA does after a host was deployed: a new release, a new signing key).
    """
    versions = tuple(versions)
    root = Path(out_dir).resolve()
    home = Path(gnupg_home).resolve() if gnupg_home else default_gnupg_home(root)
    rebuilt = False
    with _locked(root), agent_session(home):
        fingerprint = ensure_key(home, key_name, key_algorithm)
        signer = fingerprint
        if wrong_key:
            signer = ensure_key(home, key_name + WRONG_KEY_SUFFIX, key_algorithm)
        inputs = _inputs_hash(fingerprint, base_url, versions)
        stamp = _read_stamp(root)
        complete = all(p.is_file() for p in _expected_files(root, versions))
        if stamp.get("inputs") != inputs or not complete:
            staging = root.with_name(root.name + ".building")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            _build_content(staging, home, fingerprint, base_url, versions)
            _sign(staging, home, signer)
            _write_stamp(staging, {"inputs": inputs, "signer": signer, "key": fingerprint})
            old = root.with_name(root.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if root.exists():
                root.rename(old)
            staging.rename(root)
            shutil.rmtree(old, ignore_errors=True)
            rebuilt = True
        elif stamp.get("signer") != signer or not all(p.is_file() for p in _signatures(root)):
            _sign(root, home, signer)
            _write_stamp(root, {**stamp, "signer": signer})
    return MirrorInfo(
        root=root,
        versions=list(versions),
        key_fingerprint=fingerprint,
        signer_fingerprint=signer,
        gnupg_home=home,
        rebuilt=rebuilt,
    )


def resign_with_other_key(
    out_dir: Path, gnupg_home: Path | None = None, key_name: str = DEFAULT_KEY_NAME
) -> MirrorInfo:
    """Re-sign an existing mirror with a key that is NOT the published ``gpgkey``."""
    return build_mirror(out_dir, gnupg_home, key_name, wrong_key=True)


ROTATED_KEY_NAME = DEFAULT_KEY_NAME + " (rotated)"


def publish_version(
    out_dir: Path,
    version: str,
    gnupg_home: Path | None = None,
    *,
    base_url: str = REAL_BASE_URL,
    key_name: str = DEFAULT_KEY_NAME,
) -> MirrorInfo:
    """NVIDIA publishes a new release: the mirror lists ``version`` too (packages built like
    the others, indexes re-made and re-signed; the existing versions stay)."""
    versions = tuple(dict.fromkeys([*VERSIONS, version]))
    return build_mirror(out_dir, gnupg_home, key_name, base_url=base_url, versions=versions)


def rotate_key(
    out_dir: Path,
    gnupg_home: Path | None = None,
    *,
    base_url: str = REAL_BASE_URL,
    versions: tuple[str, ...] = VERSIONS,
    key_name: str = ROTATED_KEY_NAME,
) -> MirrorInfo:
    """NVIDIA rotates its signing key (libnvidia-container issue 109): ``gpgkey`` publishes a
    NEW key and every Release is signed with it, so a host keeping the old keyring gets
    NO_PUBKEY until it fetches the new key. :func:`build_mirror` with the default name goes
    back to the first key."""
    return build_mirror(out_dir, gnupg_home, key_name, base_url=base_url, versions=versions)
