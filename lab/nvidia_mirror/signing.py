"""OpenPGP key handling and Release signing with the ``gpg`` command (GnuPG 2.2+)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SigningError(RuntimeError):
    """A gpg command failed; the message carries gpg's stderr."""


def _gpg(home: Path, *args: str) -> str:
    cmd = [
        "gpg",
        "--homedir",
        str(home),
        "--batch",
        "--no-tty",
        "--quiet",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SigningError(f"{' '.join(cmd[4:])} failed: {result.stderr.strip()}")
    return result.stdout


def prepare_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    return home


@contextmanager
def agent_session(home: Path) -> Iterator[Path]:
    """Use ``home`` as GNUPGHOME and stop the gpg-agent it started afterwards."""
    prepare_home(home)
    try:
        yield home
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
        )


def find_secret_key(home: Path, user_id: str) -> str | None:
    """Fingerprint of the secret key whose user id is exactly ``user_id``, or None."""
    try:
        listing = _gpg(home, "--with-colons", "--list-secret-keys")
    except SigningError:
        return None
    fingerprint = None
    primary = None
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            primary, fingerprint = True, None
        elif fields[0] == "ssb":
            primary = False
        elif fields[0] == "fpr" and primary and fingerprint is None:
            fingerprint = fields[9]
        elif fields[0] == "uid" and fingerprint and fields[9] == user_id and fields[1] != "r":
            return fingerprint
    return None


def ensure_key(home: Path, user_id: str, algorithm: str = "ed25519") -> str:
    """Reuse the key named ``user_id`` in ``home`` or create one (no passphrase, no expiry)."""
    existing = find_secret_key(home, user_id)
    if existing:
        return existing
    _gpg(home, "--quick-gen-key", user_id, algorithm, "sign", "never")
    created = find_secret_key(home, user_id)
    if not created:
        raise SigningError(f"gpg created no key for {user_id!r}")
    return created


def export_public_key(home: Path, fingerprint: str) -> str:
    """ASCII-armoured public key (what ``<base>/gpgkey`` serves)."""
    return _gpg(home, "--armor", "--export-options", "export-minimal", "--export", fingerprint)


def sign_release(home: Path, fingerprint: str, release: Path) -> None:
    """Write InRelease (clearsigned) and Release.gpg (armoured detached) next to ``release``."""
    signer = ("--local-user", f"{fingerprint}!", "--digest-algo", "SHA512", "--yes")
    inrelease = release.with_name("InRelease")
    detached = release.with_name("Release.gpg")
    _gpg(home, *signer, "--clearsign", "--output", str(inrelease), str(release))
    _gpg(home, *signer, "--armor", "--detach-sign", "--output", str(detached), str(release))
