"""The NVIDIA Container Toolkit apt mirror STAND-IN, checked with the real Debian tools.

gpgv verifies the signatures against the published ``gpgkey``, dpkg-deb reads the packages,
and apt itself (isolated through APT_CONFIG, no change to the host's apt state) updates from
the mirror served over HTTP on 127.0.0.1, resolves pinned installs and downloads the debs.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from lab.nvidia_mirror import (
    ARCHES,
    LIST_PATH,
    VERSIONS,
    MirrorInfo,
    build_mirror,
    publish_version,
    resign_with_other_key,
    rotate_key,
)
from lab.nvidia_mirror.build import STAMP_NAME
from lab.nvidia_mirror.packages import PACKAGES, build_deb, render_template

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("gpg", "gpgv", "dpkg-deb", "dpkg-scanpackages")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}"
)
PACKAGE_NAMES = (
    "libnvidia-container1",
    "libnvidia-container-tools",
    "nvidia-container-toolkit-base",
    "nvidia-container-toolkit",
)
PINNED = [f"{name}=1.17.7-1" for name in PACKAGE_NAMES]


@pytest.fixture(scope="module")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short path: gpg-agent's socket lives here and unix socket paths are limited to ~107 bytes.
    return tmp_path_factory.mktemp("gpg")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, gnupg_home: Path) -> MirrorInfo:
    return build_mirror(tmp_path_factory.mktemp("mirror") / "nvidia", gnupg_home=gnupg_home)


@pytest.fixture(scope="module")
def keyring(mirror: MirrorInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What users do: curl <base>/gpgkey | gpg --dearmor -o <keyring>.gpg"""
    out = tmp_path_factory.mktemp("keyring") / "nvidia-container-toolkit-keyring.gpg"
    subprocess.run(
        ["gpg", "--batch", "--dearmor", "-o", str(out)],
        input=(mirror.root / "gpgkey").read_bytes(),
        check=True,
        capture_output=True,
    )
    return out


