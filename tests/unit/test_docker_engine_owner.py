"""A Docker Engine apt manages is recognised by what dpkg says owns the dockerd on PATH, whatever
its package is called (``moby-engine``, a vendor's renamed ``docker-ce``), not by a list of
package names; one no package owns (static binaries) is still refused.

Parsers on real ``dpkg-query -S`` outputs (fixtures/docker/dpkg-search-*.txt, captured with the
dpkg of this machine: its own database, or a private one holding tiny packages built with
dpkg-deb), then the probe command itself, run here against a real dpkg database.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tgi_infra.host import facts as f
from tgi_infra.host import reading
from tgi_infra.host.preflight import check_host

from tests.unit.test_preflight import cfg, codes, docker, facts, sec

FIX = Path(__file__).parent / "fixtures" / "docker"


def search(name: str) -> dict:
    return reading.parse_dpkg_search((FIX / f"dpkg-search-{name}.txt").read_text().splitlines())


@pytest.mark.parametrize(
    "fixture, path, owner",
    [
        ("docker-io-bookworm", "/usr/sbin/dockerd", "docker.io"),
        ("moby-engine", "/usr/bin/dockerd", "moby-engine"),
        # a package diverts moby-engine's dockerd and ships its own there: the file is its
        ("diverted-by-package", "/usr/bin/dockerd", "acme-docker-wrapper"),
        # the admin diverted the packaged dockerd away and put a file of their own there
        ("local-diversion", "/usr/bin/dockerd", None),
        # the diverted-to name: dpkg does not say whose file it is (left unrecognised)
        ("diverted-to", "/usr/bin/dockerd.moby", None),
        # Docker's static binaries copied to /usr/bin: no package owns them
        ("static-usr-bin", "/usr/bin/dockerd", None),
        # usrmerge: shipped as /bin/ls, resolved (readlink -f) as /usr/bin/ls
        ("usrmerge-bin-ls", "/usr/bin/ls", "coreutils"),
        ("multiarch-libc", "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc6"),
    ],
)
def test_the_owner_is_dpkgs_answer_for_the_file_on_disk(fixture, path, owner):
    assert reading.dpkg_owner(path, search(fixture)) == owner


def test_no_dpkg_or_no_binary_is_no_owner():
    no_dpkg = reading.parse_dpkg_search(["sh: 1: dpkg-query: not found"])
    assert reading.dpkg_owner("/usr/bin/dockerd", no_dpkg) is None
    assert reading.dpkg_owner(None, search("moby-engine")) is None


@pytest.mark.parametrize(
    "path, names",
    [
        ("/usr/bin/dockerd", ["/usr/bin/dockerd", "/bin/dockerd"]),
        ("/sbin/dockerd", ["/sbin/dockerd", "/usr/sbin/dockerd"]),
        ("/usr/lib/x86_64-linux-gnu/x", ["/usr/lib/x86_64-linux-gnu/x", "/lib/x86_64-linux-gnu/x"]),
        ("/usr/local/bin/dockerd", ["/usr/local/bin/dockerd"]),
        ("/opt/docker/dockerd", ["/opt/docker/dockerd"]),
    ],
)
def test_usrmerge_names(path, names):
    assert reading.usrmerge_names(path) == names


# -- the DockerState fact and the preflight --------------------------------------------------


def docker_state(dockerd: str, fixture: str, cli: str | None = "/usr/bin/docker") -> dict:
    """DockerState of a host where neither docker.io nor docker-ce is installed."""
    out = sec("dpkg") + sec("dockerd", [dockerd, dockerd])
    out += sec("dockerd_dpkg", (FIX / f"dpkg-search-{fixture}.txt").read_text())
    out += sec("cli", [cli, cli] if cli else [])
    if cli:
        out += sec("info", (FIX / "info-docker-io-bookworm.json").read_text())
    return f.parse_docker_state(out)


@pytest.mark.parametrize("source", ["distro", "docker-ce"])
def test_moby_engine_is_an_apt_engine_used_as_it_is(source):
    moby = docker("moby-engine")
    assert moby["flavour"] == "apt" and moby["engine_package"] == "moby-engine"
    problems, plan = check_host("h1", cfg(docker_source=source), facts(docker=moby))
    assert codes(problems, "error") == [], problems
    assert plan.docker_flavour == "apt"
    assert plan.engine_note.startswith("Docker Engine from the package moby-engine (apt)")


def test_a_vendor_package_diverting_dockerd_is_an_apt_engine():
    vendor = docker_state("/usr/bin/dockerd", "diverted-by-package")
    assert vendor["flavour"] == "apt" and vendor["engine_package"] == "acme-docker-wrapper"
    assert codes(check_host("h1", cfg(), facts(docker=vendor))[0], "error") == []


@pytest.mark.parametrize(
    "fixture", ["static-usr-bin", "local-diversion"], ids=["static", "admin-replaced"]
)
def test_a_dockerd_no_package_owns_is_refused_naming_it(fixture):
    state = docker_state("/usr/bin/dockerd", fixture)
    assert state["flavour"] == "other" and state["engine_package"] is None
    problems, _ = check_host("h1", cfg(), facts(docker=state))
    (p,) = [x for x in problems if x.code == "docker-unmanaged"]
    assert p.severity == "error"
    assert "dockerd /usr/bin/dockerd" in p.found and "no package owns" in p.found


def test_a_static_dockerd_without_a_docker_cli_is_not_taken_for_no_docker():
    state = docker_state("/usr/local/bin/dockerd", "static-usr-bin", cli=None)
    assert state["flavour"] == "other" and state["installed"]
    assert "docker-unmanaged" in codes(check_host("h1", cfg(), facts(docker=state))[0])


@pytest.mark.parametrize("flavour", ["docker.io", "docker-ce"])
def test_docker_io_and_docker_ce_keep_their_flavour_and_name_their_package(flavour):
    state = docker(flavour)
    assert state["flavour"] == flavour and state["engine_package"] == flavour


# -- the probe command, run here against a real dpkg database --------------------------------


def build_and_install(tmp_path: Path, package: str, files: list[Path]) -> Path:
    """``package`` shipping ``files`` (absolute paths under tmp_path), built with dpkg-deb and
    installed with dpkg into a database of its own; returns that admin directory."""
    admin = tmp_path / "dpkg"
    if not admin.exists():
        (admin / "info").mkdir(parents=True)
        (admin / "updates").mkdir()
        (admin / "status").write_text("")
    build = tmp_path / f"build-{package}"
    (build / "DEBIAN").mkdir(parents=True)
    (build / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: tgi-infra tests <tests@example.invalid>\nDescription: test package\n"
    )
    for path in files:
        staged = build / path.relative_to("/")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"#!/bin/sh\necho {package}\n")
        staged.chmod(0o755)
    deb = tmp_path / f"{package}.deb"
    build_cmd = ["dpkg-deb", "-Zgzip", "--build", str(build), str(deb)]
    subprocess.run(build_cmd, check=True, capture_output=True)
    # its own database and log: this machine's dpkg state is not touched
    dpkg = ["dpkg", f"--admindir={admin}", "--instdir=/", f"--log={tmp_path}/dpkg.log"]
    subprocess.run([*dpkg, "-i", str(deb)], check=True, capture_output=True)
    return admin


def probe(binary_dir: Path, admin: Path | None) -> dict:
    command = reading.dpkg_owner_command("dockerd", "dockerd", str(admin) if admin else None)
    env = {**os.environ, "PATH": f"{binary_dir}:{os.environ['PATH']}"}
    out = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True).stdout
    sections = f.split_sections(out.splitlines())
    path = (sections.get("dockerd") or [None, None])[1]
    return {
        "target": path,
        "owner": reading.dpkg_owner(
            path, reading.parse_dpkg_search(sections.get("dockerd_dpkg", []))
        ),
    }


def test_probe_names_the_package_dpkg_installed_dockerd_from(tmp_path):
    dockerd = tmp_path / "usr/bin/dockerd"
    admin = build_and_install(tmp_path, "moby-engine", [dockerd])
    link = tmp_path / "bin"
    link.mkdir()
    (link / "dockerd").symlink_to(dockerd)  # resolved first (readlink -f), as alternatives are
    assert probe(link, admin) == {"target": str(dockerd), "owner": "moby-engine"}


def test_probe_finds_no_owner_for_a_dockerd_copied_in_by_hand(tmp_path):
    admin = build_and_install(tmp_path, "moby-engine", [tmp_path / "opt/moby/dockerd"])
    static = tmp_path / "usr/local/bin"
    static.mkdir(parents=True)
    (static / "dockerd").write_text("#!/bin/sh\n")
    (static / "dockerd").chmod(0o755)
    assert probe(static, admin) == {"target": str(static / "dockerd"), "owner": None}


def test_probe_asks_dpkg_for_both_usrmerge_names(tmp_path):
    """On a usrmerged host a file shipped as /bin/x resolves to /usr/bin/x; this machine's
    coreutils ships /bin/ls (bookworm) or /usr/bin/ls (trixie on): found either way."""
    if not Path("/bin").is_symlink():
        pytest.skip("this machine is not usrmerged")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dockerd").symlink_to("/bin/ls")
    assert probe(bindir, None) == {"target": "/usr/bin/ls", "owner": "coreutils"}
