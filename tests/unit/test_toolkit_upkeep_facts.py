"""Facts that decide when the NVIDIA source's lists are refreshed
and when its signing keyring is replaced.

* ``apt-cache madison`` (recorded output) tells whether the pinned version is in the lists;
* the keyring's and the published key's fingerprints, read by the fact's own command with
  the real gpg and curl, from a real HTTP server, with keys made here (NVIDIA rotated its key
  in 2023: libnvidia-container issue 109 - the old keyring then fails with NO_PUBKEY).
"""

from __future__ import annotations

import functools
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tgi_infra.host.toolkit_upkeep import (
    ToolkitKeyFingerprints,
    key_rotated,
    parse_key_fingerprints,
    parse_madison,
    pin_missing_from_lists,
    replace_keyring_command,
)

from lab.nvidia_mirror.signing import agent_session, ensure_key, export_public_key

FIX = Path(__file__).parent / "fixtures"


# --- the pinned version in the lists --------------------------------------------------------------


def test_madison_versions_from_recorded_output():
    lines = (FIX / "apt" / "madison-nvidia-toolkit.txt").read_text().splitlines()
    assert parse_madison(lines) == ["1.17.8-1", "1.17.7-1", "1.17.6-1"]
    assert parse_madison([]) == []


@pytest.mark.parametrize(
    ("pin", "missing"),
    [("1.17.8-1", False), ("1.18.0-1", True), (None, False), ("1.17.8", True)],
)
def test_refresh_when_the_pin_is_not_in_the_lists(pin, missing):
    lines = (FIX / "apt" / "madison-nvidia-toolkit.txt").read_text().splitlines()
    assert pin_missing_from_lists(pin, parse_madison(lines)) is missing


def test_no_lists_yet_means_refresh_for_a_pin():
    assert pin_missing_from_lists("1.17.8-1", parse_madison([]))


# --- a rotated signing key -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    home = tmp_path_factory.mktemp("gnupg")
    with agent_session(home):
        old = ensure_key(home, "upkeep test old key")
        new = ensure_key(home, "upkeep test new key")
        return {
            "old": (old, export_public_key(home, old)),
            "new": (new, export_public_key(home, new)),
        }


@pytest.fixture
def web(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _dearmor(armored: str, dest: Path) -> None:
    subprocess.run(
        ["gpg", "--batch", "--yes", "--dearmor", "-o", str(dest)],
        input=armored.encode(),
        check=True,
    )


def _fact(keyring: Path, url: str) -> dict:
    cmd = ToolkitKeyFingerprints().command(str(keyring), url)
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    return parse_key_fingerprints(out.stdout.splitlines())


def test_same_key_is_not_a_rotation(keys, web, tmp_path):
    root, url = web
    (root / "gpgkey").write_text(keys["old"][1])
    keyring = tmp_path / "keyring.gpg"
    _dearmor(keys["old"][1], keyring)
    facts = _fact(keyring, url + "/gpgkey")
    assert facts == {"keyring": [keys["old"][0]], "published": [keys["old"][0]]}
    assert not key_rotated(facts)


def test_rotated_key_is_detected_and_replaced(keys, web, tmp_path):
    root, url = web
    (root / "gpgkey").write_text(keys["new"][1])
    keyring = tmp_path / "keyring.gpg"
    _dearmor(keys["old"][1], keyring)
    facts = _fact(keyring, url + "/gpgkey")
    assert facts == {"keyring": [keys["old"][0]], "published": [keys["new"][0]]}
    assert key_rotated(facts)
    subprocess.run(["sh", "-c", replace_keyring_command(str(keyring), url + "/gpgkey")], check=True)
    after = _fact(keyring, url + "/gpgkey")
    assert after["keyring"] == [keys["new"][0]] and not key_rotated(after)
    assert keyring.stat().st_mode & 0o777 == 0o644
    assert not (tmp_path / "keyring.gpg.tgi-new").exists()


def test_absent_keyring_or_unreachable_url_decide_nothing(keys, web, tmp_path):
    root, url = web
    (root / "gpgkey").write_text(keys["new"][1])
    fresh = _fact(tmp_path / "none.gpg", url + "/gpgkey")
    assert fresh["keyring"] is None and not key_rotated(fresh)
    keyring = tmp_path / "keyring.gpg"
    _dearmor(keys["old"][1], keyring)
    down = _fact(keyring, url + "/missing")
    assert down["published"] is None and not key_rotated(down)