def gpgv(keyring: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["gpgv", "--keyring", str(keyring), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def parse_stanzas(text: str) -> list[dict[str, str]]:
    stanzas = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line.startswith(" "):
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        stanzas.append(fields)
    return stanzas


# --- layout, key, signatures ------------------------------------------------------------------


def test_layout_matches_nvidia(mirror: MirrorInfo) -> None:
    assert mirror.versions == ["1.17.7-1", "1.17.8-1"]
    assert (mirror.root / "gpgkey").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert (mirror.root / LIST_PATH).read_text().splitlines()[0] == (
        "deb https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /"
    )
    for arch in ARCHES:
        for name in ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg"):
            assert (mirror.arch_dir(arch) / name).is_file(), (arch, name)


def test_served_tree_holds_no_private_key(mirror: MirrorInfo) -> None:
    assert mirror.gnupg_home is not None
    assert not mirror.gnupg_home.resolve().is_relative_to(mirror.root)
    for path in mirror.root.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_key_is_exported_and_fingerprint_reported(mirror: MirrorInfo, keyring: Path) -> None:
    listing = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--show-keys", str(keyring)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"fpr:::::::::{mirror.key_fingerprint}:" in listing
    assert mirror.signer_fingerprint == mirror.key_fingerprint


@pytest.mark.parametrize("arch", ARCHES)
def test_signatures_verify_against_published_key(
    mirror: MirrorInfo, keyring: Path, arch: str
) -> None:
    arch_dir = mirror.arch_dir(arch)
    inline = gpgv(keyring, arch_dir / "InRelease")
    assert inline.returncode == 0, inline.stderr
    assert "Good signature" in inline.stderr
    detached = gpgv(keyring, arch_dir / "Release.gpg", arch_dir / "Release")
    assert detached.returncode == 0, detached.stderr
    assert (arch_dir / "Release").read_text() in (arch_dir / "InRelease").read_text()


def test_tampered_release_fails_verification(
    mirror: MirrorInfo, keyring: Path, tmp_path: Path
) -> None:
    arch_dir = mirror.arch_dir("amd64")
    tampered = tmp_path / "Release"
    tampered.write_text((arch_dir / "Release").read_text().replace("amd64", "arm64"))
    result = gpgv(keyring, arch_dir / "Release.gpg", tampered)
    assert result.returncode != 0
    assert "BAD signature" in result.stderr


# --- indexes and packages ---------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_indexes_list_every_version_with_hashes(mirror: MirrorInfo, arch: str) -> None:
    arch_dir = mirror.arch_dir(arch)
    text = (arch_dir / "Packages").read_text()
    assert gzip.decompress((arch_dir / "Packages.gz").read_bytes()).decode() == text
    stanzas = parse_stanzas(text)
    assert {(s["Package"], s["Version"]) for s in stanzas} == {
        (name, version) for name in PACKAGE_NAMES for version in VERSIONS
    }
    for stanza in stanzas:
        assert stanza["Architecture"] == arch
        deb = arch_dir / stanza["Filename"]
        assert deb.is_file() and deb.parent == arch_dir
        assert stanza["SHA256"] == hashlib.sha256(deb.read_bytes()).hexdigest()
    release = (arch_dir / "Release").read_text()
    for name in ("Packages", "Packages.gz"):
        data = (arch_dir / name).read_bytes()
        assert f" {hashlib.sha256(data).hexdigest()} {len(data):>16} {name}" in release


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version", VERSIONS)
def test_deb_control_fields(mirror: MirrorInfo, arch: str, version: str) -> None:
    def field(name: str, key: str) -> str:
        deb = mirror.arch_dir(arch) / f"{name}_{version}_{arch}.deb"
        return subprocess.run(
            ["dpkg-deb", "-f", str(deb), key], capture_output=True, text=True, check=True
        ).stdout.strip()

    for name in PACKAGE_NAMES:
        assert field(name, "Package") == name
        assert field(name, "Version") == version
        assert field(name, "Architecture") == arch
        assert "STAND-IN" in field(name, "Description")
    assert field("libnvidia-container1", "Depends") == ""
    assert field("libnvidia-container-tools", "Depends") == f"libnvidia-container1 (>= {version})"
    assert field("nvidia-container-toolkit-base", "Depends") == "python3"
    assert field("nvidia-container-toolkit", "Depends") == (
        f"nvidia-container-toolkit-base (= {version}), "
        f"libnvidia-container-tools (>= {version}), libnvidia-container-tools (<< 2.0.0)"
    )


def test_deb_contents(mirror: MirrorInfo) -> None:
    def contents(name: str) -> dict[str, str]:
        deb = mirror.arch_dir("arm64") / f"{name}_1.17.8-1_arm64.deb"
        listing = subprocess.run(
            ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
        ).stdout
        return {line.split()[-1]: line.split()[0] for line in listing.splitlines()}

    base = contents("nvidia-container-toolkit-base")
    assert base["./usr/bin/nvidia-ctk"] == "-rwxr-xr-x"
    assert base["./usr/bin/nvidia-container-runtime"] == "-rwxr-xr-x"
    assert "./usr/bin/nvidia-container-cli" in contents("libnvidia-container-tools")
    assert "./usr/bin/nvidia-container-runtime-hook" in contents("nvidia-container-toolkit")


@pytest.mark.parametrize("version", VERSIONS)
def test_packaged_nvidia_ctk_reports_its_version(
    mirror: MirrorInfo, tmp_path: Path, version: str
) -> None:
    # the stand-in nvidia-ctk is a python script: the same in the amd64 and arm64 debs
    deb = mirror.arch_dir("amd64") / f"nvidia-container-toolkit-base_{version}_amd64.deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    result = subprocess.run(
        [str(tmp_path / "usr/bin/nvidia-ctk"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    upstream = version.split("-")[0]
    assert result.stdout.startswith(f"NVIDIA Container Toolkit CLI version {upstream}\ncommit: ")


# --- caching, reproducibility, speed ----------------------------------------------------------


def test_rebuild_is_cached_reproducible_and_fast(
    mirror: MirrorInfo, gnupg_home: Path, tmp_path: Path, monkeypatch
) -> None:
    deb = mirror.arch_dir("amd64") / "nvidia-container-toolkit_1.17.8-1_amd64.deb"
    mtime = deb.stat().st_mtime_ns
    again = build_mirror(mirror.root, gnupg_home=gnupg_home)
    assert not again.rebuilt
    assert again.key_fingerprint == mirror.key_fingerprint
    assert deb.stat().st_mtime_ns == mtime

    monkeypatch.setenv("TGI_LAB_DEB_CACHE", "off")  # every .deb built again by dpkg-deb
    other = build_mirror(tmp_path / "second", gnupg_home=gnupg_home)
    assert other.rebuilt and other.key_fingerprint == mirror.key_fingerprint
    for arch in ARCHES:
        for path in mirror.arch_dir(arch).glob("*.deb"):
            assert (other.arch_dir(arch) / path.name).read_bytes() == path.read_bytes(), path
        for name in ("Packages", "Packages.gz", "Release"):
            assert (other.arch_dir(arch) / name).read_bytes() == (
                mirror.arch_dir(arch) / name
            ).read_bytes()

    # A missing file or a changed input (the stamp) triggers a rebuild.
    (other.arch_dir("arm64") / "libnvidia-container1_1.17.7-1_arm64.deb").unlink()
    assert build_mirror(other.root, gnupg_home=gnupg_home).rebuilt
    (other.root / STAMP_NAME).write_text('{"inputs": "stale"}')
    assert build_mirror(other.root, gnupg_home=gnupg_home).rebuilt
    assert (other.arch_dir("arm64") / "libnvidia-container1_1.17.7-1_arm64.deb").is_file()


def test_a_deb_is_built_once_per_machine_and_again_when_its_content_changes(
    tmp_path: Path, monkeypatch
) -> None:
    """The .deb cache (``TGI_LAB_DEB_CACHE``): the same package, version and arch built into
    a second mirror is the cached file, byte for byte, without running dpkg-deb; another
    version runs it. dpkg-deb's calls are counted by a wrapper ahead of it on PATH."""
    real = shutil.which("dpkg-deb")
    shim = tmp_path / "bin" / "dpkg-deb"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\nexec {real} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("TGI_LAB_DEB_CACHE", str(tmp_path / "cache"))
    spec = PACKAGES[0]

    def calls() -> int:
        path = tmp_path / "calls"
        lines = path.read_text().splitlines() if path.exists() else []
        return sum("--build" in line for line in lines)

    for out in ("a", "b"):
        (tmp_path / out).mkdir()
    first = build_deb(spec, VERSIONS[0], "amd64", tmp_path / "a")
    assert calls() == 1
    second = build_deb(spec, VERSIONS[0], "amd64", tmp_path / "b")
    assert calls() == 1 and second.read_bytes() == first.read_bytes()
    build_deb(spec, VERSIONS[1], "amd64", tmp_path / "b")
    assert calls() == 2


def test_wrong_key_then_right_key(
    mirror: MirrorInfo, gnupg_home: Path, keyring: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(mirror.root, copy)
    wrong = resign_with_other_key(copy, gnupg_home=gnupg_home)
    assert wrong.signer_fingerprint != wrong.key_fingerprint == mirror.key_fingerprint
    assert (copy / "gpgkey").read_bytes() == (mirror.root / "gpgkey").read_bytes()
    result = gpgv(keyring, copy / "stable/deb/amd64/InRelease")
    assert result.returncode != 0
    assert "No public key" in result.stderr or "NO_PUBKEY" in result.stderr
    fixed = build_mirror(copy, gnupg_home=gnupg_home)
    assert not fixed.rebuilt and fixed.signer_fingerprint == mirror.key_fingerprint
    assert gpgv(keyring, copy / "stable/deb/amd64/InRelease").returncode == 0


# --- apt itself -------------------------------------------------------------------------------


class Served:
    """``python -m lab.nvidia_mirror serve DIR --port 0`` in a subprocess."""

    def __init__(self, root: Path, log: Path) -> None:
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab.nvidia_mirror", "serve", str(root), "--port", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        if not match:
            self.close()
            raise RuntimeError(f"mirror server did not start: {line!r}, see {log}")
        self.url = match.group(1)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers: list[Served] = []

    def start(root: Path) -> str:
        servers.append(Served(root, tmp_path / f"http-{len(servers)}.log"))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


class IsolatedApt:
    """apt-get/apt-cache with every directory under ``root`` (APT_CONFIG; host untouched)."""

    def __init__(self, root: Path, source_line: str, arch: str) -> None:
        self.root = root
        etc = root / "etc"
        for sub in ("apt.conf.d", "sources.list.d", "preferences.d", "trusted.gpg.d"):
            (etc / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("state/lists/partial", "cache/archives/partial", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (etc / "sources.list").write_text(source_line + "\n")
        # A lab host (minimal Debian) has python3 installed; the stand-in base package needs it.
        (root / "status").write_text(
            "Package: python3\nStatus: install ok installed\nPriority: optional\n"
            "Section: python\nInstalled-Size: 1\nMaintainer: test <test@example.invalid>\n"
            f"Architecture: {arch}\nVersion: 3.11.2-1+b1\nDescription: python3\n\n"
        )
        settings = {
            "Dir::Etc": f"{etc}/",
            "Dir::Etc::main": "apt.conf",
            "Dir::Etc::parts": "apt.conf.d",
            "Dir::Etc::sourcelist": "sources.list",
            "Dir::Etc::sourceparts": "sources.list.d",
            "Dir::Etc::preferences": "preferences",
            "Dir::Etc::preferencesparts": "preferences.d",
            "Dir::Etc::trusted": "trusted.gpg",
            "Dir::Etc::trustedparts": "trusted.gpg.d",
            "Dir::State": f"{root}/state/",
            "Dir::State::status": f"{root}/status",
            "Dir::Cache": f"{root}/cache/",
            "Dir::Log": f"{root}/log/",
            "APT::Architecture": arch,
            "Debug::NoLocking": "true",
            "Acquire::Languages": "none",
            "Acquire::http::Proxy": "DIRECT",
            "Acquire::Retries": "0",
        }
        lines = [f'{key} "{value}";' for key, value in settings.items()]
        lines.append(f'APT::Architectures {{ "{arch}"; }};')
        lines.append('APT::Sandbox::User "root";')
        self.config = root / "apt.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        env = {"APT_CONFIG": str(self.config), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        result = subprocess.run(
            list(args), capture_output=True, text=True, env=env, timeout=120, check=False
        )
        result.output = result.stdout + result.stderr  # type: ignore[attr-defined]
        return result


needs_apt = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("apt-cache") is None,
    reason="apt is not installed",
)


def apt_for(url: str, keyring: Path, root: Path, arch: str) -> IsolatedApt:
    line = f"deb [signed-by={keyring}] {url}/stable/deb/$(ARCH) /"
    return IsolatedApt(root, line, arch)


@needs_apt
@pytest.mark.parametrize("arch", ARCHES)
def test_apt_sees_both_versions(
    mirror: MirrorInfo, keyring: Path, serve, tmp_path: Path, arch: str
) -> None:
    url = serve(mirror.root)
    apt = apt_for(url, keyring, tmp_path / "apt", arch)
    update = apt("apt-get", "update")
    assert update.returncode == 0, update.output
    assert not re.search(r"^(W|E):", update.output, re.M), update.output
    policy = apt("apt-cache", "policy", "nvidia-container-toolkit")
    assert policy.returncode == 0, policy.output
    assert "Candidate: 1.17.8-1" in policy.stdout
    for version in VERSIONS:
        assert re.search(
            rf"{re.escape(version)} 500\n\s+500 {re.escape(url)}/stable/deb/{arch}\s+Packages",
            policy.stdout,
        ), policy.stdout


@needs_apt
def test_apt_resolves_pins_and_downloads(
    mirror: MirrorInfo, keyring: Path, serve, tmp_path: Path
) -> None:
    arch = "amd64"  # APT::Architecture is set: the same on any machine
    apt = apt_for(serve(mirror.root), keyring, tmp_path / "apt", arch)
    assert apt("apt-get", "update").returncode == 0

    pinned = apt("apt-get", "install", "--download-only", "-s", *PINNED)
    assert pinned.returncode == 0, pinned.output
    for name in PACKAGE_NAMES:
        assert re.search(rf"^Inst {re.escape(name)} \(1\.17\.7-1 ", pinned.stdout, re.M), name

    # Without pins apt takes the newest version and really downloads (hash-checked) debs.
    latest = apt("apt-get", "install", "--download-only", "-y", "nvidia-container-toolkit")
    assert latest.returncode == 0, latest.output
    archives = tmp_path / "apt" / "cache" / "archives"
    got = sorted(p.name for p in archives.glob("*.deb"))
    assert got == sorted(f"{name}_1.17.8-1_{arch}.deb" for name in PACKAGE_NAMES)
    for deb in archives.glob("*.deb"):
        assert deb.read_bytes() == (mirror.arch_dir(arch) / deb.name).read_bytes()

    # Like NVIDIA's repo: base is pinned with "=", so pinning only the top package fails.
    alone = apt("apt-get", "install", "-s", "nvidia-container-toolkit=1.17.7-1")
    assert alone.returncode != 0
    assert "nvidia-container-toolkit-base (= 1.17.7-1)" in alone.output


@needs_apt
def test_apt_refuses_mirror_signed_with_another_key(
    mirror: MirrorInfo, gnupg_home: Path, keyring: Path, serve, tmp_path: Path
) -> None:
    copy = tmp_path / "wrong"
    shutil.copytree(mirror.root, copy)
    wrong = resign_with_other_key(copy, gnupg_home=gnupg_home)
    apt = apt_for(serve(copy), keyring, tmp_path / "apt", "amd64")
    update = apt("apt-get", "update")
    assert update.returncode != 0, update.output
    assert "The following signatures couldn't be verified" in update.output
    assert f"NO_PUBKEY {wrong.signer_fingerprint[-16:]}" in update.output
    policy = apt("apt-cache", "policy", "nvidia-container-toolkit")
    assert "1.17.8-1" not in policy.stdout


# --------------------------------------------------------------------------------------------
# The mirror follows NVIDIA's real packages (packaging/debian at v1.17.8 / v1.18.0 of
# NVIDIA/nvidia-container-toolkit) and can change after a deploy the way NVIDIA's repository
# does: a new release is published, the signing key is rotated. Checked with the real Debian
# tools (dpkg-deb, gpgv, an isolated apt).


NEW = "1.18.0-1"


@pytest.fixture(scope="module")
def own_gnupg_home(tmp_path_factory):
    return tmp_path_factory.mktemp("gpg-own")


@pytest.fixture
def mirror_root(tmp_path):
    return tmp_path / "nvidia"


def _field(deb: Path, key: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), key], capture_output=True, text=True, check=True
    ).stdout.strip()


def _dearmor(root: Path, out: Path) -> Path:
    subprocess.run(
        ["gpg", "--batch", "--yes", "--dearmor", "-o", str(out)],
        input=(root / "gpgkey").read_bytes(),
        check=True,
    )
    return out


def test_1_18_pins_the_tools_exactly_like_nvidia(mirror_root, own_gnupg_home):
    info = publish_version(mirror_root, NEW, own_gnupg_home)
    assert info.versions == [*VERSIONS, NEW]
    deb = info.arch_dir("amd64") / f"nvidia-container-toolkit_{NEW}_amd64.deb"
    # packaging/debian/control at v1.18.0
    assert _field(deb, "Depends") == (
        f"nvidia-container-toolkit-base (= {NEW}), libnvidia-container-tools (= {NEW}), "
        "libnvidia-container-tools (<< 2.0.0)"
    )
    old = info.arch_dir("amd64") / "nvidia-container-toolkit_1.17.8-1_amd64.deb"
    assert "libnvidia-container-tools (>= 1.17.8-1)" in _field(old, "Depends")


def test_maintainer_scripts_where_nvidia_has_them(mirror_root, own_gnupg_home):
    info = build_mirror(mirror_root, own_gnupg_home)

    def scripts(name: str) -> dict[str, str]:
        deb = info.arch_dir("amd64") / f"{name}_1.17.8-1_amd64.deb"
        out = subprocess.run(
            ["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True
        ).stdout
        listing = subprocess.run(
            ["tar", "-tvf", "-"], input=out, capture_output=True, check=True
        ).stdout.decode()
        return {ln.split()[-1].lstrip("./"): ln.split()[0] for ln in listing.splitlines()}

    assert scripts("nvidia-container-toolkit-base")["postinst"] == "-rwxr-xr-x"
    tk = scripts("nvidia-container-toolkit")
    assert tk["postinst"] == "-rwxr-xr-x" and tk["postrm"] == "-rwxr-xr-x"
    assert "postinst" not in scripts("libnvidia-container1")


def test_base_postinst_runs_the_packaged_nvidia_ctk_config(tmp_path):
    """The postinst runs `nvidia-ctk --quiet config --config-file=... --in-place`; the stand-in
    nvidia-ctk does what the real one does there: writes the (default) config, says nothing."""
    ctk = tmp_path / "nvidia-ctk"
    ctk.write_text(render_template("nvidia_ctk.py", "1.17.8-1"))
    ctk.chmod(0o755)
    conf = tmp_path / "etc" / "nvidia-container-runtime" / "config.toml"
    run = subprocess.run(
        [str(ctk), "--quiet", "config", f"--config-file={conf}", "--in-place"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and run.stderr == "" and run.stdout == ""
    assert "[nvidia-container-runtime]" in conf.read_text()
    conf.write_text("# mine\n")
    assert subprocess.run([str(ctk), "config", f"--config-file={conf}", "-i"]).returncode == 0
    assert conf.read_text() == "# mine\n"  # an existing config is kept
    postinst = render_template("nvidia-container-toolkit-base.postinst", "1.17.8-1")
    assert "/usr/bin/nvidia-ctk --quiet config --config-file=" in postinst


def test_a_publish_advances_the_release_date(mirror_root, own_gnupg_home):
    """NVIDIA's Release gets a new Date with every publish (apt keeps the Date of its lists)."""

    def date(info) -> str:
        text = (info.arch_dir("amd64") / "Release").read_text()
        return re.search(r"^Date: (.+)$", text, re.M).group(1)

    first = date(build_mirror(mirror_root, own_gnupg_home))
    published = date(publish_version(mirror_root, NEW, own_gnupg_home))
    assert first != published
    assert parsedate_to_datetime(published) > parsedate_to_datetime(first)
    assert date(build_mirror(mirror_root, own_gnupg_home)) == first  # reproducible


def test_rotated_key_publishes_and_signs_with_a_new_key(mirror_root, own_gnupg_home, tmp_path):
    first = build_mirror(mirror_root, own_gnupg_home)
    old_keyring = _dearmor(first.root, tmp_path / "old.gpg")
    rotated = rotate_key(mirror_root, own_gnupg_home)
    assert rotated.key_fingerprint != first.key_fingerprint
    assert rotated.signer_fingerprint == rotated.key_fingerprint
    release = rotated.arch_dir("amd64") / "InRelease"
    assert gpgv(old_keyring, release).returncode != 0
    assert gpgv(_dearmor(rotated.root, tmp_path / "new.gpg"), release).returncode == 0
    back = build_mirror(mirror_root, own_gnupg_home)
    assert back.key_fingerprint == first.key_fingerprint


def _wait_for_a_later_last_modified(root: Path) -> None:
    """Until a file written now gets a later ``Last-Modified`` than every file under ``root``.

    The server's ``Last-Modified`` has whole seconds, and apt asks for an index it holds with
    ``If-Modified-Since``: an InRelease rewritten within the same second as the one apt fetched
    is answered 304 Not Modified (``SimpleHTTPRequestHandler.send_head``), and apt keeps the old
    lists. A real publish comes hours after a host's last update; here it came within the
    second on an idle machine (the old and the new InRelease 0.7 s apart)."""
    newest = max(path.stat().st_mtime for path in root.rglob("*") if path.is_file())
    time.sleep(max(0.0, math.floor(newest) + 1 - time.time()))


@needs_apt
def test_apt_finds_a_new_release_only_after_an_update(mirror_root, own_gnupg_home, serve, tmp_path):
    """The host's lists predate the release its new pin names."""
    info = build_mirror(mirror_root, own_gnupg_home)
    keyring = _dearmor(info.root, tmp_path / "k.gpg")
    apt = apt_for(serve(info.root), keyring, tmp_path / "apt", "amd64")
    assert apt("apt-get", "update").returncode == 0
    _wait_for_a_later_last_modified(info.root)
    publish_version(mirror_root, NEW, own_gnupg_home)
    pinned = [
        f"{n}={NEW}"
        for n in (
            "nvidia-container-toolkit",
            "nvidia-container-toolkit-base",
            "libnvidia-container-tools",
            "libnvidia-container1",
        )
    ]
    stale = apt("apt-get", "install", "-s", *pinned)
    assert stale.returncode != 0 and f"Version '{NEW}' for" in stale.output
    update = apt("apt-get", "update")
    assert update.returncode == 0 and not re.search(r"^(W|E):", update.output, re.M), update.output
    fresh = apt("apt-get", "install", "-s", *pinned)
    assert fresh.returncode == 0, fresh.output
    assert re.search(rf"^Inst nvidia-container-toolkit \({re.escape(NEW)} ", fresh.stdout, re.M)
    madison = apt("apt-cache", "madison", "nvidia-container-toolkit")
    assert f"| {NEW} |" in madison.stdout.replace("   ", " ").replace("  ", " ")
