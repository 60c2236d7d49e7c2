"""Issue 12: the NVIDIA mirror stand-in follows NVIDIA's real packages (packaging/debian at
v1.17.8 / v1.18.0 of NVIDIA/nvidia-container-toolkit) and can change after a deploy the way
NVIDIA's repository does: a new release is published, the signing key is rotated.

Checked with the real Debian tools (dpkg-deb, gpgv, an isolated apt)."""

from __future__ import annotations

import re
import subprocess
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from lab.nvidia_mirror import VERSIONS, build_mirror, publish_version, rotate_key
from lab.nvidia_mirror.packages import render_template
from tests.unit.test_nvidia_mirror import apt_for, gpgv, needs_apt, serve  # noqa: F401

NEW = "1.18.0-1"


@pytest.fixture(scope="module")
def gnupg_home(tmp_path_factory):
    return tmp_path_factory.mktemp("gpg12")


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


def test_1_18_pins_the_tools_exactly_like_nvidia(mirror_root, gnupg_home):
    info = publish_version(mirror_root, NEW, gnupg_home)
    assert info.versions == [*VERSIONS, NEW]
    deb = info.arch_dir("amd64") / f"nvidia-container-toolkit_{NEW}_amd64.deb"
    # packaging/debian/control at v1.18.0
    assert _field(deb, "Depends") == (
        f"nvidia-container-toolkit-base (= {NEW}), libnvidia-container-tools (= {NEW}), "
        "libnvidia-container-tools (<< 2.0.0)"
    )
    old = info.arch_dir("amd64") / "nvidia-container-toolkit_1.17.8-1_amd64.deb"
    assert "libnvidia-container-tools (>= 1.17.8-1)" in _field(old, "Depends")


def test_maintainer_scripts_where_nvidia_has_them(mirror_root, gnupg_home):
    info = build_mirror(mirror_root, gnupg_home)

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


def test_a_publish_advances_the_release_date(mirror_root, gnupg_home):
    """NVIDIA's Release gets a new Date with every publish (apt keeps the Date of its lists)."""

    def date(info) -> str:
        text = (info.arch_dir("amd64") / "Release").read_text()
        return re.search(r"^Date: (.+)$", text, re.M).group(1)

    first = date(build_mirror(mirror_root, gnupg_home))
    published = date(publish_version(mirror_root, NEW, gnupg_home))
    assert first != published
    assert parsedate_to_datetime(published) > parsedate_to_datetime(first)
    assert date(build_mirror(mirror_root, gnupg_home)) == first  # reproducible


def test_rotated_key_publishes_and_signs_with_a_new_key(mirror_root, gnupg_home, tmp_path):
    first = build_mirror(mirror_root, gnupg_home)
    old_keyring = _dearmor(first.root, tmp_path / "old.gpg")
    rotated = rotate_key(mirror_root, gnupg_home)
    assert rotated.key_fingerprint != first.key_fingerprint
    assert rotated.signer_fingerprint == rotated.key_fingerprint
    release = rotated.arch_dir("amd64") / "InRelease"
    assert gpgv(old_keyring, release).returncode != 0
    assert gpgv(_dearmor(rotated.root, tmp_path / "new.gpg"), release).returncode == 0
    back = build_mirror(mirror_root, gnupg_home)
    assert back.key_fingerprint == first.key_fingerprint


@needs_apt
def test_apt_finds_a_new_release_only_after_an_update(mirror_root, gnupg_home, serve, tmp_path):  # noqa: F811
    """Defect 4's situation: the host's lists predate the release its new pin names."""
    info = build_mirror(mirror_root, gnupg_home)
    keyring = _dearmor(info.root, tmp_path / "k.gpg")
    apt = apt_for(serve(info.root), keyring, tmp_path / "apt", "amd64")
    assert apt("apt-get", "update").returncode == 0
    publish_version(mirror_root, NEW, gnupg_home)
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
