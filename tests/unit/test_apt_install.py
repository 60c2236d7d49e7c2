"""A failed apt install names apt update's warnings (deploy/host/apt_install.py), on outputs
captured
on a lab host whose apt mirror does not resolve (fixtures/apt/)."""

from __future__ import annotations

from pathlib import Path

from tgi_infra.host.apt_install import failure_message, update_problems

FIX = Path(__file__).parent / "fixtures" / "apt"


def _lines(name: str) -> list[str]:
    return (FIX / name).read_text().splitlines()


def test_update_problems_are_the_err_w_and_e_lines():
    assert update_problems(_lines("update-mirror-down.txt")) == [
        "Err:1 http://mirror-down.lab/debian bookworm InRelease",
        "  Could not resolve 'mirror-down.lab'",
        "W: Failed to fetch http://mirror-down.lab/debian/dists/bookworm/InRelease  "
        "Could not resolve 'mirror-down.lab'",
        "W: Some index files failed to download. They have been ignored, or old ones used instead.",
    ]


def test_unable_to_locate_comes_with_the_mirror_that_could_not_be_reached():
    text = failure_message(
        "gpu-1",
        ["docker-compose"],
        _lines("update-mirror-down.txt"),
        _lines("install-unable-to-locate.txt"),
    )
    first, *rest = text.splitlines()
    assert first == (
        "host gpu-1: apt-get install docker-compose failed: "
        "E: Unable to locate package docker-compose"
    )
    assert "apt-get update reported" in rest[0]
    assert any("Could not resolve 'mirror-down.lab'" in line for line in rest), text


def test_a_clean_update_adds_nothing():
    clean = ["Hit:1 http://deb.debian.org/debian bookworm InRelease", "Reading package lists..."]
    text = failure_message("gpu-1", ["x"], clean, ["E: Unable to locate package x"])
    assert text == "host gpu-1: apt-get install x failed: E: Unable to locate package x"
