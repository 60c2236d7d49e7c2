"""The four stand-in NVIDIA Container Toolkit packages and how to build their .debs.

Package names, file paths and the dependency graph follow NVIDIA's real packages (see
CONTRACT.md); the payload is a set of STAND-IN scripts from ``pkgroot/``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PKGROOT = Path(__file__).resolve().parent / "pkgroot"
VERSIONS = ("1.17.7-1", "1.17.8-1")
ARCHES = ("amd64", "arm64")
# Timestamp used for every file in every .deb (and the Release Date): builds are byte-for-byte
# reproducible. 2025-06-02T00:00:00Z.
SOURCE_DATE_EPOCH = 1748822400
MAINTAINER = "TGI Lab stand-in <tgi-lab@example.invalid>"
HOMEPAGE = "https://github.com/NVIDIA/nvidia-container-toolkit"


@dataclass(frozen=True)
class PackageSpec:
    """One stand-in package. ``depends`` entries use ``{version}`` for the package version."""

    name: str
    section: str
    depends: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (path installed on the host, template in pkgroot/)
    summary: str
    mimics: str
    # from 1.18.0 on (packaging/debian/control at v1.18.0), when it differs
    depends_from_1_18: tuple[str, ...] | None = None
    # DEBIAN/<script> -> template in pkgroot/ (packaging/debian/<package>.<script>)
    scripts: tuple[tuple[str, str], ...] = ()


PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec(
        name="libnvidia-container1",
        section="libs",
        depends=(),
        files=(),
        summary="NVIDIA container runtime library (STAND-IN, no library inside)",
        mimics="libnvidia-container1: the libnvidia-container shared library",
    ),
    PackageSpec(
        name="libnvidia-container-tools",
        section="utils",
        depends=("libnvidia-container1 (>= {version})",),
        files=(("usr/bin/nvidia-container-cli", "nvidia-container-cli.sh"),),
        summary="NVIDIA container runtime library, command-line tools (STAND-IN)",
        mimics="libnvidia-container-tools: nvidia-container-cli",
    ),
    PackageSpec(
        name="nvidia-container-toolkit-base",
        section="utils",
        depends=("python3",),
        files=(
            ("usr/bin/nvidia-ctk", "nvidia_ctk.py"),
            ("usr/bin/nvidia-container-runtime", "nvidia-container-runtime.sh"),
        ),
        summary="NVIDIA Container Toolkit Base (STAND-IN)",
        mimics="nvidia-container-toolkit-base: nvidia-ctk and nvidia-container-runtime",
        scripts=(("postinst", "nvidia-container-toolkit-base.postinst"),),
    ),
    PackageSpec(
        name="nvidia-container-toolkit",
        section="utils",
        depends=(
            "nvidia-container-toolkit-base (= {version})",
            "libnvidia-container-tools (>= {version})",
            "libnvidia-container-tools (<< 2.0.0)",
        ),
        files=(("usr/bin/nvidia-container-runtime-hook", "nvidia-container-runtime-hook.sh"),),
        summary="NVIDIA Container toolkit (STAND-IN)",
        mimics="nvidia-container-toolkit: nvidia-container-runtime-hook",
        depends_from_1_18=(
            "nvidia-container-toolkit-base (= {version})",
            "libnvidia-container-tools (= {version})",
            "libnvidia-container-tools (<< 2.0.0)",
        ),
        scripts=(
            ("postinst", "nvidia-container-toolkit.postinst"),
            ("postrm", "nvidia-container-toolkit.postrm"),
        ),
    ),
)


def depends_for(spec: PackageSpec, version: str) -> tuple[str, ...]:
    """The Depends of ``spec`` at ``version``: 1.18 pins the tools exactly (``(= V)``)."""
    upstream = tuple(int(p) for p in upstream_version(version).split(".")[:2])
    deps = (
        spec.depends_from_1_18 if spec.depends_from_1_18 and upstream >= (1, 18) else spec.depends
    )
    return tuple(d.format(version=version) for d in deps)


def upstream_version(version: str) -> str:
    """``1.17.8-1`` -> ``1.17.8`` (what the programs print)."""
    return version.rsplit("-", 1)[0]


def fake_commit(version: str) -> str:
    """A stable 40-hex 'commit' per version. NOT the real upstream commit."""
    return hashlib.sha1(f"nvidia-container-toolkit stand-in {version}".encode()).hexdigest()


def render_template(template: str, version: str) -> str:
    """Fill a pkgroot/ template for ``version`` (a Debian version such as ``1.17.8-1``)."""
    text = (PKGROOT / template).read_text(encoding="utf-8")
    upstream = upstream_version(version)
    return text.replace("@VERSION@", upstream).replace("@COMMIT@", fake_commit(upstream))


def source_files() -> list[Path]:
    """Every file whose content ends up in the mirror (for the build stamp)."""
    here = Path(__file__).resolve().parent
    files = sorted(here.glob("*.py")) + sorted(p for p in PKGROOT.iterdir() if p.is_file())
    return [p for p in files if p.name != "__main__.py"]


def deb_filename(spec: PackageSpec, version: str, arch: str) -> str:
    return f"{spec.name}_{version}_{arch}.deb"


def _control(spec: PackageSpec, version: str, arch: str, installed_kib: int) -> str:
    lines = [
        f"Package: {spec.name}",
        f"Version: {version}",
        f"Architecture: {arch}",
        f"Maintainer: {MAINTAINER}",
        f"Installed-Size: {installed_kib}",
    ]
    depends = depends_for(spec, version)
    if depends:
        lines.append("Depends: " + ", ".join(depends))
    lines += [
        f"Section: {spec.section}",
        "Priority: optional",
        f"Homepage: {HOMEPAGE}",
        f"Description: {spec.summary}",
        f" STAND-IN built by the TGI lab; mimics NVIDIA's {spec.mimics}.",
        " It contains no NVIDIA software and cannot drive a GPU.",
    ]
    return "\n".join(lines) + "\n"


def _readme(spec: PackageSpec, version: str) -> str:
    return (
        f"STAND-IN package {spec.name} {version}\n\n"
        f"Built by the TGI lab (lab/nvidia_mirror) to mimic NVIDIA's {spec.mimics}.\n"
        "It holds no NVIDIA software. Contract: lab/nvidia_mirror/CONTRACT.md\n"
    )


def build_deb(spec: PackageSpec, version: str, arch: str, out_dir: Path) -> Path:
    """Build one .deb reproducibly with ``dpkg-deb --build`` into ``out_dir``."""
    out = out_dir / deb_filename(spec, version, arch)
    with tempfile.TemporaryDirectory(prefix="nvdeb-") as tmp:
        tree = Path(tmp) / "tree"
        payload: dict[str, tuple[str, int]] = {
            f"usr/share/doc/{spec.name}/README.STAND-IN": (_readme(spec, version), 0o644)
        }
        for installed, template in spec.files:
            payload[installed] = (render_template(template, version), 0o755)
        size = 0
        for rel, (content, mode) in payload.items():
            path = tree / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            path.chmod(mode)
            size += len(content.encode())
        debian = tree / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(_control(spec, version, arch, max(1, size // 1024)))
        for script, template in spec.scripts:
            (debian / script).write_text(render_template(template, version))
            (debian / script).chmod(0o755)
        for path in sorted(tree.rglob("*"), reverse=True) + [tree]:
            if path.is_dir():
                path.chmod(0o755)
            os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
        argv = ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree)]
        cache = deb_cache_dir()
        cached = cache / f"{_tree_key(tree, argv)}.deb" if cache else None
        if cached is not None and cached.is_file():
            shutil.copyfile(cached, out)
            return out
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH))
        tmp_out = Path(tmp) / out.name
        subprocess.run([*argv, str(tmp_out)], check=True, capture_output=True, text=True, env=env)
        if cached is not None:  # whole or not at all: labs and tests build side by side
            cache.mkdir(parents=True, exist_ok=True)
            part = cached.with_name(f".{cached.name}.{os.getpid()}")
            shutil.copyfile(tmp_out, part)
            os.replace(part, cached)
        shutil.move(str(tmp_out), out)
    return out


def deb_cache_dir() -> Path | None:
    """Where built .debs are kept, by the hash of what went into them (``TGI_LAB_DEB_CACHE``;
    default ``~/.cache/tgi-lab/debs``; ``off``: none). The builds are reproducible, so a deb
    built once serves every later mirror on the machine (each lab's, each test's) byte for
    byte: ``dpkg-deb`` with xz cost about a minute of CPU per suite run without it."""
    value = os.environ.get("TGI_LAB_DEB_CACHE", "")
    if value == "off":
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tgi-lab" / "debs"


def _tree_key(tree: Path, argv: list[str]) -> str:
    """sha256 of everything ``dpkg-deb --build`` turns into the .deb: each path, its mode and
    content (mtimes are SOURCE_DATE_EPOCH), the options and dpkg-deb's own version."""
    h = hashlib.sha256()
    for part in (*argv[:-1], str(SOURCE_DATE_EPOCH), _dpkg_deb_version()):
        h.update(part.encode() + b"\0")
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        h.update(f"{rel}\0{path.stat().st_mode:o}\0".encode())
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _dpkg_deb_version() -> str:
    out = subprocess.run(["dpkg-deb", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]
