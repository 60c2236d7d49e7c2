"""Flat apt repository indexes: Packages, Packages.gz and the (unsigned) Release file."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import subprocess
from pathlib import Path

from .packages import SOURCE_DATE_EPOCH

ORIGIN = "TGI Lab stand-in for https://nvidia.github.io/libnvidia-container"
LABEL = "libnvidia-container (STAND-IN)"
INDEX_FILES = ("Packages", "Packages.gz")
HASHES = (("MD5Sum", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256"), ("SHA512", "sha512"))


def write_packages(arch_dir: Path) -> None:
    """Packages via ``dpkg-scanpackages --multiversion`` (every version stays installable)."""
    result = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", ".", "/dev/null"],
        cwd=arch_dir,
        check=True,
        capture_output=True,
        text=True,
    )
    (arch_dir / "Packages").write_text(result.stdout, encoding="utf-8")
    with (arch_dir / "Packages.gz").open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(result.stdout.encode())


def release_epoch(published: int) -> int:
    """The Release ``Date`` of a mirror that has seen ``published`` releases.

    NVIDIA's repository gets a new ``Date`` with every publish; apt compares it with the Date of
    the lists it holds. Reproducible (the same versions give the same bytes) and later for every
    release added (:func:`lab.nvidia_mirror.publish_version`): one day per release."""
    return SOURCE_DATE_EPOCH + 86400 * max(published - 1, 0)


def write_release(arch_dir: Path, arch: str, published: int = 1) -> Path:
    """The Release file of a flat repository: metadata plus hashes of the index files."""
    date = datetime.datetime.fromtimestamp(release_epoch(published), datetime.timezone.utc)
    lines = [
        f"Origin: {ORIGIN}",
        f"Label: {LABEL}",
        f"Architectures: {arch}",
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S UTC')}",
    ]
    for field, algorithm in HASHES:
        lines.append(f"{field}:")
        for name in INDEX_FILES:
            data = (arch_dir / name).read_bytes()
            digest = hashlib.new(algorithm, data).hexdigest()
            lines.append(f" {digest} {len(data):>16} {name}")
    release = arch_dir / "Release"
    release.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return release
